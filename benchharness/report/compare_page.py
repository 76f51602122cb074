"""`bench compare --html FILE`: the comparison as one self-contained page.

Reads the document `decide.compare.compare_runs` returns (it decides what is a regression;
this module only shows it): a short summary first (regressions, what changed in the set-up
or the machine), one chart per compared run of every figure's change, then the full table.
The charts are written beside the page (`<stem>-charts/`) and inlined into it.
"""

from __future__ import annotations

from pathlib import Path

from benchharness.decide import figures as names
from benchharness.numbers import MISSING, number
from benchharness.numbers import change as _pct
from benchharness.report.chart_style import LIMIT_RED
from benchharness.report.document import Chart, Heading, Para, Table
from benchharness.report.html import render_html
from benchharness.run_folder import atomic_write

BETTER_GREEN = "#009E73"
WORSE_AMBER = "#E69F00"


def _change_pct(row: dict) -> float | None:
    """The change in percent, signed so that positive is always worse."""
    if row.get("change") is None:
        return None
    pct = row["change"] * 100
    return -pct if row["better"] == "higher" else pct


def change_chart(comp: dict, threshold: float):
    """Horizontal bars: how much worse (right) or better (left) each figure got, in percent;
    regressions red, other worse changes amber, better green; the threshold as lines."""
    from matplotlib.figure import Figure

    rows = [r for r in comp["rows"] if _change_pct(r) is not None]
    if not rows:
        return None
    rows.sort(key=lambda r: (r["candidate"], -abs(_change_pct(r))))
    labels = [f"{r['candidate']}: {r['figure']}" for r in rows]
    values = [_change_pct(r) for r in rows]
    colors = [LIMIT_RED if _is_regression(r) else (WORSE_AMBER if v > 0 else BETTER_GREEN)
              for r, v in zip(rows, values, strict=True)]
    fig = Figure(figsize=(8.6, 0.28 * len(rows) + 1.4), layout="constrained")
    ax = fig.add_subplot()
    bars = ax.barh(labels, values, color=colors)
    ax.bar_label(bars, labels=[f"{v + 0.0:+.1f}%" for v in values], fontsize=7, padding=2)
    for edge in (threshold * 100, -threshold * 100):
        ax.axvline(edge, color="#777777", ls=":", lw=0.9)
    ax.axvline(0, color="#333333", lw=0.8)
    ax.invert_yaxis()
    ax.margins(x=0.15)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_xlabel(f"change (%): right = worse, left = better; dotted: the "
                  f"{threshold:.0%} regression threshold")
    ax.set_title(f"What changed in {comp['run']} (red: regression)", fontsize=10, loc="left")
    ax.grid(True, axis="x", alpha=0.3)
    return fig


def compare_blocks(doc: dict, chart_paths: list[str | None]) -> list:
    blocks = [Heading("Comparison of runs", 1),
              Para(f"Reference: {doc['reference']}. A regression is a change worse by more than "
                   f"{doc['threshold']:.0%} over the whole {1 - doc['alpha']:.0%} interval of the "
                   f"change across trials.", "note"),
              Heading("Summary")]
    total = doc["regressions"]
    blocks.append(Para(f"{total} regression(s) in {len(doc['comparisons'])} compared run(s).",
                       "verdict-none" if total else "verdict-ok"))
    for comp in doc["comparisons"]:
        lines = [f"vs {comp['run']}: {comp['regressions']} regression(s)"]
        lines += [f"set-up changed: {s}" for s in comp.get("setup_changes", [])]
        lines += [f"machine changed: {s}" for s in comp.get("environment_changes", [])]
        if comp.get("only_in_reference"):
            lines.append("only in the reference: " + ", ".join(comp["only_in_reference"]))
        if comp.get("only_in_run"):
            lines.append("only in this run: " + ", ".join(comp["only_in_run"]))
        blocks += [Para(line) for line in lines]
        worst = [r for r in comp["rows"] if _is_regression(r)]
        if worst:
            blocks.append(Table(["candidate", "figure", "before", "after", "change"],
                                [[r["candidate"], r["figure"], names.fmt(r["before"], r["unit"]),
                                  names.fmt(r["after"], r["unit"]), _pct(r["change"])]
                                 for r in worst], "Regressions"))
    blocks.append(Heading("Changes"))
    for comp, path in zip(doc["comparisons"], chart_paths, strict=True):
        blocks.append(Chart(f"changes-{comp['run']}", f"Changes in {comp['run']}", None, path,
                            None if path else "no figure measured in both runs"))
    blocks.append(Heading("Every figure"))
    for comp in doc["comparisons"]:
        detectable = any(r.get("detectable") is not None for r in comp["rows"])
        rows = []
        for r in comp["rows"]:
            row = [r["candidate"], r["figure"], names.fmt(r["before"], r["unit"]),
                   names.fmt(r["after"], r["unit"]), _pct(r["change"]), _span(r.get("interval"))]
            if detectable:
                row.append(_detectable(r.get("detectable")))
            rows.append(row + [_result(r), r.get("test") or MISSING])
        headers = ["candidate", "figure", "before", "after", "change", "interval"]
        headers += ["detectable"] if detectable else []
        blocks.append(Table(headers + ["result", "how"], rows, f"vs {comp['run']}"))
    return blocks


def _is_regression(row: dict) -> bool:
    return bool(row.get("regression")) or row.get("result") == "regression"


def _result(row: dict) -> str:
    """The row's outcome as compare decided it, whatever its name ('regression' upper-cased)."""
    result = str(row.get("result") or MISSING)
    return result.upper() if _is_regression(row) else result


def _span(interval) -> str:
    if not interval or interval[0] is None or interval[1] is None:
        return MISSING
    return f"{_pct(interval[0])}..{_pct(interval[1])}"


def _detectable(value) -> str:
    """The smallest change the comparison could show (a fraction): '±19%'."""
    return MISSING if value is None else f"±{number(abs(value) * 100, 2)}%"


def write_compare_html(doc: dict, path: str | Path) -> Path:
    """Write the page (and its charts beside it); return the page's path."""
    path = Path(path)
    chart_dir = path.with_name(f"{path.stem}-charts")
    chart_dir.mkdir(parents=True, exist_ok=True)
    chart_paths = []
    for i, comp in enumerate(doc["comparisons"], 1):
        fig = change_chart(comp, doc["threshold"])
        if fig is None:
            chart_paths.append(None)
            continue
        svg = chart_dir / f"changes-{i}.svg"
        fig.savefig(svg, metadata={"Date": None})
        chart_paths.append(str(svg.relative_to(path.parent)))
    atomic_write(path, render_html(compare_blocks(doc, chart_paths), path.parent))
    return path
