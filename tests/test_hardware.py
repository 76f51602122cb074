"""Machine detection and hardware profiles (benchharness.cost.hardware, profiles/*.yaml)."""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import pytest
import yaml

from benchharness.cost import hardware
from benchharness.cost.hardware import ProfileError, load_profile, parse_profile, profile_section

MACHINE = {"usable_cores": 6, "logical_cores": 8, "cpu_quota_cores": None, "memory_gb": 31.2,
           "memory_limit_gb": None,
           "gpu": {"available": True, "devices": [{"name": "NVIDIA L4", "memory_total_mb": 23034.0}]}}


def test_detect_machine_matches_the_os():
    m = hardware.detect_machine()
    assert m["logical_cores"] == os.cpu_count()
    assert m["usable_cores"] == len(os.sched_getaffinity(0))
    assert m["memory_gb"] == pytest.approx(psutil.virtual_memory().total / 2**30, abs=0.01)
    assert m["cpu_model"] and m["architecture"]
    assert isinstance(m["gpu"]["available"], bool)
    assert m["gpu"]["available"] or m["gpu"]["reason"]


@pytest.mark.parametrize("name", hardware.available_profiles())
def test_every_shipped_profile_is_valid_and_says_where_its_price_comes_from(name):
    p = load_profile(name, machine=MACHINE)
    assert p.price_per_hour_usd > 0 and p.vcpus >= 1 and p.memory_gb > 0
    assert p.source and p.as_of[:4].isdigit()
    raw = yaml.safe_load(Path(p.path).read_text())
    if raw.get("approximate", True):
        assert "approximate" in (p.source + p.notes).lower()


def test_shipped_profiles_cover_cpu_and_gpu_instances():
    profiles = [load_profile(n, machine=MACHINE) for n in hardware.available_profiles()]
    assert "local" in {p.name for p in profiles}
    assert sum(1 for p in profiles if p.gpu) >= 2 and sum(1 for p in profiles if not p.gpu) >= 4


def test_local_profile_detects_this_machine_and_prices_per_vcpu():
    p = load_profile("local", machine=MACHINE)
    assert p.vcpus == 6 and p.memory_gb == 31.2
    assert p.gpu == {"model": "NVIDIA L4", "count": 1, "memory_gb": 22.5}
    assert p.price_per_hour_usd == pytest.approx(6 * 0.044625)
    assert set(p.detected) == {"vcpus", "memory_gb", "gpu"}
    # a container CPU quota lowers the vCPUs a replica count may assume
    assert load_profile("local", machine={**MACHINE, "cpu_quota_cores": 2.5}).vcpus == 2


def test_profile_by_path(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("name: on-prem\nvcpus: 16\nmemory_gb: 64\nprice_per_hour_usd: 0.4\n"
                    "source: our finance team\nas_of: 2026-01-01\napproximate: false\n")
    p = load_profile(str(path))
    assert (p.name, p.vcpus, p.price_per_hour_usd, p.as_of, p.approximate) == \
        ("on-prem", 16, 0.4, "2026-01-01", False)


@pytest.mark.parametrize("change, message", [
    ({"vcpus": 0}, "'vcpus' must be a positive integer or auto, got 0"),
    ({"price_per_hour_usd": -1}, "'price_per_hour_usd' must be a number >= 0, got -1"),
    ({"price_per_vcpu_hour_usd": 0.1}, "give exactly one of"),
    ({"colour": "red"}, "unknown key 'colour'"),
    ({"source": None}, "missing required key 'source'"),
    ({"gpu": "A100"}, "'gpu' must be a mapping with model and count"),
])
def test_invalid_profiles_name_the_key_and_value(change, message):
    raw = {"name": "x", "vcpus": 2, "memory_gb": 4, "price_per_hour_usd": 0.1, "source": "s", "as_of": "2024"}
    raw.update(change)
    with pytest.raises(ProfileError, match=message.replace("(", r"\(")):
        parse_profile(raw)


def test_unknown_profile_lists_the_available_ones():
    with pytest.raises(ProfileError, match=r"unknown profile 'aws-x9'; available: .*aws-c7i-large.*local"):
        load_profile("aws-x9")
    with pytest.raises(ProfileError, match="profile file not found"):
        load_profile("nowhere/p.yaml")


def test_profile_section_flags_a_mismatch_with_the_measured_machine():
    p = load_profile("aws-c7i-2xlarge")
    section = profile_section(p, {**MACHINE, "usable_cores": 2, "gpu": {"available": False}})
    assert section["name"] == "aws-c7i-2xlarge" and section["price_per_hour_usd"] == 0.357
    assert section["mismatch"] == ["measured on 2 usable cores, priced as 8 vCPUs"]
    gpu = profile_section(load_profile("aws-g5-xlarge"), {"usable_cores": 4, "gpu": {"available": False}})
    assert "NVIDIA A10G" in gpu["mismatch"][0]


def test_gpu_mismatch_names_both_gpus_when_the_models_differ():
    # what NVML reports on a real GPU machine (as gpu_status() returns it); no GPU here
    def machine(*names):
        return {"usable_cores": 4, "gpu": {"available": True,
                                            "devices": [{"index": i, "name": n} for i, n in enumerate(names)]}}

    g5 = load_profile("aws-g5-xlarge")  # NVIDIA A10G x 1, 4 vCPUs
    assert profile_section(g5, machine("NVIDIA A10G"))["mismatch"] == []
    assert profile_section(g5, machine("NVIDIA H200"))["mismatch"] == [
        "profile GPU: NVIDIA A10G; measured machine GPU: NVIDIA H200"]
    assert profile_section(g5, machine("NVIDIA A10G", "NVIDIA A10G"))["mismatch"] == [
        "profile GPU: NVIDIA A10G; measured machine GPU: 2 x NVIDIA A10G"]
    a10 = parse_profile({"name": "a10", "vcpus": 4, "memory_gb": 16, "price_per_hour_usd": 1.0, "source": "t",
                         "as_of": "2026-01", "gpu": {"model": "NVIDIA A10", "count": 1}})
    assert profile_section(a10, machine("NVIDIA A100-SXM4-80GB"))["mismatch"] != []
    cpu = load_profile("aws-c7i-large")
    assert profile_section(cpu, {**machine("Tesla T4"), "usable_cores": 2})["mismatch"] == [
        "profile GPU: none; measured machine GPU: Tesla T4"]
