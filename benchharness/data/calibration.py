"""Calibrated class probabilities: the model's scores mapped to how often a class is right.

Confidence-based performance estimation (`estimate.py`) reads a window's expected metric from
calibrated probabilities, so the mapping must be fitted on labelled rows the model did not
train on (the reference, or a run's test split). Each class column is calibrated one against
the rest, by isotonic regression (scikit-learn) or by Platt scaling (a logistic fit on the
score's logit, scipy's optimizer),
whichever has the smaller calibration error in 5-fold cross-validation on those rows; a
binary model calibrates its positive column only (the other is 1 - p), a multiclass one
renormalises the calibrated columns to sum to 1.

The calibration's own uncertainty is kept as `BOOTSTRAP` refits of the chosen method on
bootstrap resamples of the rows: `estimate.py` reads the spread of a window's estimate over
them. Everything is plain numbers (isotonic knots, Platt coefficients), written as JSON:
`bench run` keeps one per candidate in `calibration/<candidate>.json`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit, logit
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import StratifiedKFold

from benchharness.data.drift import category_labels
from benchharness.errors import DataError

METHODS = ("isotonic", "platt")
BOOTSTRAP = 10  # refits on bootstrap resamples: the calibration's uncertainty (each ~11 ms on 20,000 rows)
FOLDS = 5
ECE_BINS = 10
MIN_ROWS = 100  # fewer labelled rows cannot tell isotonic from Platt, nor calibrate either
_EPS = 1e-6


@dataclass
class ClassMap:
    """One class column's score -> probability: isotonic knots or Platt's (a, b)."""

    kind: str
    x: list[float] = field(default_factory=list)  # isotonic: knots (scores) ...
    y: list[float] = field(default_factory=list)  # ... and the probabilities at them
    a: float = 1.0  # platt: p = expit(a * logit(score) + b)
    b: float = 0.0

    def apply(self, scores: np.ndarray) -> np.ndarray:
        s = np.asarray(scores, dtype=float)
        if self.kind == "isotonic":  # np.interp holds the end values outside the knots (clip)
            return np.interp(s, self.x, self.y)
        return expit(self.a * logit(np.clip(s, _EPS, 1 - _EPS)) + self.b)

    def to_dict(self) -> dict:
        if self.kind == "isotonic":
            return {"kind": self.kind, "x": self.x, "y": self.y}
        return {"kind": self.kind, "a": self.a, "b": self.b}


def _fit_map(kind: str, scores: np.ndarray, hit: np.ndarray) -> ClassMap:
    if hit.min() == hit.max():  # one outcome only: the share is all there is to learn
        return ClassMap("isotonic", [0.0, 1.0], [float(hit[0])] * 2)
    if kind == "isotonic":
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, hit)
        return ClassMap(kind, iso.X_thresholds_.tolist(), iso.y_thresholds_.tolist())
    a, b = platt_fit(logit(np.clip(scores, _EPS, 1 - _EPS)), hit)
    return ClassMap(kind, a=a, b=b)


def platt_fit(z: np.ndarray, hit: np.ndarray) -> tuple[float, float]:
    """Platt scaling: (a, b) of the logistic fit P(hit) = expit(a z + b), by maximum likelihood
    (scipy's L-BFGS on the log-loss and its gradient: two parameters, a few milliseconds,
    where a scikit-learn LogisticRegression spends ten times that on its checks and solver)."""

    def loss(ab):
        t = ab[0] * z + ab[1]
        # log(1 + e^t) - hit t, summed; its gradient through expit(t) - hit
        r = expit(t) - hit
        return float(np.sum(np.logaddexp(0.0, t) - hit * t)), np.array([(r * z).sum(), r.sum()])

    res = minimize(loss, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B")
    return float(res.x[0]), float(res.x[1])


def calibration_error(p: np.ndarray, hit: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error: |mean p - share of hits| over equal-count bins of p, weighted."""
    order = np.argsort(p, kind="stable")
    return float(sum(abs(p[idx].mean() - hit[idx].mean()) * len(idx)
                     for idx in np.array_split(order, bins) if len(idx)) / len(p))


