"""The suite's measurement sections, typed: realtime (and its open loop), batch, threads,
isolation.

`config.py` validates the YAML and fills every default; these classes only say what each
key is, so stages read `suite.realtime.trials` instead of `suite["realtime"]["trials"]`.
A child process gets a section as a plain dict (`as_dict`): specs cross a process boundary.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class OpenLoopSettings:
    enabled: bool
    rates_per_s: list[float] | None  # default: fractions of the closed loop's qps
    fractions: list[float]
    refine_steps: int  # bisections between the last rate passed and the first failed
    arrival: str  # poisson | constant
    workers: int  # concurrent requests in service
    duration_s: float  # per rate, per trial
    trials: int
    min_count: int  # requests per rate, whatever the duration
    p99_limit_ms: float | None
    late_threshold_ms: float
    seed: int
    timeout_s: float | None


@dataclass(frozen=True)
class RealtimeSettings:
    duration_s: float  # the closed loop's budget when budget_s is unset
    trials: int
    budget_s: float | None
    max_trials: int
    trial_seed: int  # order of the interleaved trials, bootstrap seeds
    unstable_cv: float
    run_cv: float
    min_duration_s: float
    min_count: int
    stop_percentile: float
    ci_confidence: float
    ci_rel_width: float
    warmup_count: int
    warmup_s: float
    rows_per_request: int
    timeout_s: float | None
    synthetic_rows: int  # perf-only candidates: generated rows
    synthetic_seed: int
    open_loop: OpenLoopSettings


@dataclass(frozen=True)
class BatchSettings:
    batch_sizes: list[int]
    duration_s: float  # one batch size's budget when budget_s is unset
    trials: int
    budget_s: float | None
    max_trials: int
    unstable_cv: float
    run_cv: float
    min_duration_s: float
    min_count: int
    stop_percentile: float
    ci_confidence: float
    ci_rel_width: float
    warmup_count: int
    warmup_s: float
    full_split: bool  # also time the whole test split in one call
    timeout_s: float | None


@dataclass(frozen=True)
class ThreadsSettings:
    intra_op: int
    inter_op: int
    blas: int
    affinity: list[int] | None  # CPUs the child may run on; None: all


@dataclass(frozen=True)
class IsolationSettings:
    start_method: str  # forkserver | spawn
    preload: list[str]  # extra modules the fork server imports
    memory_limit_mb: float | None  # address-space cap of every measurement child


def as_dict(section: Any) -> dict[str, Any]:
    """A section as the plain dict a child process reads (nested sections too)."""
    return dataclasses.asdict(section)
