"""State shared by the stages of one run.

A run is a list of stages (see `pipeline.py`). Each stage reads what earlier stages left on
the `RunContext` and adds its own section to `ctx.results` (the document saved as
results.json). Candidate stages get one `CandidateRun` at a time; a failure there is recorded
on that candidate and the run goes on with the others. What passes between stages without
being saved is a named field here, with the stage that writes it; there is no scratch dict.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from benchharness.suite import CandidateSettings, Suite

if TYPE_CHECKING:
    from benchharness.cost.hardware import Profile


@dataclass
class Dataset:
    """The splits a run works on. Features only in X_*; target in y_*.

    `meta_*` keep the columns the suite names for slicing or joining (time, id, subgroup
    columns), aligned row by row with X_*/y_*, whether or not they are also features.
    """

    X_train: pd.DataFrame
    y_train: pd.Series
    X_test: pd.DataFrame
    y_test: pd.Series
    X_val: pd.DataFrame | None = None
    y_val: pd.Series | None = None
    meta_train: pd.DataFrame | None = None
    meta_test: pd.DataFrame | None = None
    meta_val: pd.DataFrame | None = None
    target: str = "target"
    task: str = "auto"  # binary | multiclass | regression, once detected
    info: dict[str, Any] = field(default_factory=dict)  # source, fingerprint, split: goes to results["data"]

    @property
    def feature_names(self) -> list[str]:
        return list(self.X_train.columns)


@dataclass
class CandidateRun:
    """One candidate (or declared baseline) while the run works on it."""

    spec: CandidateSettings  # the candidate's entry from the suite (a variant's, for tune)
    result: dict[str, Any]  # its section of results["candidates"], filled stage by stage
    model_path: str | None = None  # the file (or URI) the child processes load
    model_format: str | None = None  # registry format name, when forced
    original_of: str | None = None  # for an ONNX export: the name of the model it came from
    trained_model: Any = None  # an estimator trained in this run (for parity / export)
    predictions: dict[str, Any] = field(default_factory=dict)
    # (p99 ms, source) the open loop's sustainable rate must keep, as the suite sets it
    # (decide.limits.open_loop_limits_stage); None: the measurement's default
    open_loop_limit: tuple[float, str] | None = None
    # measure/stages.py: each measurement's trials so far ("closed_loop", "batch", "open_loop":
    # raw outcomes, summarised into `result`), the resource sampler's phases by measurement,
    # and the open loop's sweep (its spec, outcome and the rates chosen for trials)
    trials: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    phases: dict[str, Any] = field(default_factory=dict)
    open_loop_sweep: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def ok(self) -> bool:
        return self.result.get("status") == "ok"

    def fail(self, message: str) -> None:
        """Mark the candidate failed with a one-line error (the first line of `message`)."""
        lines = [ln.strip() for ln in str(message).splitlines() if ln.strip()]
        self.result["status"] = "failed"
        self.result["error"] = lines[0] if lines else "failed (no message)"


@dataclass
class RunContext:
    suite: Suite  # the validated suite, typed by section (config.load_suite)
    suite_path: Path
    run_dir: Path
    results: dict[str, Any]
    quick: bool = False
    progress: Callable[[str], None] = print
    dataset: Dataset | None = None
    candidates: list[CandidateRun] = field(default_factory=list)
    work_dir: Path | None = None  # run_dir / "work": data and models shared with child processes
    profile: Profile | None = None  # the hardware profile the run is priced on (cost.stage.profile_stage)
    preload: list[str] | None = None  # what the fork server imports (measure.stages.preload_modules)
    phase_hooks: list[str] = field(default_factory=list)  # more "module:attr" hooks for every child
    servers: list[Any] = field(default_factory=list)  # `serve: true` candidates' servers (serve/suite.py)
    trial_loads: list[dict[str, Any]] = field(default_factory=list)  # machine load around each trial
    quality_settings: Any = None  # quality/stage.py: metrics, bootstrap and slices, built once
    # quality/stage.py: each scored test row's outcome, by candidate and by automatic baseline
    # (kept after tune drops a variant: its variants' quality guard still needs them)
    quality_rows: dict[str, Any] = field(default_factory=dict)
    baseline_rows: dict[str, Any] = field(default_factory=dict)
    # the run level's inputs (history/spread.py): {(candidate, figure): (cv, runs)} and this
    # machine's calibration, read once before the first timed trial
    run_level_spread: dict[Any, Any] = field(default_factory=dict)
    run_level_calibration: dict[str, Any] | None = None
    against: Path | None = None  # `--against`: the reference run's folder (against/reference.py)
    against_threshold: float = 0.05  # a change beyond this, over its whole interval, is a regression

    def candidate(self, name: str) -> CandidateRun | None:
        """The candidate (or baseline, or reference) called `name`, or None."""
        return next((c for c in self.candidates if c.name == name), None)

    def save(self) -> None:
        from benchharness.results import save_results

        save_results(self.results, self.run_dir)
