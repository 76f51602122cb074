"""Models with a known service time, to measure what benchharness can see.

`ServiceTime(ms)` busy-waits `ms` milliseconds per call (a floor the model really spends on
the CPU, as inference does) and predicts zeros. Saved with `save(path, ms)` as a joblib file,
it is measured like any scikit-learn model file, kept with its run and measured again by
`bench run --against`. `benchmarks/sensitivity.py` plants 5%, 10% and 50% slowdowns with it;
the tests plant service times with it. (A joblib file runs code on load: these are files this
process wrote, of a class in this package.)
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np


class ServiceTime:
    """predict(X) busy-waits `ms` milliseconds per call and returns zeros."""

    def __init__(self, ms: float):
        self.ms = float(ms)

    def predict(self, X):
        end = time.perf_counter() + self.ms / 1000
        while time.perf_counter() < end:
            pass
        return np.zeros(len(X))


def save(path: str | Path, ms: float) -> Path:
    """Write a ServiceTime(ms) model file (joblib) and return its path."""
    import joblib

    path = Path(path)
    joblib.dump(ServiceTime(ms), path)
    return path
