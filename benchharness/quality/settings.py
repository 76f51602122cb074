"""The suite's quality section, typed (`config.py` validates it and fills the defaults)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BootstrapSettings:
    resamples: int
    seed: int
    confidence: float


@dataclass(frozen=True)
class QualitySettings:
    task: str  # auto | binary | multiclass | regression
    primary_metric: str | None
    baselines: list[str] | None  # None: every baseline for the task
    bootstrap: BootstrapSettings
    subgroups: list[str]  # columns the test metrics are sliced by
    min_group_rows: int
    bins: int  # quantile bins of a numeric subgroup column
    window: str | int | None  # time windows over the test span
    production_window: str | int | None
    overfit_gap: float
