"""Open loop over asyncio, for models reached over the network (HTTP candidates).

A thread per in-flight request cannot keep a schedule once hundreds of requests wait on the
network; one event loop can. Each request is sent at its scheduled time on a pooled
connection (the adapter's `async_predict_fn()`), whether or not earlier ones have answered,
and its latency counts from the schedule (no coordinated omission). The result has the
fields of the thread-based open loop's `OpenLoopRun`, so the same summary applies:
`OpenLoopRun(**run_async_open_loop(...))`. With no worker to wait for, a request could always
start at its scheduled time (`ready_ns` = scheduled): any later start is the event loop's
lateness (the load generator's), never the model's queueing, which happens in the server.

The loop sleeps until `margin_ns` before each arrival, then yields to the loop (so answers
are read meanwhile) until it is due. The event loop waits in epoll with a millisecond
timeout, so its margin is the thread's wake-up margin plus 1 ms.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from benchharness.measure.wakeup import fine_timer_slack, measure_timing, overshoot_summary

EPOLL_RESOLUTION_NS = 1_000_000


async def _schedule(afn, requests: Sequence, offsets_ns: np.ndarray, max_wall_s: float | None,
                    margin_ns: int) -> dict:
    n, n_req = len(offsets_ns), len(requests)
    start = np.zeros(n, dtype=np.int64)
    end = np.zeros(n, dtype=np.int64)
    failed = np.zeros(n, dtype=bool)
    first_error: list = [None]
    pc = time.perf_counter_ns

    async def one(i: int) -> None:
        start[i] = pc()
        try:
            await afn(requests[i % n_req])
        except Exception as exc:  # counted, and the schedule goes on
            failed[i] = True
            if first_error[0] is None:
                first_error[0] = f"{type(exc).__name__}: {exc}"
        end[i] = pc()

    t0 = pc() + 2_000_000
    deadline = t0 + int(max_wall_s * 1e9) if max_wall_s else None
    tasks = []
    margin, overshoots, spin = margin_ns, [], 0
    for i, offset in enumerate(offsets_ns.tolist()):
        due = t0 + offset
        if deadline is not None and pc() > deadline:
            break
        now = pc()
        if now < due:
            if due - now > margin:
                await asyncio.sleep((due - now - margin) / 1e9)
                now = pc()
                over = now - (due - margin)
                overshoots.append(over)
            while pc() < due:  # the margin: yield, so answers are read meanwhile
                await asyncio.sleep(0)
            spin += pc() - now
        tasks.append(asyncio.create_task(one(i)))
    wall = pc() - t0
    if tasks:
        await asyncio.gather(*tasks)
    served = end > 0
    scheduled = (np.asarray(offsets_ns, dtype=np.int64) + t0)[served]
    return {
        "scheduled_ns": scheduled, "ready_ns": scheduled.copy(),
        "start_ns": start[served], "end_ns": end[served],
        "failed": failed[served], "first_error": first_error[0], "dropped": int(n - served.sum()),
        "workers": None,  # no worker to wait for: each request could start on schedule
        "generator": {"margin_us": round(margin / 1e3, 1), "wakeup_in_run": overshoot_summary(overshoots),
                      "margin_held_share": (round(sum(o <= margin for o in overshoots) / len(overshoots), 4)
                                            if overshoots else None),
                      "spin_s": round(spin / 1e9, 4),
                      "spin_share": round(spin / wall, 3) if wall > 0 else 0.0},
    }


def run_async_open_loop(adapter: Any, requests: Sequence, offsets_ns: np.ndarray,
                        max_wall_s: float | None = None, margin_ns: int | None = None) -> dict:
    """Send `requests` (cycled) at `offsets_ns` from now through `adapter.async_predict_fn()`.

    `margin_ns`: the thread's wake-up margin (`calibrate_generator`; measured here when
    None), to which the event loop's 1 ms is added. After `max_wall_s` no new request is
    sent; those are counted as `dropped`.
    """
    if margin_ns is None:
        margin_ns = measure_timing()["margin_ns"]

    async def main() -> dict:
        afn = adapter.async_predict_fn()
        try:
            await afn(requests[0])  # open the pool outside the timed schedule
            with fine_timer_slack():
                return await _schedule(afn, requests, np.asarray(offsets_ns), max_wall_s,
                                       margin_ns + EPOLL_RESOLUTION_NS)
        finally:
            await adapter.aclose()

    return asyncio.run(main())
