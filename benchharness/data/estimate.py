"""The model's metric per window before the labels arrive: estimated, with an interval.

Classification, confidence-based performance estimation (CBPE, as NannyML): with calibrated
probabilities P(class k | row) (`calibration.py`), the expected confusion matrix of a window
is C[k, j] = sum over the rows predicted j of P(k | row); accuracy, balanced accuracy,
macro precision/recall/F1 follow from it, and ROC AUC from the probabilities used as soft
labels (each row a positive with weight p and a negative with weight 1 - p; on a uniform
sample of at most `AUC_ROWS` rows of a window).

Regression, direct loss estimation (DLE, as NannyML): two "nanny" models
(HistGradientBoostingRegressor) learn, on the labelled reference, the absolute and the
squared error of the model from the features and the model's prediction; a window's MAE is
the mean of the predicted absolute errors, its RMSE the root of the mean predicted squared
error (read on a uniform sample of each window: `DLE_ROWS`).

The interval of the estimated metric adds two spreads (95%: estimate +- 1.96 sd):
- sampling: the labels a window will get are draws around the probabilities. CBPE: the
  true-class counts of the rows predicted j are a sum of independent categorical draws
  (covariance sum of diag(p) - p p^T), carried to the metric by its gradient in the
  confusion counts (the delta method; exact for accuracy). DLE: the variance of each row's
  error, E[e^2] - E[|e|]^2, and for RMSE 2 E[e^2]^2 as for normal errors;
- the estimator's own uncertainty: the spread of the window's estimate over refits on
  bootstrap resamples of the reference (calibrations for CBPE, nannies for DLE), read on a
  uniform sample of each window's rows (`REFIT_ROWS`).

Every window is computed at once (bincounts over a window code), so a batch of thousands of
small windows costs about what ten large ones do.

Both hold only while P(y | x) is what the reference showed (no concept shift) and the
current inputs stay within what the reference covered: docs/data.md says when.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from benchharness.data.calibration import Calibration, label_index
from benchharness.data.window_sample import WindowCodes, WindowSample, rank_in_group

NANNY_BOOTSTRAP = 4  # nanny refits on bootstrap resamples (DLE)
#: rows the nanny predicts on (a uniform sample of each window): at most DLE_ROWS per window
#: and DLE_TOTAL_ROWS over all windows (never fewer than DLE_MIN_ROWS per window); the
#: refits read REFIT_ROWS per window and REFIT_TOTAL_ROWS in all. A nanny's call costs
#: about a microsecond a row, so a batch of thousands of small windows is sampled too; the
#: sample's own spread joins the interval.
DLE_ROWS, DLE_TOTAL_ROWS, DLE_MIN_ROWS = 5_000, 200_000, 100
AUC_ROWS = 20_000  # rows per window CBPE's ROC AUC is read on (a uniform sample; sd ~0.003 from it)
#: rows per window (and in all) the refits are read on, CBPE's and DLE's alike
REFIT_ROWS, REFIT_TOTAL_ROWS = 2_000, 50_000
#: the nannies fit and predict on one thread: their data are small, and OpenMP's threads cost
#: more than they save on a shared machine (one fit on 20,000 rows: 0.71 s with 2 threads
#: under load, 0.11 s with one)
NANNY_THREADS = 1
Z95 = 1.959964
_STEP = 0.01  # a hundredth of a row: the finite difference of a metric in the confusion counts


def confusion_metrics(c: np.ndarray) -> dict[str, np.ndarray]:
    """Metrics of confusion matrices c[..., true, predicted] (counts, whole or expected)."""
    n = c.sum(axis=(-1, -2))
    diag = np.diagonal(c, axis1=-2, axis2=-1)
    true_total, pred_total = c.sum(axis=-1), c.sum(axis=-2)
    present = (true_total + pred_total) > 0  # as scikit-learn: classes in the truth or the predictions
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(true_total > 0, diag / true_total, 0.0)
        precision = np.where(pred_total > 0, diag / pred_total, 0.0)
        f1 = np.where(present, 2 * diag / (true_total + pred_total), 0.0)
        in_truth = true_total > 0
        return {
            "accuracy": diag.sum(axis=-1) / n,
            "balanced_accuracy": (recall * in_truth).sum(axis=-1) / in_truth.sum(axis=-1),
            "f1_macro": (f1 * present).sum(axis=-1) / present.sum(axis=-1),
            "precision_macro": (precision * present).sum(axis=-1) / present.sum(axis=-1),
            "recall_macro": (recall * present).sum(axis=-1) / present.sum(axis=-1),
        }


def _columns(k: int) -> list[int]:
    return [1] if k == 2 else list(range(k))


def expected_confusion(p: np.ndarray, predicted: np.ndarray, window: np.ndarray, n_windows: int) -> np.ndarray:
    """c[w, true k, predicted j] = sum of p(k) over the rows of window w predicted j."""
    k = p.shape[1]
    cell = window * k + predicted
    per_class = [np.bincount(cell, weights=p[:, t], minlength=n_windows * k) for t in range(k)]
    return np.stack(per_class, axis=1).reshape(n_windows, k, k).transpose(0, 2, 1)


def _window_then_score(window: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Row order by window, then score: one argsort of window x (2 x span) + score (exact
    while the sum keeps the score's digits, as for probabilities; a 2-key lexsort is 7x slower)."""
    low, high = float(score.min()), float(score.max())
    if high - low > 1.0 or window.max(initial=0) > 2**20:
        return np.lexsort((score, window))
    return np.argsort(window * 2.0 + (score - low), kind="stable")


