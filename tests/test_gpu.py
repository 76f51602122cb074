"""GPU sampling through NVML (benchharness.measure.gpu).

The real pynvml module is used whenever it is installed (it is a dependency): on the test
machines there is no NVIDIA driver, so that path is the no-GPU one. The GPU path itself is
tested through a stand-in for the pynvml module only (the boundary these machines cannot
reach): a fake with two devices whose power and energy counter follow known values.
"""

from __future__ import annotations

import os
import sys
import time
import types
import warnings
from types import SimpleNamespace

import pytest

from benchharness.measure import gpu as gpu_mod
from benchharness.measure.gpu import ENERGY_COUNTER, ENERGY_ESTIMATE, GpuSampler, gpu_status


class NVMLError(Exception):
    pass


def fake_nvml(power_w=(100.0, 50.0), energy_counter=True, my_pid=None, fail_init=None):
    """A module that answers like pynvml for two devices (constant power, energy = power x t)."""
    module = types.ModuleType("fake_pynvml")
    module.calls = {"init": 0}
    t0 = time.perf_counter()
    pid = my_pid if my_pid is not None else os.getpid()

    def init():
        module.calls["init"] += 1
        if fail_init:
            raise NVMLError(fail_init)

    def energy(h):
        if not energy_counter:
            raise NVMLError("Not Supported")
        return int(5_000_000 + power_w[h] * (time.perf_counter() - t0) * 1000)  # mJ

    module.nvmlInit = init
    module.nvmlDeviceGetCount = lambda: len(power_w)
    module.nvmlDeviceGetHandleByIndex = lambda i: i
    module.nvmlDeviceGetName = lambda h: f"Fake GPU {h}".encode()
    module.nvmlSystemGetDriverVersion = lambda: "999.1"
    module.nvmlDeviceGetUtilizationRates = lambda h: SimpleNamespace(gpu=80 if h == 0 else 10, memory=30)
    module.nvmlDeviceGetMemoryInfo = lambda h: SimpleNamespace(used=(1024 + h) * 2**20, total=24 * 2**30)
    module.nvmlDeviceGetPowerManagementLimit = lambda h: 300_000
    module.nvmlDeviceGetComputeRunningProcesses = lambda h: (
        [SimpleNamespace(pid=pid, usedGpuMemory=512 * 2**20), SimpleNamespace(pid=1, usedGpuMemory=None)]
        if h == 0 else [SimpleNamespace(pid=pid + 1, usedGpuMemory=2**30)])
    module.nvmlDeviceGetPowerUsage = lambda h: int(power_w[h] * 1000)  # mW
    module.nvmlDeviceGetTotalEnergyConsumption = energy
    return module


def test_real_pynvml_module_when_present():
    pynvml = pytest.importorskip("pynvml")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        status = gpu_status(pynvml)
        with GpuSampler(interval_s=0.01, nvml=pynvml) as sampler:
            time.sleep(0.03)
        summary = sampler.summary(predictions=10)
    assert caught == []  # no warning storm, whatever the machine
    if status["available"]:  # a machine with an NVIDIA driver
        assert status["devices"][0]["name"]
        assert summary["available"] and summary["devices"][0]["index"] == 0
    else:
        assert status["reason"] and status["devices"] == []
        assert summary == {"available": False, "reason": status["reason"]}


def test_no_pynvml_installed_is_recorded(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import now raises ImportError
    summary_sampler = GpuSampler()
    with summary_sampler:
        pass
    assert summary_sampler.summary() == {"available": False, "reason": "pynvml (nvidia-ml-py) is not installed"}


def test_driver_missing_is_probed_once_and_recorded():
    module = fake_nvml(fail_init="Driver Not Loaded")
    for _ in range(3):
        with GpuSampler(nvml=module) as sampler:
            pass
        assert sampler.summary() == {"available": False, "reason": "NVML unavailable: Driver Not Loaded"}
    assert module.calls["init"] == 1
    assert gpu_status(module)["available"] is False


def test_gpu_status_lists_devices():
    status = gpu_status(fake_nvml())
    assert status["available"] is True
    assert status["driver_version"] == "999.1"
    assert [d["name"] for d in status["devices"]] == ["Fake GPU 0", "Fake GPU 1"]
    assert status["devices"][0]["memory_total_mb"] == 24 * 1024
    assert status["devices"][0]["power_limit_w"] == 300.0


def test_energy_from_the_total_energy_counter():
    with GpuSampler(interval_s=0.02, nvml=fake_nvml()) as sampler:
        time.sleep(0.25)
    s = sampler.summary(predictions=100)
    d0, d1 = s["devices"]
    wall = s["wall_s"]
    # energy = power x time on each device: 100 W and 50 W
    assert d0["energy_j"] == pytest.approx(100 * wall, rel=0.1)
    assert d1["energy_j"] == pytest.approx(50 * wall, rel=0.1)
    assert d0["energy_source"] == ENERGY_COUNTER and s["energy_is_estimate"] is False
    assert s["energy_j"] == pytest.approx(d0["energy_j"] + d1["energy_j"], abs=1e-2)
    assert s["energy_per_prediction_j"] == pytest.approx(s["energy_j"] / 100)
    assert d0["utilisation_mean_percent"] == 80 and d1["utilisation_max_percent"] == 10
    assert d0["memory_used_max_mb"] == 1024 and d1["memory_used_max_mb"] == 1025
    assert d0["process_memory_max_mb"] == 512  # this process's own entry only
    assert d1["process_memory_max_mb"] is None  # another process uses device 1
    assert d0["power_mean_w"] == 100 and d1["power_max_w"] == 50
    assert s["samples"] >= 3


def test_energy_without_a_counter_is_an_integrated_estimate():
    with GpuSampler(interval_s=0.02, nvml=fake_nvml(energy_counter=False), devices=[1]) as sampler:
        time.sleep(0.25)
    s = sampler.summary()
    (d1,) = s["devices"]
    assert d1["index"] == 1
    assert d1["energy_source"] == ENERGY_ESTIMATE and s["energy_is_estimate"] is True
    # integrated between the first and last samples, which bracket the phase
    assert d1["energy_j"] == pytest.approx(50 * s["wall_s"], rel=0.15)
    assert "energy_per_prediction_j" not in s


def test_integrate_trapezoid_by_hand():
    # 0-1 s: 100 -> 200 W (150 J), 1-3 s: 200 W flat (400 J)
    assert gpu_mod._integrate([(0.0, 100.0), (1.0, 200.0), (3.0, 200.0)]) == pytest.approx(550.0)


def test_a_device_index_that_does_not_exist_means_no_gpu():
    with GpuSampler(nvml=fake_nvml(), devices=[7]) as sampler:
        pass
    assert sampler.summary() == {"available": False, "reason": "NVML found no GPU"}
