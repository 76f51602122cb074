"""Step detection over a figure's runs: where did it move, and by how much?

A penalized least-absolute-deviations step fit, in the spirit of asv's step detection: the
sequence is cut into segments, each summarised by its median, minimising

    sum over segments of sum |y - median(segment)|  +  penalty x (number of segments)

exactly, by dynamic programming over every cut (optimal partitioning, O(n^2) segment costs).
The absolute-deviation cost makes one noisy run pull a segment far less than squares would.

The penalty scales with the noise: `sigma` is the larger of a robust estimate from the
run-to-run differences (1.4826 x median |first difference| / sqrt 2), the
typical half-width of the runs' own intervals (as a normal sigma), and 1% of the sequence's
median (a figure that never varies still has rounding). A step must also change the figure
by at least `min_rel_change` (relative): smaller steps are merged back, smallest first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: the penalty per segment, in units of sigma x log(n + 1)
PENALTY_FACTOR = 3.0
MIN_REL_CHANGE = 0.10
MAX_POINTS = 300  # the newest runs kept for the fit (cost grows with n^2)
NORMAL_Z95 = 1.959964


@dataclass(frozen=True)
class Step:
    index: int  # position in the sequence of the first run after the step
    before: float  # median of the segment before
    after: float  # median of the segment after
    rel_change: float  # (after - before) / |before| (inf when before is 0)


def noise_sigma(values: np.ndarray, intervals: list | None = None) -> float:
    """A robust scale of the run-to-run noise (see the module docstring)."""
    y = np.asarray(values, dtype=float)
    candidates = [0.01 * float(np.median(np.abs(y))) if y.size else 0.0, 1e-12]
    if y.size >= 3:
        d = np.diff(y)
        # not centred: with no change a difference has mean zero, and a steady drift is noise
        # to this scale rather than a staircase of steps
        candidates.append(1.4826 * float(np.median(np.abs(d))) / math.sqrt(2))
    widths = [(hi - lo) / (2 * NORMAL_Z95) for lo, hi in (intervals or [])
              if lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi)]
    if widths:
        candidates.append(float(np.median(widths)))
    return max(candidates)


def _segment_costs(y: np.ndarray) -> np.ndarray:
    """cost[i, j] = sum |y[i:j] - median(y[i:j])| for 0 <= i < j <= n."""
    n = y.size
    cost = np.zeros((n + 1, n + 1))
    for i in range(n):
        for j in range(i + 1, n + 1):
            seg = y[i:j]
            cost[i, j] = float(np.abs(seg - np.median(seg)).sum())
    return cost


def fit_segments(values, penalty: float) -> list[int]:
    """Start indices of the optimal segments (always begins with 0) for this penalty."""
    y = np.asarray(values, dtype=float)
    n = y.size
    if n == 0:
        return []
    cost = _segment_costs(y)
    best = np.full(n + 1, np.inf)
    best[0] = -penalty
    last = np.zeros(n + 1, dtype=int)
    for j in range(1, n + 1):
        totals = best[:j] + cost[:j, j] + penalty
        i = int(np.argmin(totals))
        best[j], last[j] = totals[i], i
    starts, j = [], n
    while j > 0:
        starts.append(int(last[j]))
        j = last[j]
    return sorted(starts)


def _rel(before: float, after: float) -> float:
    if before == 0:
        return 0.0 if after == 0 else math.inf
    return (after - before) / abs(before)


def _steps(y: np.ndarray, starts: list[int]) -> list[Step]:
    bounds = [*starts, y.size]
    medians = [float(np.median(y[a:b])) for a, b in zip(bounds[:-1], bounds[1:])]
    return [Step(starts[k], medians[k - 1], medians[k], _rel(medians[k - 1], medians[k]))
            for k in range(1, len(starts))]


def detect_steps(values, intervals: list | None = None, min_rel_change: float = MIN_REL_CHANGE,
                 penalty_factor: float = PENALTY_FACTOR) -> list[Step]:
    """The steps of a sequence (oldest first), each at least `min_rel_change` in size.

    `intervals`: optional [lo, hi] per value (None where unknown), used for the noise scale.
    Sequences longer than MAX_POINTS are fitted on their newest MAX_POINTS runs; indices
    still refer to the whole sequence.
    """
    y = np.asarray(values, dtype=float)
    offset = max(0, y.size - MAX_POINTS)
    y = y[offset:]
    if intervals is not None:
        intervals = list(intervals)[offset:]
    if y.size < 2 or not np.all(np.isfinite(y)):
        return []
    sigma = noise_sigma(y, intervals)
    starts = fit_segments(y, penalty_factor * sigma * math.log(y.size + 1))
    while len(starts) > 1:  # merge the smallest step that is too small to count
        steps = _steps(y, starts)
        smallest = min(steps, key=lambda s: abs(s.rel_change))
        if abs(smallest.rel_change) >= min_rel_change:
            break
        starts.remove(smallest.index)
    return [Step(s.index + offset, s.before, s.after, s.rel_change) for s in _steps(y, starts)]
