"""The suite's data sections, typed: data (and its split), drift, contract.

`config.py` validates the YAML and fills every default; these classes say what each key is.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SplitSettings:
    test_size: float
    validation_size: float
    seed: int
    stratify: bool
    time_ordered: bool  # the last rows by data.time_column go to test


@dataclass(frozen=True)
class DataSettings:
    source: str | None  # sklearn:NAME, or a .csv / .parquet path (split by the harness)
    train: str | None
    test: str | None
    validation: str | None
    target: str
    features: list[str] | None  # None: every column but target / id / time
    drop: list[str]
    id_column: str | None
    time_column: str | None
    resampled: bool  # the training data was re-sampled (quality compares class balance)
    split: SplitSettings


@dataclass(frozen=True)
class DriftSettings:
    small_reference_rows: int  # at most this many reference rows: statistical tests, else distances
    p_value: float
    wasserstein: float
    jensen_shannon: float
    psi_warn: float
    psi_alert: float
    psi_bins: int
    numeric_min_unique: int
    dataset_share: float


@dataclass(frozen=True)
class ContractSettings:
    range_tolerance: float
    max_categories: int
    null_rate_tolerance: float
    extra_columns: str  # ignore | warn | quarantine
