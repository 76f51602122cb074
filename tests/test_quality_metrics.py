"""Every quality metric equals sklearn's, and so does its bootstrap (weighted) form."""

import numpy as np
import pytest
from sklearn import metrics as skm

from benchharness.quality.metrics import METRICS, ScoredRows, metric_names, score_rows
from benchharness.quality.task import detect_task


def _classification(task: str, n: int = 300, seed: int = 0, labels=("a", "b", "c")) -> ScoredRows:
    rng = np.random.default_rng(seed)
    classes = np.array(labels[:2] if task == "binary" else labels)
    y = rng.choice(classes, n)
    # a noisy but informative model: proba leans to the truth; ties on purpose (rounded)
    logits = rng.normal(size=(n, len(classes))) + 1.5 * (y[:, None] == classes[None, :])
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    proba = np.round(proba, 2)
    proba = proba / proba.sum(axis=1, keepdims=True)
    pred = classes[np.argmax(proba, axis=1)]
    return ScoredRows(task, y, pred, proba, classes)


def _regression(n: int = 300, seed: int = 0) -> ScoredRows:
    rng = np.random.default_rng(seed)
    y = rng.normal(100, 20, n)
    return ScoredRows("regression", y, y + rng.normal(0, 10, n))


def _sklearn(name: str, r: ScoredRows) -> float:
    """The sklearn call a user would write, independent of the metric table."""
    y, p, pr = r.y_true, r.y_pred, r.proba
    pos = r.classes[-1] if r.classes is not None else None
    macro = {"labels": np.unique(np.r_[y, p]), "average": "macro", "zero_division": 0}
    calls = {
        "accuracy": lambda: skm.accuracy_score(y, p),
        "balanced_accuracy": lambda: skm.balanced_accuracy_score(y, p),
        "precision": lambda: skm.precision_score(y, p, pos_label=pos, zero_division=0),
        "recall": lambda: skm.recall_score(y, p, pos_label=pos, zero_division=0),
        "f1": lambda: skm.f1_score(y, p, pos_label=pos, zero_division=0),
        "precision_macro": lambda: skm.precision_score(y, p, **macro),
        "recall_macro": lambda: skm.recall_score(y, p, **macro),
        "f1_macro": lambda: skm.f1_score(y, p, **macro),
        "roc_auc": lambda: (skm.roc_auc_score(y == pos, pr[:, 1]) if r.task == "binary"
                            else skm.roc_auc_score(y, pr, multi_class="ovr", labels=r.classes)),
        "log_loss": lambda: skm.log_loss(y, pr, labels=r.classes),
        "brier": lambda: (skm.brier_score_loss(y == pos, pr[:, 1]) if r.task == "binary"
                          else skm.brier_score_loss(y, pr, labels=r.classes)),
        "rmse": lambda: np.sqrt(skm.mean_squared_error(y, p)),
        "mae": lambda: skm.mean_absolute_error(y, p),
        "r2": lambda: skm.r2_score(y, p),
        "mape": lambda: skm.mean_absolute_percentage_error(y, p),
        "max_error": lambda: skm.max_error(y, p),
    }
    return calls[name]()


CASES = [("binary", _classification("binary")), ("multiclass", _classification("multiclass")),
         ("regression", _regression())]


@pytest.mark.parametrize("task,rows", CASES, ids=[c[0] for c in CASES])
def test_every_metric_equals_sklearn(task, rows):
    values, unavailable = score_rows(rows)
    assert unavailable == {}
    assert set(values) == set(metric_names(task))
    for name, value in values.items():
        assert value == pytest.approx(_sklearn(name, rows), rel=1e-12), name


@pytest.mark.parametrize("task,rows", CASES, ids=[c[0] for c in CASES])
def test_weighted_forms_equal_sklearn_on_resampled_rows(task, rows):
    """W holds bootstrap counts: the weighted value must equal sklearn on the repeated rows."""
    rng = np.random.default_rng(1)
    W = np.stack([np.bincount(rng.integers(0, rows.n, rows.n), minlength=rows.n) for _ in range(5)])
    for name in metric_names(task):
        fast = METRICS[name].weighted(rows, W.astype(float))
        for b in range(len(W)):
            resample = rows.subset(np.repeat(np.arange(rows.n), W[b]))
            resample._cache["labels"] = rows.labels  # macro metrics average the full label set
            expected = _sklearn(name, resample) if "macro" not in name else \
                _sklearn_macro(name, resample, rows.labels)
            assert fast[b] == pytest.approx(expected, rel=1e-9, abs=1e-12), (name, b)


def _sklearn_macro(name, r, labels):
    fn = {"precision_macro": skm.precision_score, "recall_macro": skm.recall_score,
          "f1_macro": skm.f1_score}[name]
    return fn(r.y_true, r.y_pred, labels=labels, average="macro", zero_division=0)


def test_detect_task():
    assert detect_task(np.array([0, 1, 1, 0])) == "binary"
    assert detect_task(np.array(["x", "y", "z"])) == "multiclass"
    assert detect_task(np.array([True, False])) == "binary"
    assert detect_task(np.array([0.5, 1.25, 3.0])) == "regression"
    assert detect_task(np.arange(100)) == "regression"  # many integer values: a quantity
    assert detect_task(np.array([0, 1]), declared="regression") == "regression"
