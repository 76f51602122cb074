"""The run as one pipeline: every stage in order, what each reads and writes, and the loops.

    suite ─► BEFORE (checks, data, baselines, candidates) ─► PER_CANDIDATE (predict, keep,
    quality) ─► AFTER (interleaved trials ─► derive ─► settle loop ─► replicas ─► derive ─►
    verdict ─► against ─► history, charts, report, tracking)

A stage is a plain function of the run context (`RunContext`) or, per candidate, of the
context and one `CandidateRun`. Its `Stage` row says what it reads (suite sections, context
fields, results sections) and what it writes; `tests/test_pipeline.py` checks the written
results sections against a real run and every named context field against `RunContext`.

The loops live here, not in the stages: `settle_stage` is the decision's loop (the
sequential rule asks for more trials where a limit, the ranking's winner or a change against
the reference run is unsettled; each step is measured, then derived again); `derive` is the
one place that recomputes what measured figures feed (resources, cost). Results are saved
after every stage, so an interrupted run keeps everything already measured.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchharness.against.changes import against_stage
from benchharness.against.keep import keep_model_stage
from benchharness.against.reference import reference_candidates_stage
from benchharness.context import CandidateRun, RunContext
from benchharness.cost.stage import cost_stage, profile_stage
from benchharness.data.analysis import data_analysis_stage, data_contract_stage
from benchharness.data.stage import load_data_stage
from benchharness.decide import sequential
from benchharness.decide.limits import open_loop_limits_stage
from benchharness.decide.verdict import verdict_stage
from benchharness.errors import Terminated, UserError
from benchharness.history.mlflow_log import tracking_check_stage, tracking_stage
from benchharness.history.spread import run_level_inputs_stage
from benchharness.history.stage import history_stage
from benchharness.isolation.memory_check import memory_limit_stage
from benchharness.measure.resource_stage import resources_stage
from benchharness.measure.stages import predict_stage
from benchharness.measure.trials import trials_stage
from benchharness.quality.stage import baselines_stage, compare_stage, parity_stage, quality_stage
from benchharness.report.write import charts_stage, report_stage
from benchharness.serve.suite import start_servers_stage, stop_servers_stage
from benchharness.train.training import resolve_candidates_stage
from benchharness.tune.answer import tune_answer_stage, tune_guard_stage
from benchharness.tune.build import tune_candidates_stage
from benchharness.tune.halving import tune_halving_stage
from benchharness.tune.replicas import tune_replicas_stage


@dataclass(frozen=True)
class Stage:
    """One step of the run. `reads`/`writes` name `suite.SECTION`, `ctx.FIELD`,
    `results.SECTION` or `candidate.SECTION` (a candidate's section of results)."""

    run: Callable[..., None]  # (ctx) for a run stage, (ctx, candidate) for a candidate stage
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.run.__name__


def derive(ctx: RunContext, names: set[str] | None = None) -> None:
    """Recompute what the measured figures feed: the resources of the candidates named (all
    when None) and every candidate's cost. The one caller of the cost stage."""
    for cand in ctx.candidates:
        if cand.ok and (names is None or cand.name in names):
            resources_stage(ctx, cand)
    cost_stage(ctx)


def derive_stage(ctx: RunContext) -> None:
    """Resources and cost of every candidate from the trials so far."""
    derive(ctx)


def settle_stage(ctx: RunContext) -> None:
    """The decision's loop: while the sequential rule finds an unsettled question (a limit,
    the ranking's winner, a change against the reference run) and trials remain, add a step of
    trials, derive again, ask again (decide/sequential.py says what and why)."""
    added: list[dict[str, Any]] = []
    while jobs := sequential.next_step(ctx):
        added += sequential.run_step(ctx, jobs, len(added))
        derive(ctx, {name for name, _, _ in jobs})
        ctx.save()
    sequential.finish(ctx, added)


#: run stages before the candidates are measured
BEFORE = [
    Stage(tracking_check_stage, ("suite.tracking",)),
    Stage(profile_stage, ("suite.profile", "suite.traffic"), ("ctx.profile", "results.profile", "results.traffic")),
    Stage(load_data_stage, ("suite.data",), ("ctx.dataset", "results.data")),
    Stage(data_analysis_stage, ("ctx.dataset", "suite.drift", "suite.quality"), ("results.data",)),
    Stage(data_contract_stage, ("ctx.dataset", "suite.contract"), ("results.data",)),
    Stage(baselines_stage, ("ctx.dataset", "suite.quality", "suite.data"),
          ("ctx.quality_settings", "ctx.baseline_rows", "results.quality", "results.baselines")),
    Stage(resolve_candidates_stage, ("suite.candidates", "ctx.dataset"), ("ctx.candidates", "results.candidates")),
    Stage(tune_candidates_stage, ("ctx.candidates", "suite.candidates"),
          ("ctx.candidates", "suite.candidates", "results.candidates", "results.tune")),
    Stage(reference_candidates_stage, ("ctx.against",), ("ctx.candidates", "results.against")),
    Stage(memory_limit_stage, ("suite.isolation", "suite.threads"), ("ctx.preload",)),
    Stage(open_loop_limits_stage, ("suite.limits", "suite.realtime"), ("ctx.candidates",)),
    Stage(start_servers_stage, ("ctx.candidates",), ("ctx.servers", "ctx.phase_hooks", "candidate.served")),
]

#: per-candidate stages, in order; a candidate that fails skips the rest
PER_CANDIDATE = [
    Stage(predict_stage, ("suite.realtime", "suite.threads", "suite.isolation", "ctx.dataset"),
          ("candidate.model", "candidate.signature", "candidate.load_s")),
    Stage(keep_model_stage, ("ctx.candidates",), ("candidate.model",)),
    Stage(quality_stage, ("ctx.quality_settings", "ctx.dataset"), ("ctx.quality_rows", "candidate.quality")),
]

#: run stages after the per-candidate ones: a tuned candidate's variants screened when the full
#: grid would not fit its budget; the timed trials of all candidates interleaved (closed loop,
#: batch, open loop); comparisons; resources and cost; the settle loop; the replicas of tuned
#: variants measured side by side and priced again; the verdict, the comparison against the
#: reference run, the answer of each tuned candidate, the history index, the report, MLflow
AFTER = [
    Stage(run_level_inputs_stage, ("results.environment",), ("ctx.run_level_spread", "ctx.run_level_calibration")),
    Stage(tune_halving_stage, ("results.tune", "suite.realtime", "suite.batch", "suite.limits"),
          ("ctx.candidates", "suite.candidates", "results.tune")),
    Stage(trials_stage, ("suite.realtime", "suite.batch", "ctx.run_level_spread"),
          ("candidate.realtime", "candidate.batch", "results.trials", "results.machine_load")),
    Stage(compare_stage, ("ctx.quality_rows", "ctx.baseline_rows"), ("candidate.quality", "results.quality")),
    Stage(parity_stage, ("ctx.candidates",), ("candidate.parity",)),
    Stage(derive_stage, ("candidate.realtime", "candidate.batch", "ctx.profile", "suite.traffic"),
          ("candidate.resources", "candidate.cost")),
    Stage(settle_stage, ("suite.limits", "suite.objective", "results.against"),
          ("candidate.realtime", "candidate.batch", "candidate.resources", "candidate.cost", "results.trials")),
    Stage(tune_replicas_stage, ("results.tune", "candidate.cost"), ("candidate.replicas",)),
    Stage(derive_stage, ("candidate.replicas",), ("candidate.resources", "candidate.cost")),
    Stage(stop_servers_stage, ("ctx.servers",)),
    Stage(tune_guard_stage, ("ctx.quality_rows",), ("candidate.parity",)),
    Stage(verdict_stage, ("suite.limits", "suite.objective", "suite.plan"),
          ("candidate.limits", "results.plan", "results.verdict")),
    Stage(against_stage, ("results.against", "results.verdict"), ("results.against", "results.verdict")),
    Stage(tune_answer_stage, ("results.tune", "results.verdict"), ("results.tune",)),
    Stage(history_stage, ("results.verdict",), ("results.history",)),
    Stage(charts_stage, ("results.verdict",), ("results.charts",)),
    Stage(report_stage, ("results.verdict",), ("results.report",)),
    Stage(tracking_stage, ("suite.tracking",), ("results.tracking",)),
]


def run(ctx: RunContext) -> None:
    """Every stage, in order, on a context `api.run_suite` made. UserError stops the run
    (nothing usable to measure); Ctrl-C or SIGTERM marks what was not measured and re-raises;
    a bug of ours is re-raised after the results are saved."""
    measured: set[str] = set()
    try:
        for stage in BEFORE:
            stage.run(ctx)
            ctx.save()
        for cand in ctx.candidates:
            if cand.ok:
                ctx.progress(f"[{cand.name}] measuring")
            run_candidate(ctx, cand)
            measured.add(cand.name)
        for stage in AFTER:
            _guarded(ctx, stage.run)
            ctx.save()
    except (KeyboardInterrupt, Terminated):  # keep what was measured
        for cand in ctx.candidates:
            if cand.ok and cand.name not in measured:
                cand.result.update(status="interrupted", error="not measured: the run was interrupted")
        raise


def run_candidate(ctx: RunContext, cand: CandidateRun) -> None:
    for stage in PER_CANDIDATE:
        if not cand.ok:
            break
        try:
            stage.run(ctx, cand)
        except (KeyboardInterrupt, Terminated):  # cut off mid-measurement: not `ok`
            cand.result["status"] = "interrupted"
            cand.result["error"] = f"interrupted during {stage.name.removesuffix('_stage')}"
            ctx.save()
            raise
        except UserError as exc:
            cand.fail(str(exc))
        except Exception as exc:  # a bug or a model's own exception: record, go on
            cand.fail(f"{type(exc).__name__}: {exc}")
            cand.result["traceback"] = traceback.format_exc(limit=8)
        if not cand.ok:
            ctx.progress(f"[{cand.name}] FAILED: {cand.result['error']}")
        ctx.save()


def _guarded(ctx: RunContext, stage: Callable[[RunContext], None]) -> None:
    """Run-level stages after measurement must not lose what was measured."""
    try:
        stage(ctx)
    except UserError:
        raise
    except Exception as exc:
        ctx.results.setdefault("stage_errors", []).append(
            {"stage": stage.__name__, "error": f"{type(exc).__name__}: {exc}"}
        )
        ctx.progress(f"stage {stage.__name__} failed: {type(exc).__name__}: {exc}")
