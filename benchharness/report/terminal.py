"""The table `bench run` prints at the end: one row per candidate."""

from __future__ import annotations

from benchharness.quality.display import baseline_cell, metric_cell, quality_table


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.{digits}f}"
    return str(value)


def candidate_row(c: dict) -> list[str]:
    from benchharness.report.cost_table import usd

    q = c.get("quality") or {}
    metric = q.get("primary_metric")
    rt = (c.get("realtime") or {}).get("closed_loop") or {}
    batch = c.get("batch") or []
    best = max(batch, key=lambda b: b.get("rows_per_s") or 0, default=None)
    best_txt = f"{_fmt(best['rows_per_s'])} (b={best['batch_size']})" if best else "-"
    status = c.get("status", "?")
    peak = (c.get("resources") or {}).get("peak_rss_mb")
    batch_usd = ((c.get("cost") or {}).get("batch") or {}).get("usd_per_1m")
    return [
        c.get("name", "?"),
        status if status == "ok" else "FAILED",
        f"{metric} {metric_cell(q)}" if metric else "-",
        baseline_cell(q),
        _fmt(rt.get("p50_ms")),
        _fmt(rt.get("p99_ms")),
        best_txt,
        _fmt(peak, 1),
        usd(batch_usd),
    ]


HEADER = ["candidate", "status", "test metric [95% CI]", "vs best baseline", "p50 ms", "p99 ms", "batch rows/s",
          "peak MiB", "batch $/1M"]


def render_table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)) for r in rows]
    return "\n".join(out)


def summary_text(results: dict, run_dir: str) -> str:
    from benchharness.report.cost_table import cost_table_text

    cands = results.get("candidates", [])
    parts = [render_table([candidate_row(c) for c in cands], HEADER)]

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
    parts.append(f"results: {run_dir}/results.json (and results.csv)")
    return "\n".join(parts)
