"""Replicas of a tuned variant: which counts are measured, how an instance is priced from
replicas measured side by side, and a whole run with real replica children."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from benchharness.cost import formulas
from benchharness.cost.replicas import replica_plan
from benchharness.errors import SuiteError
from benchharness.tune.replicas import add_efficiency, counts_to_measure
from benchharness.tune.space import validate

TESTS_DIR = Path(__file__).resolve().parent


def test_replicas_key_is_auto_or_positive_counts():
    assert validate({"replicas": "auto"}, "t")["replicas"] == "auto"
    assert validate({"replicas": [2, 1, 2]}, "t")["replicas"] == [1, 2]
    assert validate({"replicas": 4}, "t")["replicas"] == [4]
    assert validate({}, "t")["replicas"] is None
    with pytest.raises(SuiteError, match=r"t\.replicas must be auto or a list of positive "
                                         r"integers, got \[0\]"):
        validate({"replicas": [0]}, "t")


def test_counts_measured_fit_the_machine_and_the_profile():
    # auto: powers of two below min(cores // threads, fit), and that top itself
    assert counts_to_measure("auto", fit=2, threads=1, cores=2) == ([1, 2], [])
    assert counts_to_measure("auto", fit=8, threads=1, cores=64) == ([1, 2, 4, 8], [])
    assert counts_to_measure("auto", fit=5, threads=1, cores=64) == ([1, 2, 4, 5], [])
    assert counts_to_measure("auto", fit=8, threads=2, cores=2) == ([1], [])
    # a list: a count that needs more cores than the run has is said, not measured
    keep, why = counts_to_measure([2, 4], fit=8, threads=1, cores=2)
    assert keep == [1, 2] and why == [
        "4 replicas x 1 thread(s) need 4 cores; this machine lets the run use 2"]


def test_replicas_by_memory_by_hand():
    # 4 GB x 1024 x 0.9 = 3686.4 MB; 500 MB a replica: 7
    assert formulas.replicas_by_memory(4, 500) == 7
    assert formulas.replicas_by_memory(1, 5000) == 1  # never fewer than one
    assert formulas.replicas_by_memory(4, None) is None


def _runs(*pairs):
    runs = [{"replicas": n, "qps": qps, "batch_rows_per_s": rows} for n, qps, rows in pairs]
    add_efficiency(runs)
    return {"measured": runs}


def test_plan_prices_the_measured_aggregate_or_says_it_extrapolates():
    section = _runs((1, 1000.0, 10_000.0), (2, 1600.0, 18_000.0))
    assert section["measured"][1]["efficiency"] == {"closed_loop": 0.8, "batch": 0.9}
    # the profile fits 2 and 2 were measured together: the instance does what they did
    plan = replica_plan(section, fit=2)
    assert plan["source"] == "measured" and plan["replicas"] == 2
    assert plan["instance_rows_per_s"] == 18_000.0 and plan["realtime_efficiency"] == 0.8
    # it fits 8: each of the 8 at the per-replica rate of the 2 measured together
    plan = replica_plan(section, fit=8)
    assert plan["source"] == "extrapolated" and plan["replicas"] == 8
    assert plan["instance_rows_per_s"] == 8 * 9_000.0 and plan["measured_together"] == 2
    # two replicas that together did less than one alone: the plan runs one
    worse = _runs((1, 1000.0, 10_000.0), (2, 900.0, 8_000.0))
    plan = replica_plan(worse, fit=2)
    assert plan["replicas"] == 1 and plan["instance_rows_per_s"] == 10_000.0
    assert replica_plan(None, 2) is None and replica_plan({"measured": []}, 2) is None


def test_cost_stage_prices_batch_from_the_measured_aggregate():
    from benchharness.cost.hardware import Profile
    from benchharness.cost.stage import candidate_cost

    profile = Profile(name="two", vcpus=2, memory_gb=4, price_per_hour_usd=0.36,
                      source="test", as_of="2026-01")
    result = {
        "batch": [{"batch_size": 64, "rows_per_s": 10_000.0,
                   "intervals": {"rows_per_s": [9_000.0, 11_000.0]}}],
        "realtime": {"closed_loop": {"qps": 1000.0}},
        "replicas": _runs((1, 1000.0, 10_000.0), (2, 1600.0, 18_000.0)),
    }
    traffic = {"peak_rps": 100, "daily_volume": 1_000_000, "batch_rows_per_day": 1_000_000}
    out = candidate_cost(result, {"intra_op_num_threads": 1}, profile, traffic)
    assert out["replicas_per_instance"] == 2 and out["replicas_plan"]["source"] == "measured"
    # 0.36 USD/h / (18,000 rows/s x 3600) x 1e6 = 0.005555... (a multiple of one: 0.005)
    assert out["batch"]["usd_per_1m"] == pytest.approx(0.36 / (18_000 * 3600) * 1e6)
    assert out["batch"]["rows_per_s_per_instance"] == pytest.approx(18_000.0)
    # the interval of the trials, scaled by the same co-load factor (0.9)
    lo, hi = out["batch"]["intervals"]["usd_per_1m"]
    assert lo == pytest.approx(0.36 / (11_000 * 0.9 * 2 * 3600) * 1e6)
    assert hi == pytest.approx(0.36 / (9_000 * 0.9 * 2 * 3600) * 1e6)
    # real time: each replica's rate times the closed loop's efficiency (0.8)
    assert out["realtime"]["sustainable_per_s_per_replica"] == pytest.approx(800.0)
    assert out["realtime"]["replicas_efficiency"] == pytest.approx(0.8)
    without = candidate_cost({k: v for k, v in result.items() if k != "replicas"},
                             {"intra_op_num_threads": 1}, profile, traffic)
    assert without["batch"]["usd_per_1m"] == pytest.approx(0.36 / (20_000 * 3600) * 1e6)
    assert "replicas_plan" not in without


@pytest.mark.slow
def test_replicas_measured_together_in_real_children(tmp_path):
    from benchharness.api import run_suite
    from benchharness.tune.replicas import machine_cores

    suite = {
        "name": "replicas",
        "data": {"source": "sklearn:breast_cancer", "target": "target"},
        "candidates": [{
            "name": "sleepy", "model": "measure_models:SleepService",
            # sleeping releases the CPU: two replicas of it scale on any machine
            "options": {"kwargs": {"ms": 5.0}, "n_features": 30, "sys_path": [str(TESTS_DIR)]},
            "tune": {"export": ["none"], "replicas": [1, 2]},
        }],
        "realtime": {"duration_s": 0.3, "trials": 2, "max_trials": 2,
                     "open_loop": {"enabled": False}},
        "batch": {"batch_sizes": [1, 8], "duration_s": 0.2, "trials": 2, "full_split": False},
        "quality": {"bootstrap": {"resamples": 50}},
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    said: list[str] = []
    ctx = run_suite(path, tmp_path / "out", quick=True, progress=said.append)
    res = json.loads((ctx.run_dir / "results.json").read_text())
    cand = res["candidates"][0]
    assert cand["name"] == "sleepy[native]" and cand["status"] == "ok", cand["error"]
    section = cand["replicas"]
    runs = {r["replicas"]: r for r in section["measured"]}
    two = machine_cores() >= 2
    assert sorted(runs) == ([1, 2] if two else [1])
    for n, r in runs.items():
        assert len(r["per_replica"]) == n and r["qps"] > 0 and r["batch_rows_per_s"] > 0
        assert all(p["p99_ms"] >= 5.0 for p in r["per_replica"])  # each call sleeps 5 ms
        assert 0 < r["efficiency"]["closed_loop"] <= 1.5 and 0 < r["efficiency"]["batch"] <= 1.5
    assert any("2 replica(s) together" in line for line in said) == two
    # priced from what was measured, and shipped with it
    deploy_file = ctx.run_dir / res["tune"]["sleepy"]["deployment"]["file"]
    deploy = yaml.safe_load(deploy_file.read_text())
    assert deploy["replicas"] == cand["cost"]["replicas_per_instance"] >= 1
    assert [r["replicas"] for r in deploy["replicas_measured"]] == sorted(runs)
    plan = cand["cost"]["replicas_plan"]
    fit = section["fit"]["replicas"]
    assert plan["source"] == ("measured" if fit in runs else "extrapolated")
    assert deploy["replicas_source"].startswith(plan["source"])
