"""CPU and memory sampling (benchharness.measure.resources / monitor).

Real processes and real allocations throughout: memory figures come from fresh spawned
children that allocate known amounts, as the measuring children do.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time

import numpy as np
import psutil
import pytest
import resources_child

from benchharness.measure.resources import (
    ResourceSampler,
    kernel_peak_rss_mb,
    measure_load,
    reset_peak_rss,
    rss_mb,
)

LINUX_HWM = reset_peak_rss() and kernel_peak_rss_mb() is not None


def run_child(*args) -> dict:
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(resources_child.measure_in_child, args)


def test_busy_phase_counts_cpu_time_per_prediction():
    n = 0
    with ResourceSampler(interval_s=0.02) as sampler:
        end = time.perf_counter() + 0.4
        while time.perf_counter() < end:
            n += 1
    s = sampler.summary(predictions=n)
    # a pure-Python busy loop keeps one core busy whenever it is scheduled; on a shared
    # machine that may be well under 100% of the wall time, but never over one core
    assert s["cpu_s"] > 0.04
    assert 10 < s["process_cpu_percent"] <= 110
    assert s["process_cpu_percent"] == pytest.approx(100 * s["cpu_s"] / s["wall_s"], abs=0.2)
    assert s["cpu_ms_per_prediction"] == pytest.approx(1000 * s["cpu_s"] / n, rel=1e-3)
    assert s["cpu_s"] == pytest.approx(s["cpu_user_s"] + s["cpu_system_s"], abs=1e-3)
    assert len(s["per_core_cpu_percent"]) == psutil.cpu_count()
    assert all(0 <= p <= 100 for p in s["per_core_cpu_percent"])
    assert s["system_cpu_percent"] >= s["process_cpu_percent"] / psutil.cpu_count() * 0.5
    assert s["threads_max"] >= 2  # this thread and the sampler's
    assert s["samples"] >= 5


def test_sleeping_phase_uses_almost_no_cpu():
    with ResourceSampler(interval_s=0.05) as sampler:
        time.sleep(0.3)
    s = sampler.summary(predictions=1)
    assert s["wall_s"] >= 0.3
    assert s["process_cpu_percent"] < 20
    assert "cpu_ms_per_prediction" in s


def short_lived_allocation() -> dict:
    """Runs in a fresh process: the test process's own memory history (what earlier tests
    allocated and freed) must not decide whether the allocation is seen."""
    before = rss_mb()
    with ResourceSampler(interval_s=0.5) as sampler:  # too slow to see the allocation
        block = np.ones(80 * 1024 * 1024 // 8)
        del block
    return {"before": before, **sampler.summary()}


def test_short_lived_allocation_is_in_the_phase_peak():
    from benchharness.isolation.isolate import run_in_child

    out = run_in_child("test_resources:short_lived_allocation", {}, 120)
    assert out.ok, out.error
    s = out.value
    before = s["before"]
    if LINUX_HWM:
        assert s["peak_source"] == "kernel_hwm"
        assert s["peak_rss_mb"] - before > 72  # 80 MiB, within 10%
        assert s["maxrss_mb"] >= s["peak_rss_mb"] - 1
    assert s["rss_end_mb"] - before < 40  # freed again
    assert s["sampled_peak_rss_mb"] <= s["peak_rss_mb"] + 1


def test_without_peak_reset_the_peak_is_the_sampled_one():
    with ResourceSampler(interval_s=0.01, reset_peak=False) as sampler:
        time.sleep(0.05)
    s = sampler.summary()
    assert s["peak_source"] == "sampled"
    assert s["peak_rss_mb"] == s["sampled_peak_rss_mb"] > 0


def test_summary_before_the_phase_ends_and_bad_interval_are_errors():
    with pytest.raises(RuntimeError, match="after the with-block"):
        ResourceSampler().summary()
    with pytest.raises(ValueError, match="interval_s must be a positive number, got 0"):
        ResourceSampler(interval_s=0)


def test_measure_load_times_the_load_and_returns_the_model():
    def load():
        time.sleep(0.05)
        return "model"

    model, figures = measure_load(load)
    assert model == "model"
    assert figures["load_time_ms"] >= 50
    assert figures["footprint_mb"] == pytest.approx(
        figures["rss_after_load_mb"] - figures["rss_before_load_mb"], abs=1e-2)


def test_footprint_of_a_model_that_keeps_200_mib_in_a_fresh_child():
    section = run_child(200, 0, 20)
    assert section["footprint_mb"] == pytest.approx(200, rel=0.10)
    assert section["load"]["rss_before_load_mb"] > 10
    assert section["peak_rss_mb"] >= section["load"]["rss_after_load_mb"] - 1
    assert section["cpu_ms_per_prediction"] is not None
    from benchharness.measure.gpu import gpu_status

    # the real NVML answer: no GPU on CI (with the reason), the GPU on a machine that has one
    assert section["gpu_available"] is gpu_status()["available"]
    assert section["phases"]["closed_loop"]["gpu"]["available"] is gpu_status()["available"]


def test_peak_of_a_model_that_allocates_per_call_in_a_fresh_child():
    section = run_child(0, 64, 10)
    phase = section["phases"]["closed_loop"]
    above_load = phase["peak_rss_mb"] - section["load"]["rss_after_load_mb"]
    assert section["footprint_mb"] < 20  # nothing kept at load
    if LINUX_HWM:
        assert above_load == pytest.approx(64, rel=0.10)
    else:
        assert above_load >= 0
    assert phase["maxrss_mb"] >= phase["sampled_peak_rss_mb"] - 1
    assert phase["rows_per_s"] > 0 and phase["cpu_ms_per_prediction"] > 0


def test_resources_section_headline_figures():
    from benchharness.measure.monitor import resources_section

    load = {"footprint_mb": 12.5, "load_time_ms": 40.0, "load_peak_rss_mb": 130.0}
    phases = {"batch": {"peak_rss_mb": 150.0, "cpu_ms_per_prediction": 0.01},
              "realtime": {"peak_rss_mb": 120.0, "cpu_ms_per_prediction": 0.2}, "open_loop": {}}
    s = resources_section(load, phases)
    assert s["peak_rss_mb"] == 150.0
    assert s["cpu_ms_per_prediction"] == 0.2  # the real-time phase when there is one
    assert s["footprint_mb"] == 12.5 and s["load_time_ms"] == 40.0
    assert "open_loop" not in s["phases"]  # empty phases dropped
    assert resources_section(None, {"batch": phases["batch"]})["cpu_ms_per_prediction"] == 0.01


def test_child_rss_is_never_virtual_size():
    # the figure must be resident memory: a 1 GiB reservation that is never touched adds to
    # virtual size but not to what the sampler reports
    import mmap

    with ResourceSampler(interval_s=0.01) as sampler:
        reserved = mmap.mmap(-1, 1 << 30)
        time.sleep(0.05)
    reserved.close()
    s = sampler.summary()
    assert s["peak_rss_mb"] < psutil.Process(os.getpid()).memory_info().vms / 2**20
    assert s["peak_rss_mb"] - s["rss_end_mb"] < 100
