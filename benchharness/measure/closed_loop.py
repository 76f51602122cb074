"""Closed loop (LoadGen's SingleStream): one request at a time, back to back.

The timed loop is kept bare so the harness costs next to nothing against a plain loop over
the same runtime: requests are sliced beforehand, the garbage collector is off, the clock is
`perf_counter_ns`, and each iteration only appends one integer to a list. The stop rule is
checked between chunks of about `check_interval_s`, never inside one, and the time spent
checking is not counted in the achieved rate.

A request that raises is counted (error count, rate, first error) and left out of the
latency samples: a fast failure must not make a model look fast.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import cycle, islice
from typing import Any

import numpy as np

from benchharness.measure.stoprule import StopRule
from benchharness.measure.timers import gc_paused, warm_up


@dataclass
class LoopResult:
    """Raw outcome of one timed phase."""

    latencies_ns: np.ndarray  # successful requests only, in the order they ran
    loop_s: float  # wall time inside the timed chunks (what qps divides by)
    stop_reason: str
    stable: bool
    errors: int = 0
    first_error: str | None = None
    warmup: dict = field(default_factory=dict)
    cpu_s: float = 0.0  # CPU time of the timing thread inside the timed chunks

    @property
    def attempts(self) -> int:
        return len(self.latencies_ns) + self.errors

    @property
    def qps(self) -> float:
        """Answered requests per second: a failed request took time but is not throughput,
        and a model that rejects half its requests at once must not look twice as fast."""
        return len(self.latencies_ns) / self.loop_s if self.loop_s > 0 else 0.0

    def error_section(self) -> dict:
        rate = self.errors / self.attempts if self.attempts else 0.0
        return {"error_count": self.errors, "error_rate": rate, "first_error": self.first_error}


def _timed_chunk(fn: Callable[[Any], Any], requests, count: int, out: list, errors: list) -> int:
    """Run `count` requests back to back; append one latency (ns) per success to `out`.

    Returns the chunk's wall time in ns. `errors` is [count, first message], updated in place.
    """
    pc = time.perf_counter_ns
    append = out.append
    start = pc()
    for req in islice(requests, count):
        t0 = pc()
        try:
            fn(req)
        except Exception as exc:  # the model's own failure: count it, keep going
            errors[0] += 1
            if errors[1] is None:
                errors[1] = f"{type(exc).__name__}: {exc}"
            continue
        append(pc() - t0)
    return pc() - start


def run_closed_loop(
    fn: Callable[[Any], Any],
    requests: Sequence,
    stop: StopRule,
    warmup_count: int = 20,
    warmup_s: float = 0.5,
    check_interval_s: float = 0.2,
) -> LoopResult:
    """Warm up, then time `fn(request)` back to back over `requests` (cycling) until `stop`."""
    if not requests:
        raise ValueError("run_closed_loop needs at least one request")
    warm = warm_up(fn, requests, warmup_count, warmup_s)
    per_call_s = max(warm["per_call_s"], 1e-7)
    target_s = check_interval_s / 4  # the warm-up's guess may be off: start small
    reqs = cycle(requests)
    samples: list[int] = []  # this chunk's, then moved into `chunks` as int64
    chunks: list[np.ndarray] = []
    errors: list = [0, None]
    loop_ns = 0
    cpu_s = 0.0
    thread_time = time.thread_time
    with gc_paused():
        while True:
            elapsed_s = loop_ns / 1e9
            # never overshoot the max duration by more than one call
            budget_s = min(target_s, max(stop.max_duration_s - elapsed_s, per_call_s))
            chunk = int(min(max(1, budget_s / per_call_s), 200_000))
            cpu0 = thread_time()
            chunk_ns = _timed_chunk(fn, reqs, chunk, samples, errors)
            cpu_s += thread_time() - cpu0
            loop_ns += chunk_ns
            per_call_s = max(chunk_ns / 1e9 / chunk, 1e-7)
            target_s = check_interval_s
            chunks.append(np.fromiter(samples, dtype=np.int64, count=len(samples)))
            samples.clear()
            arr = np.concatenate(chunks)
            chunks = [arr]
            reason = stop.decide(arr, loop_ns / 1e9)
            if reason is None and errors[0] and not len(arr):
                reason = "all_failed"
            if reason:
                break
    stable = reason == "stable" or (len(arr) > 0 and stop.is_stable(arr))
    return LoopResult(
        latencies_ns=arr, loop_s=loop_ns / 1e9, stop_reason=reason, stable=stable,
        errors=errors[0], first_error=errors[1], warmup=warm, cpu_s=cpu_s,
    )
