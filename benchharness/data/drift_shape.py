"""Abrupt or gradual: how a figure moved over the windows of a batch.

The figure is a feature's drift score per window (against the whole reference) or the
model's metric per window (estimated, or realized once labels arrive). Three readings
compete, each costing its absolute deviations plus a penalty per parameter:

- `none`: one level (the median);
- `abrupt`: steps, from the penalized L1 step fit of the run history
  (`history/changepoint.fit_segments`): levels that hold, then jump;
- `gradual`: a trend, flat until window k then a straight line (Theil-Sen slope), k free
  (k = 0: a trend from the first window).

The penalty is `PENALTY_FACTOR x sigma x log(n + 1)` per segment (a trend counts as two,
like one step), the step fit's own rule; sigma is the window-to-window noise: for a drift
score, its spread on reference samples of a window's size; for the metric, read from the
windows' own intervals when they have them, else from the second differences (a step or a
steady trend leaves them near zero, so neither inflates it). The cheapest reading wins; with a
tie the simpler one. More than `MAX_WINDOWS` windows are read in `MAX_WINDOWS` consecutive
groups (the step fit costs n^3).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.spatial import distance

from benchharness.data.window_sample import WindowCodes, WindowSample
from benchharness.history.changepoint import PENALTY_FACTOR, fit_segments

MIN_WINDOWS = 4  # fewer windows cannot tell a step from a trend
MAX_WINDOWS = 60
SAMPLE_ROWS = 1_000  # rows per window a feature's drift score is read on ...
SAMPLE_TOTAL_ROWS = 200_000  # ... and in all (thousands of small windows: fewer each, never under 50)
NULL_DRAWS = 8  # reference samples that give a drift score's noise
# a window whose sample has fewer rows than this share of the median window's is left out of
# a feature's shape: its score is mostly noise (a batch's partial last window held 15 rows
# where the others held 500, and read as a step on a feature that had not moved)
MIN_WINDOW_SHARE = 0.5
NORMAL_Z95 = 1.959964


def noise_sigma(y: np.ndarray, intervals: list | None = None) -> float:
    """Window-to-window noise: the windows' median interval half-width / 1.96 when they have
    intervals (the noise is known), else 1.4826 x median |second difference| / sqrt 6 (iid
    noise gives second differences of variance 6 sigma^2; with few windows, a move there and
    back inflates it, so the known noise is preferred)."""
    floor = max(1e-9, 1e-3 * float(np.median(np.abs(y))))
    widths = [(hi - lo) / (2 * NORMAL_Z95) for lo, hi in (intervals or [])
              if lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi)]
    if widths:
        return max(floor, float(np.median(widths)))
    if y.size >= 3:
        return max(floor, 1.4826 * float(np.median(np.abs(np.diff(y, 2)))) / math.sqrt(6))
    return floor


def _step_cost(y: np.ndarray, starts: list[int]) -> float:
    bounds = [*starts, y.size]
    return float(sum(np.abs(y[a:b] - np.median(y[a:b])).sum() for a, b in zip(bounds[:-1], bounds[1:])))


def theil_sen_slope(t: np.ndarray, y: np.ndarray) -> float:
    """The median of the slopes between every pair of points (Theil-Sen; as
    scipy.stats.theilslopes, without its confidence interval, which costs more than the fit)."""
    i, j = np.triu_indices(len(t), k=1)
    return float(np.median((y[j] - y[i]) / (t[j] - t[i])))


def _best_trend(y: np.ndarray) -> tuple[float, int, float]:
    """(cost, start k, slope per window) of the best flat-then-straight line."""
    t = np.arange(y.size, dtype=float)
    best = (math.inf, 0, 0.0)
    for k in range(0, y.size - 2):
        ramp = np.maximum(0.0, t - k)
        slope = theil_sen_slope(t[k:], y[k:])
        level = float(np.median(y - slope * ramp))
        cost = float(np.abs(y - level - slope * ramp).sum())
        if cost < best[0]:
            best = (cost, k, slope)
    return best


def read_shape(values, names: list[str], intervals: list | None = None, sigma: float | None = None) -> dict:
    """`none`, `abrupt` (steps, the first at `start_window`) or `gradual` (a trend from
    `start_window`) for one figure over windows named `names`; `sigma`: the noise when known."""
    y = np.asarray(values, dtype=float)
    if y.size < MIN_WINDOWS or not np.all(np.isfinite(y)):
        return {"kind": "none", "reason": f"needs {MIN_WINDOWS} windows or more with a value", "values": y.tolist()}
    sigma = max(sigma, 1e-9) if sigma is not None else noise_sigma(y, intervals)
    penalty = PENALTY_FACTOR * sigma * math.log(y.size + 1)
    starts = fit_segments(y, penalty)
    costs = {"none": float(np.abs(y - np.median(y)).sum()) + penalty,
             "abrupt": _step_cost(y, starts) + penalty * len(starts) if len(starts) > 1 else math.inf}
    trend_cost, k, slope = _best_trend(y)
    costs["gradual"] = trend_cost + 2 * penalty
    kind = min(("none", "abrupt", "gradual"), key=lambda name: costs[name])  # ties: the simpler
    out = {"kind": kind, "values": [round(v, 6) for v in y.tolist()], "noise_sigma": round(sigma, 6),
           "costs": {name: round(c, 6) for name, c in costs.items()}}
    if kind == "abrupt":
        bounds = [*starts, y.size]
        levels = [float(np.median(y[a:b])) for a, b in zip(bounds[:-1], bounds[1:])]
        out["steps"] = [{"window": names[s], "index": s, "before": round(levels[i], 6), "after": round(levels[i + 1], 6)}
                        for i, s in enumerate(starts[1:])]
        out["start_index"] = starts[1]
    elif kind == "gradual":
        out.update(start_index=k, slope_per_window=round(slope, 6))
    if kind != "none":
        out["start_window"] = names[out["start_index"]]
    return out


def grouped(n: int, most: int = MAX_WINDOWS) -> list[np.ndarray]:
    """Window positions in at most `most` consecutive groups."""
    return [g for g in np.array_split(np.arange(n), min(n, most)) if len(g)]


class WindowSamples(WindowCodes):
    """A uniform sample of at most SAMPLE_ROWS rows of each window's features."""

    def __init__(self, features: list[str], seed: int = 0):
        super().__init__(str)
        self.features = features
        self.sample = WindowSample(SAMPLE_ROWS, [seed, 5], total=SAMPLE_TOTAL_ROWS, min_size=50)

    def add(self, keys: np.ndarray, frame: pd.DataFrame) -> None:
        self.sample.add(self.codes(keys), [frame[f].to_numpy() for f in self.features])

    def window_keys(self) -> list:
        return self.ordered()[0]

    def frames(self, groups: list[np.ndarray]) -> list[pd.DataFrame]:
        """The sampled rows of each group of window positions (in sorted key order)."""
        self.sample.prune()
        if self.sample.columns is None:
            return [pd.DataFrame(columns=self.features) for _ in groups]
        _, position = self.ordered()
        window = position[self.sample.code]
        group_of = np.empty(len(self.keys), dtype=int)
        for g, members in enumerate(groups):
            group_of[members] = g
        group = group_of[window]
        table = pd.DataFrame(dict(zip(self.features, self.sample.columns, strict=True)))
        return [table[group == g].reset_index(drop=True) for g in range(len(groups))]


