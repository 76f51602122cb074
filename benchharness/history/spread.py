"""What the run level of this run's intervals is taken from, read once before measuring.

`run_level_inputs_stage` fills `ctx.run_level_spread` (each candidate's and figure's spread
over comparable earlier runs in the results folder's history index: same suite file and data,
same machine, same --quick, same model file or trained by the suite, at least `MIN_RUNS`) and
`ctx.run_level_calibration` (this machine's `bench calibrate` result). `measure/run_level.py`
widens the intervals with them and reads nothing else: measure/ does not read the history.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from benchharness import machine_calibration, schema
from benchharness.context import RunContext
from benchharness.errors import UserError
from benchharness.history.identity import machine_fingerprint

MIN_RUNS = 3
MAX_CV = 0.5  # a spread this large between runs is not a steady machine: capped, said by the figure


def history_spread(ctx) -> dict[tuple[str, str], tuple[float, int]]:
    """{(candidate, figure): (std / mean across comparable earlier runs, runs)} from the
    results folder's history index; empty when there is none or it cannot be read."""
    from benchharness.history import store
    from benchharness.history.identity import compute_identity

    try:
        frame = store.read_index(Path(ctx.run_dir).parent)
    except UserError:
        return {}
    if frame.empty:
        return {}
    ident = compute_identity(ctx.results, ctx.suite_path)
    if not ident.get("suite_sha256") or not ident.get("machine"):
        return {}
    quick = bool(schema.run_section(ctx.results, "suite").get("quick"))
    rows = frame[(frame["suite_sha256"] == ident["suite_sha256"]) & (frame["machine"] == ident["machine"])
                 & (frame["quick"].fillna(False).astype(bool) == quick) & (frame["status"] == "ok")
                 & (frame["run_id"] != ctx.results.get("run_id")) & frame["value"].notna()]
    # a candidate trained by the suite gets a new model file each run (same spec, same data, a
    # different file hash): the suite file and the data stand for it; others need the same file
    models = {c.name: None if c.result.get("training") else schema.model(c.result).get("sha256")
              for c in ctx.candidates}
    data_sha = schema.get_path(ctx.results, "data.sha256")
    if data_sha:
        rows = rows[rows["data_sha256"].fillna("") == data_sha]
    spread = {}
    sha = rows["model_sha256"].where(rows["model_sha256"].notna(), "")
    # the same model file where one is given (an endpoint has none: "" matches "")
    same_model = [models.get(c, "missing") is None or (models.get(c) or "") == h
                  for c, h in zip(rows["candidate"], sha)]
    rows = rows[np.asarray(same_model, dtype=bool)]
    for (cand, figure), group in rows.groupby(["candidate", "figure"]):
        if cand not in models or group["run_id"].nunique() < MIN_RUNS:
            continue
        values = group.drop_duplicates("run_id")["value"].astype(float)
        mean = values.mean()
        if mean and math.isfinite(mean):
            spread[(cand, figure)] = (min(MAX_CV, float(values.std(ddof=1) / abs(mean))), len(values))
    return spread


def run_level_inputs_stage(ctx: RunContext) -> None:
    """Before the first timed trial (the candidates' model files are known by then)."""
    ctx.run_level_spread = history_spread(ctx)
    env = schema.run_section(ctx.results, "environment")
    quick = bool(schema.run_section(ctx.results, "suite").get("quick"))
    ctx.run_level_calibration = machine_calibration.load(machine_fingerprint(env), quick)
