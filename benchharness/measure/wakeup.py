"""How late this machine's sleep wakes up, and a waiter that keeps that error out of the
open loop's schedule.

`time.sleep` returns late: by tens of microseconds on a quiet machine (timer slack, the
core waking up), by milliseconds on a busy one (the thread waits for a core). An open loop
that sleeps until an arrival starts the request that late, and the delay lands in the
latency measured from the scheduled arrival. So the generator first measures
(`measure_timing`) the distribution of that overshoot and the share of a core a spinning
thread gets here, then waits (`Waiter`) by sleeping until the arrival minus a margin and
spinning the rest. On Linux the waiting thread's timer slack is lowered to 1 ns
(`fine_timer_slack`): the kernel otherwise lets a timer fire up to 50 us late.

The margin (`choose_margin`): when a spinning thread keeps its core (the machine is not
oversubscribed), the largest overshoot measured (at or beyond the p99.9) plus a floor, so
the wake-up error never reaches an arrival. When it does not keep its core (other processes
want more CPUs than there are), the long overshoots are the wait for a core, which spinning
cannot avoid: a spinning thread uses up its share and is preempted, where a sleeping one is
woken ahead of busy ones. Measured on a 2-core machine at load 6, spinning 2 ms before each
arrival at 1,000/s raised the median start delay from 3 us to 1.4 ms. There the margin is
only the floor, and the delay that remains is measured and kept out of the model's figures
(`open_loop.OpenLoopRun.generator_delay_ns`).

Spinning costs CPU on the measuring thread (the model's thread too with one worker; each
worker spins for its own arrivals with several): up to the margin per request. It is
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
MARGIN_CAP_NS = 5_000_000  # spinning longer than this per request costs more than it saves
OVERSUBSCRIBED_SHARE = 0.8  # a spinning thread that gets less of a core than this: no spinning
CPU_SHARE_PROBE_S = 0.03
PROBE_SLEEPS_NS = (50_000, 200_000, 500_000)  # short sleeps, like those between arrivals
PROBE_SAMPLES = 200
PROBE_MAX_S = 0.2
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


def measure_cpu_share(seconds: float = CPU_SHARE_PROBE_S) -> float:
    """Share of one core a thread that spins for `seconds` actually ran (its CPU time over
    the wall time): about 1 on a machine with a core to spare, far less on one where other
    processes want every core."""
    w0, c0 = time.perf_counter(), time.thread_time()
    while time.perf_counter() - w0 < seconds:
        pass
    wall = time.perf_counter() - w0
    return round(min(1.0, (time.thread_time() - c0) / wall), 3) if wall > 0 else 1.0


def spin_margin_ns(wakeup: dict) -> int:
    """How long before an arrival to stop sleeping on a machine with a core to spare: the
    worst overshoot measured (with a few hundred samples, at or beyond the p99.9) plus a
    floor, capped."""
    worst_us = max(wakeup.get("max_us") or 0.0, wakeup.get("p999_us") or 0.0)
    return int(min(MARGIN_CAP_NS, worst_us * 1e3 + MARGIN_FLOOR_NS))


def choose_margin(wakeup: dict, cpu_share: float) -> tuple[int, str]:
    """The margin and why: see the module's docstring."""
    if cpu_share < OVERSUBSCRIBED_SHARE:
        return MARGIN_FLOOR_NS, (f"oversubscribed (a spinning thread got {cpu_share:.0%} of a core): "
                                 "sleep to the floor margin, spinning would lose the core")
    return spin_margin_ns(wakeup), "spin through the measured wake-up tail"


def measure_timing() -> dict:
    """The wake-up error (with this thread's finest timer slack), the CPU share a spinning
    thread gets, and the margin they give. Under 0.1 s on a quiet machine, 0.4 s on a busy one."""
    with fine_timer_slack() as slack:
        wakeup = measure_wakeup_error()
    share = measure_cpu_share()
    margin, policy = choose_margin(wakeup, share)
    return {"wakeup": wakeup, "cpu_share": share, "margin_ns": margin, "policy": policy,
            "timer_slack_ns": slack}  # None: the platform's default timer, no finer one set


class Waiter:
    """Waits until a perf_counter_ns time: sleeps until `margin_ns` before it, then spins.

    One per thread (its counters are not shared). Each sleep's overshoot is kept, to show
    whether the margin held during the run. `yield_gil` spins with `time.sleep(0)` so other
    Python threads (the other workers) can run meanwhile.
    """

    def __init__(self, margin_ns: int, yield_gil: bool = False):
        self.margin_ns = int(margin_ns)
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
            self.overshoots.append(now - (t_ns - self.margin_ns))
        if self.yield_gil:
            while pc() < t_ns:
                time.sleep(0)
        else:
            while pc() < t_ns:
                pass
        self.spin_ns += pc() - now


def waiters_report(waiters: list[Waiter], wall_ns: int) -> dict:
    """What the waiters of one run did: the margin, the wake-up error met in the run and the
    share of sleeps whose overshoot stayed within the margin, the CPU spent spinning."""
    overshoots = [o for w in waiters for o in w.overshoots]
    margin = max((w.margin_ns for w in waiters), default=0)
    spin = sum(w.spin_ns for w in waiters)
    return {
        "margin_us": round(margin / 1e3, 1),
        "wakeup_in_run": overshoot_summary(overshoots),
        "margin_held_share": (round(sum(o <= margin for o in overshoots) / len(overshoots), 4)
                              if overshoots else None),
        "spin_s": round(spin / 1e9, 4),
        # share of the run's wall time the waiting threads spent spinning (1.0 = one core)
        "spin_share": round(spin / wall_ns, 3) if wall_ns > 0 else 0.0,
    }
