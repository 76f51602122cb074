"""One model's whole quality section: test and train metrics side by side, intervals, the
overfitting check, the confusion matrix, subgroups and time windows.

Candidates and baselines go through the same function, so their sections have one shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from benchharness.quality import slices
from benchharness.quality.bootstrap import BootstrapPlan, confidence_intervals
from benchharness.quality.metrics import METRICS, ScoredRows, confusion, score_rows
from benchharness.schema import Quality


@dataclass
class ResolvedQuality:
    """The suite's `quality` section, resolved for one run (task detected, metric chosen)."""

    task: str
    primary_metric: str
    plan: BootstrapPlan = field(default_factory=BootstrapPlan)
    subgroups: list[str] = field(default_factory=list)
    min_group_rows: int = 30
    bins: int = 4
    window: str | int | None = None
    production_window: str | int | None = None
    overfit_gap: float = 0.1

    @property
    def higher_is_better(self) -> bool:
        return METRICS[self.primary_metric].higher_is_better


def overfit_check(metric: str, train: float | None, test: float | None, threshold: float) -> dict:
    """How much worse test is than train, relative to the larger magnitude of the two.

    A relative drop above `threshold` flags overfitting (e.g. 0.1: test 10% worse than train).
    """
    if train is None or test is None:
        return {"metric": metric, "overfit": None, "reason": "train or test value unavailable"}
    drop = (train - test) if METRICS[metric].higher_is_better else (test - train)
    scale = max(abs(train), abs(test), 1e-12)
    relative = drop / scale
    return {"metric": metric, "train": train, "test": test, "drop": drop, "relative_drop": relative,
            "threshold": threshold, "overfit": bool(relative > threshold)}


def evaluate(
    test: ScoredRows,
    train: ScoredRows | None,
    settings: ResolvedQuality,
    meta_test: pd.DataFrame | None = None,
    times_test: pd.Series | None = None,
    train_missing: str = "no predictions on the train split",
    interval_metrics: list[str] | None = None,
) -> Quality:
    """The `quality` section of one model (see docs/results.md).

    Intervals are computed for `interval_metrics` (default: every available test metric).
    """
    metric = settings.primary_metric
    values, unavailable = score_rows(test)
    wanted = [m for m in values if interval_metrics is None or m in interval_metrics]
    intervals, no_interval = confidence_intervals(test, wanted, settings.plan)
    if train is not None:
        train_values, train_unavailable = score_rows(train)
    else:
        train_values, train_unavailable = {}, dict.fromkeys(values, train_missing)
    shared = [m for m in values if m in train_values]
    section: Quality = {
        "task": settings.task,
        "primary_metric": metric,
        "higher_is_better": settings.higher_is_better,
        "rows": {"test": test.n, "train": None if train is None else train.n},
        "test": values,
        "train": train_values,
        "ci": intervals,
        "confidence": settings.plan.confidence,
        "bootstrap_resamples": settings.plan.resamples_for(test.n),
        "gap": {m: train_values[m] - values[m] for m in shared},
        "overfit": overfit_check(metric, train_values.get(metric), values.get(metric), settings.overfit_gap),
        "unavailable": unavailable,
        "train_unavailable": train_unavailable,
        "ci_unavailable": {m: r for m, r in no_interval.items() if m not in unavailable},
        "confusion_matrix": confusion(test),
    }
    overall = values.get(metric)
    if settings.subgroups:
        section["subgroups"] = _guard(slices.subgroups, test, meta_test, settings.subgroups, metric,
                                      settings.min_group_rows, settings.bins, overall)
    if settings.window is not None:
        section["windows"] = _guard(slices.windows, test, times_test, settings.window, metric,
                                    settings.min_group_rows, overall)
    production = settings.production_window or settings.window
    if production is not None:
        by_window = (section["windows"] if production == settings.window else
                     _guard(slices.windows, test, times_test, production, metric, settings.min_group_rows, overall))
        section["production"] = slices.production_headline(by_window, overall)
    return section


def _guard(slicer, *args) -> dict:
    """Slices read user columns (dates that do not parse, odd types): a column that cannot be
    sliced is recorded as unavailable, and the candidate's other figures stand."""
    try:
        return slicer(*args)
    except (ValueError, TypeError, KeyError, OverflowError) as exc:
        return {"unavailable": f"{type(exc).__name__}: {str(exc).splitlines()[0]}"}


def class_balance(y_train, y_test, resampled: bool, tolerance: float = 0.05) -> dict:
    """Class shares of train and test side by side; a warning when they differ.

    When the model was trained on re-sampled data the train shares are not production's:
    the test metrics are computed on the test split's natural distribution, and the report
    says how far apart the two are.
    """
    train = pd.Series(np.asarray(y_train)).value_counts(normalize=True)
    test = pd.Series(np.asarray(y_test)).value_counts(normalize=True)
    labels = sorted(set(train.index) | set(test.index), key=str)
    diff = max(abs(train.get(c, 0.0) - test.get(c, 0.0)) for c in labels)
    out = {
        "train": {str(c): float(train.get(c, 0.0)) for c in labels},
        "test": {str(c): float(test.get(c, 0.0)) for c in labels},
        "max_share_difference": float(diff),
        "resampled": resampled,
        "warning": None,
    }
    if diff > tolerance:
        why = ("the training data was re-sampled" if resampled else "the splits differ")
        out["warning"] = (f"class shares of train and test differ by up to {diff:.1%} ({why}); "
                          "test metrics use the natural test distribution, train metrics do not compare")
    elif resampled:
        out["warning"] = "data.resampled is set but train and test class shares are alike"
    return out
