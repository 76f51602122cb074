"""Model performance over time windows, for `bench monitor`, and when to alert.

Ground truth often arrives late, in its own file: `load_labels` reads it (id and label
columns) and `LabelJoin` matches it to current rows by id, chunk by chunk. Rows are grouped
into windows (a time period when there is a time column, else a fixed number of rows, as
NannyML's chunks), the metric is computed per window with scikit-learn, and a window alerts
when its value falls outside the reference windows' mean +- 3 standard deviations (on the bad
side), or when it is worse than the reference value by more than a drop the team sets.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import metrics

from benchharness.data.drift import category_labels
from benchharness.data.stream import iter_chunks
from benchharness.errors import DataError, UserError

#: metric -> (function(y_true, y_pred), higher is better)
METRICS: dict[str, tuple[Callable, bool]] = {
    "accuracy": (metrics.accuracy_score, True),
    "balanced_accuracy": (metrics.balanced_accuracy_score, True),
    "f1_macro": (lambda t, p: metrics.f1_score(t, p, average="macro"), True),
    "mae": (metrics.mean_absolute_error, False),
    "rmse": (lambda t, p: float(np.sqrt(metrics.mean_squared_error(t, p))), False),
    "r2": (metrics.r2_score, True),
}
CLASSIFICATION_METRICS = ("accuracy", "balanced_accuracy", "f1_macro")


def default_metric(classification: bool) -> str:
    return "accuracy" if classification else "mae"


def check_metric(name: str) -> None:
    if name not in METRICS:
        raise UserError(f"unknown metric {name!r}; allowed: {', '.join(METRICS)}")


def score(metric: str, y_true: np.ndarray, y_pred: np.ndarray) -> float:
    fn, _ = METRICS[metric]
    if metric in CLASSIFICATION_METRICS:  # labels as text: 1, 1.0 and "1" are one class
        y_true = category_labels(pd.Series(y_true)).to_numpy()
        y_pred = category_labels(pd.Series(y_pred)).to_numpy()
    else:
        y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    return float(fn(y_true, y_pred))


def window_keys(n_before: int, n: int, times: pd.Series | None, window: str | int) -> np.ndarray:
    """Window label of each row: a period of `times` (e.g. "D", "h", "W") or row blocks."""
    if times is None:  # block numbers; WindowScores names them "rows a-b"
        return np.arange(n_before, n_before + n) // int(window)
    try:
        stamps = pd.to_datetime(times, errors="coerce", format="mixed")
        keys = stamps.dt.to_period(str(window)).astype(str)
    except (ValueError, TypeError) as exc:
        raise UserError(f"window {window!r} is not a pandas period (D, h, W, M ...): {exc}") from None
    return keys.where(stamps.notna(), "no time").to_numpy()


def window_name(key, rows_per_window: int | None) -> str:
    """A window's name in the outputs: its period, or "rows a-b" for blocks of rows."""
    if rows_per_window is None:
        return str(key)
    return f"rows {int(key) * rows_per_window}-{(int(key) + 1) * rows_per_window - 1}"


