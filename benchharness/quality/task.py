"""What kind of problem a target is, and which metrics fit it.

The task decides the metrics, the baselines and what "better" means, so it is detected once
from the training target (the suite may override it) and recorded in results.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchharness.data.load import is_classification_target
from benchharness.errors import SuiteError

TASKS = ("binary", "multiclass", "regression")

#: the metric a suite gets when it names none
DEFAULT_PRIMARY = {"binary": "accuracy", "multiclass": "accuracy", "regression": "rmse"}


def detect_task(y: pd.Series | np.ndarray, declared: str = "auto") -> str:
    """binary | multiclass | regression, from the training target (or the suite's word).

    The rule is the data loader's (the one that decides whether to stratify the split), so
    the split and the metrics never disagree on what the target is.
    """
    if declared != "auto":
        if declared not in TASKS:
            raise SuiteError(f"'quality.task' must be one of auto, {', '.join(TASKS)}, got {declared!r}")
        return declared
    values = pd.Series(np.asarray(y) if not isinstance(y, pd.Series) else y).dropna()
    if values.empty:
        raise SuiteError("'quality.task' cannot be detected: the training target has no values")
    if not is_classification_target(values):
        return "regression"
    return "binary" if values.nunique() <= 2 else "multiclass"


def is_classification(task: str) -> bool:
    return task in ("binary", "multiclass")
