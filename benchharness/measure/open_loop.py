"""Open loop (LoadGen's Server, wrk2): requests arrive on a schedule, whether or not the
model has finished the previous ones.

Arrival times come from a seeded generator (Poisson or constant inter-arrival). A pool of
`workers` serves them in order. Latency is counted from each request's *scheduled* arrival,
so when the model stalls, every request that arrives during the stall waits, and the tail
shows it (no coordinated omission). The service time (end minus actual start) is kept too:
it is what a closed loop, or a load generator that waits for each answer, would report.

The generator's own error is measured and kept apart (docs/measurement-open-loop.md):

- Before the sweep, `calibrate_generator` measures this machine's sleep wake-up error
  (`wakeup.py`) and the generator's cost per request with a model that does nothing
  (LoadGen's null-SUT test). Workers sleep until an arrival minus a margin covering the
  wake-up error's far tail, then spin. The highest rate the generator can schedule back to
  back bounds the sweep's rates.
- A perfect generator (one that wakes exactly on time and pays only the calibrated cost per
  request) would have started each request when a first-come-first-served queue of
  `workers` servers, with the measured service times, frees up (`ideal_start_ns`). Any later
  start is the *generator's delay*: its share of the latency from the scheduled arrival.
  What remains (`model_latency_ns`: service time plus the queueing the model itself caused)
  is the model's latency, and the sustainable rate is judged on it (`judged_on`).

A request *started late* when its generator delay is above `late_threshold_ms`; it includes
the requests queued behind a late one: one 4 ms stall at 2000/s delays the next several.
Above 1% the raw figures at that rate are dominated by the generator and a warning says so.
A request that arrived while its worker was still busy is *queued*: that wait is the
model's, and is in its latency.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchharness.measure.timers import gc_paused
from benchharness.measure.wakeup import Waiter, fine_timer_slack, measure_timing, waiters_report

LATE_WARN_SHARE = 0.01
GENERATOR_SHARE_WARN = 0.1  # ...and its delay is over a tenth of the p99 from the schedule
CEILING_SHARE = 0.8  # the sweep stays below this share of the rate the generator can schedule
NULL_SUT_REQUESTS = 5000  # back-to-back requests to a model that does nothing, to calibrate
DEFAULT_P99_LIMIT = "default: max(5 x closed-loop p99, 1 ms)"


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
    overhead_ns: int = 0  # the generator's calibrated cost between two requests of one worker
    generator: dict | None = None  # what the waiters did: margin, wake-up error, spin CPU
    _ideal: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def latency_ns(self) -> np.ndarray:
        return self.end_ns - self.scheduled_ns

    @property
    def service_ns(self) -> np.ndarray:
        return self.end_ns - self.start_ns

    def ideal_start_ns(self) -> np.ndarray:
        """When each request would have started with a perfect load generator: first come,
        first served by `workers` servers, each taking the service time it was measured at
        plus the generator's calibrated cost per request (`overhead_ns`)."""
        if self._ideal is not None:
            return self._ideal
        if self.workers is None:
            self._ideal = self.scheduled_ns.copy()
            return self._ideal
        free = [int(self.scheduled_ns[0])] * self.workers if len(self.scheduled_ns) else []
        out = np.empty_like(self.scheduled_ns)
        cost = int(self.overhead_ns)
        for i, (due, service) in enumerate(zip(self.scheduled_ns.tolist(),
                                               self.service_ns.tolist(), strict=True)):
            begin = max(due, heapq.heappop(free))
            heapq.heappush(free, begin + service + cost)
            out[i] = begin
        self._ideal = out
        return out

    def generator_delay_ns(self) -> np.ndarray:
        """How much later than a perfect generator each request started (never below 0)."""
        return np.maximum(self.start_ns - self.ideal_start_ns(), 0)

    def model_latency_ns(self) -> np.ndarray:
        """Latency from the scheduled arrival less the generator's delay: the service time
        plus the queueing the model itself caused."""
        return self.latency_ns - self.generator_delay_ns()

    def late_share(self, threshold_ns: int) -> float:
        late = self.generator_delay_ns() > threshold_ns
        return float(late.mean()) if len(late) else 0.0

    def queued_share(self) -> float:
        return float((self.ready_ns > self.scheduled_ns).mean()) if len(self.ready_ns) else 0.0

    def achieved_rate_per_s(self) -> float:
        if not len(self.end_ns):
            return 0.0
        span = (self.end_ns.max() - self.scheduled_ns[0]) / 1e9
        return len(self.end_ns) / span if span > 0 else 0.0


