"""The model's metric per window before the labels arrive: estimated, with an interval.

Classification, confidence-based performance estimation (CBPE, as NannyML): with calibrated
probabilities P(class k | row) (`calibration.py`), the expected confusion matrix of a window
is C[k, j] = sum over the rows predicted j of P(k | row); accuracy, balanced accuracy,
macro precision/recall/F1 follow from it, and ROC AUC from the probabilities used as soft
labels (each row a positive with weight p and a negative with weight 1 - p).

Regression, direct loss estimation (DLE, as NannyML): two "nanny" models
(HistGradientBoostingRegressor) learn, on the labelled reference, the absolute and the
squared error of the model from the features and the model's prediction; a window's MAE is
the mean of the predicted absolute errors, its RMSE the root of the mean predicted squared
error (read on a uniform sample of at most `DLE_ROWS` rows of each window).

The interval of the estimated metric adds two spreads (95%: estimate +- 1.96 sd):
- sampling: the labels a window will get are draws around the probabilities (CBPE: labels
  drawn from the calibrated probabilities, `DRAWS` times, on a uniform sample of at most
  `SPREAD_ROWS` rows of the window, variance scaled to the window's rows; DLE: the variance
  of each row's error, E[e^2] - E[|e|]^2, and for RMSE 2 E[e^2]^2 as for normal errors);
- the estimator's own uncertainty: the spread of the window's estimate over refits on
  bootstrap resamples of the reference (calibrations for CBPE, nannies for DLE), read on the
  same sample of rows.

Both hold only while P(y | x) is what the reference showed (no concept shift) and the
current inputs stay within what the reference covered: docs/data.md says when.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from benchharness.data.calibration import Calibration, label_index

CBPE_METRICS = ("accuracy", "balanced_accuracy", "f1_macro", "precision_macro", "recall_macro", "roc_auc")
DLE_METRICS = ("mae", "rmse")
SPREAD_ROWS = 2_000  # rows per window the spreads are read on
DRAWS = 200  # label draws per window for the sampling spread (CBPE)
NANNY_BOOTSTRAP = 4  # nanny refits on bootstrap resamples (DLE)
DLE_ROWS = 5_000  # rows per window the nanny predicts on (a uniform sample of larger windows)
#: the nannies fit and predict on one thread: their data are small, and OpenMP's threads cost
#: more than they save on a shared machine (one fit on 20,000 rows: 0.71 s with 2 threads
#: under load, 0.11 s with one)
NANNY_THREADS = 1
Z95 = 1.959964


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


def soft_auc(p: np.ndarray, scores: np.ndarray) -> float:
    """Expected ROC AUC (one class against the rest, macro over classes when more than two):
    each row a positive with weight p and a negative with weight 1 - p; tied scores count
    half, as in scikit-learn's roc_auc_score with sample weights (one sort per class)."""
    out = []
    for k in _columns(p.shape[1]):
        _, at = np.unique(scores[:, k], return_inverse=True)
        pos = np.bincount(at, weights=p[:, k])
        neg = np.bincount(at, weights=1 - p[:, k])
        total_pos, total_neg = pos.sum(), neg.sum()
        if total_pos <= 0 or total_neg <= 0:
            continue
        below = np.cumsum(neg) - neg  # negative weight at strictly lower scores
        out.append(float((pos * (below + neg / 2)).sum() / (total_pos * total_neg)))
    return float(np.mean(out)) if out else float("nan")


