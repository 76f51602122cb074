"""What a streamed pass over data keeps for drift, mergeable across chunks, parts and machines.

- category counts of EVERY row, per column (`ColumnCounts`): exact, cheap, and they add up,
  so categorical and binary columns are compared on full counts, never on a sample;
- a uniform sample of every row (`stream.Reservoir`, bottom-k on random keys) for the
  statistics that need values (Kolmogorov-Smirnov, Wasserstein, PSI of numeric columns):
  merging the parts' samples gives exactly the sample one pass would keep.

A numeric column is counted only while it has few distinct values (it may be binary or
categorical: a 0/1 flag); past `NUMERIC_COUNT_LIMIT` its counts are dropped and the sample
decides. A text column is counted up to `TEXT_COUNT_LIMIT` distinct values (memory bound);
past that, the sample decides too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from benchharness.data.contract import Contract
from benchharness.data.drift import (
    add_counts,
    category_counts,
    column_drift,
    counts_drift,
    dataset_verdict,
    thresholds_with_defaults,
)
from benchharness.data.stream import Reservoir

NUMERIC_COUNT_LIMIT = 1_000
TEXT_COUNT_LIMIT = 1_000_000
NUMERIC_DTYPES = ("integer", "float", "datetime")


@dataclass
class ColumnCounts:
    """Category counts of one column over every row seen; `None` once past its limit."""

    limit: int
    counts: pd.Series | None = field(default_factory=lambda: pd.Series(dtype="int64"))

    def add(self, values: pd.Series) -> None:
        if self.counts is None:
            return
        counts = category_counts(values, self.limit)
        self.counts = None if counts is None else add_counts(self.counts, counts)
        if self.counts is not None and len(self.counts) > self.limit:
            self.counts = None

    def merge(self, other: ColumnCounts) -> ColumnCounts:
        if self.counts is None or other.counts is None:
            self.counts = None
        else:
            self.counts = add_counts(self.counts, other.counts)
            if len(self.counts) > self.limit:
                self.counts = None
        return self


@dataclass
class DriftProfile:
    """The sample and the counts of one stream (a file, a part, or parts merged)."""

    sample: Reservoir
    counts: dict[str, ColumnCounts]
    rows: int = 0

    @classmethod
    def empty(cls, contract: Contract, sample_rows: int, seed: int | list[int]) -> DriftProfile:
        counts = {name: ColumnCounts(NUMERIC_COUNT_LIMIT if col.dtype in NUMERIC_DTYPES else TEXT_COUNT_LIMIT)
                  for name, col in contract.columns.items()}
        return cls(Reservoir(sample_rows, seed=seed), counts)

    def add(self, typed: pd.DataFrame) -> None:
        """Add a chunk: the contract's columns parsed (NaN where null or unusable), every row."""
        self.rows += len(typed)
        for name, counter in self.counts.items():
            if name in typed.columns:
                counter.add(typed[name])
        self.sample.add(typed)

    def merge(self, other: DriftProfile) -> DriftProfile:
        self.rows += other.rows
        for name, counter in other.counts.items():
            self.counts[name].merge(counter)
        self.sample.merge(other.sample)
        return self


def profile_drift(reference: DriftProfile, current: DriftProfile, contract: Contract,
                  thresholds: dict | None = None) -> dict:
    """Every column's drift and the dataset verdict: full counts where a column has them on
    both sides and few enough distinct values to be binary or categorical, else the samples."""
    t = thresholds_with_defaults(thresholds)
    ref_sample, cur_sample = reference.sample.frame(), current.sample.frame()
    per_column, missing = {}, []
    for name, col in contract.columns.items():
        ref_counts = reference.counts[name].counts if name in reference.counts else None
        cur_counts = current.counts[name].counts if name in current.counts else None
        if name not in ref_sample.columns or name not in cur_sample.columns:
            missing.append(name)
        elif ref_counts is not None and cur_counts is not None and _counted_kind(ref_counts, col.dtype, t):
            per_column[name] = counts_drift(ref_counts, cur_counts, t, reference.rows, current.rows)
            per_column[name]["on"] = "all rows (category counts)"
        else:
            per_column[name] = column_drift(ref_sample[name], cur_sample[name], t)
            per_column[name]["on"] = "sample"
            hist = histogram(ref_sample[name], cur_sample[name])
            if hist:
                per_column[name]["histogram"] = hist
    return dataset_verdict(per_column, missing, t)


HISTOGRAM_BINS = 10


def histogram(reference: pd.Series, current: pd.Series, bins: int = HISTOGRAM_BINS) -> dict | None:
    """Both samples' shares in bins cut at the reference's quantiles (the PSI's bins), for the
    monitor report's distribution plot: {edges, reference, current}; None without numbers."""
    import numpy as np

    ref = pd.to_numeric(reference, errors="coerce").dropna().to_numpy(dtype=float)
    cur = pd.to_numeric(current, errors="coerce").dropna().to_numpy(dtype=float)
    if not len(ref) or not len(cur):
        return None
    inner = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    lo, hi = float(min(ref.min(), cur.min())), float(max(ref.max(), cur.max()))
    shares = [np.bincount(np.searchsorted(inner, x, side="right"), minlength=len(inner) + 1) / len(x)
              for x in (ref, cur)]
    return {"edges": [lo, *map(float, inner), hi], "reference": shares[0].tolist(),
            "current": shares[1].tolist()}


def _counted_kind(ref_counts: pd.Series, dtype: str, t: dict) -> bool:
    """True when the column is binary or categorical: any non-numeric column, or a numeric
    one with at most `numeric_min_unique` distinct values (as `drift.column_kind` decides
    on values)."""
    return dtype not in NUMERIC_DTYPES or len(ref_counts) <= max(2, t["numeric_min_unique"])
