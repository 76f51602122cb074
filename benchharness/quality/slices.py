"""Metrics by subgroup and by time window (fairlearn's by-group view, NannyML's chunks).

An overall figure can hide a group or a period where the model fails, and a figure over a
year is not the figure over the month production will be judged on. Groups and windows with
fewer rows than `min_rows` are listed but marked unreliable and never chosen as the worst.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from benchharness.quality.metrics import METRICS, ScoredRows, score_metric

CALENDAR = {"day": "D", "week": "W", "month": "M"}


def as_datetime(times: pd.Series) -> pd.Series:
    """The time column as datetimes; a column that does not parse raises ValueError."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pandas' "could not infer format" chatter
        return pd.to_datetime(pd.Series(times)).reset_index(drop=True)


def period_keys(times: pd.Series | None, window: str | int, n_rows: int | None = None) -> pd.Series:
    """The window of each row: a calendar period, or the index of its chunk of `window` rows
    in time order (row order when there is no time column)."""
    if isinstance(window, int):
        n = len(times) if times is not None else n_rows
        order = np.arange(n) if times is None else np.argsort(as_datetime(times).to_numpy(), kind="stable")
        chunk = np.empty(n, dtype=int)
        chunk[order] = np.arange(n) // window
        return pd.Series(chunk)
    return as_datetime(times).dt.to_period(CALENDAR[window])


def _worse(metric: str, a: float, b: float) -> bool:
    return a < b if METRICS[metric].higher_is_better else a > b


def _slice_table(rows: ScoredRows, keys: pd.Series, metric: str, min_rows: int, overall: float | None) -> list[dict]:
    table = []
    keys = keys.reset_index(drop=True)
    for key in _in_order(keys):
        idx = np.flatnonzero((keys == key).to_numpy())
        value, reason = score_metric(METRICS[metric], rows.subset(idx))
        entry = {"group": str(key), "rows": len(idx), "value": value, "reliable": len(idx) >= min_rows}
        entry["gap"] = None if value is None or overall is None else value - overall
        if reason:
            entry["unavailable"] = reason
        elif not entry["reliable"]:
            entry["note"] = f"only {len(idx)} rows (< {min_rows}): too few to judge"
        table.append(entry)
    return table


def _in_order(keys: pd.Series) -> list:
    """Bins in their numeric order, anything else sorted."""
    if isinstance(keys.dtype, pd.CategoricalDtype):
        present = set(keys.dropna().unique())
        return [c for c in keys.cat.categories if c in present]
    return sorted(keys.dropna().unique())


def _worst(table: list[dict], metric: str) -> dict | None:
    judged = [t for t in table if t["reliable"] and t["value"] is not None]
    worst = None
    for t in judged:
        if worst is None or _worse(metric, t["value"], worst["value"]):
            worst = t
    return None if worst is None else {"group": worst["group"], "value": worst["value"], "rows": worst["rows"]}


def subgroup_keys(values: pd.Series, bins: int) -> pd.Series:
    """Numeric columns with more than `bins` distinct values are cut into quantile bins."""
    values = values.reset_index(drop=True)
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if numeric and values.nunique() > bins:
        edges = np.unique(np.quantile(values.dropna(), np.linspace(0, 1, bins + 1)))
        labels = [f"{'[' if i == 0 else '('}{lo:.4g}, {hi:.4g}]" for i, (lo, hi) in enumerate(zip(edges, edges[1:]))]
        cut = pd.cut(values, edges, labels=labels, include_lowest=True)
        return cut.cat.add_categories(["missing"]).fillna("missing")
    if numeric:  # a few distinct numbers (e.g. an encoded flag): short labels, not 17 digits
        return values.map(lambda v: "missing" if pd.isna(v) else f"{v:.4g}")
    return values.astype(object).where(values.notna(), "missing").astype(str)


def subgroups(rows: ScoredRows, meta: pd.DataFrame, columns: list[str], metric: str,
              min_rows: int, bins: int, overall: float | None) -> dict:
    """{column: {groups: [...], worst, binned}} or {column: {unavailable: reason}}."""
    out = {}
    for col in columns:
        if meta is None or col not in meta.columns:
            out[col] = {"unavailable": f"column {col!r} is not in the test data"}
            continue
        keys = subgroup_keys(meta[col], bins)
        table = _slice_table(rows, keys, metric, min_rows, overall)
        out[col] = {"metric": metric, "groups": table, "worst": _worst(table, metric),
                    "binned": bool(keys.nunique() < meta[col].nunique())}
    return out


def trend(table: list[dict]) -> dict | None:
    """Least-squares slope of the metric per window (reliable windows only), with its p-value."""
    points = [(i, t["value"]) for i, t in enumerate(table) if t["reliable"] and t["value"] is not None]
    if len(points) < 3:
        return None
    x, y = np.array(points, dtype=float).T
    if np.ptp(y) == 0:
        return {"slope_per_window": 0.0, "p_value": 1.0, "windows": len(points)}
    fit = stats.linregress(x, y)
    return {"slope_per_window": float(fit.slope), "p_value": float(fit.pvalue), "windows": len(points)}


def windows(rows: ScoredRows, times: pd.Series | None, window: str | int, metric: str,
            min_rows: int, overall: float | None) -> dict:
    """Metric per time window: the table, the worst window and the trend."""
    if times is None and not isinstance(window, int):
        return {"unavailable": f"window {window!r} needs 'data.time_column', got none"}
    keys = period_keys(times, window, rows.n)
    table = _slice_table(rows, keys, metric, min_rows, overall)
    if isinstance(window, int):  # chunk k holds the rows k*window .. in time order
        for entry in table:
            k = int(entry["group"])
            entry["group"] = f"rows {k * window}-{min((k + 1) * window, rows.n) - 1}"
    if times is not None:
        t = as_datetime(times)
        for entry, key in zip(table, _in_order(keys), strict=True):
            span = t[(keys == key).to_numpy()]
            entry["start"], entry["end"] = str(span.min()), str(span.max())
    return {"window": window, "metric": metric, "windows": table, "worst": _worst(table, metric),
            "trend": trend(table)}


def production_headline(by_window: dict, overall: float | None) -> dict:
    """The figure production will be judged on: the metric over one production window.

    `typical` is the median over reliable windows, `worst` the worst of them, `last` the
    most recent window (whatever its size), `overall` the whole test span for contrast.
    """
    if "unavailable" in by_window:
        return {"unavailable": by_window["unavailable"]}
    table = by_window["windows"]
    values = [t["value"] for t in table if t["reliable"] and t["value"] is not None]
    return {
        "window": by_window["window"],
        "windows": len(values),
        "typical": float(np.median(values)) if values else None,
        "worst": by_window["worst"],
        "last": table[-1]["value"] if table else None,
        "overall": overall,
    }
