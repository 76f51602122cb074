"""CPU and memory of the measuring process, sampled alongside a timed phase.

Used inside the measuring child (one fresh process per measurement), so every figure
belongs to one candidate and one phase:

    rss = memory_snapshot_mb()                      # before the model is loaded
    model, load = measure_load(lambda: load_model(...))
    with ResourceSampler() as sampler:              # the timed phase
        ... n predictions ...
    section = sampler.summary(predictions=n)

What is measured and how
------------------------
* CPU time (user + system) of the process: exact, from the kernel's counters at the start
  and end of the phase (`psutil.Process.cpu_times`), so `cpu_ms_per_prediction` needs no
  sampling at all. Process CPU % = CPU seconds / wall seconds x 100 (200% = two cores busy).
* System and per-core CPU %: exact deltas of the machine's per-core counters between the
  start and the end of the phase (`psutil.cpu_times(percpu=True)`): every process counts, so
  a noisy neighbour shows up here and not in the process figures.
* Threads: sampled; the most seen at once.
* Memory is resident set size (RSS), never virtual size (which counts reserved but unused
  address space and says nothing about the RAM a machine needs).
  - `peak_rss_mb`: the kernel's high-water mark for the phase. On Linux the mark is reset at
    the start of the phase (`/proc/self/clear_refs` <- 5) and read at the end (VmHWM), so a
    short-lived allocation that no sampler would catch is still counted.
  - `sampled_peak_rss_mb`: the largest RSS the sampler saw (a lower bound; cross-check).
  - `maxrss_mb`: `resource.getrusage(RUSAGE_SELF).ru_maxrss`, the process's own peak as the
    C library reports it (reset together with VmHWM on Linux). The three must agree up to
    the sampler's blind spots; `peak_source` says which one `peak_rss_mb` is.
* MB here means MiB (2**20 bytes), as `ps`, `top` and Docker report memory.

Sampling rate and overhead
--------------------------
The sampler thread wakes every `interval_s` (default 0.1 s, i.e. 10 Hz) and reads RSS and the
thread count from /proc (about 30-60 microseconds, GIL held). At 10 Hz it takes under 0.1% of
one core, and a request that happens to coincide with a sample waits at most that long for
the GIL. `benchmarks/sampler_overhead.py` measures latency with the sampler on and off side by
side (target: within 2%). Everything exact (CPU seconds, per-core deltas, the kernel peak)
is read only at the phase boundaries, outside the timed loop.
"""

from __future__ import annotations

import re
import resource
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

MIB = 1024 * 1024
DEFAULT_INTERVAL_S = 0.1
_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _mb(n_bytes: float) -> float:
    return round(n_bytes / MIB, 3)


def rss_mb() -> float:
    """Resident set size of this process now, in MiB."""
    return _mb(psutil.Process().memory_info().rss)


def maxrss_mb() -> float:
    """Peak RSS of this process as getrusage reports it, in MiB (kB on Linux, bytes on macOS)."""
    raw = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return _mb(raw if sys.platform == "darwin" else raw * 1024)


def reset_peak_rss() -> bool:
    """Reset the kernel's RSS high-water mark of this process (Linux >= 4.0).

    Returns False where that is not possible; the phase's peak then falls back to the
    sampled maximum (and getrusage's lifetime peak, which may be older than the phase).
    """
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


def kernel_peak_rss_mb() -> float | None:
    """VmHWM of this process (peak RSS since start or the last reset), in MiB; None off Linux."""
    try:
        match = re.search(r"^VmHWM:\s+(\d+)\s+kB", _STATUS.read_text(), re.MULTILINE)
    except OSError:
        return None
    return _mb(int(match.group(1)) * 1024) if match else None


def memory_snapshot_mb() -> dict:
    """RSS now and the peaks so far, in MiB, for a phase boundary (e.g. before load)."""
    return {"rss_mb": rss_mb(), "kernel_peak_rss_mb": kernel_peak_rss_mb(), "maxrss_mb": maxrss_mb()}


def measure_load(load: Callable[[], Any]) -> tuple[Any, dict]:
    """Call `load()` (which loads the model) and measure the model's cost in this process.

    Returns (whatever load returned, figures): RSS before and after, the footprint (after -
    before: the memory the loaded model keeps), the peak while loading, and the load time
    (the cold-start time of one replica, minus process start).

    Call `monitor.prepare_monitoring()` first in the child: loading NVML takes tens of MiB
    (about 30 MiB was seen on an H200 machine), which must land before the baseline, not in
    the model's footprint or its predicting peak.
    """
    with ResourceSampler() as sampler:
        before = rss_mb()
        start = time.perf_counter_ns()
        model = load()
        load_ms = (time.perf_counter_ns() - start) / 1e6
        after = rss_mb()
    summary = sampler.summary(predictions=None)
    return model, {
        "rss_before_load_mb": before,
        "rss_after_load_mb": after,
        "footprint_mb": round(after - before, 3),
        "load_peak_rss_mb": summary["peak_rss_mb"],
        "load_time_ms": round(load_ms, 3),
        "load_cpu_s": summary["cpu_s"],
    }