def run_open_loop(
    fn: Callable[[Any], Any],
    requests: Sequence,
    offsets_ns: np.ndarray,
    workers: int = 1,
    max_wall_s: float | None = None,
    margin_ns: int | None = None,
    overhead_ns: int = 0,
) -> OpenLoopRun:
    """Serve one request per scheduled offset with `workers` threads (1: the calling thread).

    Each worker sleeps until `margin_ns` before its next arrival, then spins; without a
    margin the wake-up error is measured first (`calibrate_generator` does it once for a
    sweep). `overhead_ns` is the generator's cost per request the perfect generator is
    allowed (see `ideal_start_ns`). After `max_wall_s` no new request starts (a rate far
    above capacity would otherwise run for ever); those never started are counted as
    `dropped` and left out of the arrays.
    """
    timing = None
    if margin_ns is None:
        timing = measure_timing()
        margin_ns = timing["margin_ns"]
    n = len(offsets_ns)
    n_req = len(requests)
    start = [0] * n
    end = [0] * n
    ready = [0] * n
    failed = [False] * n
    first_error: list = [None]
    next_index = itertools.count().__next__  # atomic under the GIL
    pc = time.perf_counter_ns
    waiters = [Waiter(margin_ns, yield_gil=workers > 1) for _ in range(workers)]

    def worker(t0_ns: int, waiter: Waiter) -> None:
        deadline = t0_ns + int(max_wall_s * 1e9) if max_wall_s else None
        free_at = t0_ns
        wait_until = waiter.wait_until
        with fine_timer_slack():
            while True:
                i = next_index()
                if i >= n or (deadline is not None and pc() > deadline):
                    return
                req = requests[i % n_req]
                due = t0_ns + sched[i]
                ready[i] = free_at
                if pc() < due:
                    wait_until(due)
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
            worker(t0, waiters[0])
        else:
            threads = [threading.Thread(target=worker, args=(t0, w), daemon=True) for w in waiters]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        wall_ns = pc() - t0
    end_arr = np.asarray(end, dtype=np.int64)
    served = end_arr > 0
    generator = waiters_report(waiters, wall_ns)
    if timing is not None:
        generator["timing"] = timing
    return OpenLoopRun(
        scheduled_ns=(np.asarray(offsets_ns, dtype=np.int64) + t0)[served],
        start_ns=np.asarray(start, dtype=np.int64)[served],
        end_ns=end_arr[served],
        ready_ns=np.asarray(ready, dtype=np.int64)[served],
        failed=np.asarray(failed, dtype=bool)[served],
        first_error=first_error[0],
        dropped=int(n - served.sum()),
        workers=workers,
        overhead_ns=int(overhead_ns),
        generator=generator,
    )


def _null_model(_request: Any) -> None:
    return None


def calibrate_generator(workers: int = 1, null_requests: int = NULL_SUT_REQUESTS) -> dict:
    """Measure the generator before a sweep, in the process that will run it.

    The sleep wake-up error (its distribution), the CPU share a spinning thread gets, and
    the margin they give (`wakeup.measure_timing`); then a model
    that does nothing is offered `null_requests` requests all due at once (LoadGen's
    null-SUT test): the median gap between one request's end and the next one's start is the
    generator's cost per request, and the rate it started them at (median time between two
    starts) is the most it can schedule (`ceiling_per_s`). Takes well under a second.
    """
    timing = measure_timing()
    margin = timing["margin_ns"]
    zeros = np.zeros(null_requests, dtype=np.int64)
    one = run_open_loop(_null_model, [None], zeros, 1, margin_ns=margin)
    gaps = one.start_ns[1:] - one.end_ns[:-1]
    overhead = int(np.median(gaps)) if len(gaps) else 0
    pool = one if workers == 1 else run_open_loop(_null_model, [None], zeros, workers, margin_ns=margin)
    # steady state: the median time between two starts (a preemption in the calibration
    # would otherwise lower the ceiling of the whole sweep)
    period = float(np.median(np.diff(np.sort(pool.start_ns)))) if len(pool.start_ns) > 1 else 0.0
    ceiling = 1e9 / period if period > 0 else None
    return {
        **timing,
        "overhead_ns": overhead,
        "ceiling_per_s": ceiling,
        "max_rate_per_s": ceiling * CEILING_SHARE if ceiling else None,
        "workers": workers,
    }


def summarize_run(run: OpenLoopRun, target_rate_per_s: float, late_threshold_ms: float,
                  confidence: float = 0.95) -> dict:
    """One rate's section: latency from schedule (`p99_ms`...), the generator's delay within
    it (`generator_delay_p99_ms`...), the model's own latency (`model_p99_ms`...), service
    time, late/queued shares, errors, and what the generator did (`generator`)."""
    from benchharness.measure.stats import LATENCY_KEYS, summarize_ns

    ok = ~run.failed
    out = {"target_rate_per_s": target_rate_per_s, "achieved_rate_per_s": run.achieved_rate_per_s()}
    out.update(summarize_ns(run.latency_ns[ok], confidence))
    keys = (*LATENCY_KEYS, "max_ms")
    for prefix, values in (("service_", run.service_ns[ok]), ("model_", run.model_latency_ns()[ok]),
                           ("generator_delay_", run.generator_delay_ns()[ok])):
        summary = summarize_ns(values, confidence)
        for key in keys:
            if key in summary:
                out[f"{prefix}{key}"] = summary[key]
        if prefix == "model_" and "intervals" in out:
            out["intervals"].update({f"model_{k}": v for k, v in summary["intervals"].items()})
    out["late_start_share"] = run.late_share(int(late_threshold_ms * 1e6))
    out["queued_share"] = run.queued_share()
    out["dropped"] = run.dropped
    out["error_count"] = int(run.failed.sum())
    out["error_rate"] = float(run.failed.mean()) if len(run.failed) else 0.0
    out["first_error"] = run.first_error
    if run.generator:
        out["generator"] = run.generator
    return out


