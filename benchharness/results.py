"""results.json: schema version, atomic save, load.

Results are written after every stage through `run_folder.atomic_write` (a temporary file and
`os.replace`), so a crash or Ctrl-C never leaves a half-written document and never loses what
was measured. The folder's file names live in `run_folder.py`.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from benchharness import schema
from benchharness.errors import UserError
from benchharness.run_folder import (
    CSV_FILE,
    WORK_DIR,
    atomic_write,
    ensure_out_dir,
    plain,
    results_path,
    write_json,
)

SCHEMA_VERSION = 2  # 2: measured sections carry trials, intervals across trials, stability


#: the figures results.csv carries, one column each, named as limits and `bench compare` name them
CSV_FIGURES = ("p50_ms", "p99_ms", "qps", "open_p99_ms", "sustainable_rps", "rows_per_s",
               "cpu_ms_per_prediction", "footprint_mb", "rss_peak_mb", "usd_per_million",
               "realtime_usd_per_million", "monthly_usd")


def csv_rows(results: dict) -> list[dict]:
    """One flat row per candidate: its identity, its primary quality metric, and the figures
    of CSV_FIGURES read through the figure table (decide/figures.py), under the same names."""
    from benchharness.decide import figures

    rows = []
    for c in schema.candidates(results):
        q = schema.quality(c)
        primary = q.get("primary_metric")
        row = {
            "name": c.get("name"), "role": c.get("role"), "status": c.get("status"),
            "error": c.get("error"), "format": schema.model(c).get("format"),
            "primary_metric": primary,
            "test_score": (q.get("test") or {}).get(primary),
            "train_score": (q.get("train") or {}).get(primary),
        }
        row.update({name: figures.resolve(name, c, results) for name in CSV_FIGURES})
        rows.append(plain(row))
    return rows


def make_run_dir(out_dir: str | Path, run_id: str) -> Path:
    """Create `out_dir/run_id/work`; an --out that cannot hold it is a user error, not a traceback."""
    run_dir = ensure_out_dir(out_dir) / run_id
    try:
        (run_dir / WORK_DIR).mkdir(parents=True, exist_ok=False)
        probe = run_dir / ".write-test"  # root can mkdir where a mount is read-only: try a file too
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"cannot write results under --out {str(out_dir)!r}: {exc.strerror or exc} "
                        f"({exc.filename or run_dir}); give a writable folder") from None
    return run_dir


def save_results(results: dict, run_dir: Path) -> Path:
    run_dir = Path(run_dir)
    path = write_json(results_path(run_dir), results)
    rows = csv_rows(results)
    if rows:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        atomic_write(run_dir / CSV_FILE, buf.getvalue())
    return path


def load_results(run_dir: str | Path) -> dict:
    """Load results.json from a run directory (or the file itself)."""
    from benchharness.errors import UserError

    path = results_path(run_dir)
    if not path.exists():
        raise UserError(f"no results found: {path} does not exist")
    try:
        results = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(results, dict):
        raise UserError(f"{path}: not a bench results file (a JSON {type(results).__name__}, "
                        "expected an object with schema_version)")
    version = results.get("schema_version")
    if version not in READABLE_VERSIONS:
        raise UserError(f"{path}: schema_version {version!r} is not supported; "
                        f"readable: {', '.join(map(str, READABLE_VERSIONS))}")
    return upgrade(results)


# -- older schemas, upgraded step by step on load ----------------------------------------------
def _upgrade_to_2(results: dict) -> dict:
    """1 -> 2: version 1 measured each figure in one window, and its `intervals` were binomial
    intervals over that one process's samples, far narrower than run-to-run variation. They
    move to `intervals_within_run`, so no limit, ranking or comparison takes them for
    intervals across trials: those figures are judged on their point value and compare as
    untested (no trials)."""
    def move(section):
        if isinstance(section, dict) and "intervals" in section:
            section["intervals_within_run"] = section.pop("intervals")

    for cand in results.get("candidates") or []:
        if not isinstance(cand, dict):
            continue
        realtime = cand.get("realtime") or {}
        move(realtime.get("closed_loop"))
        for rate in (realtime.get("open_loop") or {}).get("rates") or []:
            move(rate)
        for entry in cand.get("batch") or []:
            move(entry)
    results["schema_version"] = 2
    results.setdefault("upgraded_from", 1)
    return results


#: schema_version N -> the step that turns an N document into N + 1
UPGRADES = {1: _upgrade_to_2}
READABLE_VERSIONS = (*UPGRADES, SCHEMA_VERSION)


def upgrade(results: dict) -> dict:
    """Bring a results document of any readable version to SCHEMA_VERSION, one step at a time."""
    while results.get("schema_version") in UPGRADES:
        results = UPGRADES[results["schema_version"]](results)
    return results
