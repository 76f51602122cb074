"""Drift between a reference sample and a current sample, column by column.

The test that decides whether a column drifted is chosen by the column's kind and the size
of the reference (the defaults Evidently starts from, see DESIGN.md "Data methodology"):

- reference of at most `small_reference_rows` rows: a statistical test at `p_value`
  numeric (more than `numeric_min_unique` distinct values): two-sample Kolmogorov-Smirnov;
  binary (at most 2 distinct values): two-proportion z-test (computed as the 2x2 chi-squared
  without continuity correction, whose statistic is z squared and whose p-value is the same);
  categorical: chi-squared test of homogeneity over the union of categories.
- larger reference: a distance, because with many rows any test rejects a shift too small
  to matter: numeric: Wasserstein distance divided by the reference standard deviation
  (drift when >= `wasserstein`); categorical and binary: Jensen-Shannon distance, base 2 so
  it lies in [0, 1] (drift when >= `jensen_shannon`), less the distance sampling alone gives.

Categorical and binary columns are compared on category counts (`counts_drift`): counts of
every row are cheap to stream and merge, so `bench monitor` uses full counts, and every
caller (the `bench run` split analysis included) goes through the same function. The
Jensen-Shannon distance of two finite samples is biased upward even when both come from one
distribution: by about sqrt((K - 1) / (8 ln 2) * (1/n_ref + 1/n_cur)) for K categories, 0.04
for 5,000 categories and a million rows a side, 0.2 at 100,000 and 25,000 rows. The score that
decides is therefore `sqrt(max(0, JS^2 - noise^2))`, where `noise^2` is the mean squared
distance over 20 seeded shuffles of the pooled rows between the two sides (a permutation
drawn from the counts; what the two samples would show with no drift at all); `jensen_shannon` (raw) and
`jensen_shannon_noise` are reported beside it. With few categories and many rows the noise is
negligible and the score is the plain distance.

The population stability index (PSI; `psi_warn` / `psi_alert`) is reported alongside for
every column because many teams read it; it does not decide `drift`. Every other statistic
of the column's kind is reported too, whichever one decides. The dataset drifts when at least
`dataset_share` of the columns drift. Nulls are left out of every test and reported as shares.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial import distance

from benchharness.config import DRIFT

#: defaults: the suite's `drift:` section (config.DRIFT) is the one place they are written
DRIFT_DEFAULTS: dict[str, Any] = {key: f.default for key, f in DRIFT.items()}

#: floor for an empty bin's share in PSI (log(0) otherwise); the usual choice
_PSI_EPS = 1e-4


def thresholds_with_defaults(overrides: dict | None = None) -> dict:
    """DRIFT_DEFAULTS updated with the non-None values of `overrides`."""
    out = dict(DRIFT_DEFAULTS)
    out.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return out


def column_kind(reference: pd.Series, numeric_min_unique: int = 5) -> str:
    """'binary', 'numeric' or 'categorical', from the reference's dtype and distinct values."""
    values = reference.dropna()
    n_unique = values.nunique()
    if n_unique <= 2:
        return "binary"
    is_number = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if is_number and n_unique > numeric_min_unique:
        return "numeric"
    return "categorical"


def psi_numeric(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    """PSI over bins cut at the reference's quantiles (equal-frequency bins)."""
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    ref_share = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=len(edges) + 1)
    cur_share = np.bincount(np.searchsorted(edges, current, side="right"), minlength=len(edges) + 1)
    return _psi(ref_share / len(reference), cur_share / len(current))


def psi_shares(ref_share: np.ndarray, cur_share: np.ndarray) -> float:
    """PSI of two aligned share vectors: sum((cur - ref) * ln(cur / ref))."""
    return _psi(np.asarray(ref_share, float), np.asarray(cur_share, float))


def _psi(ref_share: np.ndarray, cur_share: np.ndarray) -> float:
    r = np.clip(ref_share, _PSI_EPS, None)
    c = np.clip(cur_share, _PSI_EPS, None)
    return float(np.sum((c - r) * np.log(c / r)))


def psi_level(psi: float, thresholds: dict) -> str:
    if psi >= thresholds["psi_alert"]:
        return "alert"
    return "warn" if psi >= thresholds["psi_warn"] else "ok"


def _numeric_stats(ref: np.ndarray, cur: np.ndarray, t: dict) -> dict:
    ks = stats.ks_2samp(ref, cur)
    ref_std = float(np.std(ref))
    wd = float(stats.wasserstein_distance(ref, cur))
    return {
        "ks_statistic": float(ks.statistic),
        "ks_p_value": float(ks.pvalue),
        "wasserstein": wd,
        # a numeric column has > numeric_min_unique values, so its std is > 0
        "wasserstein_normed": wd / ref_std if ref_std > 0 else 0.0,
        "psi": psi_numeric(ref, cur, t["psi_bins"]),
        "reference_mean": float(np.mean(ref)),
        "current_mean": float(np.mean(cur)),
        "reference_std": ref_std,
        "current_std": float(np.std(cur)),
    }


