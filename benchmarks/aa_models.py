"""A model with a known service time for benchmarks/aa_test.py's planted slowdown.

`BusyWait(ms)` busy-waits `ms` milliseconds per single-row call (CPU time, like inference;
a batch of n rows takes ms x sqrt(n), so batches still pay off), so a candidate made 1.5x
slower is one option away: `options: {kwargs: {ms: 0.75}}`.
"""

from __future__ import annotations

import time

import numpy as np


class BusyWait:
    def __init__(self, ms: float = 0.5):
        self.seconds = ms / 1000

    def predict(self, X):
        end = time.perf_counter() + self.seconds * len(X) ** 0.5
        while time.perf_counter() < end:
            pass
        return np.zeros(len(X))
