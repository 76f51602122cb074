"""Intervals across trials: the statistics behind every measured figure's `intervals`.

The samples of one process are correlated in time, and processes differ from one another
(memory layout, core placement, frequency, neighbours) by more than the samples inside one
of them do. So a figure's uncertainty is estimated at the level that varies: the trial
(one fresh child process).

- `hierarchical_interval`: a two-level bootstrap (resample the trials with replacement,
  then the samples within each chosen trial; at most `max_per_trial` of them, an m-out-of-n
  bootstrap that only widens the interval) of figures computed on the pooled samples
  (percentiles, mean). Seeded: the same samples always give the same interval.
- `trial_interval`: the same over trial-level values only (qps, rows/s: count / seconds).
- Both widen the bootstrap's interval around the point by `small_sample_factor(T)`: with
  T trials a percentile bootstrap behaves like a normal interval with the plug-in variance,
  too narrow for small T (it misses Student's t and the (T - 1)/T bias); the factor
  t_{T-1} / z * sqrt(T / (T - 1)) restores about 95% coverage (tested by simulation).
- With a single trial nothing is known about the spread between processes: both bounds
  are None (the figure is not pinned down), never a falsely narrow interval.
- `add_run_level` widens an interval by a run-level term (`measure/run_level.py` says
  which): each side's half-width h becomes sqrt(h^2 + (z * run_cv * point)^2), z the normal
  quantile of the confidence; that is, a relative standard deviation `run_cv` between runs,
  independent of the trials, added to their uncertainty.

`stability` reports each figure's between-trial coefficient of variation (std / mean of
the per-trial values) and marks a figure unstable, with the reason, when it exceeds
`cv_limit` (twice that for the tail, `stats.TAIL_KEYS`: p90 to p99.9, which one trial pins
down less well), as pyperf warns when its worker processes disagree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from benchharness.measure.stats import (
    PERCENTILE_KEYS,
    PERCENTILES,
    TAIL_KEYS,
    nearest_rank,
    percentile_key,
)

CONFIDENCE = 0.95
RESAMPLES = 400
MAX_PER_TRIAL = 2000
CV_LIMIT = 0.10  # pyperf's warning level: std over 10% of the mean


def small_sample_factor(trials: int, confidence: float = CONFIDENCE) -> float:
    """How much wider than the bootstrap's an interval over `trials` trials must be."""
    from scipy.special import ndtri, stdtrit

    if trials < 2:
        return math.inf
    q = 1 - (1 - confidence) / 2
    return float(stdtrit(trials - 1, q) / ndtri(q) * math.sqrt(trials / (trials - 1)))


def _widen(point: float, lo: float, hi: float, factor: float) -> list[float | None]:
    if not math.isfinite(factor):
        return [None, None]
    return [max(0.0, point - factor * max(point - lo, 0.0)), point + factor * max(hi - point, 0.0)]


def add_run_level(point: float | None, iv: Sequence[float | None], run_cv: float,
                  confidence: float = CONFIDENCE) -> list[float | None]:
    """[lo, hi] widened by a run-level relative standard deviation `run_cv` (see above).
    An unknown bound stays unknown; a lower bound never goes below zero."""
    lo, hi = iv
    if point is None or not math.isfinite(point) or run_cv <= 0:
        return [lo, hi]
    from scipy.special import ndtri

    run_half = float(ndtri(1 - (1 - confidence) / 2)) * run_cv * abs(point)
    return [None if lo is None else max(0.0, point - math.hypot(point - lo, run_half)),
            None if hi is None else point + math.hypot(hi - point, run_half)]


def monotone_percentiles(intervals: dict, prefix: str = "") -> None:
    """A percentile is never below a lower one, so neither is its interval: each bound is
    raised to the same bound of the next lower percentile (a p99 interval that reached below
    the median's said nothing). In place; unknown bounds stay unknown."""
    previous = None
    for key in (prefix + k for k in PERCENTILE_KEYS):
        iv = intervals.get(key)
        if not isinstance(iv, list) or len(iv) != 2:
            continue
        if previous is not None:
            iv[:] = [lo if lo is None or prev is None else max(lo, prev) for lo, prev in zip(iv, previous)]
        previous = iv