def category_counts(values: pd.Series, limit: int | None = None) -> pd.Series | None:
    """Non-null values counted by category label (1, 1.0 and "1" are one category); None
    when there are more than `limit` distinct values.

    Counts the raw values first and labels the distinct ones: far cheaper than labelling
    every row, and counts of chunks or parts add up (`add_counts`)."""
    raw = values.dropna().value_counts(sort=False)
    if limit is not None and len(raw) > limit:
        return None
    if raw.empty:
        return pd.Series(dtype="int64")
    labels = category_labels(pd.Series(raw.index))
    return pd.Series(raw.to_numpy(), index=labels.to_numpy()).groupby(level=0).sum()


def add_counts(a: pd.Series | None, b: pd.Series) -> pd.Series:
    return b if a is None or a.empty else (a if b.empty else a.add(b, fill_value=0).astype("int64"))


#: draws of the no-drift simulation behind `jensen_shannon_noise`
_NOISE_DRAWS = 20


def _jensen_shannon(r: np.ndarray, c: np.ndarray) -> float:
    return float(distance.jensenshannon(r / r.sum(), c / c.sum(), base=2))


def jensen_shannon_noise(r: np.ndarray, c: np.ndarray, seed: int = 0) -> float:
    """Root mean squared JS distance after shuffling the rows between the two sides (a
    permutation of the pooled rows, drawn exactly from the counts as a multivariate
    hypergeometric split): what sampling alone reads when nothing drifted."""
    pooled = (r + c).astype(np.int64)
    rng = np.random.default_rng(seed)
    n_r = int(r.sum())
    sq = []
    for _ in range(_NOISE_DRAWS):
        side = rng.multivariate_hypergeometric(pooled, n_r, method="marginals").astype(float)
        sq.append(_jensen_shannon(side, pooled - side) ** 2)
    return float(np.sqrt(np.mean(sq)))


def _categorical_stats(ref_counts: pd.Series, cur_counts: pd.Series) -> dict:
    cats = sorted(set(ref_counts.index) | set(cur_counts.index))
    r = ref_counts.reindex(cats, fill_value=0).to_numpy(float)
    c = cur_counts.reindex(cats, fill_value=0).to_numpy(float)
    new = [k for k in cats if k not in ref_counts.index]
    missing = [k for k in cats if k not in cur_counts.index]
    if len(cats) > 1:
        chi2 = stats.chi2_contingency(np.vstack([r, c]), correction=False)
        chi2_stat, chi2_p = float(chi2.statistic), float(chi2.pvalue)
    else:  # one category on both sides: nothing can differ
        chi2_stat, chi2_p = 0.0, 1.0
    js = _jensen_shannon(r, c)
    noise = jensen_shannon_noise(r, c) if len(cats) > 1 else 0.0
    return {
        "chi2_statistic": chi2_stat,
        "chi2_p_value": chi2_p,
        "jensen_shannon": js,
        "jensen_shannon_noise": noise,
        "jensen_shannon_corrected": float(np.sqrt(max(0.0, js * js - noise * noise))),
        "psi": psi_shares(r / r.sum(), c / c.sum()),
        "new_categories": new[:20],  # the first 20; the counts say how many
        "n_new_categories": len(new),
        "missing_categories": missing[:20],
        "n_missing_categories": len(missing),
        "n_categories": len(cats),
        # the categories that moved most, enough to see what changed without a huge report
        "shares": _top_shares(cats, r / r.sum(), c / c.sum()),
    }


def _top_shares(cats: list[str], ref: np.ndarray, cur: np.ndarray, top: int = 20) -> dict:
    order = np.argsort(-np.abs(cur - ref), kind="stable")[:top]
    return {cats[i]: {"reference": float(ref[i]), "current": float(cur[i])} for i in order}


# (kind, small reference?) -> (method, statistic key, compare): the table in the docstring
_METHODS = {
    ("numeric", True): ("ks", "ks_p_value", "p"),
    ("binary", True): ("proportion_z", "chi2_p_value", "p"),
    ("categorical", True): ("chi2", "chi2_p_value", "p"),
    ("numeric", False): ("wasserstein_normed", "wasserstein_normed", "wasserstein"),
    ("binary", False): ("jensen_shannon", "jensen_shannon_corrected", "jensen_shannon"),
    ("categorical", False): ("jensen_shannon", "jensen_shannon_corrected", "jensen_shannon"),
}


def _base(ref_rows: int, ref_nonnull: int, cur_rows: int, cur_nonnull: int) -> dict:
    return {
        "reference_rows": int(ref_rows),
        "current_rows": int(cur_rows),
        "reference_null_share": _share(ref_rows - ref_nonnull, ref_rows),
        "current_null_share": _share(cur_rows - cur_nonnull, cur_rows),
    }


