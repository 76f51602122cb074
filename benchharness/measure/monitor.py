"""One context manager for everything measured alongside a timed phase: CPU and memory,
GPUs (NVML) and CPU energy (RAPL). Used in the measuring child:

    prepare_monitoring()                      # first thing in the child
    model, load = measure_load(load_model)
    with PhaseMonitor() as monitor:
        ... n predictions ...
    phase = monitor.summary(predictions=n)

and `resources_section(load, {"realtime": phase, ...})` turns the per-phase figures into the
candidate's `resources` section of results.json.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from benchharness.measure.energy import RaplMeter
from benchharness.measure.gpu import GpuSampler, load_nvml
from benchharness.measure.resources import DEFAULT_INTERVAL_S, ResourceSampler, rss_mb


def prepare_monitoring() -> None:
    """Load what the monitors use before the child's baseline RSS is taken.

    NVML (on a machine with an NVIDIA driver) takes about 30 MiB once loaded; loaded later,
    it would be counted as the model's footprint or its peak while predicting.
    """
    load_nvml()


class PhaseMonitor:
    """CPU/memory sampler + GPU sampler + RAPL meter, entered and left together."""

    def __init__(self, interval_s: float = DEFAULT_INTERVAL_S, gpu: bool = True, energy: bool = True):
        self.cpu = ResourceSampler(interval_s=interval_s)
        self.gpu = GpuSampler(interval_s=interval_s) if gpu else None
        self.energy = RaplMeter() if energy else None

    def __enter__(self) -> PhaseMonitor:
        # the CPU sampler last in, first out: its window is the innermost, closest to the phase
        for part in (self.energy, self.gpu, self.cpu):
            if part is not None:
                part.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        for part in (self.cpu, self.gpu, self.energy):
            if part is not None:
                part.__exit__(*exc)

    def summary(self, predictions: int | None = None) -> dict:
        out = self.cpu.summary(predictions=predictions)
        if self.gpu is not None:
            out["gpu"] = self.gpu.summary(predictions=predictions)
        if self.energy is not None:
            out["energy"] = self.energy.summary(predictions=predictions)
        return out


def resources_section(load: dict | None, phases: dict[str, dict]) -> dict:
    """The candidate's `resources`: load figures, each phase, and the headline figures.

    Headline: `footprint_mb` and `load_time_ms` from the load; `peak_rss_mb` the highest peak
    of any phase (load included); `cpu_ms_per_prediction` and energy per prediction from the
    real-time closed loop when there is one (one request at a time: what one prediction
    costs), else from the first phase that has them.
    """
    phases = {k: v for k, v in phases.items() if v}
    peaks = [p["peak_rss_mb"] for p in phases.values() if p.get("peak_rss_mb") is not None]
    if load and load.get("load_peak_rss_mb") is not None:
        peaks.append(load["load_peak_rss_mb"])
    order = [k for k in ("closed_loop", "realtime") if k in phases] + list(phases)

    def first(get):
        return next((v for v in (get(phases[k]) for k in order) if v is not None), None)

    gpu_available = any((p.get("gpu") or {}).get("available") for p in phases.values())
    return {
        "footprint_mb": load.get("footprint_mb") if load else None,
        "load_time_ms": load.get("load_time_ms") if load else None,
        "peak_rss_mb": max(peaks) if peaks else None,
        "cpu_ms_per_prediction": first(lambda p: p.get("cpu_ms_per_prediction")),
        "gpu_available": gpu_available,
        "gpu_energy_per_prediction_j": first(lambda p: (p.get("gpu") or {}).get("energy_per_prediction_j")),
        "cpu_energy_per_prediction_j": first(lambda p: (p.get("energy") or {}).get("cpu_energy_per_prediction_j")),
        "load": load,
        "phases": phases,
    }


@contextmanager
def phase_hook(phase: str) -> Iterator[dict]:
    """The measuring child's hook (see measure/child.py): monitor one timed phase.

    Yields the dict the child keeps for this phase and fills it on exit with the phase's
    CPU, memory, GPU and energy figures. For the "load" phase it also records RSS before and
    after (the model's footprint) and the load time; NVML is loaded before that baseline.
    The child does not tell the hook how many predictions a phase made: the stage that
    reads the records divides by the count the measurement reports.
    """
    record: dict = {}
    loading = phase == "load"
    if loading:
        prepare_monitoring()
        before = rss_mb()
        start = time.perf_counter_ns()
    with PhaseMonitor() as monitor:
        yield record
    if loading:
        load_ms = (time.perf_counter_ns() - start) / 1e6
        after = monitor.cpu.summary()["rss_end_mb"]
        record.update(rss_before_load_mb=before, rss_after_load_mb=after,
                      footprint_mb=round(after - before, 3), load_time_ms=round(load_ms, 3))
    record.update(monitor.summary())


PHASE_HOOK = "benchharness.measure.monitor:phase_hook"
