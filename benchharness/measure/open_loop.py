"""Open loop (LoadGen's Server, wrk2): requests arrive on a schedule, whether or not the
model has finished the previous ones.

Arrival times come from a seeded generator (Poisson or constant inter-arrival). A pool of
`workers` serves them in order. Latency is counted from each request's *scheduled* arrival,
so when the model stalls, every request that arrives during the stall waits, and the tail
shows it (no coordinated omission). The service time (end minus actual start) is kept too:
it is what a closed loop, or a load generator that waits for each answer, would report.

A request *started late* when it began more than `late_threshold_ms` after it would have
with a perfect load generator: the start a first-come-first-served queue of `workers`
servers gives it from the schedule and the measured service times. That delay is the load
generator's (timer wake-up, the GIL, a busy machine), not the model's, and it includes the
requests queued behind a stalled one: one 4 ms stall at 2000/s delays the next several.
Above 1% the figures at that rate are suspect and a warning says so. A request that arrived
while its worker was still busy is *queued*: that wait is the model's, and is in its latency.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchharness.measure.timers import gc_paused

LATE_WARN_SHARE = 0.01
_SPIN_NS = 1_000_000  # sleep until 1 ms before the arrival, then spin: sleep alone overshoots


def arrival_offsets_ns(rate_per_s: float, count: int, arrival: str, seed: int) -> np.ndarray:
    """Scheduled arrival times (ns from the start) of `count` requests at `rate_per_s`."""
    if rate_per_s <= 0:
        raise ValueError(f"rate must be positive, got {rate_per_s}")
    if arrival == "poisson":
        gaps = np.random.default_rng(seed).exponential(1.0 / rate_per_s, count)
    elif arrival == "constant":
        gaps = np.full(count, 1.0 / rate_per_s)
    else:
        raise ValueError(f"arrival must be poisson or constant, got {arrival!r}")
    offsets = np.cumsum(gaps) - gaps[0]  # the first request arrives at once
    return np.rint(offsets * 1e9).astype(np.int64)


@dataclass
class OpenLoopRun:
    """Raw per-request times (ns, perf_counter_ns clock) of one open-loop run."""

    scheduled_ns: np.ndarray
    start_ns: np.ndarray
    end_ns: np.ndarray
    ready_ns: np.ndarray  # when the worker that served it had finished its previous request
    failed: np.ndarray  # bool: the request raised
    first_error: str | None
    dropped: int = 0  # requests never started: the run hit its deadline (the model fell behind)
    workers: int | None = 1  # servers of the queue; None: no limit (the async client)

    @property
    def latency_ns(self) -> np.ndarray:
        return self.end_ns - self.scheduled_ns

    @property
    def service_ns(self) -> np.ndarray:
        return self.end_ns - self.start_ns

    def ideal_start_ns(self) -> np.ndarray:
        """When each request would have started with a perfect load generator: first come,
        first served by `workers` servers, each taking the service time it was measured at."""
        if self.workers is None:
            return self.scheduled_ns.copy()
        free = [int(self.scheduled_ns[0])] * self.workers if len(self.scheduled_ns) else []
        out = np.empty_like(self.scheduled_ns)
        for i, (due, service) in enumerate(zip(self.scheduled_ns.tolist(),
                                               self.service_ns.tolist(), strict=True)):
            begin = max(due, heapq.heappop(free))
            heapq.heappush(free, begin + service)
            out[i] = begin
        return out

    def late_share(self, threshold_ns: int) -> float:
        late = (self.start_ns - self.ideal_start_ns()) > threshold_ns
        return float(late.mean()) if len(late) else 0.0

    def queued_share(self) -> float:
        return float((self.ready_ns > self.scheduled_ns).mean()) if len(self.ready_ns) else 0.0

    def achieved_rate_per_s(self) -> float:
        if not len(self.end_ns):
            return 0.0
        span = (self.end_ns.max() - self.scheduled_ns[0]) / 1e9
        return len(self.end_ns) / span if span > 0 else 0.0


def _wait_until(t_ns: int, pc, yield_gil: bool) -> None:
    remaining = t_ns - pc()
    if remaining > 2 * _SPIN_NS:
        time.sleep((remaining - _SPIN_NS) / 1e9)
    if yield_gil:  # other workers may hold Python work: let them run while we spin
        while pc() < t_ns:
            time.sleep(0)
    else:
        while pc() < t_ns:
            pass


def run_open_loop(
    fn: Callable[[Any], Any],
    requests: Sequence,
    offsets_ns: np.ndarray,
    workers: int = 1,
    max_wall_s: float | None = None,
) -> OpenLoopRun:
    """Serve one request per scheduled offset with `workers` threads (1: the calling thread).

    After `max_wall_s` no new request starts (a rate far above capacity would otherwise run
    for ever); those never started are counted as `dropped` and left out of the arrays.
    """
    n = len(offsets_ns)
    n_req = len(requests)
    start = [0] * n
    end = [0] * n
    ready = [0] * n
    failed = [False] * n
    first_error: list = [None]
    next_index = itertools.count().__next__  # atomic under the GIL
    pc = time.perf_counter_ns
    yield_gil = workers > 1

    def worker(t0_ns: int) -> None:
        deadline = t0_ns + int(max_wall_s * 1e9) if max_wall_s else None
        free_at = t0_ns
        while True:
            i = next_index()
            if i >= n or (deadline is not None and pc() > deadline):
                return
            req = requests[i % n_req]
            due = t0_ns + sched[i]
            ready[i] = free_at
            if pc() < due:
                _wait_until(due, pc, yield_gil)
            s = pc()
            try:
                fn(req)
            except Exception as exc:
                failed[i] = True
                if first_error[0] is None:
                    first_error[0] = f"{type(exc).__name__}: {exc}"
            end[i] = free_at = pc()
            start[i] = s

    sched = offsets_ns.tolist()
    with gc_paused():
        t0 = pc() + 2_000_000  # 2 ms lead so every worker is ready for the first arrival
        if workers == 1:
            worker(t0)
        else:
            threads = [threading.Thread(target=worker, args=(t0,), daemon=True) for _ in range(workers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    end_arr = np.asarray(end, dtype=np.int64)
    served = end_arr > 0
    return OpenLoopRun(
        scheduled_ns=(np.asarray(offsets_ns, dtype=np.int64) + t0)[served],
        start_ns=np.asarray(start, dtype=np.int64)[served],
        end_ns=end_arr[served],
        ready_ns=np.asarray(ready, dtype=np.int64)[served],
        failed=np.asarray(failed, dtype=bool)[served],
        first_error=first_error[0],
        dropped=int(n - served.sum()),
        workers=workers,
    )


def summarize_run(run: OpenLoopRun, target_rate_per_s: float, late_threshold_ms: float,
                  confidence: float = 0.95) -> dict:
    """One rate's section: latency from schedule, service time, late/queued shares, errors."""
    from benchharness.measure.stats import summarize_ns

    ok = ~run.failed
    out = {"target_rate_per_s": target_rate_per_s, "achieved_rate_per_s": run.achieved_rate_per_s()}
    out.update(summarize_ns(run.latency_ns[ok], confidence))
    service = summarize_ns(run.service_ns[ok], confidence)
    for key in ("mean_ms", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms"):
        if key in service:
            out[f"service_{key}"] = service[key]
    out["late_start_share"] = run.late_share(int(late_threshold_ms * 1e6))
    out["queued_share"] = run.queued_share()
    out["dropped"] = run.dropped
    out["error_count"] = int(run.failed.sum())
    out["error_rate"] = float(run.failed.mean()) if len(run.failed) else 0.0
    out["first_error"] = run.first_error
    return out


def sweep_rates(
    measure: Callable[[float], dict],
    p99_limit_ms: float,
    rates_per_s: Sequence[float] | None = None,
    capacity_per_s: float | None = None,
    fractions: Sequence[float] = (0.5, 0.8, 0.95),
    refine_steps: int = 1,
    max_error_rate: float | None = None,
) -> tuple[list[dict], float | None]:
    """Find the highest rate whose p99 (from schedule) stays within `p99_limit_ms`, with
    no request dropped and (when given) an `error_rate` at most `max_error_rate`: a server
    that sheds load answers its rejections fast, and the p99 of the requests it did serve
    alone would call any rate sustainable.

    `measure(rate)` runs one open loop and returns its summary (with `p99_ms`). Rates are
    `rates_per_s` when given, else `fractions` of `capacity_per_s` (the closed-loop rate times
    the workers). They run in ascending order and stop at the first that fails; then
    `refine_steps` bisections between the last passing and the first failing rate. Returns
    every summary (each with `sustainable`) and the highest passing rate, or None.
    """
    if rates_per_s:
        plan = sorted(float(r) for r in rates_per_s)
    elif capacity_per_s and capacity_per_s > 0:
        plan = [capacity_per_s * f for f in sorted(fractions)]
    else:
        raise ValueError("sweep_rates needs rates_per_s or a positive capacity_per_s")
    results: list[dict] = []
    best: float | None = None
    failed_at: float | None = None

    def probe(rate: float) -> bool:
        summary = measure(rate)
        p99 = summary.get("p99_ms")
        errors_ok = max_error_rate is None or (summary.get("error_rate") or 0.0) <= max_error_rate
        summary["sustainable"] = bool(
            p99 is not None and p99 <= p99_limit_ms and not summary.get("dropped") and errors_ok
        )
        results.append(summary)
        return summary["sustainable"]

    for rate in plan:
        if probe(rate):
            best = rate
        else:
            failed_at = rate
            break
    if failed_at is not None:
        low = best or 0.0
        high = failed_at
        for _ in range(refine_steps):
            mid = (low + high) / 2
            if mid <= 0:
                break
            if probe(mid):
                best = low = mid
            else:
                high = mid
    results.sort(key=lambda r: r["target_rate_per_s"])
    return results, best
