"""The history index: one Parquet row per run x candidate x figure, kept with the runs.

Layout: `RESULTS_DIR/<run_id>/history.parquet`, one part per run inside its own folder, so
the results folder holds run folders only and the parts together are one Parquet dataset.
A part is written to a temporary name and renamed into place (atomic on one filesystem): two
runs that finish at once write different files, so neither can corrupt the other, and a
reader sees a run's rows whole or not at all. The run's results.json stays the source of
truth: `rebuild()` rewrites every part from it; deleting a run folder deletes its rows.

Query it with pandas (`read_index`) or DuckDB:
    SELECT * FROM read_parquet('results/*/history.parquet') WHERE figure = 'p99_ms'
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from benchharness import run_folder, schema
from benchharness.decide import figures as names
from benchharness.errors import UserError
from benchharness.history.identity import identity
from benchharness.results import load_results
from benchharness.run_folder import INDEX_FILE, atomic_write

#: the index's columns, in order, with their Arrow types (one schema for every part)
SCHEMA = pa.schema([
    ("run_id", pa.string()), ("started_at", pa.string()), ("suite", pa.string()),
    ("suite_sha256", pa.string()), ("quick", pa.bool_()), ("git_commit", pa.string()),
    ("data_sha256", pa.string()), ("split_sha256", pa.string()),
    ("harness_version", pa.string()), ("software", pa.string()),
    ("machine", pa.string()), ("machine_label", pa.string()), ("profile", pa.string()),
    ("candidate", pa.string()), ("role", pa.string()), ("status", pa.string()),
    ("model_format", pa.string()), ("model_sha256", pa.string()),
    ("figure", pa.string()), ("value", pa.float64()), ("lo", pa.float64()), ("hi", pa.float64()),
    ("unit", pa.string()), ("better", pa.string()),
])
COLUMNS = SCHEMA.names


def index_parts(results_dir: str | Path) -> list[Path]:
    return sorted(Path(results_dir).glob(f"*/{INDEX_FILE}"))


def figure_names(cand: dict, results: dict) -> list[str]:
    """Every figure of the one figure table, plus each test quality metric the candidate has."""
    quality = [m for m in (schema.quality(cand).get("test") or {}) if names.is_quality_name(m)]
    return quality + [m for m in names.MEASURES if m != "primary"]


def figure_interval(name: str, cand: dict, results: dict) -> tuple[float, float] | None:
    """The 95% interval of a figure (across trials; a quality metric's bootstrap interval),
    or None when it has none or an open end, through the one figure table."""
    iv = names.interval(cand, name, results)
    if iv is None or iv[0] is None or iv[1] is None:
        return None
    return iv


def run_rows(results: dict) -> list[dict]:
    """The index rows of one run (failed candidates keep a row without figures: status)."""
    ident = identity(results)
    named = schema.run_suite(results)
    base = {
        "run_id": results.get("run_id"), "started_at": results.get("started_at"),
        "suite": named.get("name"), "quick": bool(named.get("quick")),
        **{k: ident.get(k) for k in ("suite_sha256", "git_commit", "data_sha256", "split_sha256",
                                     "harness_version", "software", "machine", "machine_label",
                                     "profile")},
    }
    rows = []
    for cand in schema.candidates(results):
        model = schema.model(cand)
        who = {**base, "candidate": cand.get("name"), "role": cand.get("role"),
               "status": cand.get("status"), "model_format": model.get("format"),
               "model_sha256": model.get("sha256")}
        found = False
        for name in figure_names(cand, results) if cand.get("status") == "ok" else []:
            value = names.resolve(name, cand, results)
            if value is None:
                continue
            found = True
            lo_hi = figure_interval(name, cand, results) or (None, None)
            rows.append({**who, "figure": name, "value": value, "lo": lo_hi[0], "hi": lo_hi[1],
                         "unit": names.unit(name), "better": names.better(name)})
        if not found:
            rows.append({**who, "figure": None, "value": None, "lo": None, "hi": None,
                         "unit": None, "better": None})
    return rows


def _as_str(v):
    return None if v is None else str(v)


def write_run(results_dir: str | Path, results: dict) -> Path:
    """Write (or replace) the index part of one run in its folder, atomically."""
    folder = Path(results_dir) / results["run_id"]
    if not folder.is_dir():
        raise UserError(f"no run folder {folder} for the history index")
    rows = run_rows(results)
    columns = {}
    for field in SCHEMA:
        values = [r.get(field.name) for r in rows]
        if pa.types.is_string(field.type):
            values = [_as_str(v) for v in values]
        columns[field.name] = pa.array(values, type=field.type)
    table = pa.table(columns, schema=SCHEMA)
    path = folder / INDEX_FILE
    return atomic_write(path, lambda fh: pq.write_table(table, fh))


def read_index(results_dir: str | Path) -> pd.DataFrame:
    """Every indexed row, oldest run first (an empty frame with the columns when none)."""
    parts = index_parts(results_dir)
    if not parts:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in COLUMNS})
    tables = []
    for part in parts:
        try:
            tables.append(pq.read_table(part, schema=SCHEMA))
        except (OSError, pa.ArrowInvalid) as exc:
            raise UserError(f"history index part {part} cannot be read ({exc}); "
                            "run `bench history --rebuild` to rewrite it from the run folders") from None
    frame = pa.concat_tables(tables).to_pandas()
    return frame.sort_values(["started_at", "run_id"], kind="stable").reset_index(drop=True)


def run_folders(results_dir: str | Path) -> list[Path]:
    root = Path(results_dir)
    return run_folder.run_folders(root)


def _readable_run(folder: Path) -> tuple[dict | None, str | None]:
    """(results, None) for a run folder the index can hold, else (None, why not)."""
    try:
        results = load_results(folder)
    except UserError as exc:
        return None, str(exc)
    run_id = results.setdefault("run_id", folder.name)
    if run_id != folder.name:  # a copied or renamed folder: its rows belong to the other one
        return None, (f"its results.json is run {run_id!r} (a copy or a renamed folder of that run); "
                      f"the index holds each run once, under the folder named as its run_id")
    return results, None


def unindexable(results_dir: str | Path, names) -> dict[str, str]:
    """For the run folders `names` under `results_dir`: why each cannot be indexed (absent:
    it can, `--rebuild` adds it)."""
    out = {}
    for name in names:
        _, why = _readable_run(Path(results_dir) / name)
        if why:
            out[name] = why
    return out


def rebuild(results_dir: str | Path, progress=None) -> dict:
    """Rewrite the index from the run folders; returns counts of runs indexed and skipped."""
    root = Path(results_dir)
    if not root.is_dir():
        raise UserError(f"results folder not found: {root}")
    indexed, skipped = set(), []
    for folder in run_folders(root):
        results, why = _readable_run(folder)
        if why:
            skipped.append(f"{folder.name}: {why}")
            continue
        write_run(root, results)
        indexed.add(results["run_id"])
    for part in index_parts(root):
        if part.parent.name not in indexed:  # a folder without a readable results.json
            part.unlink()
    if progress:
        for line in skipped:
            progress(f"skipped {line}")
    return {"runs": len(indexed), "skipped": skipped}
