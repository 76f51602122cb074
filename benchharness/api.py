"""run_suite(): the whole run as a list of stages, usable from Python.

    suite ─► data ─► candidates ─► per candidate: predict, quality, performance ─► run-level
    stages (comparisons, cost, limits, report)

Each stage is a plain function. Run stages take the context; candidate stages take the
context and one candidate. Results are saved (atomically) after every stage, so an
interrupted run keeps everything already measured. To add a capability, write a stage in
its own module and add it to one of the lists below.
"""

from __future__ import annotations

import datetime as _dt
import traceback
import uuid
from pathlib import Path

from benchharness import config
from benchharness.against.changes import against_stage
from benchharness.against.keep import keep_model_stage
from benchharness.against.reference import find_reference, reference_candidates_stage
from benchharness.context import CandidateRun, RunContext
from benchharness.cost.stage import cost_stage, profile_stage
from benchharness.data.analysis import data_analysis_stage, data_contract_stage
from benchharness.data.stage import load_data_stage
from benchharness.decide import paired
from benchharness.decide.limits import open_loop_limits_stage
from benchharness.decide.sequential import extend_trials_stage
from benchharness.decide.verdict import verdict_stage
from benchharness.environment import environment_section
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
from benchharness.results import SCHEMA_VERSION, make_run_dir
from benchharness.run_folder import INTERNAL_ERROR_FILE, WORK_DIR, atomic_write
from benchharness.serve.suite import start_servers_stage, stop_servers_stage
from benchharness.train.training import resolve_candidates_stage
from benchharness.tune.answer import tune_answer_stage, tune_guard_stage
from benchharness.tune.build import tune_candidates_stage
from benchharness.tune.halving import tune_halving_stage
from benchharness.tune.replicas import tune_replicas_stage

#: run stages before the candidates are measured
BEFORE = [tracking_check_stage, profile_stage, load_data_stage, data_analysis_stage, data_contract_stage,
          baselines_stage, resolve_candidates_stage, tune_candidates_stage, reference_candidates_stage,
          memory_limit_stage, open_loop_limits_stage, start_servers_stage]
#: per-candidate stages, in order; a candidate that fails skips the rest
PER_CANDIDATE = [predict_stage, keep_model_stage, quality_stage]


def resources_all_stage(ctx: RunContext) -> None:
    """Each candidate's `resources`, once its trials have run."""
    for cand in ctx.candidates:
        if cand.ok:
            resources_stage(ctx, cand)


#: run stages after the per-candidate ones: a tuned candidate's variants screened when the full
#: grid would not fit its budget, the timed trials of all candidates interleaved
#: (closed loop, batch, open loop), then comparisons, cost, more trials where a limit is
#: still inconclusive (re-priced), the replicas of tuned variants measured side by side
#: (re-priced), the verdict, the answer of each tuned candidate, the history
#: index, the report, and MLflow tracking when asked
AFTER: list = [run_level_inputs_stage, tune_halving_stage, trials_stage, resources_all_stage, compare_stage,
               parity_stage, cost_stage, extend_trials_stage, tune_replicas_stage, stop_servers_stage,
               tune_guard_stage, verdict_stage, against_stage, tune_answer_stage, history_stage, charts_stage,
               report_stage, tracking_stage]


def new_run_id(name: str) -> str:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{name}-{uuid.uuid4().hex[:6]}"


def run_suite(
    suite_path: str | Path | None = None,
    out_dir: str | Path = "results",
    quick: bool = False,
    progress=print,
    overrides: dict | None = None,
    against: str | Path | None = None,
    against_threshold: float = paired.AGAINST_THRESHOLD,
) -> RunContext:
    """Run a suite end to end and return the context (results in `ctx.results`).

    Raises UserError for a broken suite or unusable data (nothing to measure); a failing
    candidate is recorded on the candidate and the run goes on.
    """
    suite_path = Path(suite_path) if suite_path else config.default_suite_path()
    suite = config.load_suite(suite_path, quick=quick, overrides=overrides)
    config.preflight(suite)  # every class, import and model path, before anything is measured
    reference = find_reference(str(against), out_dir, suite["name"]) if against else None
    run_id = new_run_id(suite["name"])
    run_dir = make_run_dir(out_dir, run_id)
    work_dir = run_dir / WORK_DIR
    results = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "suite": {"name": suite["name"], "path": str(suite_path.resolve()), "quick": quick},
        "started_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "finished_at": None,
        "environment": environment_section(suite),
        "data": {},
        "candidates": [],
        # the integration mode decides what usd_per_million means, for every stage that judges
        # before the verdict too (the sequential rule); the verdict stage writes it again
        "plan": suite.get("plan") or {},
    }
    ctx = RunContext(
        suite=suite, suite_path=suite_path, run_dir=run_dir, results=results,
        quick=quick, progress=progress, work_dir=work_dir, against=reference,
        against_threshold=against_threshold,
    )
    ctx.save()
    measured: set[str] = set()
    try:
        for stage in BEFORE:
            stage(ctx)
            ctx.save()
        for cand in ctx.candidates:
            if cand.ok:
                progress(f"[{cand.name}] measuring")
            run_candidate(ctx, cand)
            measured.add(cand.name)
        for stage in AFTER:
            _guarded(ctx, stage)
            ctx.save()
    except UserError:
        raise
    except (KeyboardInterrupt, Terminated) as exc:  # Ctrl-C / SIGTERM: keep what was measured
        results["interrupted"] = type(exc).__name__
        for cand in ctx.candidates:
            if cand.ok and cand.name not in measured:
                cand.result.update(status="interrupted", error="not measured: the run was interrupted")
        ctx.save()
        exc.run_dir = str(run_dir)
        raise
    except Exception as exc:  # a bug of ours: the details go beside the results
        exc.details_path = str(_save_traceback(run_dir))
        ctx.save()
        raise
    results["finished_at"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    ctx.save()
    return ctx


def _save_traceback(run_dir: Path) -> Path:
    path = Path(run_dir) / INTERNAL_ERROR_FILE
    atomic_write(path, traceback.format_exc())
    return path


def run_candidate(ctx: RunContext, cand: CandidateRun) -> None:
    for stage in PER_CANDIDATE:
        if not cand.ok:
            break
        try:
            stage(ctx, cand)
        except (KeyboardInterrupt, Terminated):  # cut off mid-measurement: not `ok`
            cand.result["status"] = "interrupted"
            cand.result["error"] = f"interrupted during {stage.__name__.removesuffix('_stage')}"
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


def _guarded(ctx: RunContext, stage) -> None:
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