@dataclass
class Calibration:
    """Calibrated probabilities for every class column of a model's `predict_proba`."""

    method: str
    classes: list[str]  # the proba columns, as text
    maps: list[ClassMap]  # one per calibrated column (binary: the positive column only)
    bootstrap: list[list[ClassMap]]
    cv_error: dict  # method -> cross-validated calibration error; `uncalibrated` beside them
    rows: int
    source: str = "reference"

    @property
    def binary(self) -> bool:
        return len(self.classes) == 2

    def apply(self, proba: np.ndarray, replicate: int | None = None) -> np.ndarray:
        """Calibrated probabilities (rows x classes); `replicate` picks a bootstrap refit."""
        maps = self.maps if replicate is None else self.bootstrap[replicate]
        proba = np.asarray(proba, dtype=float)
        if self.binary:
            p1 = maps[0].apply(proba[:, 1])
            return np.column_stack([1 - p1, p1])
        cal = np.column_stack([m.apply(proba[:, k]) for k, m in enumerate(maps)])
        total = cal.sum(axis=1, keepdims=True)
        return np.where(total > 0, cal / np.where(total > 0, total, 1), 1.0 / len(self.classes))

    def summary(self) -> dict:
        """What monitor.json shows of it (the knots stay in the file)."""
        return {"method": self.method, "source": self.source, "rows": self.rows, "classes": self.classes,
                "cv_calibration_error": self.cv_error, "bootstrap_refits": len(self.bootstrap)}

    def to_dict(self) -> dict:
        return {**self.summary(), "maps": [m.to_dict() for m in self.maps],
                "bootstrap": [[m.to_dict() for m in rep] for rep in self.bootstrap]}

    @classmethod
    def from_dict(cls, d: dict, source: str) -> Calibration:
        def maps(items):
            return [ClassMap(**m) for m in items]

        return cls(d["method"], list(d["classes"]), maps(d["maps"]), [maps(r) for r in d["bootstrap"]],
                   d.get("cv_calibration_error", {}), int(d["rows"]), source)

    def save(self, path: Path) -> None:
        from benchharness.run_folder import atomic_write

        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps(self.to_dict()))

    @classmethod
    def load(cls, path: Path) -> Calibration:
        try:
            return cls.from_dict(json.loads(Path(path).read_text()), str(path))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DataError(f"calibration file {path} cannot be read: {type(exc).__name__}: {exc}") from None


def _columns(n_classes: int) -> list[int]:
    return [1] if n_classes == 2 else list(range(n_classes))


def _fit_maps(kind: str, proba: np.ndarray, hits: np.ndarray) -> list[ClassMap]:
    return [_fit_map(kind, proba[:, k], hits[:, k]) for k in _columns(proba.shape[1])]


def _cv_error(kind: str, proba: np.ndarray, y_idx: np.ndarray, hits: np.ndarray, seed: int) -> float:
    """Calibration error of `kind` on held-out folds, averaged over the calibrated columns."""
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=seed)
    held = np.zeros((len(y_idx), proba.shape[1]))
    for fit_rows, test_rows in folds.split(proba, y_idx):
        for k, m in zip(_columns(proba.shape[1]), _fit_maps(kind, proba[fit_rows], hits[fit_rows]), strict=True):
            held[test_rows, k] = m.apply(proba[test_rows, k])
    return float(np.mean([calibration_error(held[:, k], hits[:, k]) for k in _columns(proba.shape[1])]))


def label_index(y, classes: list[str]) -> np.ndarray:
    """Each label's column in `classes` (labels compared as text: 1, 1.0 and "1" are one class); -1 if none."""
    values = np.asarray(y)
    try:  # the distinct values only: text conversion of every row costs more than the model
        uniq, inverse = np.unique(values, return_inverse=True)
    except TypeError:  # mixed types do not sort
        uniq, inverse = values, np.arange(len(values))
    text = category_labels(pd.Series(uniq)).to_numpy()
    return pd.Index(classes).get_indexer(text)[inverse.ravel()]


def fit_calibration(proba: np.ndarray, y, classes, source: str = "reference", seed: int = 0) -> Calibration:
    """Choose isotonic or Platt by cross-validated calibration error; fit it, and its bootstrap refits."""
    classes = [str(c) for c in category_labels(pd.Series(list(classes))).tolist()]
    proba = np.asarray(proba, dtype=float)
    if proba.ndim != 2 or proba.shape[1] != len(classes) or len(classes) < 2:
        raise DataError(f"calibration needs one probability column per class ({len(classes)} classes), "
                        f"got shape {proba.shape}")
    y_idx = label_index(y, classes)
    known = y_idx >= 0
    proba, y_idx = proba[known], y_idx[known]
    counts = np.bincount(y_idx, minlength=len(classes))
    if len(y_idx) < MIN_ROWS or (counts[counts > 0] < FOLDS).any() or (counts > 0).sum() < 2:
        raise DataError(f"calibration needs at least {MIN_ROWS} labelled rows with two classes or more, "
                        f"{FOLDS} rows of each; got {len(y_idx)} rows, class counts {counts.tolist()}")
    hits = np.eye(len(classes))[y_idx]
    errors = {kind: _cv_error(kind, proba, y_idx, hits, seed) for kind in METHODS}
    errors["uncalibrated"] = float(np.mean([calibration_error(proba[:, k], hits[:, k])
                                            for k in _columns(len(classes))]))
    method = min(METHODS, key=errors.get)
    rng = np.random.default_rng(seed)
    reps = []
    for _ in range(BOOTSTRAP):
        rows = rng.integers(0, len(y_idx), len(y_idx))
        reps.append(_fit_maps(method, proba[rows], hits[rows]))
    return Calibration(method, classes, _fit_maps(method, proba, hits), reps,
                       {k: round(v, 5) for k, v in errors.items()}, len(y_idx), source)