def _drawn_auc(drawn: np.ndarray, scores: np.ndarray, k_classes: int) -> np.ndarray:
    """ROC AUC of each draw of labels (rows x draws) against the scores, by rank sums."""
    from scipy.stats import rankdata

    out = []
    for k in _columns(k_classes):
        ranks = rankdata(scores[:, k])
        pos = drawn == k
        n_pos = pos.sum(axis=0).astype(float)
        n_neg = len(drawn) - n_pos
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append((ranks @ pos - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    return np.nanmean(np.array(out), axis=0)


def expected_metrics(p: np.ndarray, predicted: np.ndarray, scores: np.ndarray, which=CBPE_METRICS) -> dict:
    """Every CBPE metric of one window from calibrated probabilities p (rows x classes)."""
    k = p.shape[1]
    c = p.T @ np.eye(k)[predicted]  # c[true, predicted] = sum of p(true) over rows predicted so
    out = {name: float(v) for name, v in confusion_metrics(c).items() if name in which}
    if "roc_auc" in which:
        out["roc_auc"] = soft_auc(p, scores)
    return out


def interval(estimate: float, sd_sampling: float, sd_estimator: float, low=-np.inf, high=np.inf) -> dict:
    sd = float(np.hypot(sd_sampling, sd_estimator))
    return {"estimate": estimate,
            "interval": [float(max(low, estimate - Z95 * sd)), float(min(high, estimate + Z95 * sd))],
            "sd": {"sampling": float(sd_sampling), "estimator": float(sd_estimator)}}


class _ByWindow:
    """Rows collected per window key, chunk by chunk."""

    def __init__(self, namer):
        self.namer = namer  # window key -> its name in the outputs
        self.parts: dict = defaultdict(list)

    def _split(self, keys: np.ndarray):
        return pd.Series(np.arange(len(keys))).groupby(keys, sort=False).indices.items()


class CBPEWindows(_ByWindow):
    """Raw probabilities and predicted classes per window; estimates at the end."""

    method = "cbpe"

    def __init__(self, calibration: Calibration, metric: str, namer, seed: int = 0):
        super().__init__(namer)
        self.calibration, self.metric, self.seed = calibration, metric, seed

    def observe(self, keys: np.ndarray, frame: pd.DataFrame, proba: np.ndarray, predicted) -> None:
        """One chunk of scored rows (what `bench monitor` hands every estimator)."""
        self.add(keys, proba, predicted)

    def add(self, keys: np.ndarray, proba: np.ndarray, predicted) -> None:
        proba = np.asarray(proba, dtype=np.float32)
        idx = label_index(predicted, self.calibration.classes)
        idx = np.where(idx >= 0, idx, proba.argmax(axis=1))  # a label outside the classes: the top score
        for key, rows in self._split(keys):
            self.parts[key].append((proba[rows], idx[rows].astype(np.int16)))

    def windows(self) -> list[dict]:
        out = []
        for n_key, key in enumerate(sorted(self.parts)):
            raw = np.concatenate([r for r, _ in self.parts[key]]).astype(float)
            pred = np.concatenate([j for _, j in self.parts[key]]).astype(int)
            p = self.calibration.apply(raw)
            metrics = expected_metrics(p, pred, raw)
            sd_s, sd_c = self._spreads(raw, pred, np.random.default_rng([self.seed, n_key]))
            out.append({"window": self.namer(key), "rows": len(pred),
                        **interval(metrics[self.metric], sd_s, sd_c, 0.0, 1.0), "metrics": metrics})
        return out

    def _spreads(self, raw: np.ndarray, pred: np.ndarray, rng) -> tuple[float, float]:
        n = len(pred)
        sub = rng.choice(n, SPREAD_ROWS, replace=False) if n > SPREAD_ROWS else np.arange(n)
        raw, pred = raw[sub], pred[sub]
        p = self.calibration.apply(raw)
        k = p.shape[1]
        # labels drawn from the calibrated probabilities: rows x draws class indices
        drawn = (rng.random((len(sub), DRAWS))[:, :, None] > np.cumsum(p, axis=1)[:, None, :-1]).sum(axis=2)
        if self.metric == "roc_auc":
            values = _drawn_auc(drawn, raw, k)
        else:
            cells = np.arange(DRAWS) * k * k + drawn * k + pred[:, None]
            c = np.bincount(cells.ravel(), minlength=DRAWS * k * k).reshape(DRAWS, k, k)
            values = confusion_metrics(c.astype(float))[self.metric]
        sd_sampling = float(np.nanstd(values, ddof=1)) * np.sqrt(len(sub) / n)
        refits = [expected_metrics(self.calibration.apply(raw, b), pred, raw, (self.metric,))[self.metric]
                  for b in range(len(self.calibration.bootstrap))]
        return sd_sampling, float(np.nanstd(refits, ddof=1)) if len(refits) > 1 else 0.0

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


class _Sample:
    """A uniform sample of at most `size` rows of a stream of arrays (bottom-k random keys)."""

    def __init__(self, size: int, rng):
        self.size, self.rng, self.seen = size, rng, 0
        self.keys, self.rows = np.empty(0), None

    def add(self, rows: np.ndarray) -> None:
        self.seen += len(rows)
        keys = np.concatenate([self.keys, self.rng.random(len(rows))])
        rows = rows if self.rows is None else np.concatenate([self.rows, rows])
        if len(keys) > self.size:
            keep = np.argpartition(keys, self.size)[: self.size]
            keys, rows = keys[keep], rows[keep]
        self.keys, self.rows = keys, rows


class DLEWindows(_ByWindow):
    """A uniform sample of each window's nanny inputs (at most `DLE_ROWS` rows); the nanny
    predicts on it at the end, and the sample's own spread joins the interval when it is
    smaller than the window."""

    method = "dle"

    def __init__(self, nanny: Nanny, metric: str, namer, seed: int = 0):
        super().__init__(namer)
        self.nanny, self.metric = nanny, metric
        rng = np.random.default_rng([seed, 11])
        self.samples: dict = defaultdict(lambda: _Sample(DLE_ROWS, rng))

    def observe(self, keys: np.ndarray, frame: pd.DataFrame, proba, predicted: np.ndarray) -> None:
        """One chunk of scored rows (what `bench monitor` hands every estimator)."""
        self.add(keys, frame, predicted)

    def add(self, keys: np.ndarray, frame: pd.DataFrame, predicted: np.ndarray) -> None:
        x = self.nanny.matrix(frame, predicted)
        for key, rows in self._split(keys):
            self.samples[key].add(x[rows])

    def windows(self) -> list[dict]:
        keys = sorted(self.samples)
        if not keys:
            return []
        # one predict call per model over every window's sample (a call costs more than rows)
        rows = [self.samples[k].rows for k in keys]
        ends = np.cumsum([len(r) for r in rows])[:-1]
        abs_all, sq_all = self.nanny.predict(np.concatenate(rows))
        heads = [r[:SPREAD_ROWS] for r in rows]
        refit_all = self.nanny.predict_refits(np.concatenate(heads))
        refit_parts = np.split(refit_all, np.cumsum([len(h) for h in heads])[:-1], axis=1)
        out = []
        for key, abs_e, sq_e, refit in zip(keys, np.split(abs_all, ends), np.split(sq_all, ends), refit_parts,
                                           strict=True):
            n, m = self.samples[key].seen, len(abs_e)
            mae, mse = float(abs_e.mean()), float(sq_e.mean())
            rmse = float(np.sqrt(mse))
            # the realized metric's spread over the window's n rows, from each row's error
            # variance (|e|: E[e^2] - E[|e|]^2; e^2: 2 E[e^2]^2, as for normal errors), plus,
            # when the nanny read a sample of m < n rows, that sample's own spread
            thin = (1 - m / n) / m if m < n else 0.0
            var_abs = float(np.maximum(sq_e - abs_e**2, 0.0).mean()) / n + float(abs_e.var()) * thin
            var_mse = float((2 * sq_e**2).mean()) / n + float(sq_e.var()) * thin
            refits = refit.mean(axis=1)
            if self.metric == "mae":
                sd_s = np.sqrt(var_abs)
            else:  # RMSE = sqrt(MSE): its sd is sd(MSE) / (2 RMSE)
                sd_s = np.sqrt(var_mse) / (2 * rmse) if rmse > 0 else 0.0
                refits = np.sqrt(refits)
            sd_c = float(np.std(refits, ddof=1)) if len(refits) > 1 else 0.0
            metrics = {"mae": mae, "rmse": rmse}
            out.append({"window": self.namer(key), "rows": int(n),
                        **interval(metrics[self.metric], float(sd_s), sd_c, 0.0), "metrics": metrics})
        return out

    def summary(self) -> dict:
        return self.nanny.summary()
