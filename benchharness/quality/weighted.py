"""Sample-weighted metrics over many weight vectors at once, for the bootstrap.

A bootstrap resample is the rows repeated by a count each; with W[b, n] the counts of b
resamples, each function returns the b metric values in one numpy pass. These are the same
definitions sklearn uses with `sample_weight` (zero_division=0, eps clipping for the log
loss, the trapezoid rule with ties for ROC AUC): tests check them against sklearn on the
repeated rows, and `bootstrap.py` checks them against sklearn's value on every call before
trusting them. Point values never come from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from benchharness.quality.metrics import ScoredRows


def _mean(W: np.ndarray, v: np.ndarray) -> np.ndarray:
    return (W @ v) / W.sum(axis=1)


def _div(num: np.ndarray, den: np.ndarray, when_zero: float) -> np.ndarray:
    out = np.full(np.broadcast(num, den).shape, when_zero, dtype=float)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _onehot(values: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return (values[:, None] == labels[None, :]).astype(float)


def _counts(r: ScoredRows, W: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted true positives, predicted and actual counts per label: each (b, n_labels)."""
    truth = _onehot(r.y_true, r.labels)
    pred = _onehot(r.y_pred, r.labels)
    return W @ (truth * pred), W @ pred, W @ truth


def accuracy(r: ScoredRows, W: np.ndarray) -> np.ndarray:
    return _mean(W, (r.y_true == r.y_pred).astype(float))


def balanced_accuracy(r: ScoredRows, W: np.ndarray) -> np.ndarray:
    tp, _, actual = _counts(r, W)
    recall = _div(tp, actual, np.nan)  # a label absent from the truth does not count
    with np.errstate(all="ignore"):
        return np.nanmean(recall, axis=1)


def _per_label(r: ScoredRows, W: np.ndarray, which: str) -> np.ndarray:
    tp, predicted, actual = _counts(r, W)
    if which == "precision":
        return _div(tp, predicted, 0.0)
    if which == "recall":
        return _div(tp, actual, 0.0)
    return _div(2 * tp, predicted + actual, 0.0)


def _positive(r: ScoredRows, W: np.ndarray, which: str) -> np.ndarray:
    y01 = (r.y_true == r.pos_label).astype(float)
    p01 = (r.y_pred == r.pos_label).astype(float)
    tp, predicted, actual = W @ (y01 * p01), W @ p01, W @ y01
    if which == "precision":
        return _div(tp, predicted, 0.0)
    if which == "recall":
        return _div(tp, actual, 0.0)
    return _div(2 * tp, predicted + actual, 0.0)


def precision(r, W):
    return _positive(r, W, "precision")


def recall(r, W):
    return _positive(r, W, "recall")


def f1(r, W):
    return _positive(r, W, "f1")


def precision_macro(r, W):
    return _per_label(r, W, "precision").mean(axis=1)


def recall_macro(r, W):
    return _per_label(r, W, "recall").mean(axis=1)


def f1_macro(r, W):
    return _per_label(r, W, "f1").mean(axis=1)


def binary_auc(W: np.ndarray, y01: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Weighted ROC AUC: P(score_pos > score_neg) + 0.5 P(tie), NaN without both classes."""
    order = np.argsort(score, kind="mergesort")
    s = score[order]
    pos = y01[order].astype(float)
    Ws = W[:, order]
    w_pos = Ws * pos
    cum_neg = np.cumsum(Ws * (1 - pos), axis=1)
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])  # first row of each tied group
    ends = np.r_[starts[1:], len(s)] - 1
    group = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(s)]))
    before = np.where(starts > 0, cum_neg[:, np.maximum(starts - 1, 0)], 0.0)
    tied = cum_neg[:, ends] - before
    credit = before[:, group] + 0.5 * tied[:, group]
    n_pos, n_neg = w_pos.sum(axis=1), cum_neg[:, -1]
    return _div((w_pos * credit).sum(axis=1), n_pos * n_neg, np.nan)


def roc_auc(r: ScoredRows, W: np.ndarray) -> np.ndarray:
    if r.task == "binary":
        return binary_auc(W, (r.y_true == r.pos_label).astype(int), r.proba[:, r.pos_column])
    per_class = [binary_auc(W, (r.y_true == c).astype(int), r.proba[:, j]) for j, c in enumerate(r.classes)]
    return np.mean(per_class, axis=0)  # macro one-vs-rest; NaN if a class is missing


def _true_column(r: ScoredRows) -> np.ndarray:
    column = {c: j for j, c in enumerate(r.classes.tolist())}
    return np.array([column[v] for v in r.y_true.tolist()])


def log_loss(r: ScoredRows, W: np.ndarray) -> np.ndarray:
    eps = np.finfo(r.proba.dtype).eps
    p_true = np.clip(r.proba, eps, 1 - eps)[np.arange(r.n), _true_column(r)]
    return _mean(W, -np.log(p_true))


def brier(r: ScoredRows, W: np.ndarray) -> np.ndarray:
    if r.task == "binary":
        y01 = (r.y_true == r.pos_label).astype(float)
        return _mean(W, (y01 - r.proba[:, r.pos_column]) ** 2)
    truth = _onehot(r.y_true, r.classes)
    return _mean(W, ((truth - r.proba) ** 2).sum(axis=1))


def _errors(r: ScoredRows) -> np.ndarray:
    return r.y_true.astype(float) - r.y_pred.astype(float)


def rmse(r, W):
    return np.sqrt(_mean(W, _errors(r) ** 2))


def mae(r, W):
    return _mean(W, np.abs(_errors(r)))


def r2(r: ScoredRows, W: np.ndarray) -> np.ndarray:
    y = r.y_true.astype(float)
    sse = W @ (_errors(r) ** 2)
    centre = _mean(W, y)
    sst = (W * (y[None, :] - centre[:, None]) ** 2).sum(axis=1)
    # sklearn's force_finite: a constant truth scores 1 when predicted exactly, else 0
    return np.where(sst == 0, np.where(sse == 0, 1.0, 0.0), 1 - _div(sse, sst, 0.0))


def mape(r, W):
    y = r.y_true.astype(float)
    return _mean(W, np.abs(_errors(r)) / np.maximum(np.abs(y), np.finfo(np.float64).eps))


def max_error(r, W):
    return np.where(W > 0, np.abs(_errors(r))[None, :], -np.inf).max(axis=1)