class ResourceSampler:
    """Context manager: CPU and memory of this process over one phase.

    Exact counters are read on enter and exit; a daemon thread samples RSS and threads
    every `interval_s` in between. Re-entering is not supported: use one per phase.
    """

    def __init__(self, interval_s: float = DEFAULT_INTERVAL_S, reset_peak: bool = True):
        if not interval_s > 0:
            raise ValueError(f"interval_s must be a positive number, got {interval_s!r}")
        self.interval_s = float(interval_s)
        self.reset_peak = reset_peak
        self._proc = psutil.Process()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._rss_max = 0
        self._threads_max = 0
        self._n_samples = 0
        self._peak_was_reset = False
        self._result: dict | None = None

    # -- sampling ------------------------------------------------------------------------------
    def _sample(self) -> None:
        try:
            rss = self._proc.memory_info().rss
            threads = self._proc.num_threads()
        except psutil.Error:  # the process is going away; keep what we have
            return
        self._rss_max = max(self._rss_max, rss)
        self._threads_max = max(self._threads_max, threads)
        self._n_samples += 1

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def __enter__(self) -> ResourceSampler:
        self._peak_was_reset = reset_peak_rss() if self.reset_peak else False
        self._sample()
        self._cpu0 = self._proc.cpu_times()
        self._sys0 = psutil.cpu_times(percpu=True)
        self._t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._run, name="benchharness-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        wall_s = time.perf_counter() - self._t0
        cpu1 = self._proc.cpu_times()
        sys1 = psutil.cpu_times(percpu=True)
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
        self._result = self._finish(wall_s, cpu1, sys1)

    def _finish(self, wall_s: float, cpu1, sys1) -> dict:
        user_s = cpu1.user - self._cpu0.user
        system_s = cpu1.system - self._cpu0.system
        per_core = [_busy_percent(a, b) for a, b in zip(self._sys0, sys1, strict=True)]
        kernel_peak = kernel_peak_rss_mb() if self._peak_was_reset else None
        sampled_peak = _mb(self._rss_max)
        return {
            "wall_s": round(wall_s, 6),
            "cpu_user_s": round(user_s, 4),
            "cpu_system_s": round(system_s, 4),
            "cpu_s": round(user_s + system_s, 4),
            "process_cpu_percent": round(100.0 * (user_s + system_s) / wall_s, 1) if wall_s > 0 else None,
            "system_cpu_percent": round(sum(per_core) / len(per_core), 1) if per_core else None,
            "per_core_cpu_percent": [round(p, 1) for p in per_core],
            "threads_max": self._threads_max,
            "peak_rss_mb": kernel_peak if kernel_peak is not None else sampled_peak,
            "peak_source": "kernel_hwm" if kernel_peak is not None else "sampled",
            "sampled_peak_rss_mb": sampled_peak,
            "maxrss_mb": maxrss_mb(),
            "rss_end_mb": rss_mb(),
            "samples": self._n_samples,
            "sample_interval_s": self.interval_s,
        }

    # -- results -------------------------------------------------------------------------------
    def summary(self, predictions: int | None = None) -> dict:
        """The phase's figures; with `predictions`, CPU per prediction too."""
        if self._result is None:
            raise RuntimeError("ResourceSampler.summary() is only available after the with-block")
        out = dict(self._result)
        if predictions:
            out["predictions"] = int(predictions)
            # unrounded: a fast model spends microseconds of CPU per prediction
            out["cpu_ms_per_prediction"] = 1000.0 * out["cpu_s"] / predictions
        return out


def _busy_percent(before, after) -> float:
    """Share of a core's time spent not idle between two psutil per-core samples."""
    idle_fields = ("idle", "iowait")
    total = sum(after) - sum(before)
    idle = sum(getattr(after, f, 0.0) - getattr(before, f, 0.0) for f in idle_fields)
    # guest time is already counted in user on Linux; psutil's sum counts it twice
    for f in ("guest", "guest_nice"):
        total -= getattr(after, f, 0.0) - getattr(before, f, 0.0)
    return 0.0 if total <= 0 else max(0.0, min(100.0, 100.0 * (total - idle) / total))

