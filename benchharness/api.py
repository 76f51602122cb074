"""run_suite(): a whole run from Python: the suite loaded, the run folder and its context
made, the pipeline run (`pipeline.py`: every stage, what each reads and writes, the loops).

To add a capability, write a stage in its own module and add its row to a list in
`pipeline.py`.
"""

from __future__ import annotations

import datetime as _dt
import traceback
import uuid
from pathlib import Path

from benchharness import config, pipeline
from benchharness.against.reference import find_reference
from benchharness.context import RunContext
from benchharness.decide import paired
from benchharness.environment import environment_section
from benchharness.errors import Terminated, UserError
from benchharness.results import SCHEMA_VERSION, make_run_dir
from benchharness.run_folder import INTERNAL_ERROR_FILE, WORK_DIR, atomic_write


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
    reference = find_reference(str(against), out_dir, suite.name) if against else None
    run_id = new_run_id(suite.name)
    run_dir = make_run_dir(out_dir, run_id)
    work_dir = run_dir / WORK_DIR
    results = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "suite": {"name": suite.name, "path": str(suite_path.resolve()), "quick": quick},
        "started_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "finished_at": None,
        "environment": environment_section(),
        "data": {},
        "candidates": [],
        # the integration mode decides what usd_per_million means, for every stage that judges
        # before the verdict too (the sequential rule); the verdict stage writes it again
        "plan": suite.plan,
    }
    ctx = RunContext(
        suite=suite, suite_path=suite_path, run_dir=run_dir, results=results,
        quick=quick, progress=progress, work_dir=work_dir, against=reference,
        against_threshold=against_threshold,
    )
    ctx.save()
    try:
        pipeline.run(ctx)
    except UserError:
        raise
    except (KeyboardInterrupt, Terminated) as exc:  # Ctrl-C / SIGTERM: keep what was measured
        results["interrupted"] = type(exc).__name__
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
