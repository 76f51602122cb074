"""How late this machine's sleep wakes up, and a waiter that keeps that error out of the
open loop's schedule.

`time.sleep` returns late: by tens of microseconds on a quiet machine, by milliseconds on a
busy one (the scheduler runs the thread when a core is free, not when its timer fires). An
open loop that sleeps until an arrival starts the request that late, and the delay lands
in the latency measured from the scheduled arrival. So the generator measures the
distribution of that overshoot first (`measure_wakeup_error`), sleeps only until the
arrival minus a margin that covers its far tail (`spin_margin_ns`: the largest overshoot
seen, at least the p99.9, plus a floor), and spins the rest (`Waiter`). On Linux the
sleeping thread's timer slack is lowered to 1 ns meanwhile (`fine_timer_slack`): the kernel
otherwise lets a timer fire up to 50 us late to batch wake-ups.

Spinning costs CPU on the measuring thread (the model's thread too with one worker): up to
the margin per request, which at 200 requests/s and a 5 ms margin is a whole core. It is
recorded (`spin_s`, `spin_share`) so it can be told apart from the model's own CPU use.
"""

from __future__ import annotations

import ctypes
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

MARGIN_FLOOR_NS = 200_000  # never sleep closer than this to an arrival
MARGIN_CAP_NS = 20_000_000  # a machine whose sleep is worse than this spins 20 ms per request
PROBE_SLEEPS_NS = (50_000, 200_000, 1_000_000)  # short sleeps, like those between arrivals
PROBE_SAMPLES = 300
PROBE_MAX_S = 0.3
_PR_SET_TIMERSLACK, _PR_GET_TIMERSLACK = 29, 30


@contextmanager
def fine_timer_slack() -> Iterator[int | None]:
    """Lower this thread's timer slack to 1 ns (Linux) for the block; yields the slack in
    force (ns), or None where the platform has no such setting."""
    libc = None
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
        except OSError:
            libc = None
    old = libc.prctl(_PR_GET_TIMERSLACK, 0, 0, 0, 0) if libc else -1
    if old < 0 or libc.prctl(_PR_SET_TIMERSLACK, 1, 0, 0, 0) != 0:
        yield None
        return
    try:
        yield 1
    finally:
        libc.prctl(_PR_SET_TIMERSLACK, old, 0, 0, 0)


def overshoot_summary(overshoots_ns) -> dict:
    """Percentiles (us) of wake-up overshoots: how much later than asked each sleep returned."""
    from benchharness.measure.stats import nearest_rank

    a = np.sort(np.asarray(overshoots_ns, dtype=np.float64)) / 1e3
    n = len(a)
    if not n:
        return {"sleeps": 0}
    out: dict = {"sleeps": n}
    for q, key in ((50, "p50_us"), (90, "p90_us"), (99, "p99_us"), (99.9, "p999_us")):
        out[key] = round(float(a[nearest_rank(n, q) - 1]), 1)
    out["max_us"] = round(float(a[-1]), 1)
    return out


def measure_wakeup_error(samples: int = PROBE_SAMPLES, max_s: float = PROBE_MAX_S) -> dict:
    """Sleep `samples` times (short sleeps of a few lengths, at most `max_s` in all) and
    summarise how late each woke up. Call it inside `fine_timer_slack()` to measure the
    timer the open loop will use."""
    pc = time.perf_counter_ns
    overshoots = []
    stop = pc() + int(max_s * 1e9)
    for i in range(samples):
        asked = PROBE_SLEEPS_NS[i % len(PROBE_SLEEPS_NS)]
        t = pc()
        time.sleep(asked / 1e9)
        overshoots.append(max(0, pc() - t - asked))
        if pc() > stop:
            break
    return overshoot_summary(overshoots)


def spin_margin_ns(wakeup: dict) -> int:
    """How long before an arrival to stop sleeping: the worst overshoot measured (with a few
    hundred samples, at or beyond the p99.9) plus a floor, capped."""
    worst_us = max(wakeup.get("max_us") or 0.0, wakeup.get("p999_us") or 0.0)
    return int(min(MARGIN_CAP_NS, worst_us * 1e3 + MARGIN_FLOOR_NS))


class Waiter:
    """Waits until a perf_counter_ns time: sleeps until `margin_ns` before it, then spins.

    One per thread (its counters are not shared). When a sleep overshoots into the margin
    the margin grows to cover that overshoot (up to the cap): the machine got busier than
    when it was measured. `yield_gil` spins with `time.sleep(0)` so other Python threads
    (the other workers) can run meanwhile.
    """

    def __init__(self, margin_ns: int, yield_gil: bool = False):
        self.margin_ns = int(margin_ns)
        self.start_margin_ns = int(margin_ns)
        self.yield_gil = yield_gil
        self.overshoots: list[int] = []
        self.spin_ns = 0

    def wait_until(self, t_ns: int) -> None:
        pc = time.perf_counter_ns
        now = pc()
        asked = t_ns - now - self.margin_ns
        if asked > 0:
            time.sleep(asked / 1e9)
            now = pc()
            over = now - (t_ns - self.margin_ns)
            self.overshoots.append(over)
            if over + MARGIN_FLOOR_NS > self.margin_ns:
                self.margin_ns = min(MARGIN_CAP_NS, over + MARGIN_FLOOR_NS)
        if self.yield_gil:
            while pc() < t_ns:
                time.sleep(0)
        else:
            while pc() < t_ns:
                pass
        self.spin_ns += pc() - now


def waiters_report(waiters: list[Waiter], wall_ns: int) -> dict:
    """What the waiters of one run did: margins, the wake-up error met in the run, spin CPU."""
    overshoots = [o for w in waiters for o in w.overshoots]
    spin = sum(w.spin_ns for w in waiters)
    return {
        "margin_us": round(max((w.start_margin_ns for w in waiters), default=0) / 1e3, 1),
        "margin_end_us": round(max((w.margin_ns for w in waiters), default=0) / 1e3, 1),
        "wakeup_in_run": overshoot_summary(overshoots),
        "spin_s": round(spin / 1e9, 4),
        # share of the run's wall time the waiting threads spent spinning (1.0 = one core)
        "spin_share": round(spin / wall_ns, 3) if wall_ns > 0 else 0.0,
    }