def soft_auc(p: np.ndarray, scores: np.ndarray, window: np.ndarray | None = None, n_windows: int = 1) -> np.ndarray:
    """Expected ROC AUC per window (one class against the rest, macro over classes when more
    than two): each row a positive with weight p and a negative with weight 1 - p; tied
    scores count half, as scikit-learn's roc_auc_score with sample weights. One sort per class."""
    window = np.zeros(len(p), dtype=int) if window is None else window
    per_class = []
    for k in _columns(p.shape[1]):
        order = _window_then_score(window, scores[:, k])
        w, s = window[order], scores[order, k]
        new = np.r_[True, (w[1:] != w[:-1]) | (s[1:] != s[:-1])]  # a new (window, score) group
        group = np.cumsum(new) - 1
        group_window = w[new]
        pos = np.bincount(group, weights=p[order, k])
        neg = np.bincount(group, weights=1 - p[order, k])
        below = np.cumsum(neg) - neg  # negative weight before the group, from the first window on
        first = np.r_[True, group_window[1:] != group_window[:-1]]
        below -= below[np.flatnonzero(first)][np.cumsum(first) - 1]  # ... from this window's start
        num = np.bincount(group_window, weights=pos * (below + neg / 2), minlength=n_windows)
        total_pos = np.bincount(group_window, weights=pos, minlength=n_windows)
        total_neg = np.bincount(group_window, weights=neg, minlength=n_windows)
        with np.errstate(invalid="ignore", divide="ignore"):
            per_class.append(np.where((total_pos > 0) & (total_neg > 0), num / (total_pos * total_neg), np.nan))
    with np.errstate(invalid="ignore"):
        return np.nanmean(np.array(per_class), axis=0) if per_class else np.full(n_windows, np.nan)


