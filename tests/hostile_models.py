"""Models that misbehave on purpose, as `module:attr` candidates (importable in children)."""

import time

import numpy as np


def hangs(X):
    while True:  # a model stuck for good
        time.sleep(1)


def hogs_memory(X):
    blocks = []
    while True:  # allocates without bound, 64 MB at a time
        blocks.append(np.ones(8 * 1024 * 1024))


def one_row_short(X):
    return np.zeros(max(len(X) - 1, 0), dtype=np.int64)


def strings(X):
    return np.array(["yes" if v > 14 else "no" for v in np.asarray(X)[:, 0]])


def segfaults_on_negative(X):
    """Crashes the whole process (as a broken native runtime would) on a negative first value."""
    X = np.asarray(X, dtype=float)
    if X[0, 0] < 0:
        import ctypes

        ctypes.string_at(0)  # reads address 0: SIGSEGV
    return (X[:, 0] > 0).astype(np.int64)


def slow(X):
    time.sleep(4)
    return np.zeros(len(X), dtype=np.int64)
