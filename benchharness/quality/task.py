"""What kind of problem a target is, and which metrics fit it.

The task decides the metrics, the baselines and what "better" means, so it is detected once
from the training target (the suite may override it) and recorded in results.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchharness.errors import SuiteError

TASKS = ("binary", "multiclass", "regression")

#: a numeric target with at most this many distinct integer values is read as classes
MAX_CLASSES_FOR_INTEGER_TARGET = 20

#: the metric a suite gets when it names none
DEFAULT_PRIMARY = {"binary": "accuracy", "multiclass": "accuracy", "regression": "rmse"}


def detect_task(y: pd.Series | np.ndarray, declared: str = "auto") -> str:
    """binary | multiclass | regression, from the target's values (or the suite's word).

    Strings, booleans and categoricals are classes; floats with fractional values are a
    regression; integers are classes when there are few distinct values (at most
    MAX_CLASSES_FOR_INTEGER_TARGET), else a regression.
    """
    if declared != "auto":
        if declared not in TASKS:
            raise SuiteError(f"'quality.task' must be one of auto, {', '.join(TASKS)}, got {declared!r}")
        return declared
    values = pd.Series(np.asarray(y)).dropna()
    n_unique = values.nunique()
    if n_unique == 0:
        raise SuiteError("'quality.task' cannot be detected: the training target has no values")
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if numeric:
        as_float = values.astype(float)
        integral = bool(np.all(np.equal(np.mod(as_float, 1), 0)))
        if not integral or n_unique > MAX_CLASSES_FOR_INTEGER_TARGET:
            return "regression"
    return "binary" if n_unique <= 2 else "multiclass"


def is_classification(task: str) -> bool:
    return task in ("binary", "multiclass")