def sampling_sd(metric: str, p: np.ndarray, predicted: np.ndarray, window: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Per window, the sd of the realized metric when each row's class is drawn from p: the
    covariance of the true-class counts of the rows predicted j, S_j = sum (diag(p) - p p^T),
    through the metric's gradient g_j in those counts: var = sum_j g_j^T S_j g_j."""
    n_windows, k = c.shape[0], c.shape[1]
    cell = window * k + predicted
    outer = np.stack([np.bincount(cell, weights=p[:, a] * p[:, b], minlength=n_windows * k)
                      for a in range(k) for b in range(k)], axis=1).reshape(n_windows, k, k, k)  # [w, j, a, b]
    diag = np.zeros((n_windows, k, k, k))
    for j in range(k):
        diag[:, j] = np.einsum("wa,ab->wab", c[:, :, j], np.eye(k))
    cov = diag - outer  # [w, j, a, b]: covariance of the true-class counts a, b of the rows predicted j
    grad = np.zeros((n_windows, k, k))  # d metric / d c[w, a, j]
    for a in range(k):
        for j in range(k):
            up, down = c.copy(), c.copy()
            up[:, a, j] += _STEP
            down[:, a, j] -= _STEP
            grad[:, a, j] = (confusion_metrics(up)[metric] - confusion_metrics(down)[metric]) / (2 * _STEP)
    grad = np.nan_to_num(grad)
    var = np.einsum("waj,wjab,wbj->w", grad, cov, grad)
    return np.sqrt(np.maximum(var, 0.0))


def interval(estimate: float, sd_sampling: float, sd_estimator: float, low=-np.inf, high=np.inf) -> dict:
    sd = float(np.hypot(sd_sampling, sd_estimator))
    return {"estimate": estimate,
            "interval": [float(max(low, estimate - Z95 * sd)), float(min(high, estimate + Z95 * sd))],
            "sd": {"sampling": float(sd_sampling), "estimator": float(sd_estimator)}}


class CBPEWindows(WindowCodes):
    """Raw probabilities and predicted classes of every row (K floats and a small integer
    each); every window's estimate at the end."""

    method = "cbpe"

    def __init__(self, calibration: Calibration, metric: str, namer):
        super().__init__(namer)
        self.calibration, self.metric = calibration, metric
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def observe(self, keys: np.ndarray, frame: pd.DataFrame, proba: np.ndarray, predicted) -> None:
        """One chunk of scored rows (what `bench monitor` hands every estimator)."""
        self.add(keys, proba, predicted)

    def add(self, keys: np.ndarray, proba: np.ndarray, predicted) -> None:
        proba = np.asarray(proba, dtype=np.float32)
        idx = label_index(predicted, self.calibration.classes)
        idx = np.where(idx >= 0, idx, proba.argmax(axis=1))  # a label outside the classes: the top score
        self.parts.append((self.codes(keys).astype(np.int32), proba, idx.astype(np.int16)))

    def windows(self) -> list[dict]:
        if not self.parts:
            return []
        keys, position = self.ordered()
        window = position[np.concatenate([w for w, _, _ in self.parts])]
        raw = np.concatenate([r for _, r, _ in self.parts]).astype(float)
        pred = np.concatenate([j for _, _, j in self.parts]).astype(int)
        n_windows = len(keys)
        p = self.calibration.apply(raw)
        c = expected_confusion(p, pred, window, n_windows)
        metrics = {name: v for name, v in confusion_metrics(c).items()}
        rows = np.bincount(window, minlength=n_windows)
        draw = np.random.default_rng(0).random(len(window))  # one uniform number per row: the samples below
        # ROC AUC (reported, never alerted on) needs a sort: on a uniform sample of AUC_ROWS a window
        auc = draw < np.minimum(1.0, AUC_ROWS / np.maximum(rows, 1))[window]
        metrics["roc_auc"] = soft_auc(p[auc], raw[auc], window[auc], n_windows)
        sd_sampling = sampling_sd(self.metric, p, pred, window, c)
        # the calibration refits shift a window's estimate alike on any uniform sample of its
        # rows: read them on at most REFIT_ROWS per window (REFIT_TOTAL_ROWS in all)
        per_window = min(REFIT_ROWS, max(DLE_MIN_ROWS, -(-REFIT_TOTAL_ROWS // n_windows)))
        sub = draw < np.minimum(1.0, per_window / np.maximum(rows, 1))[window]
        refits = np.array([confusion_metrics(expected_confusion(self.calibration.apply(raw[sub], b), pred[sub],
                                                                window[sub], n_windows))[self.metric]
                           for b in range(len(self.calibration.bootstrap))])
        sd_estimator = np.nanstd(refits, axis=0, ddof=1) if len(refits) > 1 else np.zeros(n_windows)
        return [{"window": self.namer(key), "rows": int(rows[w]),
                 **interval(float(metrics[self.metric][w]), float(sd_sampling[w]), float(sd_estimator[w]), 0.0, 1.0),
                 "metrics": {name: float(v[w]) for name, v in metrics.items()}}
                for w, key in enumerate(keys)]

    def summary(self) -> dict:
        return self.calibration.summary()


class Nanny:
    """The models of the model's error (DLE): |y - prediction| and (y - prediction)^2 from the
    features and the prediction, plus refits on bootstrap resamples for the estimator's spread."""

    def __init__(self, features: list[str], metric: str, seed: int = 0):
        self.features, self.metric, self.seed = features, metric, seed
        self.categories: dict[str, pd.Index] = {}

    def matrix(self, frame: pd.DataFrame, predicted: np.ndarray) -> np.ndarray:
        """Numbers for the nanny: numeric features as they are, text ones as codes of the
        reference's categories (unseen: missing), the prediction last."""
        cols = []
        for f in self.features:
            if f in self.categories:
                cols.append(self.categories[f].get_indexer(frame[f].astype(str)).astype(float))
                cols[-1][cols[-1] < 0] = np.nan
            else:
                cols.append(pd.to_numeric(frame[f], errors="coerce").to_numpy(float))
        return np.column_stack([*cols, np.asarray(predicted, float)])

    def _model(self, seed: int, iterations: int | None = None) -> HistGradientBoostingRegressor:
        """The nanny; `iterations` fixes its rounds (a bootstrap refit: early stopping would
        validate on copies of its own training rows and never stop)."""
        cats = [f in self.categories and len(self.categories[f]) <= 250 for f in self.features] + [False]
        return HistGradientBoostingRegressor(max_iter=iterations or 100, learning_rate=0.2,
                                             early_stopping=iterations is None,
                                             categorical_features=cats if any(cats) else None,
                                             random_state=seed)

    def fit(self, frame: pd.DataFrame, predicted: np.ndarray, y: np.ndarray) -> Nanny:
        with threadpool_limits(NANNY_THREADS):
            return self._fit(frame, predicted, y)

    def _fit(self, frame: pd.DataFrame, predicted: np.ndarray, y: np.ndarray) -> Nanny:
        for f in self.features:
            if frame[f].dtype.kind not in "biuf":
                self.categories[f] = pd.Index(frame[f].astype(str).unique())
        x = self.matrix(frame, predicted)
        err = np.asarray(y, float) - np.asarray(predicted, float)
        self.rows = len(err)
        self.abs_model = self._model(self.seed).fit(x, np.abs(err))
        self.sq_model = self._model(self.seed).fit(x, err**2)
        target, main = (np.abs(err), self.abs_model) if self.metric == "mae" else (err**2, self.sq_model)
        rng = np.random.default_rng(self.seed)
        self.refits = []
        for b in range(NANNY_BOOTSTRAP):
            rows = rng.integers(0, len(err), len(err))
            self.refits.append(self._model(self.seed + 1 + b, main.n_iter_).fit(x[rows], target[rows]))
        return self

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with threadpool_limits(NANNY_THREADS):
            return np.maximum(self.abs_model.predict(x), 0.0), np.maximum(self.sq_model.predict(x), 0.0)

    def predict_refits(self, x: np.ndarray) -> np.ndarray:
        """Each bootstrap refit's predicted error of each row (refits x rows)."""
        with threadpool_limits(NANNY_THREADS):
            return np.array([m.predict(x).clip(min=0) for m in self.refits]).reshape(len(self.refits), len(x))

    def summary(self) -> dict:
        return {"method": "nanny", "model": "HistGradientBoostingRegressor", "rows": self.rows,
                "targets": ["absolute error", "squared error"], "inputs": [*self.features, "prediction"],
                "bootstrap_refits": len(self.refits)}


class DLEWindows(WindowCodes):
    """A uniform sample of each window's nanny inputs (`window_sample.WindowSample`); the
    nanny predicts on it at the end, and the sample's own spread joins the interval when it
    is smaller than the window."""

    method = "dle"

    def __init__(self, nanny: Nanny, metric: str, namer, seed: int = 0):
        super().__init__(namer)
        self.nanny, self.metric = nanny, metric
        self.sample = WindowSample(DLE_ROWS, [seed, 11], total=DLE_TOTAL_ROWS, min_size=DLE_MIN_ROWS)

    def observe(self, keys: np.ndarray, frame: pd.DataFrame, proba, predicted: np.ndarray) -> None:
        """One chunk of scored rows (what `bench monitor` hands every estimator)."""
        self.add(keys, frame, predicted)

    def add(self, keys: np.ndarray, frame: pd.DataFrame, predicted: np.ndarray) -> None:
        self.sample.add(self.codes(keys), [self.nanny.matrix(frame, predicted)])

    def windows(self) -> list[dict]:
        self.sample.prune()
        if self.sample.columns is None or not len(self.sample.code):
            return []
        keys, position = self.ordered()
        window = position[self.sample.code]
        n_windows = len(keys)
        order = np.argsort(window, kind="stable")  # by window, then by random key (the prune's order)
        window, x = window[order], self.sample.columns[0][order]
        rank = rank_in_group(window, n_windows)
        take = rank < min(DLE_ROWS, max(DLE_MIN_ROWS, -(-DLE_TOTAL_ROWS // n_windows)))
        window, x, rank = window[take], x[take], rank[take]
        abs_e, sq_e = self.nanny.predict(x)  # one predict call for every window (a call costs more than rows)
        m = np.bincount(window, minlength=n_windows)
        n = np.zeros(n_windows, dtype=np.int64)
        n[position] = self.sample.seen[: len(position)]

        def mean(v):
            return np.bincount(window, weights=v, minlength=n_windows) / m

        def var(v):
            return np.maximum(mean(v**2) - mean(v) ** 2, 0.0)

        mae, mse = mean(abs_e), mean(sq_e)
        rmse = np.sqrt(mse)
        # the realized metric's spread over the window's n rows, from each row's error variance
        # (|e|: E[e^2] - E[|e|]^2; e^2: 2 E[e^2]^2, as for normal errors), plus, when the nanny
        # read a sample of m < n rows, that sample's own spread
        thin = np.where(m < n, (1 - m / n) / m, 0.0)
        var_abs = mean(np.maximum(sq_e - abs_e**2, 0.0)) / n + var(abs_e) * thin
        var_mse = mean(2 * sq_e**2) / n + var(sq_e) * thin
        firsts = rank < min(REFIT_ROWS, max(DLE_MIN_ROWS, -(-REFIT_TOTAL_ROWS // n_windows)))
        refit_rows = self.nanny.predict_refits(x[firsts])
        refit_means = np.array([np.bincount(window[firsts], weights=r, minlength=n_windows)
                                / np.bincount(window[firsts], minlength=n_windows) for r in refit_rows])
        if self.metric == "mae":
            estimate, sd_s = mae, np.sqrt(var_abs)
        else:  # RMSE = sqrt(MSE): its sd is sd(MSE) / (2 RMSE)
            estimate = rmse
            with np.errstate(invalid="ignore", divide="ignore"):
                sd_s = np.where(rmse > 0, np.sqrt(var_mse) / (2 * rmse), 0.0)
            refit_means = np.sqrt(refit_means)
        sd_c = np.std(refit_means, axis=0, ddof=1) if len(refit_means) > 1 else np.zeros(n_windows)
        return [{"window": self.namer(key), "rows": int(n[w]),
                 **interval(float(estimate[w]), float(sd_s[w]), float(sd_c[w]), 0.0),
                 "metrics": {"mae": float(mae[w]), "rmse": float(rmse[w])}}
                for w, key in enumerate(keys)]

    def summary(self) -> dict:
        return self.nanny.summary()
