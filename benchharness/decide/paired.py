"""Paired comparisons: how two candidates measured in the same run differ on one figure.

The trials of one run go in blocked rounds (measure/trials.py): round r measures every
candidate once, in a shuffled order, so trial r of A and trial r of B share the machine's
state of that round (its frequency, its neighbours, its page cache). A drift of the whole run
moves both alike. So the change of B against A is judged on the per-round ratios B_r / A_r,
with no run-level term (that term is about the next run, which a comparison inside one run
does not need):

- d_r = ln(B_r / A_r) over the rounds in which both have a value (at least `MIN_ROUNDS`);
- the change is exp(mean d) - 1 (the geometric mean of the ratios);
- its interval is exp(mean d +- t_{R-1} * sd(d) / sqrt(R)) - 1, Student's t over the R rounds
  (the rounds are the independent units; a slow round hits both and cancels in the ratio).

`outcome` turns a change into one of four answers against a threshold (a fraction, e.g. 0.05):
`regression` / `improvement` when the whole interval lies beyond the threshold on the worse /
better side, `equivalent` when it lies wholly within +-threshold, else `inconclusive`.
`detectable` is the smallest change the comparison could have shown at its noise: a true
change c gives an interval about ln(1 + c) +- h wide, wholly beyond the threshold t once
c >= (1 + t) * e^h - 1.

The same functions serve the verdict inside a run (ranking ties, Pareto front, the close
call, tune's halving and pick) and `bench run --against` (a reference run's candidates
measured again, round by round, beside this run's).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchharness.decide import figures as names

MIN_ROUNDS = 3  # fewer common rounds: no paired comparison (the caller falls back to intervals)
CONFIDENCE = 0.95
#: a paired difference smaller than this never orders two candidates of one run: trials that
#: agree to 0.1% would otherwise split identical copies on what a process's memory layout did
RANK_MIN_CHANGE = 0.02
#: `bench run --against`: a change is a regression when its whole interval is beyond this
AGAINST_THRESHOLD = 0.05

REGRESSION, IMPROVEMENT, EQUIVALENT, INCONCLUSIVE = "regression", "improvement", "equivalent", "inconclusive"
OUTCOMES = (REGRESSION, IMPROVEMENT, EQUIVALENT, INCONCLUSIVE)


@dataclass(frozen=True)
class PairedChange:
    """B against A on one figure: change (B / A - 1), its interval, the rounds used, and the
    half-width of the log-ratio interval (what `detectable` is computed from)."""

    change: float
    low: float
    high: float
    rounds: int
    half_width: float

    def to_dict(self) -> dict[str, Any]:
        return {"change": self.change, "interval": [self.low, self.high], "rounds": self.rounds}


def _t_quantile(df: int, confidence: float) -> float:
    from scipy.special import stdtrit

    return float(stdtrit(df, 1 - (1 - confidence) / 2))


def paired_change(before: dict[int, float], after: dict[int, float],
                  confidence: float = CONFIDENCE) -> PairedChange | None:
    """The change of `after` against `before`, each {round: value}; None when fewer than
    MIN_ROUNDS rounds have a positive value in both."""
    rounds = sorted(r for r in set(before) & set(after)
                    if _positive(before[r]) and _positive(after[r]))
    if len(rounds) < MIN_ROUNDS:
        return None
    d = np.log(np.array([after[r] for r in rounds]) / np.array([before[r] for r in rounds]))
    mean = float(d.mean())
    half = _t_quantile(len(d) - 1, confidence) * float(d.std(ddof=1)) / math.sqrt(len(d))
    return PairedChange(math.expm1(mean), math.expm1(mean - half), math.expm1(mean + half),
                        len(rounds), half)


def _positive(v: float | None) -> bool:
    return v is not None and math.isfinite(v) and v > 0


def outcome(change: PairedChange | tuple[float, float], higher_is_better: bool, threshold: float) -> str:
    """regression | improvement | equivalent | inconclusive (see the module doc); `change`
    may be a (low, high) interval of the relative change."""
    low, high = (change.low, change.high) if isinstance(change, PairedChange) else change
    worse_low, worse_high = (-high, -low) if higher_is_better else (low, high)
    if worse_low > threshold:
        return REGRESSION
    if worse_high < -threshold:
        return IMPROVEMENT
    if -threshold <= low and high <= threshold:
        return EQUIVALENT
    return INCONCLUSIVE


def detectable(half_width: float, threshold: float) -> float:
    """The smallest change (a fraction) whose interval would lie wholly beyond `threshold`."""
    return (1 + threshold) * math.exp(half_width) - 1


def rounds_of(cand: dict[str, Any], figure: str, results: dict[str, Any] | None = None) -> dict[int, float]:
    """{round: value} of a measured figure's trials; empty when not measured in rounds."""
    return names.trial_rounds(cand, figure, results) or {}


def compare(a: dict[str, Any], b: dict[str, Any], figure: str, results: dict[str, Any] | None = None,
            confidence: float = CONFIDENCE) -> PairedChange | None:
    """B against A on a figure measured in rounds of the same run, or None."""
    return paired_change(rounds_of(a, figure, results), rounds_of(b, figure, results), confidence)


def worse_beyond(change: PairedChange, higher_is_better: bool, margin: float) -> bool:
    """Is B worse than A beyond `margin` over its whole interval?"""
    return (change.high < -margin) if higher_is_better else (change.low > margin)
