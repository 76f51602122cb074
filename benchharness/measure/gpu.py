"""NVIDIA GPUs through NVML (the `pynvml` module of nvidia-ml-py), sampled alongside a phase.

    with GpuSampler() as gpu:      # inside the measuring child
        ... n predictions ...
    section = gpu.summary(predictions=n)

No GPU, no driver, or no pynvml is a normal state, not an error: `summary()` then returns
`{"available": False, "reason": "..."}` and nothing is printed or warned (NVML is probed
once per process and the answer kept).

Per device: utilisation (NVML's "percent of time over the last sample period, 1/6 s to 1 s
depending on the product, during which a kernel was running"), memory used on the device and
by this process, power draw (W) and energy. Energy comes from the device's total-energy
counter where it exists (Volta and newer: exact, millijoules since the driver loaded);
otherwise the power samples are integrated over time and the figure is labelled an estimate.
"""

from __future__ import annotations

import os
import threading
import time
from types import ModuleType
from typing import Any

MIB = 1024 * 1024
DEFAULT_INTERVAL_S = 0.1
ENERGY_COUNTER = "nvml_total_energy_counter"
ENERGY_ESTIMATE = "estimate: integrated power samples"

# keyed by the module itself (a strong reference, so no id is ever reused)
_probe_cache: dict[ModuleType, tuple[ModuleType | None, str | None]] = {}


def load_nvml(nvml: ModuleType | None = None) -> tuple[ModuleType | None, str | None]:
    """(the initialised module, None) or (None, why not). Probed once per module per process."""
    if nvml is None:
        try:
            import pynvml as nvml  # noqa: PLC0415 - optional at run time
        except ImportError:
            return None, "pynvml (nvidia-ml-py) is not installed"
    if nvml not in _probe_cache:
        try:
            nvml.nvmlInit()
            _probe_cache[nvml] = (nvml, None)
        except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
            _probe_cache[nvml] = (None, f"NVML unavailable: {exc}")
    return _probe_cache[nvml]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _try(fn, *args, default=None):
    """Call an NVML query; a query this GPU does not support yields `default`."""
    try:
        return fn(*args)
    except Exception:
        return default


def gpu_status(nvml: ModuleType | None = None) -> dict:
    """What NVML sees: driver version and each device's name and memory, or why not."""
    module, reason = load_nvml(nvml)
    if module is None:
        return {"available": False, "reason": reason, "devices": []}
    devices = []
    for index in range(_try(module.nvmlDeviceGetCount, default=0)):
        handle = module.nvmlDeviceGetHandleByIndex(index)
        memory = _try(module.nvmlDeviceGetMemoryInfo, handle)
        limit_mw = _try(module.nvmlDeviceGetPowerManagementLimit, handle)
        devices.append({
            "index": index,
            "name": _text(_try(module.nvmlDeviceGetName, handle, default="unknown")),
            "memory_total_mb": round(memory.total / MIB, 1) if memory else None,
            "power_limit_w": round(limit_mw / 1000, 1) if limit_mw else None,
        })
    driver = _try(module.nvmlSystemGetDriverVersion)
    return {
        "available": bool(devices),
        "reason": None if devices else "NVML found no GPU",
        "driver_version": _text(driver) if driver is not None else None,
        "devices": devices,
    }


