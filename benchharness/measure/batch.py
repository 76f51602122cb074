"""Batch (LoadGen's Offline): throughput over a sweep of batch sizes, each measured.

Each batch size is its own timed phase: the same bare loop as the closed loop, with
requests of `batch_size` rows, so rows per second and per-batch latency percentiles are
measured at that size rather than derived from a single-row latency. The whole test split
scored in one call is timed beside the sweep (`full_split_s`).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from benchharness.measure.closed_loop import LoopResult
from benchharness.measure.stats import summarize_ns
from benchharness.measure.timers import gc_paused


def batch_summary(batch_size: int, rows_per_batch: int, loop: LoopResult, confidence: float) -> dict:
    """One entry of results["batch"]: rows_per_s, per-batch latency percentiles, stability."""
    lat = summarize_ns(loop.latencies_ns, confidence)
    out = {
        "batch_size": batch_size,
        "rows_per_batch": rows_per_batch,
        "batches": lat.get("count", 0),
        "rows_per_s": loop.qps * rows_per_batch,
        "batches_per_s": loop.qps,
    }
    out.update({k: v for k, v in lat.items() if k != "count"})
    out["stable"] = loop.stable
    out["stop_reason"] = loop.stop_reason
    out["duration_s"] = loop.loop_s
    out.update(loop.error_section())
    return out


def time_full_split(fn: Callable[[Any], Any], X_native: Any, rows: int, repeats: int = 3) -> dict:
    """Seconds to score the whole split in one call: the median of `repeats` (after one
    untimed call), with every run kept."""
    fn(X_native)
    runs = []
    with gc_paused():
        for _ in range(max(1, repeats)):
            t0 = time.perf_counter_ns()
            fn(X_native)
            runs.append((time.perf_counter_ns() - t0) / 1e9)
    median = statistics.median(runs)
    return {"rows": rows, "seconds": median, "runs_s": runs,
            "rows_per_s": rows / median if median > 0 else None}
