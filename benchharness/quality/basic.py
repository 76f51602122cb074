"""Placeholder quality (walking skeleton): task detection and sklearn metrics, train and test.

The quality capability replaces this with baselines, intervals, subgroups and windows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import metrics

from benchharness.context import CandidateRun, RunContext


def detect_task(y: pd.Series) -> str:
    from benchharness.data.load import _is_classification_target

    if _is_classification_target(y):
        return "binary" if y.nunique() <= 2 else "multiclass"
    return "regression"


def score(task: str, y_true, y_pred) -> dict:
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if task == "regression":
        y_pred = y_pred.astype(float)
        return {
            "rmse": float(np.sqrt(metrics.mean_squared_error(y_true, y_pred))),
            "mae": float(metrics.mean_absolute_error(y_true, y_pred)),
            "r2": float(metrics.r2_score(y_true, y_pred)),
        }
    if y_pred.dtype.kind != y_true.dtype.kind:  # e.g. ONNX labels as int64 vs target int32
        try:
            y_pred = y_pred.astype(y_true.dtype)
        except (TypeError, ValueError):
            y_true, y_pred = y_true.astype(str), y_pred.astype(str)
    return {
        "accuracy": float(metrics.accuracy_score(y_true, y_pred)),
        "f1_macro": float(metrics.f1_score(y_true, y_pred, average="macro")),
    }


def quality_stage(ctx: RunContext, cand: CandidateRun) -> None:
    ds = ctx.dataset
    if ds is None or "test" not in cand.predictions:
        return
    task = ctx.suite["quality"]["task"]
    if task == "auto":
        task = detect_task(ds.y_train)
    primary = ctx.suite["quality"]["primary_metric"] or ("rmse" if task == "regression" else "accuracy")
    cand.result["quality"] = {
        "task": task,
        "primary_metric": primary,
        "test": score(task, ds.y_test, cand.predictions["test"]),
        "train": score(task, ds.y_train, cand.predictions["train"]),
    }
