"""Each bad input makes the affected metrics unavailable with a reason; nothing crashes."""

import numpy as np
import pandas as pd

from benchharness.quality.bootstrap import BootstrapPlan
from benchharness.quality.evaluate import ResolvedQuality, evaluate
from benchharness.quality.metrics import ScoredRows, metric_names, score_rows

PROBA_METRICS = {"roc_auc", "log_loss", "brier"}


def _evaluate(rows: ScoredRows) -> dict:
    """The whole quality section must come back, whatever is wrong with the rows."""
    metric = "rmse" if rows.task == "regression" else "accuracy"
    settings = ResolvedQuality(rows.task, metric, BootstrapPlan(100), subgroups=["g"], window=5, min_group_rows=1)
    q = evaluate(rows, rows, settings, pd.DataFrame({"g": np.arange(rows.n) % 2}), None)
    assert set(q["test"]) | set(q["unavailable"]) == set(metric_names(rows.task))
    return q


def test_single_class_test_split():
    y = np.ones(20, dtype=int)
    proba = np.column_stack([np.linspace(0, .5, 20), 1 - np.linspace(0, .5, 20)])
    q = _evaluate(ScoredRows("binary", y, np.r_[np.ones(15), np.zeros(5)].astype(int), proba, np.array([0, 1])))
    assert "two classes" in q["unavailable"]["roc_auc"]
    assert q["test"]["accuracy"] == 0.75 and "log_loss" in q["test"]
    assert "roc_auc" not in q["ci"]


def test_labels_in_test_unseen_in_train():
    y = np.array(["a", "b", "c", "a", "b", "c"] * 3)  # "c" never seen in training
    proba = np.tile([[0.7, 0.3]], (18, 1))
    rows = ScoredRows("multiclass", y, np.array(["a"] * 18), proba, np.array(["a", "b"]))
    values, unavailable = score_rows(rows)
    for m in PROBA_METRICS:
        assert "['c'] were not seen in training" in unavailable[m]
    assert values["accuracy"] == 1 / 3  # label metrics still computed


def test_nan_predictions():
    y = np.linspace(1, 10, 20)
    pred = y.copy()
    pred[[3, 7]] = np.nan
    q = _evaluate(ScoredRows("regression", y, pred))
    assert q["test"] == {}
    assert set(q["unavailable"].values()) == {"predictions contain 2 NaN values of 20"}
    assert q["overfit"]["overfit"] is None


def test_nan_probabilities_only_affect_probability_metrics():
    y = np.array([0, 1] * 10)
    proba = np.column_stack([1 - y * 0.8, y * 0.8]).astype(float)
    proba[0] = np.nan
    values, unavailable = score_rows(ScoredRows("binary", y, y, proba, np.array([0, 1])))
    assert set(unavailable) == PROBA_METRICS
    assert "1 rows with NaN" in unavailable["roc_auc"]
    assert values["accuracy"] == 1.0


def test_model_without_probabilities():
    y = np.array([0, 1] * 10)
    q = _evaluate(ScoredRows("binary", y, y, None, np.array([0, 1])))
    assert set(q["unavailable"]) == PROBA_METRICS
    assert all("no probabilities" in r for r in q["unavailable"].values())
    assert q["ci"]["accuracy"] == [1.0, 1.0]


def test_empty_split_and_wrong_probability_shape():
    empty = ScoredRows("regression", np.array([]), np.array([]))
    assert set(score_rows(empty)[1].values()) == {"the split has no rows"}
    y = np.array([0, 1, 1, 0])
    wrong = ScoredRows("binary", y, y, np.ones((4, 3)) / 3, np.array([0, 1]))
    assert "expected (4, 2)" in score_rows(wrong)[1]["log_loss"]


def test_runtime_label_types_are_aligned_to_the_target():
    """ONNX returns int64 labels and string class names for an int target; NaN stays NaN."""
    from benchharness.quality.stage import rows_for

    y = pd.Series(np.array([0, 1, 1, 0], dtype=np.int32))
    rows = rows_for("binary", y, np.array([0, 1, 1, 1], dtype=np.int64), np.full((4, 2), 0.5), np.array(["0", "1"]))
    values, unavailable = score_rows(rows)
    assert values["accuracy"] == 0.75 and values["roc_auc"] == 0.5 and unavailable == {}
    nan_rows = rows_for("binary", y, np.array([0.0, 1.0, np.nan, 0.0]), None, None)
    assert score_rows(nan_rows)[1]["accuracy"] == "predictions contain 1 NaN values of 4"


def test_a_time_column_that_does_not_parse_leaves_the_other_figures():
    y = np.array([0, 1] * 10)
    settings = ResolvedQuality("binary", "accuracy", BootstrapPlan(50), window="month")
    q = evaluate(ScoredRows("binary", y, y, None, np.array([0, 1])), None, settings, None,
                 pd.Series(["not a date"] * 20))
    assert "unavailable" in q["windows"] and "unavailable" in q["production"]
    assert q["test"]["accuracy"] == 1.0