class _DeviceTrack:
    """Samples of one device over one phase."""

    def __init__(self, nvml: ModuleType, index: int, pid: int):
        self.nvml, self.index, self.pid = nvml, index, pid
        self.handle = nvml.nvmlDeviceGetHandleByIndex(index)
        self.name = _text(_try(nvml.nvmlDeviceGetName, self.handle, default="unknown"))
        self.util: list[float] = []
        self.mem_util: list[float] = []
        self.mem_used: list[int] = []
        self.proc_mem: list[int] = []
        self.power: list[tuple[float, float]] = []  # (time s, watts)
        self.energy0_mj = _try(nvml.nvmlDeviceGetTotalEnergyConsumption, self.handle)

    def sample(self) -> None:
        n, h = self.nvml, self.handle
        rates = _try(n.nvmlDeviceGetUtilizationRates, h)
        if rates is not None:
            self.util.append(float(rates.gpu))
            self.mem_util.append(float(rates.memory))
        memory = _try(n.nvmlDeviceGetMemoryInfo, h)
        if memory is not None:
            self.mem_used.append(int(memory.used))
        mine = [p.usedGpuMemory for p in _try(n.nvmlDeviceGetComputeRunningProcesses, h, default=[])
                if p.pid == self.pid and p.usedGpuMemory is not None]
        if mine:
            self.proc_mem.append(int(sum(mine)))
        milliwatts = _try(n.nvmlDeviceGetPowerUsage, h)
        if milliwatts is not None:
            self.power.append((time.perf_counter(), milliwatts / 1000.0))

    def summary(self) -> dict:
        energy1_mj = _try(self.nvml.nvmlDeviceGetTotalEnergyConsumption, self.handle)
        if self.energy0_mj is not None and energy1_mj is not None:
            energy_j, source = (energy1_mj - self.energy0_mj) / 1000.0, ENERGY_COUNTER
        elif len(self.power) >= 2:
            energy_j, source = _integrate(self.power), ENERGY_ESTIMATE
        else:
            energy_j, source = None, None
        watts = [w for _, w in self.power]
        return {
            "index": self.index,
            "name": self.name,
            "utilisation_mean_percent": _mean(self.util),
            "utilisation_max_percent": max(self.util) if self.util else None,
            "memory_utilisation_mean_percent": _mean(self.mem_util),
            "memory_used_max_mb": round(max(self.mem_used) / MIB, 1) if self.mem_used else None,
            # None: NVML did not list this process (not using the GPU, or another PID namespace)
            "process_memory_max_mb": round(max(self.proc_mem) / MIB, 1) if self.proc_mem else None,
            "power_mean_w": _mean(watts),
            "power_max_w": round(max(watts), 1) if watts else None,
            "energy_j": round(energy_j, 3) if energy_j is not None else None,
            "energy_source": source,
        }


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def _integrate(points: list[tuple[float, float]]) -> float:
    """Trapezoid rule over (seconds, watts) samples: joules."""
    return sum((t1 - t0) * (w0 + w1) / 2 for (t0, w0), (t1, w1) in zip(points, points[1:], strict=False))


class GpuSampler:
    """Context manager: NVML samples of the GPUs over one phase; harmless without a GPU."""

    def __init__(self, interval_s: float = DEFAULT_INTERVAL_S, nvml: ModuleType | None = None,
                 devices: list[int] | None = None, pid: int | None = None):
        self.interval_s = float(interval_s)
        self._nvml, self._reason = load_nvml(nvml)
        self._pid = pid if pid is not None else os.getpid()
        self._devices = devices
        self._tracks: list[_DeviceTrack] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._n_samples = 0
        self._wall_s = 0.0

    @property
    def available(self) -> bool:
        return self._nvml is not None

    def _sample(self) -> None:
        for track in self._tracks:
            track.sample()
        self._n_samples += 1

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def __enter__(self) -> GpuSampler:
        if self._nvml is not None:
            count = _try(self._nvml.nvmlDeviceGetCount, default=0)
            indices = self._devices if self._devices is not None else range(count)
            self._tracks = [_DeviceTrack(self._nvml, i, self._pid) for i in indices if 0 <= i < count]
            if not self._tracks:
                self._reason = "NVML found no GPU"
        self._t0 = time.perf_counter()
        if self._tracks:
            self._sample()
            self._thread = threading.Thread(target=self._run, name="benchharness-gpu", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._wall_s = time.perf_counter() - self._t0
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._sample()

    def summary(self, predictions: int | None = None) -> dict:
        """Per-device figures; energy per prediction when every device has an energy figure."""
        if not self._tracks:
            return {"available": False, "reason": self._reason or "NVML found no GPU"}
        devices = [t.summary() for t in self._tracks]
        energies = [d["energy_j"] for d in devices]
        energy_j = round(sum(energies), 3) if all(e is not None for e in energies) else None
        out: dict[str, Any] = {
            "available": True,
            "devices": devices,
            "energy_j": energy_j,
            "energy_is_estimate": any(d["energy_source"] == ENERGY_ESTIMATE for d in devices),
            "wall_s": round(self._wall_s, 6),
            "samples": self._n_samples,
            "sample_interval_s": self.interval_s,
        }
        if predictions and energy_j is not None:
            out["energy_per_prediction_j"] = energy_j / predictions
        return out
