"""Tiny Python models used as `module:attr` candidates in tests (importable in children)."""

import numpy as np


def always_one(X):
    return np.ones(len(X), dtype=np.int64)


class Threshold:
    """Predicts 1 when column 0 exceeds a threshold; has probabilities."""

    def __init__(self, threshold=14.0):
        self.threshold = threshold
        self.classes_ = np.array([0, 1])

    def predict(self, X):
        return (np.asarray(X)[:, 0] > self.threshold).astype(np.int64)

    def predict_proba(self, X):
        p = self.predict(X).astype(float)
        return np.column_stack([1 - p, p])


def raises(X):
    raise RuntimeError("model exploded on purpose")
