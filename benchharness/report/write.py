"""Write charts, report.html and report.md for a run dir, from its results.json alone.

Used by the run's last stages and by `bench report RUN_DIR`, which remakes the report
without measuring anything again.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from benchharness.errors import UserError
from benchharness.report.charts import write_charts
from benchharness.report.document import build
from benchharness.report.html import render_html
from benchharness.report.markdown import render_markdown


def load_run(run_dir: str | Path) -> dict:
    """results.json of a run dir; a UserError that names the path when it is not one."""
    path = Path(run_dir) / "results.json"
    if not path.is_file():
        raise UserError(f"not a run directory (no results.json): {run_dir}")
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from None


def _write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, 0o644)  # mkstemp makes it private; a report is meant to be shared
    os.replace(tmp, path)


def write_report(run_dir: str | Path, results: dict | None = None, charts: dict | None = None) -> dict:
    """Draw the charts (unless given) and write both report files; return what was written."""
    run_dir = Path(run_dir)
    results = results if results is not None else load_run(run_dir)
    if charts is None:
        charts = write_charts(results, run_dir)
    blocks = build(results, charts)
    _write_text(run_dir / "report.html", render_html(blocks, run_dir))
    _write_text(run_dir / "report.md", render_markdown(blocks))
    return {"html": "report.html", "markdown": "report.md", "charts": charts}


# -- run stages (api.AFTER) ----------------------------------------------------------------------
def charts_stage(ctx) -> None:
    ctx.results["charts"] = write_charts(ctx.results, ctx.run_dir)


def report_stage(ctx) -> None:
    written = write_report(ctx.run_dir, ctx.results, ctx.results.get("charts"))
    ctx.results["report"] = {"html": written["html"], "markdown": written["markdown"]}
    ctx.progress(f"report: {ctx.run_dir / written['html']}")
