"""Test-set size: can this test split show the margin a quality limit asks for at all?

A limit such as `accuracy >= baseline + 0.01` passes when the cautious (lower) end of the
paired-bootstrap interval of candidate minus baseline clears +0.01. How wide that interval
is depends on the number of test rows, not on the candidate: with a few hundred rows it can
be several points wide, and no candidate can show a one-point margin on such a split.

From the paired interval [lo, hi] at confidence c on n rows:

    SE         = (hi - lo) / (2 z),                      z = Phi^-1(1 - (1 - c) / 2)
    detectable = (z + z_power) SE,                       z_power = Phi^-1(0.8)

`detectable` is the smallest true difference beyond the required one that this split shows
four times in five: a candidate whose true difference exceeds the limit's by `detectable`
passes with 80% probability (the usual minimum detectable effect, two-sided level c).
SE shrinks as 1/sqrt(n), so the rows at which differences of size `scale` become detectable
are about n (detectable / scale)^2. `scale` is the limit's own margin (0.01 above), or the
measured difference when the limit asks only to beat the baseline (`>= baseline`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from scipy.stats import norm

POWER = 0.8


@dataclass(frozen=True)
class SplitResolution:
    rows: int
    se: float  # standard error of the paired difference, from the interval's width
    detectable: float  # smallest difference beyond the required one shown with POWER
    scale: float | None  # the difference the limit needs resolved (its margin, or the measured one)
    too_small: bool  # detectable > scale: the split cannot show that margin reliably
    rows_needed: int | None  # test rows at which `scale` becomes detectable

    def to_dict(self) -> dict:
        return asdict(self)


def z_value(confidence: float) -> float:
    return float(norm.ppf(1 - (1 - confidence) / 2))


def standard_error(ci: tuple[float, float], confidence: float) -> float:
    """SE of the paired difference read back from its (two-sided) interval's width."""
    return (ci[1] - ci[0]) / (2 * z_value(confidence))


def detectable_difference(se: float, confidence: float, power: float = POWER) -> float:
    return (z_value(confidence) + float(norm.ppf(power))) * se


def rows_needed(rows: int, detectable: float, scale: float) -> int | None:
    """Test rows at which a difference of `scale` becomes detectable (SE ~ 1/sqrt(rows))."""
    if scale <= 0 or rows <= 0:
        return None
    return int(math.ceil(rows * (detectable / scale) ** 2))


def resolution(rows: int, ci: tuple[float, float], confidence: float,
               margin: float, measured: float | None) -> SplitResolution:
    """What a split of `rows` test rows can show for a limit asking for `margin`.

    margin: the difference (candidate minus baseline, in the better direction) the limit
    requires, e.g. +0.01 for `accuracy >= baseline + 0.01`; measured: the measured
    difference in the same direction.
    """
    se = standard_error(ci, confidence)
    detectable = detectable_difference(se, confidence)
    scale = abs(margin) if margin else (abs(measured) if measured else None)
    if not scale:
        return SplitResolution(rows, se, detectable, None, False, None)
    return SplitResolution(rows, se, detectable, scale, detectable > scale, rows_needed(rows, detectable, scale))


def describe(res: SplitResolution, unit_fmt=lambda v: f"{v:.2g}") -> str:
    """'The 143-row test split is too small: it shows only differences of 0.036 or more beyond
    the margin; about 1,827 rows would resolve 0.01' (empty when the split is large enough)."""
    if not res.too_small:
        return ""
    text = (f"The {res.rows:,}-row test split is too small: it shows only differences of "
            f"{unit_fmt(res.detectable)} or more beyond the margin")
    if res.rows_needed:
        text += f"; about {res.rows_needed:,} rows would resolve {unit_fmt(res.scale)}"
    return text
