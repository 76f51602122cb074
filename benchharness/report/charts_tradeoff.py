"""Trade-off charts: quality against cost and against p99 latency, with the Pareto front.

The Pareto front ringed is the verdict's (over quality, p99 and cost, the same set as the
report's table); the recommended candidate is starred and blocked ones are hollow. Baselines
that have only a quality score (the automatic ones) are horizontal reference lines. Labels are
moved apart where points coincide, and a limit far beyond every point is a note at the edge
instead of a line that would squeeze the points against one side.
"""

from __future__ import annotations

from benchharness import schema
from benchharness.decide import figures as names
from benchharness.decide import limits as limits_mod
from benchharness.numbers import MISSING
from benchharness.report.chart_style import (
    BASELINE_GREY,
    LIMIT_RED,
    finish,
    measured,
    new_axes,
    styles,
)


def limit_threshold(results: dict, metric: str) -> float | None:
    """The absolute hard threshold the run judged `metric` against, if any."""
    for cand in schema.candidates(results):
        for lim in schema.limits(cand):
            if names.in_mode(lim.get("metric") or "", results) == names.in_mode(metric, results) and "baseline" not in lim.get("expression", "") \
                    and lim.get("threshold") is not None:
                return lim["threshold"]
    return None


#: a limit further than this factor beyond the farthest point is shown as an arrow and a note
#: at the chart's edge, not as a line that squeezes every point against one side
FAR_LIMIT_FACTOR = 3.0


def _verdict_marks(results: dict) -> tuple[set, set, str | None]:
    """(the verdict's Pareto front, blocked candidates, the recommended one)."""
    v = schema.verdict(results)
    blocked = {r["name"] for r in v.get("candidates", []) if r.get("status") == "blocked"}
    return set(v.get("pareto_front") or []), blocked, v.get("recommended")


def place_labels(ax, labels: list[tuple[str, float, float]], fontsize: int = 8,
                 avoid: list | None = None) -> None:
    """Point labels that do not overlap one another, the points, the boxes in `avoid` (the
    axes' texts: notes, error bars' ends) nor leave the axes (where the legend is): each goes
    up-right of its point, else up-left, else below, a line further at a time until it is
    clear (points with equal quality sit side by side, e.g. a model and its ONNX export)."""
    ax.autoscale_view()
    fig = ax.figure
    fig.canvas.draw()  # the axes' final place, for the bounds
    px_per_pt = fig.dpi / 72
    height = (fontsize + 3) * px_per_pt
    marker = 7 * px_per_pt  # half a marker: a label must not cover another point either
    bounds = ax.get_window_extent()
    placed = [(px - marker, py - marker, 2 * marker, 2 * marker)
              for px, py in (ax.transData.transform((x, y)) for _, x, y in labels)]
    placed += list(avoid or [])
    for t in ax.texts:  # notes already drawn (a far limit, baselines off the chart)
        e = t.get_window_extent()
        placed.append((e.x0, e.y0, e.width, e.height))

    def overlaps(a, b) -> bool:
        return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]

    def inside(b) -> bool:
        return (b[0] >= bounds.x0 and b[0] + b[2] <= bounds.x1
                and b[1] >= bounds.y0 and b[1] + b[3] <= bounds.y1)

    for text, x, y in sorted(labels, key=lambda t: (t[2], t[1])):
        px, py = ax.transData.transform((x, y))
        width = len(text) * fontsize * 0.6 * px_per_pt
        own = (px - marker, py - marker, 2 * marker, 2 * marker)
        best = None
        for step in range(0, 14):
            dy = 6 + step * (fontsize + 3)
            for dx, ha, sign in ((6, "left", 1), (-6, "right", 1), (6, "left", -1), (-6, "right", -1)):
                left = px + dx * px_per_pt - (width if ha == "right" else 0)
                box = (left, py + sign * dy * px_per_pt - (height if sign < 0 else 0), width, height)
                if inside(box) and not any(overlaps(box, b) for b in placed if b != own):
                    best = (dx, sign * dy, ha, box)
                    break
            if best:
                break
        dx, dy, ha, box = best or (6, 6, "left", (px, py, width, height))
        placed.append(box)
        ax.annotate(text, (x, y), textcoords="offset points", xytext=(dx, dy), fontsize=fontsize, ha=ha,
                    va="top" if dy < 0 else "baseline",
                    arrowprops=dict(arrowstyle="-", lw=0.5, color="#999999") if abs(dy) > 6 else None)


_place_labels = place_labels