QUANTILES = np.linspace(0.0005, 0.9995, 1000)  # where the distance between distributions is read


class FeatureScorer:
    """Drift score of samples of one feature against the reference: an effect size that does
    not depend on sample sizes. Numbers: Wasserstein distance / reference std, from 1,000
    quantiles of each side (the reference's computed once: W1 is the mean |difference| of the
    quantile functions). Categories: Jensen-Shannon distance (base 2) of the shares."""

    def __init__(self, reference: pd.Series, numeric: bool):
        self.numeric = numeric
        ref = reference.dropna()
        if numeric:
            values = pd.to_numeric(ref, errors="coerce").dropna().to_numpy(float)
            self.ref_q = np.quantile(values, QUANTILES) if len(values) else None
            self.std = (float(np.std(values)) if len(values) else 0.0) or 1.0
        else:
            self.ref_counts = ref.astype(str).value_counts()

    def score(self, current: pd.Series) -> float:
        cur = current.dropna()
        if self.numeric:
            values = pd.to_numeric(cur, errors="coerce").dropna().to_numpy(float)
            if self.ref_q is None or not len(values):
                return float("nan")
            return float(np.mean(np.abs(np.quantile(values, QUANTILES) - self.ref_q)) / self.std)
        if cur.empty or self.ref_counts.empty:
            return float("nan")
        counts = cur.astype(str).value_counts()
        cats = self.ref_counts.index.union(counts.index)
        r = self.ref_counts.reindex(cats, fill_value=0).to_numpy(float)
        c = counts.reindex(cats, fill_value=0).to_numpy(float)
        return float(distance.jensenshannon(r / r.sum(), c / c.sum(), base=2))


