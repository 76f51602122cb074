"""Charts of a run, written as PNG and SVG beside results.json.

Each chart is a function `plot_*(results, run_dir=None, ax=None)` that draws from saved
results onto `ax` (a new figure when None) and returns the Axes, or None when the run has
nothing to draw (the report then says "not measured"). matplotlib is used through its
object API (`Figure`, no pyplot), so no display and no global state are involved.

Colours: the Okabe-Ito palette (safe for the common colour-vision deficiencies), one colour
and one marker per candidate, the same in every chart; baselines in grey.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchharness.report import charts_perf as perf
from benchharness.report import charts_tradeoff as trade


@dataclass(frozen=True)
class ChartSpec:
    name: str
    title: str
    plot: Callable


def chart_specs() -> list[ChartSpec]:

    return [
        ChartSpec("quality_vs_cost", "Quality against cost per 1M predictions", trade.plot_quality_vs_cost),
        ChartSpec("quality_vs_latency", "Quality against p99 latency", trade.plot_quality_vs_latency),
        ChartSpec("latency_percentiles", "Latency percentiles (closed loop)", perf.plot_latency_percentiles),
        ChartSpec("throughput_vs_batch", "Throughput against batch size", perf.plot_throughput_vs_batch),
        ChartSpec("latency_vs_rate", "Latency against offered rate (open loop)", perf.plot_latency_vs_rate),
        ChartSpec("resources", "CPU and memory per candidate", perf.plot_resources),
    ]


def write_charts(results: dict, run_dir: str | Path, out_dir: str | Path | None = None) -> dict:
    """Draw every chart the run has data for; return {name: {title, png, svg} | {title, skipped}}.

    File paths are relative to run_dir, so a run dir can be moved or copied whole.
    """
    run_dir = Path(run_dir)
    out_dir = Path(out_dir) if out_dir else run_dir / "charts"
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for spec in chart_specs():
        ax = spec.plot(results, run_dir=run_dir)
        if ax is None:
            written[spec.name] = {"title": spec.title, "skipped": "not measured in this run"}
            continue
        fig = ax.figure
        entry = {"title": spec.title}
        for fmt in ("png", "svg"):
            path = out_dir / f"{spec.name}.{fmt}"
            fig.savefig(path, dpi=150 if fmt == "png" else None, metadata=_metadata(fmt))
            entry[fmt] = str(path.relative_to(run_dir)) if path.is_relative_to(run_dir) else str(path)
        written[spec.name] = entry
    return written


def _metadata(fmt: str) -> dict:
    # no timestamps in the files: the same results give byte-identical charts
    return {"Date": None} if fmt == "svg" else {"Software": None}