def _decide(out: dict, kind: str, small: bool, t: dict) -> dict:
    method, key, compare = _METHODS[(kind, small)]
    score = out[key]
    if compare == "p":
        drift, threshold = score < t["p_value"], t["p_value"]
    else:
        drift, threshold = score >= t[compare], t[compare]
    out.update(kind=kind, method=method, score=score, threshold=threshold, drift=bool(drift),
               psi_level=psi_level(out["psi"], t))
    return out


def counts_drift(ref_counts: pd.Series, cur_counts: pd.Series, thresholds: dict | None = None,
                 ref_rows: int | None = None, cur_rows: int | None = None) -> dict:
    """Drift of a categorical or binary column from its category counts (nulls not counted;
    `ref_rows` / `cur_rows`, nulls included, give the null shares)."""
    t = thresholds_with_defaults(thresholds)
    n_ref, n_cur = int(ref_counts.sum()), int(cur_counts.sum())
    out: dict[str, Any] = _base(ref_rows if ref_rows is not None else n_ref, n_ref,
                                cur_rows if cur_rows is not None else n_cur, n_cur)
    if not n_ref or not n_cur:
        side = "reference" if not n_ref else "current"
        return {**out, "kind": None, "method": None, "drift": None, "skipped": f"no non-null values in {side}"}
    kind = "binary" if (ref_counts > 0).sum() <= 2 else "categorical"
    out.update(_categorical_stats(ref_counts[ref_counts > 0], cur_counts[cur_counts > 0]))
    return _decide(out, kind, n_ref <= t["small_reference_rows"], t)


def column_drift(reference: pd.Series, current: pd.Series, thresholds: dict | None = None) -> dict:
    """Drift of one column: the method chosen, its score and threshold, `drift`, PSI and the rest."""
    t = thresholds_with_defaults(thresholds)
    ref, cur = reference.dropna(), current.dropna()
    out: dict[str, Any] = _base(len(reference), len(ref), len(current), len(cur))
    if ref.empty or cur.empty:
        side = "reference" if ref.empty else "current"
        return {**out, "kind": None, "method": None, "drift": None, "skipped": f"no non-null values in {side}"}
    kind = column_kind(ref, t["numeric_min_unique"])
    if kind != "numeric":
        return counts_drift(category_counts(ref), category_counts(cur), t, len(reference), len(current))
    cur_num = pd.to_numeric(cur, errors="coerce").dropna()
    if cur_num.empty:
        return {**out, "kind": kind, "method": None, "drift": None, "skipped": "no numeric values in current"}
    out.update(_numeric_stats(ref.to_numpy(float), cur_num.to_numpy(float), t))
    return _decide(out, kind, len(ref) <= t["small_reference_rows"], t)


def dataset_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: list[str] | None = None,
    thresholds: dict | None = None,
) -> dict:
    """Every column's drift plus the dataset verdict (share of drifted columns)."""
    t = thresholds_with_defaults(thresholds)
    columns = list(reference.columns) if columns is None else list(columns)
    missing = [c for c in columns if c not in current.columns]
    per_column = {c: column_drift(reference[c], current[c], t) for c in columns if c not in missing}
    return dataset_verdict(per_column, missing, t)


def dataset_verdict(per_column: dict[str, dict], missing: list[str], thresholds: dict) -> dict:
    """The dataset section from every column's drift: counts, drifted columns, the verdict."""
    t = thresholds
    tested = [r for r in per_column.values() if r["drift"] is not None]
    drifted = sorted(c for c, r in per_column.items() if r["drift"])
    share = len(drifted) / len(tested) if tested else 0.0
    return {
        "columns": per_column,
        "columns_missing_in_current": missing,
        "n_tested": len(tested),
        "n_drifted": len(drifted),
        "drifted_columns": drifted,
        "share_drifted": share,
        "dataset_drift": bool(tested) and share >= t["dataset_share"],
        "psi_alert_columns": sorted(c for c, r in per_column.items() if r.get("psi_level") == "alert"),
        "psi_warn_columns": sorted(c for c, r in per_column.items() if r.get("psi_level") == "warn"),
        "thresholds": t,
    }


def category_labels(values: pd.Series) -> pd.Series:
    """Values as category labels (strings) that agree across dtypes: 1, 1.0 and "1" are "1".

    Each value is labelled on its own (never by what else the column holds), so the counts of
    chunks and parts of a file add up to the counts of the whole file."""
    if pd.api.types.is_bool_dtype(values):
        return values.astype(str)
    numbers = pd.to_numeric(values, errors="coerce")
    out = values.astype(str)
    arr = numbers.to_numpy(float, na_value=np.nan)
    whole = np.isfinite(arr) & (arr == np.round(arr)) & (np.abs(arr) < 2**63)
    other = np.isfinite(arr) & ~whole
    if whole.all():
        return pd.Series(arr.astype(np.int64).astype(str), index=values.index)
    if whole.any():
        out[whole] = arr[whole].astype(np.int64).astype(str)
    if other.any():
        out[other] = arr[other].astype(str)
    return out


def _share(part: int, whole: int) -> float:
    return float(part / whole) if whole else 0.0
