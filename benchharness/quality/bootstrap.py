"""Bootstrap confidence intervals, and the paired bootstrap of a difference between models.

Resamples are drawn once per seed as counts (how often each test row is drawn) and every
model is scored on the same counts, so a candidate and a baseline are compared on paired
rows: the interval of their difference is much tighter than two separate intervals suggest.
The interval is the percentile interval of the resampled values. Metrics are evaluated for
all resamples at once by their weighted forms (`weighted.py`), which must reproduce
sklearn's value on the full data before their interval is reported.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from benchharness.quality.metrics import METRICS, ScoredRows, score_metric

#: cells of the (resamples x rows) count matrix evaluated at once: bounds memory
CHUNK_CELLS = 2_000_000
#: cells of all resamples of one model: above it, fewer resamples (never under MIN_RESAMPLES),
#: so a 100k-row test split costs seconds, not minutes; the count used is recorded
CELL_BUDGET = 50_000_000
MIN_RESAMPLES = 200


@dataclass(frozen=True)
class BootstrapPlan:
    n_resamples: int = 1000
    seed: int = 0
    confidence: float = 0.95

    def resamples_for(self, n_rows: int) -> int:
        """The resample count used for a split of n_rows (capped by CELL_BUDGET)."""
        affordable = max(MIN_RESAMPLES, CELL_BUDGET // max(n_rows, 1))
        return min(self.n_resamples, affordable)

    def counts(self, n_rows: int) -> Iterator[np.ndarray]:
        """Count matrices W[b, n_rows], chunk by chunk; the same sequence for a given seed."""
        rng = np.random.default_rng(self.seed)
        per_chunk = max(1, CHUNK_CELLS // max(n_rows, 1))
        total = self.resamples_for(n_rows)
        done = 0
        while done < total:
            b = min(per_chunk, total - done)
            drawn = rng.integers(0, n_rows, size=(b, n_rows))
            flat = (drawn + np.arange(b)[:, None] * n_rows).ravel()
            yield np.bincount(flat, minlength=b * n_rows).reshape(b, n_rows).astype(float)
            done += b

    def interval(self, values: np.ndarray) -> list[float] | None:
        finite = values[np.isfinite(values)]
        if len(finite) == 0:
            return None
        alpha = 1 - self.confidence
        lo, hi = np.percentile(finite, [100 * alpha / 2, 100 * (1 - alpha / 2)])
        return [float(lo), float(hi)]


def _checked_form(name: str, rows: ScoredRows) -> str | None:
    """Reason the weighted form cannot be trusted here, or None when it matches sklearn."""
    point, reason = score_metric(METRICS[name], rows)
    if reason:
        return reason
    form = float(METRICS[name].weighted(rows, np.ones((1, rows.n)))[0])
    if not np.isclose(form, point, rtol=1e-7, atol=1e-9):
        return f"the bootstrap form gives {form:.6g} where sklearn gives {point:.6g}"
    return None


def resampled_values(rows: ScoredRows, names: list[str], plan: BootstrapPlan) -> dict[str, np.ndarray]:
    """{metric: its value on each resample} for the metrics whose weighted form checks out."""
    usable = [m for m in names if _checked_form(m, rows) is None]
    out: dict[str, list[np.ndarray]] = {m: [] for m in usable}
    with np.errstate(all="ignore"):
        for W in plan.counts(rows.n):
            for m in usable:
                out[m].append(METRICS[m].weighted(rows, W))
    return {m: np.concatenate(v) for m, v in out.items()}


def confidence_intervals(
    rows: ScoredRows, names: list[str], plan: BootstrapPlan
) -> tuple[dict[str, list[float]], dict[str, str]]:
    """({metric: [low, high]}, {metric: why no interval}) for the test metrics `names`."""
    values = resampled_values(rows, names, plan)
    intervals: dict[str, list[float]] = {}
    missing: dict[str, str] = {}
    for m in names:
        if m not in values:
            missing[m] = _checked_form(m, rows) or "no bootstrap form"
            continue
        ci = plan.interval(values[m])
        if ci is None:
            missing[m] = "undefined on every resample"
        else:
            intervals[m] = ci
    return intervals, missing


def paired_difference(
    candidate: ScoredRows, baseline: ScoredRows, name: str, plan: BootstrapPlan
) -> dict:
    """Candidate minus baseline on `name`, with the paired-bootstrap interval.

    Returns {delta, ci, resamples_undefined} or {delta: None, reason}.
    """
    if not np.array_equal(candidate.y_true, baseline.y_true):
        return {"delta": None, "ci": None, "reason": "the two models were scored on different rows"}
    metric = METRICS[name]
    point_c, why_c = score_metric(metric, candidate)
    point_b, why_b = score_metric(metric, baseline)
    if why_c or why_b:
        return {"delta": None, "ci": None, "reason": why_c or f"baseline: {why_b}"}
    why = _checked_form(name, candidate) or _checked_form(name, baseline)
    if why:
        return {"delta": point_c - point_b, "ci": None, "reason": why}
    diffs = []
    with np.errstate(all="ignore"):
        for W in plan.counts(candidate.n):
            diffs.append(metric.weighted(candidate, W) - metric.weighted(baseline, W))
    diffs = np.concatenate(diffs)
    ci = plan.interval(diffs)
    return {"delta": point_c - point_b, "ci": ci, "resamples_undefined": int((~np.isfinite(diffs)).sum())}
