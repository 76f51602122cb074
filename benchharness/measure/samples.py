"""Raw samples saved beside results.json, so reports and comparisons can recompute any
statistic without re-running.

Layout: ``<run_dir>/samples/<candidate>/<measurement>.npz``, one NumPy archive per
measurement, arrays in integer nanoseconds (`*_ns`) from `perf_counter_ns`. The relative
path goes into the measurement's section as `samples_file`. Read one back with
``numpy.load(run_dir / samples_file)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchharness.run_folder import SAMPLES_DIR, atomic_write, safe_name


def save_samples(run_dir: str | Path, candidate: str, measurement: str, arrays: dict[str, np.ndarray]) -> str:
    """Write `arrays` atomically; return the path relative to `run_dir`."""
    rel = Path(SAMPLES_DIR) / safe_name(candidate) / f"{safe_name(measurement)}.npz"
    path = Path(run_dir) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda fh: np.savez_compressed(fh, **{k: np.asarray(v) for k, v in arrays.items()}))
    return rel.as_posix()
