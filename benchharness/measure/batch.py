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
    untimed call), every run kept. A call that raises is counted, not timed."""
    runs: list[float] = []
    errors = 0
    first_error = None
    with gc_paused():
        for attempt in range(max(1, repeats) + 1):
            t0 = time.perf_counter_ns()
            try:
                fn(X_native)
            except Exception as exc:  # the model's own failure: report it, keep the others
                errors += 1
                first_error = first_error or f"{type(exc).__name__}: {exc}"
                continue
            if attempt:  # the first call warms up
                runs.append((time.perf_counter_ns() - t0) / 1e9)
    median = statistics.median(runs) if runs else None
    return {"rows": rows, "seconds": median, "runs_s": runs,
            "rows_per_s": rows / median if median else None,
            "error_count": errors, "first_error": first_error}
