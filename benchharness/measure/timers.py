"""The clock, garbage collection and warm-up around every timed phase."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from itertools import cycle
from typing import Any

from benchharness.errors import ModelError


def timer_info() -> dict:
    """The clock the timed loops read, with its resolution measured in this process."""
    from benchharness.environment import timer_resolution_ns

    return {"clock": "perf_counter_ns", "resolution_ns": timer_resolution_ns()}


@contextmanager
def gc_paused() -> Iterator[None]:
    """Collect once, then keep the garbage collector off for the timed phase."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def warm_up(fn: Callable[[Any], Any], requests: Sequence, count: int, seconds: float) -> dict:
    """Call `fn` at least `count` times and for at least `seconds`; never counted.

    Returns the number of calls, the mean seconds per call over the second half (a first
    guess at the service time, to size the chunks between stop-rule checks) and the first
    error. Raises ModelError when every call failed: there is nothing to measure.
    """
    calls = errors = 0
    first_error = None
    pc = time.perf_counter
    t_start = pc()
    deadline = t_start + seconds
    half_at = half_calls = None
    reqs = cycle(requests)
    while calls < max(count, 1) or pc() < deadline:
        try:
            fn(next(reqs))
        except Exception as exc:
            errors += 1
            if first_error is None:
                first_error = f"{type(exc).__name__}: {exc}"
        calls += 1
        if half_at is None and (calls >= count / 2 and pc() >= t_start + seconds / 2):
            half_at, half_calls = pc(), calls
        if calls >= 1_000_000:
            break
    now = pc()
    if half_at is None or calls == half_calls:
        per_call = (now - t_start) / calls
    else:
        per_call = (now - half_at) / (calls - half_calls)
    if errors == calls:
        raise ModelError(f"the model failed on every warm-up request; first error: {first_error}")
    return {"calls": calls, "seconds": now - t_start, "per_call_s": per_call,
            "errors": errors, "first_error": first_error}

