"""Raw latency samples saved beside results.json, read back for the report's charts.

`measure/samples.py` writes each measurement's samples as one `.npz` (path relative to the
run dir in the section's `samples_file`; latencies in nanoseconds under `latency_ns`, a batch
size's under the entry's `samples_key`). This reads exactly that and returns milliseconds.
Samples that are missing or unreadable give None: the report of a run without them still
renders from the summary percentiles.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchharness import schema
from benchharness.decide.figures import as_number


def latency_samples(run_dir: str | Path | None, cand: dict, mode: str = "closed_loop") -> np.ndarray | None:
    """Latencies (ms) of one candidate's closed loop ("closed_loop", every trial pooled) or of
    its best batch size ("batch": per-call latencies), or None when not saved."""
    if run_dir is None:
        return None
    if mode == "batch":
        sizes = [b for b in schema.batch_entries(cand) if as_number(b.get("rows_per_s")) is not None]
        section = max(sizes, key=lambda b: b["rows_per_s"], default=None)
        key = (section or {}).get("samples_key")
    else:
        section, key = schema.realtime(cand).get(mode), "latency_ns"
    if not isinstance(section, dict) or not isinstance(section.get("samples_file"), str) or not key:
        return None
    path = Path(run_dir) / section["samples_file"]
    try:
        with np.load(path, allow_pickle=False) as saved:
            values = saved[key] if key in saved.files else None
    except (OSError, ValueError):
        return None
    if values is None or not values.size:
        return None
    return np.asarray(values, dtype=float).ravel() / 1e6
