"""The `resources` section from the phase hook's records (measure/resource_stage.py), and the
hook itself run around real phases in this process."""

from __future__ import annotations

import time

import numpy as np
import pytest

from benchharness.measure.monitor import PHASE_HOOK, phase_hook
from benchharness.measure.resource_stage import per_prediction, phase_rate, resources_from_records

RESULT = {
    "realtime": {
        "closed_loop": {"qps": 2000.0, "count": 10_000, "settings": {"rows_per_request": 1}},
        "open_loop": {"settings": {"rows_per_request": 1},
                      "rates": [{"target_rate_per_s": 1000.0, "achieved_rate_per_s": 990.0, "count": 990}]},
    },
    "batch": [{"batch_size": 64, "rows_per_batch": 64, "batches": 500, "rows_per_s": 64_000.0}],
    "batch_full_split": {"rows": 143, "rows_per_s": 50_000.0},
}


def record(cpu_s, wall_s, peak, **more):
    return {"cpu_s": cpu_s, "wall_s": wall_s, "peak_rss_mb": peak, **more}


def test_phase_rate_reads_each_measurement():
    assert phase_rate(RESULT, "closed_loop") == 2000.0
    assert phase_rate(RESULT, "batch@64") == 64_000.0
    assert phase_rate(RESULT, "open_loop@1000") == 990.0
    assert phase_rate(RESULT, "full_split") == 50_000.0
    assert phase_rate(RESULT, "batch@1024") is None
    assert phase_rate(RESULT, "predict") is None


def test_cpu_and_energy_per_prediction_by_hand():
    # 1.5 cores busy for 2 s while serving 2000 predictions/s: 0.75 ms of CPU per prediction
    rec = record(3.0, 2.0, 100.0, gpu={"available": True, "energy_j": 600.0, "wall_s": 2.0},
                 energy={"cpu_energy_j": 100.0, "cpu_power_mean_w": 50.0})
    out = per_prediction(rec, 2000.0)
    assert out["cpu_ms_per_prediction"] == pytest.approx(0.75)
    assert out["gpu"]["energy_per_prediction_j"] == pytest.approx(300.0 / 2000)  # 300 W / 2000 per s
    assert out["energy"]["cpu_energy_per_prediction_j"] == pytest.approx(50.0 / 2000)
    assert per_prediction(rec, None) == rec


def test_resources_from_records_headline_and_footprint_source():
    load = {"footprint_mb": 50.0, "load_time_ms": 120.0, "rss_before_load_mb": 90.0,
            "rss_after_load_mb": 140.0, "peak_rss_mb": 150.0, "cpu_s": 0.1}
    records = {
        "predict": {"load": {PHASE_HOOK: {**load, "footprint_mb": 60.0}},
                    "predict": {PHASE_HOOK: record(0.2, 0.2, 400.0)}},
        "closed_loop": {"load": {PHASE_HOOK: load}, "closed_loop": {PHASE_HOOK: record(1.0, 2.0, 160.0)}},
        "batch": {"load": {PHASE_HOOK: load}, "batch@64": {PHASE_HOOK: record(2.0, 2.0, 170.0)},
                  "batch@8": {"other:hook": {"x": 1}}},
    }
    s = resources_from_records(RESULT, records)
    assert s["footprint_mb"] == 50.0 and s["load"]["measured_in"] == "closed_loop"
    assert s["load"]["footprint_by_child_mb"] == {"predict": 60.0, "closed_loop": 50.0, "batch": 50.0}
    assert s["peak_rss_mb"] == 400.0  # the predict child scored the whole train split at once
    assert s["cpu_ms_per_prediction"] == pytest.approx(1000 * 0.5 / 2000)  # the closed loop
    assert s["phases"]["batch@64"]["cpu_ms_per_prediction"] == pytest.approx(1000 / 64_000)
    assert "batch@8" not in s["phases"]
    assert resources_from_records(RESULT, {}) is None


def load_and_phase() -> tuple[dict, dict]:
    """Runs in a fresh process (the test process's memory history must not hide the load)."""
    with phase_hook("load") as load:
        model = np.ones(40 * 1024 * 1024 // 8)  # a "model" of 40 MiB
        time.sleep(0.01)
    with phase_hook("closed_loop") as phase:
        for _ in range(200):
            model[:1000].sum()
    return load, phase


def test_phase_hook_records_a_load_and_a_phase_in_a_fresh_process():
    from benchharness.isolation.isolate import run_in_child

    out = run_in_child("test_resource_stage:load_and_phase", {}, 120)
    assert out.ok, out.error
    load, phase = out.value
    assert load["footprint_mb"] == pytest.approx(40, rel=0.25)
    assert load["load_time_ms"] >= 10
    assert load["gpu"]["available"] in (True, False) and "energy" in load
    assert phase["cpu_s"] >= 0 and phase["wall_s"] > 0
    assert phase["peak_rss_mb"] >= load["rss_after_load_mb"] - 5


def test_gpu_energy_is_charged_only_to_a_model_that_ran_on_the_gpu():
    gpu = {"available": True, "energy_j": 160.0, "wall_s": 2.0}  # 80 W: an idle GPU
    records = {"closed_loop": {"closed_loop": {PHASE_HOOK: record(1.0, 2.0, 160.0, gpu=gpu)}}}
    on_cpu = {**RESULT, "model": {"details": {"provider": "CPUExecutionProvider"}}}
    s = resources_from_records(on_cpu, records)
    assert s["gpu_energy_per_prediction_j"] is None and "ran on the CPU" in s["gpu_energy_note"]
    on_gpu = {**RESULT, "model": {"details": {"provider": "CUDAExecutionProvider"}}}
    s = resources_from_records(on_gpu, records)
    assert s["gpu_energy_per_prediction_j"] == pytest.approx(80.0 / 2000)
