"""Candidate against the best baseline: the paired difference, the normalised gain and the
words the report uses.

"Beats the baseline" means the whole interval of the paired difference lies on the better
side of zero; an interval that includes zero "does not beat" it, one entirely on the worse
side "is worse than" it.
"""

from __future__ import annotations

from benchharness.quality.bootstrap import BootstrapPlan, paired_difference
from benchharness.quality.metrics import METRICS, ScoredRows


def pick_best(values: dict[str, float | None], metric: str) -> str | None:
    """The name with the best value of `metric` (ignoring unavailable ones)."""
    known = {k: v for k, v in values.items() if v is not None}
    if not known:
        return None
    pick = max if METRICS[metric].higher_is_better else min
    return pick(known, key=known.get)


def normalised_gain(score: float | None, base: float | None, metric: str) -> float | None:
    """(score - base) / (perfect - base): the share of the baseline's gap to perfect closed."""
    if score is None or base is None:
        return None
    room = METRICS[metric].perfect - base
    return None if room == 0 else (score - base) / room


def verdict(delta: float | None, ci: list[float] | None, metric: str) -> bool | None:
    """True when the interval is entirely on the better side of zero, False otherwise,
    None when there is no interval to judge."""
    if delta is None or ci is None:
        return None
    if METRICS[metric].higher_is_better:
        return ci[0] > 0
    return ci[1] < 0


def statement(candidate: str, baseline: str, metric: str, result: dict, confidence: float) -> str:
    """One sentence for the report, in the words the checklist asks for."""
    if result.get("ci") is None:
        return f"{candidate} vs baseline {baseline} on {metric}: cannot judge ({result.get('reason', 'no interval')})"
    lo, hi = result["ci"]
    better = "above" if METRICS[metric].higher_is_better else "below"
    worse = "below" if better == "above" else "above"
    span = (f"{metric} {result['candidate']:.4g} vs {result['baseline']:.4g}, difference "
            f"{result['delta']:+.4g} ({confidence:.0%} CI {lo:+.4g} to {hi:+.4g})")
    if result["beats_baseline"]:
        return f"{candidate} beats the baseline {baseline}: {span}, entirely {better} zero"
    entirely_worse = hi < 0 if better == "above" else lo > 0
    if entirely_worse:
        return f"{candidate} is worse than the baseline {baseline}: {span}, entirely {worse} zero"
    return f"{candidate} does not beat the baseline {baseline}: {span}, the interval includes zero"


def versus_baseline(
    name: str, rows: ScoredRows, value: float | None,
    baseline: str, baseline_rows: ScoredRows, baseline_value: float | None,
    metric: str, plan: BootstrapPlan,
) -> dict:
    """The candidate's `vs_baseline` section: delta with its paired interval, gain, verdict."""
    diff = paired_difference(rows, baseline_rows, metric, plan)
    result = {
        "baseline": baseline,
        "metric": metric,
        "candidate": value,
        "baseline_value": baseline_value,
        "delta": diff["delta"],
        "ci": diff["ci"],
        "normalised_gain": normalised_gain(value, baseline_value, metric),
    }
    if "reason" in diff:
        result["reason"] = diff["reason"]
    result["beats_baseline"] = verdict(diff["delta"], diff["ci"], metric)
    result["statement"] = statement(name, baseline, metric, {**result, "baseline": baseline_value},
                                    plan.confidence)
    return result
