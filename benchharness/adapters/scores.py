"""Turn a runtime's raw scores into labels and class probabilities.

Gradient-boosting and neural-network runtimes return scores, not labels: a binary model gives
one probability per row (of the positive class), a multiclass model one column per class.
The adapters of those formats share this arithmetic, so that every format reports labels and
probabilities the same way (columns ordered as `classes`).
"""

from __future__ import annotations

import numpy as np

from benchharness.errors import ModelError


def proba_matrix(scores: np.ndarray) -> np.ndarray:
    """Probabilities as (rows, classes): a 1-D positive-class score becomes two columns."""
    scores = np.asarray(scores)
    if scores.ndim == 1 or (scores.ndim == 2 and scores.shape[1] == 1):
        p = scores.reshape(-1)
        return np.column_stack([1.0 - p, p])
    return scores


def labels_from_proba(proba: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """The most probable class of each row, as the model's own labels."""
    return classes[np.argmax(proba, axis=1)]


def resolve_classes(option: list | None, n_classes: int, source: str) -> np.ndarray:
    """Class labels from the candidate's `classes` option, else 0..n-1 (what the runtime saw)."""
    if option is None:
        return np.arange(n_classes)
    if not isinstance(option, list) or len(option) != n_classes:
        raise ModelError(
            f"option 'classes' for {source!r} must list {n_classes} labels (one per model output), got {option!r}"
        )
    return np.asarray(option)


def numeric_matrix(X, source: str, dtype=np.float32) -> np.ndarray:
    """Features as one C-contiguous numeric matrix, or a ModelError naming the bad columns."""
    import pandas as pd

    if isinstance(X, pd.DataFrame):
        bad = [str(c) for c, t in X.dtypes.items() if not (pd.api.types.is_numeric_dtype(t) or pd.api.types.is_bool_dtype(t))]
        if bad:
            raise ModelError(
                f"{source!r} takes numeric features only; non-numeric columns: {bad} "
                "(encode them before training, or use an sklearn Pipeline exported to ONNX)"
            )
        X = X.to_numpy()
    return np.ascontiguousarray(np.asarray(X, dtype=dtype))