def latency_figures(ms: np.ndarray, percentiles: Sequence[float] = PERCENTILES) -> dict[str, float]:
    """Point figures of pooled latencies in ms: mean and nearest-rank percentiles."""
    ms = np.asarray(ms, dtype=np.float64)
    n = len(ms)
    if n == 0:
        return {}
    ranks = [nearest_rank(n, q) - 1 for q in percentiles]
    part = np.partition(ms, ranks)
    out = {"mean_ms": float(ms.mean())}
    out.update({percentile_key(q): float(part[r]) for q, r in zip(percentiles, ranks)})
    return out


def hierarchical_interval(
    trials: Sequence[np.ndarray],
    percentiles: Sequence[float] = PERCENTILES,
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
    max_per_trial: int = MAX_PER_TRIAL,
    seed: int = 0,
) -> dict[str, list[float | None]]:
    """{figure: [lo, hi]} for mean_ms and the percentiles of latencies given per trial (ms)."""
    trials = [np.asarray(t, dtype=np.float64) for t in trials if len(t)]
    keys = ["mean_ms", *(percentile_key(q) for q in percentiles)]
    if not trials:
        return {}
    point = latency_figures(np.concatenate(trials), percentiles)
    factor = small_sample_factor(len(trials), confidence)
    if not math.isfinite(factor):
        return {k: [None, None] for k in keys}
    rng = np.random.default_rng(seed)
    t = len(trials)
    draws = np.empty((resamples, len(keys)))
    for b in range(resamples):
        picked = rng.integers(0, t, size=t)
        parts = []
        for i in picked:
            values = trials[i]
            m = min(len(values), max_per_trial)
            parts.append(values[rng.integers(0, len(values), size=m)])
        pooled = np.concatenate(parts)
        figures = latency_figures(pooled, percentiles)
        draws[b] = [figures[k] for k in keys]
    tail = (1 - confidence) / 2
    lo, hi = np.quantile(draws, [tail, 1 - tail], axis=0)
    return {k: _widen(point[k], float(lo[j]), float(hi[j]), factor) for j, k in enumerate(keys)}


def ratio_interval(
    numerators: Sequence[float],
    denominators: Sequence[float],
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> list[float | None]:
    """Interval of sum(numerators) / sum(denominators) (e.g. requests / seconds) over trials."""
    num = np.asarray(numerators, dtype=np.float64)
    den = np.asarray(denominators, dtype=np.float64)
    if len(num) == 0 or den.sum() <= 0:
        return [None, None]
    point = float(num.sum() / den.sum())
    factor = small_sample_factor(len(num), confidence)
    if not math.isfinite(factor):
        return [None, None]
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(num), size=(resamples, len(num)))
    with np.errstate(divide="ignore", invalid="ignore"):
        draws = num[idx].sum(axis=1) / den[idx].sum(axis=1)
    draws = draws[np.isfinite(draws)]
    tail = (1 - confidence) / 2
    lo, hi = np.quantile(draws, [tail, 1 - tail])
    return _widen(point, float(lo), float(hi), factor)


def trial_interval(values: Sequence[float], confidence: float = CONFIDENCE,
                   resamples: int = RESAMPLES, seed: int = 0) -> list[float | None]:
    """Interval of the mean of trial-level values (each trial's figure counts once)."""
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return ratio_interval(vals, [1.0] * len(vals), confidence, resamples, seed)


def cv(values: Sequence[float | None]) -> float | None:
    """Between-trial coefficient of variation: sample std / mean (None under two values)."""
    vals = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    if len(vals) < 2 or vals.mean() == 0:
        return None
    return float(vals.std(ddof=1) / abs(vals.mean()))


def stability(trials: Sequence[dict], figures: Sequence[str], cv_limit: float = CV_LIMIT) -> dict:
    """{"cv": {figure: cv}, "unstable": [{"figure", "reason"}]} from per-trial figure values."""
    out: dict = {"cv": {}, "unstable": []}
    if len(trials) < 2:
        if trials:
            out["unstable"].append({"figure": "*", "reason": "one trial: the spread between "
                                    "processes is unknown, so no interval can be given"})
        return out
    for key in figures:
        c = cv([t.get(key) for t in trials])
        if c is None:
            continue
        out["cv"][key] = c
        limit = cv_limit * (2 if key in TAIL_KEYS else 1)
        if c > limit:
            out["unstable"].append({
                "figure": key,
                "reason": f"trials disagree: {key} varies {c:.0%} between trials "
                          f"(std/mean; more than {limit:.0%}); a quieter machine or more trials "
                          "would pin it down",
            })
    return out
