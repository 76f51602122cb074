"""Write charts, report.html and report.md for a run dir, from its results.json alone.

Used by the run's last stages and by `bench report RUN_DIR`, which remakes the report
without measuring anything again.
"""

from __future__ import annotations

from pathlib import Path

from benchharness.errors import UserError
from benchharness.report.charts import write_charts
from benchharness.report.document import build
from benchharness.report.html import render_html
from benchharness.report.markdown import render_markdown
from benchharness.results import load_results
from benchharness.run_folder import RESULTS_FILE, atomic_write, has_results


def load_run(run_dir: str | Path) -> dict:
    """results.json of a run dir, through the one loader (schema version checked, older files
    upgraded); a UserError that names the path when it is not one."""
    if not has_results(run_dir):
        raise UserError(f"not a run directory (no {RESULTS_FILE}): {run_dir}")
    return load_results(run_dir)


def write_report(run_dir: str | Path, results: dict | None = None, charts: dict | None = None) -> dict:
    """Draw the charts (unless given) and write both report files; return what was written."""
    run_dir = Path(run_dir)
    results = results if results is not None else load_run(run_dir)
    if charts is None:
        charts = write_charts(results, run_dir)
    blocks = build(results, charts)
    atomic_write(run_dir / "report.html", render_html(blocks, run_dir))
    atomic_write(run_dir / "report.md", render_markdown(blocks))
    return {"html": "report.html", "markdown": "report.md", "charts": charts}


# -- run stages (pipeline.AFTER) -------------------------------------------------------------------
def charts_stage(ctx) -> None:
    ctx.results["charts"] = write_charts(ctx.results, ctx.run_dir)


def report_stage(ctx) -> None:
    written = write_report(ctx.run_dir, ctx.results, ctx.results.get("charts"))
    ctx.results["report"] = {"html": written["html"], "markdown": written["markdown"]}
    ctx.progress(f"report: {ctx.run_dir / written['html']}")
