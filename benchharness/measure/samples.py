"""Raw samples saved beside results.json, so reports and comparisons can recompute any
statistic without re-running.

Layout: ``<run_dir>/samples/<candidate>/<measurement>.npz``, one NumPy archive per
measurement, arrays in integer nanoseconds (`*_ns`) from `perf_counter_ns`. The relative
path goes into the measurement's section as `samples_file`. Read one back with
``numpy.load(run_dir / samples_file)``.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np

_PLAIN_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")


def safe_name(name: str) -> str:
    """A file name that is the candidate's own, on every file system.

    A plain lower-case name (letters, digits, '_', '-') is used as is; any other name gets
    a safe stem plus a short hash of the exact name, so `m/1` and `m_1`, `Model` and `model`
    (on a case-insensitive disk), `.` and `..`, or two names in different scripts never
    share a file."""
    if _PLAIN_NAME.fullmatch(name):
        return name
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "candidate"
    return f"{stem[:60]}-{hashlib.sha256(name.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"


def save_samples(run_dir: str | Path, candidate: str, measurement: str, arrays: dict[str, np.ndarray]) -> str:
    """Write `arrays` atomically; return the path relative to `run_dir`."""
    rel = Path("samples") / safe_name(candidate) / f"{safe_name(measurement)}.npz"
    path = Path(run_dir) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **{k: np.asarray(v) for k, v in arrays.items()})
    os.replace(tmp, path)
    return rel.as_posix()
