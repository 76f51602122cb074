"""The model time a server reports, kept apart from the time the client saw.

A latency measured over HTTP is the model plus everything around it: encoding, the network,
the server's HTTP stack, decoding. Servers that say how long the model took (`bench serve`:
`Server-Timing: model;dur=<ms>` and V2 `parameters.model_time_ms`) let a report split the two.
HTTP adapters append one value per answered call to `adapter.server_time_ms`; this module
parses the header, summarises the values, and offers them to measurement phases as a hook.
"""

from __future__ import annotations

import contextlib
import re
import weakref
from collections.abc import Iterator

import numpy as np

from benchharness import schema
from benchharness.measure.stats import percentile, percentile_key

#: live HTTP adapters, so that a phase hook can read what their servers reported
LIVE_ADAPTERS: weakref.WeakSet = weakref.WeakSet()
_SERVER_TIMING = re.compile(r"(?:^|,)\s*model\s*;[^,]*?dur=([0-9.]+)")


def server_time_ms(response) -> float | None:
    """The model time in a response's `Server-Timing: model;dur=<ms>` header, if any."""
    header = response.headers.get("server-timing")
    if header:
        m = _SERVER_TIMING.search(header)
        if m:
            return float(m.group(1))
    return None


def server_time_summary(samples_ms: list[float], client_mean_ms: float | None = None) -> dict | None:
    """The model time a server reported over a timed phase, beside the client's view.

    Means add up, so `network_mean_ms` (client mean minus server mean) is exactly the average
    time spent outside the model: encoding, the network, the server's HTTP stack, decoding.
    Percentiles do not subtract, so only the server's own are given (nearest rank).
    """
    if not samples_ms:
        return None
    ms = np.asarray(samples_ms, dtype=float)
    out = {"count": int(ms.size), "mean_ms": float(ms.mean())}
    for q in (50, 90, 99):
        out[percentile_key(q)] = percentile(ms, q)
    if client_mean_ms is not None:
        out["network_mean_ms"] = float(client_mean_ms - out["mean_ms"])
    return out


def closed_loop_server_model(adapter, count: int, client_mean_ms: float) -> dict | None:
    """`server_model` for a closed loop of `count` timed calls that just ran on `adapter`:
    its last `count` reported times (one per call; the warm-up's came before them)."""
    samples = getattr(adapter, "server_time_ms", None)
    if not samples or count <= 0 or len(samples) < count:
        return None
    return server_time_summary(samples[-count:], client_mean_ms)


@contextlib.contextmanager
def server_time_hook(phase: str) -> Iterator[dict]:
    """A measurement phase hook ("benchharness.adapters.server_timing:server_time_hook"): the model
    time that servers reported to this process's HTTP adapters during the phase (warm-up
    included, when the phase has one)."""
    marks = [(a, len(a.server_time_ms)) for a in list(LIVE_ADAPTERS)]
    record: dict = {}
    yield record
    samples = [t for adapter, n in marks for t in adapter.server_time_ms[n:]]
    record.update(server_time_summary(samples) or {})


def network_notes(results: dict) -> list[str]:
    """One terminal line per HTTP candidate whose server reported its model time."""
    lines = []
    for c in schema.candidates(results):
        loop = schema.closed_loop(c)
        server = loop.get("server_model")
        if server and "network_mean_ms" in server:
            lines.append(
                f"  {c['name']} over HTTP: mean {loop['mean_ms']:.3f} ms per request = model "
                f"{server['mean_ms']:.3f} ms (server-reported) + network and HTTP {server['network_mean_ms']:.3f} ms"
            )
    return lines