def generator_limited(rate: dict) -> bool:
    """Whether the load generator limited the measurement at this rate: it started more than
    1% of the requests late, and its delay is a visible part of the p99 from the scheduled
    arrival (over a tenth of it). Far past the model's capacity every request queues behind
    thousands of others, and the generator's few hundred nanoseconds per request add up to
    a late start that is nothing beside the model's queue: not a generator limit."""
    if (rate.get("late_start_share") or 0.0) <= LATE_WARN_SHARE:
        return False
    delay, p99 = rate.get("generator_delay_p99_ms"), rate.get("p99_ms")
    if delay is None or not p99:
        return True  # no split of the latency to tell: the late share alone decides
    return delay > GENERATOR_SHARE_WARN * p99


def late_start_warning(rates: Sequence[dict], late_threshold_ms: float) -> str | None:
    """One line when the generator limited the measurement at some rate (`generator_limited`):
    the figures from the scheduled arrival there are the generator's, not the model's."""
    late = [r for r in rates if generator_limited(r)]
    if not late:
        return None
    worst = max(late, key=lambda r: r["late_start_share"])
    return (f"{worst['late_start_share']:.1%} of requests at {worst['target_rate_per_s']:,.0f}/s "
            f"started more than {late_threshold_ms:g} ms late: the load generator limited the "
            f"measurement at {len(late)} rate(s); their model_p99_ms has its delay removed, "
            f"their p99_ms from the scheduled arrival does not")


def sweep_p99_limit(planned: tuple[float, str] | None, closed: dict) -> tuple[float, str]:
    """The one p99 limit the open-loop sweep, its chart and the verdict use, and its source:
    the one the suite sets (`planned`: its hard limit, or realtime.open_loop.p99_limit_ms;
    `decide.limits.open_loop_limit` reads it before anything is measured), else
    max(5 x closed-loop p99, 1 ms)."""
    if planned is not None:
        return planned
    return max(5 * float(closed.get("p99_ms") or 0.0), 1.0), DEFAULT_P99_LIMIT


def sweep_rates(
    measure: Callable[[float], dict],
    p99_limit_ms: float,
    rates_per_s: Sequence[float] | None = None,
    capacity_per_s: float | None = None,
    fractions: Sequence[float] = (0.5, 0.8, 0.95),
    refine_steps: int = 1,
    max_error_rate: float | None = None,
    max_rate_per_s: float | None = None,
) -> tuple[list[dict], float | None]:
    """Find the highest rate whose p99 (from schedule) stays within `p99_limit_ms`, with
    no request dropped and (when given) an `error_rate` at most `max_error_rate`: a server
    that sheds load answers its rejections fast, and the p99 of the requests it did serve
    alone would call any rate sustainable.

    `measure(rate)` runs one open loop and returns its summary: the p99 judged is the
    model's own (`model_p99_ms`, the generator's delay removed) when the summary has it, else
    `p99_ms`; `judged_on` says which. Rates are `rates_per_s` when given, else `fractions` of
    `capacity_per_s` (the closed-loop rate times the workers); a rate above `max_rate_per_s`
    (what the generator can schedule) is lowered to it, and says so (`capped_from_per_s`).
    They run in ascending order and stop at the first that fails; then `refine_steps`
    bisections between the last passing and the first failing rate. Returns every summary
    (each with `sustainable`) and the highest passing rate, or None.
    """
    if rates_per_s:
        plan = sorted(float(r) for r in rates_per_s)
    elif capacity_per_s and capacity_per_s > 0:
        plan = [capacity_per_s * f for f in sorted(fractions)]
    else:
        raise ValueError("sweep_rates needs rates_per_s or a positive capacity_per_s")
    capped: dict[float, float] = {}
    if max_rate_per_s:
        for rate in plan:
            if rate > max_rate_per_s:
                capped.setdefault(float(max_rate_per_s), rate)
        plan = sorted({min(rate, float(max_rate_per_s)) for rate in plan})
    results: list[dict] = []
    best: float | None = None
    failed_at: float | None = None

    def probe(rate: float) -> bool:
        summary = measure(rate)
        if rate in capped:
            summary["capped_from_per_s"] = capped[rate]
        judged_on = "model_p99_ms" if summary.get("model_p99_ms") is not None else "p99_ms"
        summary["judged_on"] = judged_on
        p99 = summary.get(judged_on)
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
