"""The summary `bench run` prints at the end: one row per candidate, then the detail tables.

Tables are drawn by `report.console.render_table` (fits the terminal); numbers follow the
product's one rule (`benchharness.numbers`).
"""

from __future__ import annotations

from benchharness import schema
from benchharness.numbers import MISSING, number, usd
from benchharness.quality.display import baseline_cell, metric_cell, quality_table
from benchharness.report import console
from benchharness.report.console import render_table
from benchharness.run_folder import CSV_FILE, RESULTS_FILE


def _fmt(value, sig: int = 3) -> str:
    return number(value, sig)


def candidate_row(c: dict) -> list[str]:
    q = schema.quality(c)
    metric = q.get("primary_metric")
    rt = schema.closed_loop(c)
    best = max(schema.batch_entries(c), key=lambda b: b.get("rows_per_s") or 0, default=None)
    best_txt = f"{_fmt(best['rows_per_s'])} (b={best['batch_size']})" if best else "-"
    status = c.get("status", MISSING)
    peak = schema.resources(c).get("peak_rss_mb")
    batch_usd = schema.cost_batch(c).get("usd_per_1m")
    return [
        c.get("name", MISSING),
        status if status == "ok" else "FAILED",
        metric_cell(q) if metric else "-",
        baseline_cell(q),
        _fmt(rt.get("p50_ms")),
        _fmt(rt.get("p99_ms")),
        best_txt,
        _fmt(peak),
        usd(batch_usd),
    ]


HEADER = ["candidate", "status", "test {metric} [95% CI]", "vs best baseline", "p50 ms", "p99 ms",
          "batch rows/s", "peak MiB", "batch $/1M"]
#: which columns stay when the terminal is narrow (lower = kept longer)
PRIORITIES = [0, 1, 2, 5, 7, 3, 6, 8, 4]


def summary_text(results: dict, run_dir: str, width: int | None = None) -> str:
    from benchharness.report.cost_table import cost_table_text

    width = width or console.terminal_width()
    cands = schema.candidates(results)
    metric = next((schema.quality(c)["primary_metric"] for c in cands
                   if schema.quality(c).get("primary_metric")), "metric")
    header = [h.replace("{metric}", metric) for h in HEADER]
    from benchharness.decide.verdict import headline

    parts = [headline(results)] if schema.verdict(results) else []
    if (results.get("suite") or {}).get("quick"):
        parts.append(console.quick_banner())
    rows = [candidate_row(c) for c in cands]
    # the cost in the suite's integration mode, all in one unit a person reads
    from benchharness.decide import figures as names
    from benchharness.numbers import money_column

    unit, cells = money_column(names.resolve("usd_per_million", c, results) for c in cands)
    mode = "real-time" if names.cost_mode_word("usd_per_million", results) == "real-time" else "batch"
    header[-1] = f"{mode} $/{unit}"
    for row, cell in zip(rows, cells, strict=True):
        row[-1] = cell
    parts.append(render_table(rows, header, PRIORITIES, width))

    costs = cost_table_text(results)
    if costs:
        parts += ["", costs]
    for c in cands:
        if c.get("status") != "ok":
            parts.append(f"  {c.get('name')}: {c.get('error')}")
    quality = quality_table(results)
    if quality:
        parts.append(quality)
    from benchharness.data.analysis import distribution_lines

    parts += distribution_lines(results)
    from benchharness.adapters.server_timing import network_notes

    parts += network_notes(results)
    from benchharness.against.changes import summary_lines as against_lines

    parts += against_lines(results, width)
    parts.append(f"results: {run_dir}/{RESULTS_FILE} (and {CSV_FILE})")
    return console.fold("\n".join(parts), width)
