"""Models with a known service time, for `bench compare` tests (importable in children)."""

import time

import numpy as np


def _threshold(X):
    return (np.asarray(X)[:, 0] > 14.0).astype(np.int64)


def fast(X):
    return _threshold(X)


def slowed(X):
    """The same predictions, with 3 ms of busy work per call: a regression made on purpose."""
    end = time.perf_counter() + 0.003
    while time.perf_counter() < end:
        pass
    return _threshold(X)


def small_radius_benign(X):
    """A one-feature rule that is right about 85% of the time on breast_cancer (1 = benign)."""
    return (np.asarray(X)[:, 0] <= 14.0).astype(np.int64)