def null_sigma(reference: pd.Series, scorer: FeatureScorer, rows: int, draws: int = NULL_DRAWS,
               seed: int = 0) -> float:
    """The noise of a window's drift score where nothing drifted: its spread over random
    samples of `rows` reference rows scored against the whole reference."""
    ref = reference.dropna().reset_index(drop=True)
    if len(ref) < 2 or rows < 2:
        return 0.0
    rng = np.random.default_rng(seed)
    scores = [scorer.score(ref.iloc[rng.choice(len(ref), min(rows, len(ref)), replace=False)]) for _ in range(draws)]
    return float(np.nanstd(scores, ddof=1))


def feature_shapes(reference: pd.DataFrame, samples: WindowSamples, names: dict, kinds: dict) -> dict:
    """Each feature's drift score per window (groups of windows past MAX_WINDOWS) and its shape;
    the noise is the score's spread on reference samples of a window's size (`null_sigma`)."""
    keys = samples.window_keys()
    groups = grouped(len(keys))
    group_names = [names[keys[g[0]]] for g in groups]
    frames = samples.frames(groups)
    sizes = [len(fr) for fr in frames]
    rows = int(np.median(sizes))
    full = [i for i, n in enumerate(sizes) if n >= MIN_WINDOW_SHARE * rows]
    left_out = [{"window": group_names[i], "rows": sizes[i]} for i in range(len(frames)) if i not in full]
    frames, group_names = [frames[i] for i in full], [group_names[i] for i in full]
    out = {}
    for f in samples.features:
        if f not in reference.columns:
            continue
        numeric = kinds.get(f) == "numeric"
        scorer = FeatureScorer(reference[f], numeric)
        scores = [scorer.score(fr[f]) if f in fr.columns else float("nan") for fr in frames]
        out[f] = {**read_shape(scores, group_names, sigma=null_sigma(reference[f], scorer, rows)),
                  "score": "wasserstein/std" if numeric else "jensen_shannon"}
    return {"windows": group_names, "grouped": len(groups) < len(keys), "features": out,
            "left_out": left_out}


def metric_shape(windows: list[dict], value_key: str, interval_key: str | None = None) -> dict:
    """The shape of the metric over windows (entries with `window` and a value), grouped past MAX_WINDOWS."""
    windows = [w for w in windows if w.get(value_key) is not None]
    groups = grouped(len(windows))
    names = [windows[g[0]]["window"] for g in groups]
    values = [float(np.average([windows[i][value_key] for i in g], weights=[windows[i]["rows"] for i in g]))
              for g in groups]
    intervals = None
    if interval_key and len(groups) == len(windows):
        intervals = [w[interval_key] for w in windows]
    return {**read_shape(values, names, intervals), "windows": names}