class WindowScores:
    """Collect (window, truth, prediction) chunk by chunk; score each window at the end.

    Memory: two values per labelled row (labels are what a team can afford to collect).
    """

    def __init__(self, min_rows: int = 30, rows_per_window: int | None = None):
        self.min_rows = min_rows
        self.rows_per_window = rows_per_window  # set when windows are blocks of rows
        self._parts: dict = defaultdict(list)

    def add(self, keys: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        frame = pd.DataFrame({"k": keys, "t": y_true, "p": y_pred})
        for key, group in frame.groupby("k", sort=False):
            self._parts[key].append((group["t"].to_numpy(), group["p"].to_numpy()))

    @property
    def rows(self) -> int:
        return sum(len(t) for parts in self._parts.values() for t, _ in parts)

    def windows(self, metric: str) -> list[dict]:
        out = []
        for key in sorted(self._parts):
            t = np.concatenate([t for t, _ in self._parts[key]])
            p = np.concatenate([p for _, p in self._parts[key]])
            out.append({"window": self._name(key), "rows": len(t), "value": score(metric, t, p),
                        "enough_rows": len(t) >= self.min_rows})
        return out

    def _name(self, key) -> str:
        return window_name(key, self.rows_per_window)

    def overall(self, metric: str) -> float | None:
        if not self._parts:
            return None
        t = np.concatenate([t for parts in self._parts.values() for t, _ in parts])
        p = np.concatenate([p for parts in self._parts.values() for _, p in parts])
        return score(metric, t, p)


def alert_bounds(metric: str, reference_windows: list[float], reference_value: float | None,
                 max_drop: float | None, sigmas: float = 3.0) -> dict:
    """The worst acceptable value: from the reference windows' spread and/or a configured drop."""
    higher = METRICS[metric][1]
    bounds: dict = {"higher_is_better": higher, "sigmas": sigmas}
    limits = []
    if len(reference_windows) >= 2:
        mean, std = float(np.mean(reference_windows)), float(np.std(reference_windows, ddof=1))
        bounds.update(reference_mean=mean, reference_std=std)
        limits.append(mean - sigmas * std if higher else mean + sigmas * std)
    if max_drop is not None and reference_value is not None:
        bounds["max_drop"] = max_drop
        limits.append(reference_value - max_drop if higher else reference_value + max_drop)
    # both rules given: the stricter one decides
    bounds["limit"] = (max(limits) if higher else min(limits)) if limits else None
    return bounds


def apply_alerts(windows: list[dict], bounds: dict) -> list[dict]:
    """Mark each window `alert` when it is worse than the limit (and has enough rows)."""
    limit, higher = bounds["limit"], bounds["higher_is_better"]
    for w in windows:
        worse = limit is not None and (w["value"] < limit if higher else w["value"] > limit)
        w["alert"] = bool(worse and w["enough_rows"])
    return windows


def load_labels(path: str | Path, id_column: str, label_column: str) -> pd.Series:
    """Labels indexed by id (as text, so 7, 7.0 and "7" match), read in chunks."""
    parts = []
    for chunk in iter_chunks(path):
        frame = chunk.batch.to_pandas()
        for col in (id_column, label_column):
            if col not in frame.columns:
                raise DataError(f"labels file {path} has no column {col!r}; columns: {', '.join(map(str, frame.columns))}")
        parts.append(frame[[id_column, label_column]])
    if not parts or not sum(len(p) for p in parts):
        raise DataError(f"labels file {path} has no rows")
    labels = pd.concat(parts, ignore_index=True).dropna()
    ids = category_labels(labels[id_column])
    return pd.Series(labels[label_column].to_numpy(), index=ids.to_numpy()).groupby(level=0).last()


class LabelJoin:
    """Match current rows to late labels by id; count what joined."""

    def __init__(self, labels: pd.Series, path: str | Path, id_column: str):
        self.labels, self.path, self.id_column = labels, path, id_column
        self.rows_seen = self.rows_joined = 0
        self._examples: list[str] = []

    def join(self, ids: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """(mask of rows that have a label, their labels)."""
        keys = category_labels(ids.fillna("")).to_numpy()
        mask = pd.Index(self.labels.index).get_indexer(keys) >= 0
        self.rows_seen += len(keys)
        self.rows_joined += int(mask.sum())
        if len(self._examples) < 3:
            self._examples += list(keys[:3])
        return mask, self.labels.reindex(keys[mask]).to_numpy()

    def summary(self) -> dict:
        if self.rows_seen and not self.rows_joined:
            raise DataError(
                f"labels file {self.path}: none of its {len(self.labels)} ids match the current data's "
                f"{self.id_column!r} column (labels ids e.g. {list(self.labels.index[:3])}, "
                f"current ids e.g. {self._examples[:3]})"
            )
        return {"labels": len(self.labels), "rows": self.rows_seen, "rows_joined": self.rows_joined,
                "joined_share": self.rows_joined / self.rows_seen if self.rows_seen else 0.0}
