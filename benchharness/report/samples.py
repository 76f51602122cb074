"""Raw latency samples saved beside results.json, read back for charts and `bench compare`.

The performance stage records where it wrote each measurement's samples (a path relative to
the run dir) in the section itself; this module reads NumPy (.npy/.npz), Parquet or CSV and
returns latencies in milliseconds. Samples that are missing or unreadable give None: a
report of a run without them still renders from the summary percentiles.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchharness.decide.figures import get_path

_PATH_KEYS = ("samples_file", "samples_path", "raw_samples", "samples")
_SCALE_TO_MS = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}


def _unit_of(name: str) -> str:
    for suffix in ("ns", "us", "ms", "s"):
        if name.endswith(f"_{suffix}") or name.endswith(f"_{suffix}.npy") or f"latency_{suffix}" in name:
            return suffix
    return "ms"


def _read(path: Path, key: str | None = None) -> np.ndarray | None:
    unit = _unit_of(path.stem)
    if path.suffix == ".npy":
        arr = np.load(path, allow_pickle=False)
    elif path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            # only arrays named as latencies: an open-loop archive holds times, not latencies
            key = key if key in z.files else next((k for k in z.files if "latency" in k), None)
            if key is None:
                return None
            arr, unit = z[key], _unit_of(key)
    elif path.suffix in (".parquet", ".csv"):
        import pandas as pd

        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
        col = next((c for c in frame.columns if "latency" in str(c)), frame.columns[0])
        arr, unit = frame[col].to_numpy(), _unit_of(str(col))
    else:
        return None
    return np.asarray(arr, dtype=float).ravel() * _SCALE_TO_MS[unit]


def latency_samples(run_dir: str | Path | None, cand: dict, mode: str = "closed_loop") -> np.ndarray | None:
    """Latencies (ms) of one candidate's real-time mode ("closed_loop", "open_loop") or of its
    best batch size ("batch": per-call latencies), or None when not saved."""
    if run_dir is None:
        return None
    if mode == "batch":
        from benchharness.decide.figures import as_number, batch_list

        sizes = [b for b in batch_list(cand) if as_number(b.get("rows_per_s")) is not None]
        section = max(sizes, key=lambda b: b["rows_per_s"], default=None)
    else:
        section = get_path(cand, f"realtime.{mode}")
    if not isinstance(section, dict):
        return None
    for key in _PATH_KEYS:
        ref = section.get(key)
        if isinstance(ref, dict):  # {"latency_ms": "samples/x.npy", ...}
            ref = next((v for k, v in ref.items() if "latency" in k), None)
        if isinstance(ref, str):
            path = Path(run_dir) / ref
            try:
                arr = _read(path, section.get("samples_key")) if path.is_file() else None
            except (OSError, ValueError, KeyError):
                arr = None
            if arr is not None and arr.size:
                return arr
    return None
