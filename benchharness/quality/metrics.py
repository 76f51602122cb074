"""Quality metrics: every point value comes from sklearn.metrics.

`ScoredRows` holds one model's predictions on one split next to the truth. `score_rows`
returns {metric: value} and {metric: reason} for the metrics that cannot be computed (one
class in the test split, labels unseen in training, NaN predictions, no probabilities):
a bad input makes a metric unavailable with its reason, never a crash.

Each metric also names a sample-weighted vectorised form (`weighted.py`) used only by the
bootstrap, where calling sklearn a thousand times per metric would be far too slow; the
bootstrap checks that form against sklearn's value before trusting it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from sklearn import metrics as skm

from benchharness.quality import weighted
from benchharness.quality.task import is_classification


@dataclass
class ScoredRows:
    """Truth and predictions of one model on one split.

    `classes` are the training classes, the columns of `proba` in order. `proba_missing`
    says why there are no probabilities (e.g. the model has no predict_proba).
    """

    task: str
    y_true: np.ndarray
    y_pred: np.ndarray
    proba: np.ndarray | None = None
    classes: np.ndarray | None = None
    proba_missing: str = "the model gives no probabilities (no predict_proba)"
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.y_true = np.asarray(self.y_true)
        self.y_pred = np.asarray(self.y_pred)
        if self.proba is not None:
            self.proba = np.asarray(self.proba, dtype=float)
            if self.proba.ndim == 1:  # a positive-class column only
                self.proba = np.column_stack([1 - self.proba, self.proba])
        if self.classes is None and is_classification(self.task):
            self.classes = np.unique(self.y_true)
        if self.classes is not None:
            self.classes = np.asarray(self.classes)

    @property
    def n(self) -> int:
        return len(self.y_true)

    @property
    def labels(self) -> np.ndarray:
        """Classes seen in truth or predictions: the averaging set of the macro metrics."""
        if "labels" not in self._cache:
            self._cache["labels"] = np.unique(np.concatenate([self.y_true, self.y_pred]))
        return self._cache["labels"]

    @property
    def pos_label(self):
        """The positive class of a binary task: the greater training class, as sklearn does."""
        return self.classes[-1] if self.classes is not None and len(self.classes) else None

    @property
    def pos_column(self) -> int:
        return len(self.classes) - 1

    def subset(self, rows: np.ndarray) -> ScoredRows:
        proba = None if self.proba is None else self.proba[rows]
        return ScoredRows(self.task, self.y_true[rows], self.y_pred[rows], proba, self.classes,
                          self.proba_missing)


@dataclass(frozen=True)
class Metric:
    name: str
    tasks: tuple[str, ...]
    higher_is_better: bool
    perfect: float
    needs_proba: bool
    score: Callable[[ScoredRows], float]  # sklearn, on all rows
    weighted: Callable[[ScoredRows, np.ndarray], np.ndarray]  # (rows, W[b, n]) -> b values


def _y01(r: ScoredRows) -> np.ndarray:
    return (r.y_true == r.pos_label).astype(int)


def _prf(fn, average: str) -> Callable[[ScoredRows], float]:
    if average == "binary":
        return lambda r: fn(r.y_true, r.y_pred, pos_label=r.pos_label, average="binary", zero_division=0)
    return lambda r: fn(r.y_true, r.y_pred, labels=r.labels, average="macro", zero_division=0)


def _roc_auc(r: ScoredRows) -> float:
    if r.task == "binary":
        return skm.roc_auc_score(_y01(r), r.proba[:, r.pos_column])
    return skm.roc_auc_score(r.y_true, r.proba, multi_class="ovr", average="macro", labels=r.classes)


def _brier(r: ScoredRows) -> float:
    if r.task == "binary":
        return skm.brier_score_loss(_y01(r), r.proba[:, r.pos_column])
    return skm.brier_score_loss(r.y_true, r.proba, labels=r.classes)


CLS = ("binary", "multiclass")
BIN = ("binary",)
REG = ("regression",)

_ALL = [
    Metric("accuracy", CLS, True, 1.0, False, lambda r: skm.accuracy_score(r.y_true, r.y_pred), weighted.accuracy),
    Metric("balanced_accuracy", CLS, True, 1.0, False,
           lambda r: skm.balanced_accuracy_score(r.y_true, r.y_pred), weighted.balanced_accuracy),
    Metric("precision", BIN, True, 1.0, False, _prf(skm.precision_score, "binary"), weighted.precision),
    Metric("recall", BIN, True, 1.0, False, _prf(skm.recall_score, "binary"), weighted.recall),
    Metric("f1", BIN, True, 1.0, False, _prf(skm.f1_score, "binary"), weighted.f1),
    Metric("precision_macro", CLS, True, 1.0, False, _prf(skm.precision_score, "macro"), weighted.precision_macro),
    Metric("recall_macro", CLS, True, 1.0, False, _prf(skm.recall_score, "macro"), weighted.recall_macro),
    Metric("f1_macro", CLS, True, 1.0, False, _prf(skm.f1_score, "macro"), weighted.f1_macro),
    Metric("roc_auc", CLS, True, 1.0, True, _roc_auc, weighted.roc_auc),
    Metric("log_loss", CLS, False, 0.0, True, lambda r: skm.log_loss(r.y_true, r.proba, labels=r.classes),
           weighted.log_loss),
    Metric("brier", CLS, False, 0.0, True, _brier, weighted.brier),
    Metric("rmse", REG, False, 0.0, False, lambda r: skm.root_mean_squared_error(r.y_true, r.y_pred), weighted.rmse),
    Metric("mae", REG, False, 0.0, False, lambda r: skm.mean_absolute_error(r.y_true, r.y_pred), weighted.mae),
    Metric("r2", REG, True, 1.0, False, lambda r: skm.r2_score(r.y_true, r.y_pred), weighted.r2),
    Metric("mape", REG, False, 0.0, False,
           lambda r: skm.mean_absolute_percentage_error(r.y_true, r.y_pred), weighted.mape),
    Metric("max_error", REG, False, 0.0, False, lambda r: skm.max_error(r.y_true, r.y_pred), weighted.max_error),
]
METRICS: dict[str, Metric] = {m.name: m for m in _ALL}


def metrics_for(task: str) -> list[Metric]:
    return [m for m in _ALL if task in m.tasks]


def metric_names(task: str) -> list[str]:
    return [m.name for m in metrics_for(task)]


def _has_nan(values: np.ndarray) -> int:
    if values.dtype.kind in "fc":
        return int(np.isnan(values).sum())
    if values.dtype.kind == "O":
        return int(sum(v is None or (isinstance(v, float) and np.isnan(v)) for v in values))
    return 0


def input_problems(r: ScoredRows) -> dict[str, str]:
    """Why label metrics ("labels") or probability metrics ("proba") cannot be computed."""
    problems: dict[str, str] = {}
    if r.n == 0:
        return {"labels": "the split has no rows", "proba": "the split has no rows"}
    bad_truth = _has_nan(r.y_true)
    if bad_truth:
        reason = f"the target has {bad_truth} missing values of {r.n}"
        return {"labels": reason, "proba": reason}
    bad = _has_nan(r.y_pred)
    if bad:
        problems["labels"] = f"predictions contain {bad} NaN values of {r.n}"
    if not is_classification(r.task):
        return problems
    if r.proba is None:
        problems["proba"] = r.proba_missing
    elif r.proba.shape != (r.n, len(r.classes)):
        problems["proba"] = (f"probabilities have shape {r.proba.shape}, expected ({r.n}, {len(r.classes)}) "
                             f"for the training classes {list(r.classes)}")
    elif np.isnan(r.proba).any():
        problems["proba"] = f"probabilities contain {int(np.isnan(r.proba).any(axis=1).sum())} rows with NaN of {r.n}"
    else:
        unseen = sorted(set(r.y_true.tolist()) - set(r.classes.tolist()))
        if unseen:
            problems["proba"] = (f"test labels {unseen[:5]} were not seen in training: the probabilities "
                                 f"have no column for them (training classes {list(r.classes)[:10]})")
    return problems


def metric_problem(metric: Metric, r: ScoredRows, problems: dict[str, str]) -> str | None:
    """Why this metric cannot be computed on these rows, or None."""
    kind = "proba" if metric.needs_proba else "labels"
    if kind in problems:
        return problems[kind]
    if metric.name == "roc_auc" and len(np.unique(r.y_true)) < 2:
        return f"ROC AUC needs at least two classes in the truth, got only {np.unique(r.y_true).tolist()}"
    return None


def score_metric(metric: Metric, r: ScoredRows) -> tuple[float | None, str | None]:
    """One metric by sklearn: (value, None) or (None, reason)."""
    problem = metric_problem(metric, r, input_problems(r))
    if problem:
        return None, problem
    return _call(metric, r)


def _call(metric: Metric, r: ScoredRows) -> tuple[float | None, str | None]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # reasons are recorded, not printed
            value = float(metric.score(r))
    except (ValueError, TypeError, IndexError) as exc:
        return None, f"sklearn could not compute it: {str(exc).splitlines()[0]}"
    if not np.isfinite(value):
        return None, f"the value is not finite ({value})"
    return value, None


def score_rows(r: ScoredRows, names: list[str] | None = None) -> tuple[dict[str, float], dict[str, str]]:
    """Every metric of the task (or `names`): ({metric: value}, {metric: reason unavailable})."""
    values: dict[str, float] = {}
    unavailable: dict[str, str] = {}
    problems = input_problems(r)
    for metric in metrics_for(r.task):
        if names is not None and metric.name not in names:
            continue
        problem = metric_problem(metric, r, problems)
        value, reason = (None, problem) if problem else _call(metric, r)
        if reason:
            unavailable[metric.name] = reason
        else:
            values[metric.name] = value
    return values, unavailable


def confusion(r: ScoredRows) -> dict | None:
    """{labels, matrix}: rows are the truth, columns the prediction (sklearn's layout)."""
    if not is_classification(r.task) or "labels" in input_problems(r):
        return None
    matrix = skm.confusion_matrix(r.y_true, r.y_pred, labels=r.labels)
    return {"labels": [_plain(v) for v in r.labels], "matrix": matrix.tolist()}


def _plain(v):
    return v.item() if hasattr(v, "item") else v
