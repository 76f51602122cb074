"""How a run joins the history: its identity, the comparison with the previous run, its rows.

`history_stage` runs after the verdict and before the report: it records the run's identity
in results["history"], compares the run with the newest earlier run of the same suite on the
same machine (read from the index before this run's rows are added), then writes this run's
index part. The report draws `history.previous` as its "compared with the previous run" block.
"""

from __future__ import annotations

import math
from pathlib import Path

from benchharness import schema
from benchharness.decide import figures as names
from benchharness.errors import UserError
from benchharness.history import store
from benchharness.history.identity import compute_identity, identity

#: the figures the report's comparison shows (the primary quality metric comes first)
REPORT_FIGURES = ("p99_ms", "rows_per_s", "rss_peak_mb", "usd_per_million")


def previous_run(frame, results: dict, same_machine: bool = True) -> str | None:
    """The newest run of this suite in the index that started before this one (else None)."""
    ident = identity(results)
    suite = (results.get("suite") or {}).get("name")
    rows = frame[(frame["suite"] == suite) & (frame["run_id"] != results.get("run_id"))]
    if same_machine:
        rows = rows[rows["machine"] == ident.get("machine")]
    started = results.get("started_at") or ""
    rows = rows[rows["started_at"].fillna("") <= started]
    if rows.empty:
        return None
    return str(rows.sort_values(["started_at", "run_id"]).iloc[-1]["run_id"])


def compare_with_previous(frame, results: dict) -> dict | None:
    """Figure by figure, this run against the previous one (same suite, same machine)."""
    prev_id = previous_run(frame, results)
    if prev_id is None:
        return None
    prev = frame[frame["run_id"] == prev_id]
    before = {(r.candidate, r.figure): r.value for r in prev.itertuples() if r.figure}
    rows = []
    for cand in schema.candidates(results):
        if cand.get("status") != "ok":
            continue
        metric = names.primary_metric(cand, results)
        for figure in ([metric] if metric else []) + list(REPORT_FIGURES):
            after, was = names.resolve(figure, cand, results), before.get((cand["name"], figure))
            if after is None or was is None or (isinstance(was, float) and math.isnan(was)):
                continue
            rows.append({"candidate": cand["name"], "figure": figure, "unit": names.unit(figure),
                         "before": float(was), "after": after,
                         "change": (after - was) / abs(was) if was else None,
                         "better": names.better(figure)})
    return {"run_id": prev_id, "started_at": str(prev.iloc[0]["started_at"]), "rows": rows}


def history_stage(ctx) -> None:
    """Identity, comparison with the previous run, and this run's rows in the index."""
    results_dir = Path(ctx.run_dir).parent
    section = ctx.results.setdefault("history", {})
    section["identity"] = compute_identity(ctx.results, ctx.suite_path)
    try:
        section["previous"] = compare_with_previous(store.read_index(results_dir), ctx.results)
    except UserError as exc:  # another run's unreadable part must not stop this run's report
        section["previous"] = None
        ctx.progress(f"history: no comparison with the previous run: {exc}")
    section["index"] = str(store.write_run(results_dir, ctx.results).relative_to(ctx.run_dir))
