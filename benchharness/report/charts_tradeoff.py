"""Trade-off charts: quality against cost and against p99 latency, with the Pareto front.

The front drawn is the one of the two axes shown (better quality, lower x); baselines that
have only a quality score (the automatic ones) are drawn as horizontal reference lines.
"""

from __future__ import annotations

from benchharness.decide import figures as names
from benchharness.decide import limits as limits_mod
from benchharness.decide.verdict import pareto_front
from benchharness.report.charts import BASELINE_GREY, LIMIT_RED, finish, measured, new_axes, styles


def limit_threshold(results: dict, metric: str) -> float | None:
    """The absolute hard threshold the run judged `metric` against, if any."""
    for cand in results.get("candidates", []):
        for lim in cand.get("limits") or []:
            if lim.get("metric") == metric and "baseline" not in lim.get("expression", "") \
                    and lim.get("threshold") is not None:
                return lim["threshold"]
    return None


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
    for name, (c, x, y) in pts.items():
        st = style[name]
        ci = names.quality_ci(c, metric)
        yerr = [[max(y - ci[0], 0)], [max(ci[1] - y, 0)]] if ci else None
        is_base = c.get("role") == "baseline"
        ax.errorbar([x], [y], yerr=yerr, fmt=st.marker, color=st.color, ms=8, capsize=3,
                    label=f"{name} (baseline)" if is_base else name, zorder=3)
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(6, 6), fontsize=8)
    higher = names.better(metric) == "higher"
    front = pareto_front({n: (y, x) for n, (_, x, y) in pts.items()}, ("higher" if higher else "lower", "lower"))
    fx = sorted((pts[n][1], pts[n][2]) for n in front)
    if len(fx) > 1:
        ax.step([p[0] for p in fx], [p[1] for p in fx], where="post", color="#444444", lw=1,
                ls="-", alpha=0.6, label="Pareto front", zorder=2)
    elif fx:
        ax.scatter([fx[0][0]], [fx[0][1]], s=220, facecolors="none", edgecolors="#444444", label="Pareto front")
    ys = [p[2] for p in pts.values()]
    _baseline_lines(ax, results, metric, set(pts), (min(ys), max(ys)))
    ax.margins(x=0.12, y=0.12)  # room for the point labels at the edges
    ceiling = limit_threshold(results, x_name)
    # the limit line is drawn too: judge the span with it, or points far below it pile up at 0
    xs = [p[1] for p in pts.values()] + ([ceiling] if ceiling else [])
    if min(xs) > 0 and max(xs) / min(xs) > 20:
        ax.set_xscale("log")
    if ceiling is not None:
        ax.axvline(ceiling, color=LIMIT_RED, ls="--", lw=1.2, label=f"{x_name} limit {names.fmt(ceiling, names.unit(x_name))}")
    floor = limit_threshold(results, metric)
    if floor is not None:
        ax.axhline(floor, color=LIMIT_RED, ls=":", lw=1.2, label=f"{metric} limit {floor:g}")
    better = "higher is better" if higher else "lower is better"
    finish(ax, title, xlabel, f"{metric} on test ({better})")
    return ax


def _baseline_lines(ax, results: dict, metric: str, drawn: set, span: tuple[float, float]) -> None:
    """Baselines near the candidates as lines; far ones (which would squash the candidates
    into a sliver of the chart) listed in a note instead."""
    entries = [(b.get("name", "?"), names.quality_value(b, metric)) for b in limits_mod.baseline_entries(results)]
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
    return _tradeoff(results, "usd_per_million", "cost per 1M predictions, batch (USD)",
                     "Quality against cost per 1M predictions", ax)


def plot_quality_vs_latency(results: dict, run_dir=None, ax=None):
    return _tradeoff(results, "p99_ms", "p99 latency, one request at a time (ms)",
                     "Quality against p99 latency", ax)
