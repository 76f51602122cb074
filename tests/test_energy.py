"""RAPL energy (benchharness.measure.energy).

This machine has no powercap interface, so the counters are laid out in a temporary folder
with the kernel's file layout (a stand-in for sysfs, the boundary we cannot reach); the real
/sys/class/powercap is used whenever it is readable.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchharness.measure.energy import POWERCAP, SOURCE, RaplMeter, rapl_domains


def zone(root: Path, name: str, label: str, energy_uj: int, max_uj: int = 2**32) -> Path:
    z = root / name
    z.mkdir(parents=True)
    (z / "name").write_text(label + "\n")
    (z / "energy_uj").write_text(f"{energy_uj}\n")
    (z / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return z


def test_package_energy_with_wraparound(tmp_path):
    p0 = zone(tmp_path, "intel-rapl:0", "package-0", 1_000_000)
    p1 = zone(tmp_path, "intel-rapl:1", "package-1", 9_000_000, max_uj=10_000_000)
    zone(tmp_path, "intel-rapl:0:0", "core", 0)  # a sub-zone: inside package-0, never added
    with RaplMeter(tmp_path) as meter:
        (p0 / "energy_uj").write_text("3500000\n")  # +2.5 J
        (p1 / "energy_uj").write_text("500000\n")  # wrapped: 1 J to the top + 0.5 J = 1.5 J
    s = meter.summary(predictions=1000)
    assert s["cpu_energy_j"] == pytest.approx(4.0)
    assert s["cpu_energy_per_prediction_j"] == pytest.approx(0.004)
    assert s["energy_source"] == SOURCE
    assert s["zones"] == ["package-0", "package-1"]


def test_no_powercap_or_unreadable_counters_give_none_with_reason(tmp_path):
    with RaplMeter(tmp_path / "missing") as meter:
        pass
    s = meter.summary()
    assert s["cpu_energy_j"] is None and "does not exist" in s["reason"]
    z = tmp_path / "locked" / "intel-rapl:0"
    z.mkdir(parents=True)
    (z / "energy_uj").write_text("not a number")
    zones, reason = rapl_domains(tmp_path / "locked")
    assert zones == [] and "not readable" in reason


def test_real_powercap_when_present():
    zones, reason = rapl_domains(POWERCAP)
    with RaplMeter() as meter:
        sum(range(100_000))
    s = meter.summary()
    if zones:
        assert s["cpu_energy_j"] >= 0
    else:
        assert s == {"cpu_energy_j": None, "energy_source": None, "reason": reason}