def _tradeoff(results: dict, x_name: str, xlabel: str, title: str, ax=None):
    ok = measured(results)
    cands = [c for c in ok if c.get("role") != "baseline"]
    if not cands:
        return None
    metric = names.primary_metric(cands[0], results)
    pts = {}
    for c in ok:
        x, y = names.resolve(x_name, c, results), names.quality_value(c, metric)
        if x is not None and y is not None:
            pts[c["name"]] = (c, x, y)
    if not any(c.get("role") != "baseline" for c, _, _ in pts.values()):
        return None
    ax = new_axes(ax)
    style = styles(results)
    front, blocked, recommended = _verdict_marks(results)
    labels = []
    for name, (c, x, y) in pts.items():
        st = style[name]
        ci = names.quality_ci(c, metric)
        yerr = [[max(y - ci[0], 0)], [max(ci[1] - y, 0)]] if ci else None
        is_base = c.get("role") == "baseline"
        hollow = name in blocked
        ax.errorbar([x], [y], yerr=yerr, fmt=st.marker, color=st.color, ms=8, capsize=3,
                    mfc="white" if hollow else st.color, zorder=3,
                    label=f"{name} (baseline)" if is_base else (f"{name} (blocked)" if hollow else name))
        tag = " (recommended)" if name == recommended else (" (blocked)" if hollow else "")
        labels.append((name + tag, x, y))
    if recommended in pts:
        _, x, y = pts[recommended]
        ax.scatter([x], [y], s=380, marker="*", facecolors="none", edgecolors="#000000", lw=1.2,
                   zorder=4, label=f"recommended: {recommended}")
    on_front = [n for n in pts if n in front]
    if on_front:
        ax.scatter([pts[n][1] for n in on_front], [pts[n][2] for n in on_front], s=240,
                   facecolors="none", edgecolors="#444444", lw=1, zorder=2,
                   label="Pareto front (as in the table)")
    ys = [p[2] for p in pts.values()]
    _baseline_lines(ax, results, metric, set(pts), (min(ys), max(ys)))
    ax.margins(x=0.15, y=0.15)  # room for the point labels at the edges
    xs = [p[1] for p in pts.values()]
    ceiling = limit_threshold(results, x_name)
    far = ceiling is not None and min(xs) > 0 and ceiling > max(xs) * FAR_LIMIT_FACTOR
    span = xs + ([ceiling] if ceiling is not None and not far else [])
    if min(span) > 0 and max(span) / min(span) > 20:
        ax.set_xscale("log")
    limit_text = None if ceiling is None else \
        f"{x_name} limit {names.fmt(ceiling, names.unit(x_name))}"
    if ceiling is not None and not far:
        ax.axvline(ceiling, color=LIMIT_RED, ls="--", lw=1.2, label=limit_text)
    far_note = f"\n{limit_text} is far to the right \u2192 every point is within it" if far else ""
    floor = limit_threshold(results, metric)
    if floor is not None:
        ax.axhline(floor, color=LIMIT_RED, ls=":", lw=1.2, label=f"{metric} limit {names.fmt(floor)}")
    _place_labels(ax, labels)
    higher = names.better(metric) == "higher"
    better = "higher is better" if higher else "lower is better"
    finish(ax, title, xlabel + far_note, f"{metric} on test ({better})")
    _plain_ticks(ax)
    return ax


def _plain_ticks(ax) -> None:
    """Tick labels by the product's number rule (0.0001, 0.001 ... not 10^-4)."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

    from benchharness.numbers import number

    plain = FuncFormatter(lambda v, _pos: number(v))
    ax.xaxis.set_major_formatter(plain)
    if ax.get_xscale() == "log":
        ax.xaxis.set_minor_formatter(NullFormatter())
    else:  # few ticks: long plain numbers (0.00025) must not run into each other
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))


def _baseline_lines(ax, results: dict, metric: str, drawn: set, span: tuple[float, float]) -> None:
    """Baselines near the candidates as lines; far ones (which would squash the candidates
    into a sliver of the chart) listed in a note instead."""
    entries = [(b.get("name", MISSING), names.quality_value(b, metric)) for b in limits_mod.baseline_entries(results)]
    entries = [(n, v) for n, v in entries if v is not None and n not in drawn]
    entries.sort(key=lambda nv: nv[1], reverse=names.better(metric) == "higher")
    reach = max(span[1] - span[0], 0.01 * max(abs(span[1]), 1e-9)) * 3
    near = [(n, v) for n, v in entries if span[0] - reach <= v <= span[1] + reach]
    far = [(n, v) for n, v in entries if (n, v) not in near]
    for i, (name, value) in enumerate(near[:5]):  # the five best are enough to read the chart
        ax.axhline(value, color=BASELINE_GREY, ls=(0, (2, 2)), lw=0.9, zorder=1,
                   label="baselines (automatic)" if i == 0 else None)
        ax.annotate(f"{name} {value:.3g}", (0.99, value), xycoords=("axes fraction", "data"), ha="right",
                    textcoords="offset points", xytext=(0, 2), fontsize=7, color="#555555")
    if far:  # beside the plot, under the legend
        text = "baselines off the chart:\n" + "\n".join(f"  {n} {v:.3g}" for n, v in far[:5])
        ax.annotate(text, (1.01, 0.0), xycoords="axes fraction", ha="left", va="bottom", fontsize=7, color="#555555")


def plot_quality_vs_cost(results: dict, run_dir=None, ax=None):
    word = names.cost_mode_word("usd_per_million", results)
    ax = _tradeoff(results, "usd_per_million", f"cost per 1M predictions, {word} (USD)",
                   "Quality against cost per 1M predictions", ax)
    if ax is not None:
        unit = money_axis(ax.xaxis, [names.resolve("usd_per_million", c, results) for c in measured(results)])
        far = ax.get_xlabel().partition("\n")[2]
        ax.set_xlabel(f"{word} cost in USD per {unit} predictions" + (f"\n{far}" if far else ""))
        ax.set_title(f"Quality against {word} cost per {unit} predictions", fontsize=11, loc="left")
    return ax


def money_axis(axis, per_million_values) -> str:
    """Ticks of an axis of costs per 1M predictions, in the one unit they read in (per 1M,
    1B or 1T: numbers.money_unit), plain dollars, never an exponent; returns the unit's label
    ('1B') for the axis title."""
    from matplotlib.ticker import FuncFormatter

    from benchharness.numbers import money_unit, usd

    factor, label = money_unit(per_million_values)
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: usd(v * factor, 2) if v else "$0"))
    return label


def plot_quality_vs_latency(results: dict, run_dir=None, ax=None):
    return _tradeoff(results, "p99_ms", "p99 latency, one request at a time (ms)",
                     "Quality against p99 latency", ax)
