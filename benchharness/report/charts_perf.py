"""Performance charts: latency percentile curves, batch throughput, open-loop latency against
offered rate, CPU and memory per candidate.
"""

from __future__ import annotations

import math

import numpy as np

from benchharness import schema
from benchharness.decide import figures as names
from benchharness.measure.stats import PERCENTILE_KEYS, PERCENTILES, percentiles_sorted
from benchharness.report.chart_style import LIMIT_RED, finish, measured, new_axes, styles
from benchharness.report.charts_tradeoff import limit_threshold
from benchharness.report.samples import latency_samples

# percentiles on the summary, and where they sit on the "nines" axis: x = -log10(1 - q)
_SUMMARY_PCTS = tuple(zip(PERCENTILE_KEYS, PERCENTILES))


def _nines(q_percent):
    return -np.log10(1.0 - np.asarray(q_percent, dtype=float) / 100.0)


def percentile_curve(samples: np.ndarray, points: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """(percent, latency) pairs by nearest rank, spaced evenly on the nines axis up to 1/n."""
    s = np.sort(samples)
    x = np.linspace(0.0, math.log10(s.size), points)
    q = 1.0 - 10.0 ** (-x)
    return q * 100.0, percentiles_sorted(s, q * 100.0)


def plot_latency_percentiles(results: dict, run_dir=None, ax=None):
    curves = []
    for c in measured(results):
        samples = latency_samples(run_dir, c, "closed_loop")
        if samples is not None:
            q, lat = percentile_curve(samples)
            curves.append((c["name"], q, lat, "raw samples"))
            continue
        cl = schema.closed_loop(c)
        pts = [(pct, names.as_number(cl.get(k))) for k, pct in _SUMMARY_PCTS]
        pts = [(p, v) for p, v in pts if v is not None]
        if pts:
            curves.append((c["name"], np.array([p for p, _ in pts]), np.array([v for _, v in pts]), "summary"))
    if not curves:
        return None
    ax = new_axes(ax)
    style = styles(results)
    for name, q, lat, source in curves:
        st = style[name]
        ax.plot(_nines(q), lat, color=st.color, lw=1.6, label=name if source == "raw samples" else f"{name} (summary)",
                marker=st.marker if source == "summary" else None, ms=5)
    lo = min(_nines(q).min() for _, q, _, _ in curves) - 0.01
    hi = max(_nines(q).max() for _, q, _, _ in curves) + 0.01
    ticks = [p for p in (0, 50, 90, 99, 99.9, 99.99) if lo <= _nines(p) <= hi]
    ax.set_xticks(_nines(ticks), [f"p{p:g}" for p in ticks])
    ax.set_yscale("log")
    limit = limit_threshold(results, "p99_ms")
    if limit is not None:
        ax.axhline(limit, color=LIMIT_RED, ls="--", lw=1.2, label=f"p99 limit {names.fmt(limit, 'ms')}")
    finish(ax, "Latency percentiles, closed loop (one request at a time)", "percentile (log scale of 1 / (1 - q))",
           "latency (ms, log scale)")
    _plain_log_ticks(ax, "y")
    return ax


def plot_throughput_vs_batch(results: dict, run_dir=None, ax=None):
    series = []
    for c in measured(results):
        pts = [(names.as_number(b.get("batch_size")), names.as_number(b.get("rows_per_s"))) for b in schema.batch_entries(c)]
        pts = sorted((int(b), r) for b, r in pts if b and r)
        if pts:
            series.append((c["name"], pts))
    if not series:
        return None
    ax = new_axes(ax)
    style = styles(results)
    for name, pts in series:
        st = style[name]
        ax.plot([b for b, _ in pts], [r for _, r in pts], color=st.color, marker=st.marker, lw=1.6, label=name)
    sizes = sorted({b for _, pts in series for b, _ in pts})
    ax.set_xscale("log", base=2)
    ax.set_xticks(sizes, [str(s) for s in sizes])
    ax.set_yscale("log")
    finish(ax, "Throughput against batch size (batch scoring)", "batch size (rows per call, log scale)",
           "throughput (rows/s, log scale)")
    _plain_log_ticks(ax, "y")
    return ax




def _rate_points(c: dict) -> list[tuple[float, float]]:
    """(offered rate, the p99 the sweep judged at it) for each rate tried: the model's own p99
    (the load generator's delay removed) where the rate has it, as `judged_on` says."""
    pts = []
    for row in schema.open_loop_rates(c):
        rate = names.as_number(row.get("target_rate_per_s"))
        p99 = names.as_number(row.get(row.get("judged_on") or "p99_ms"))
        if rate is not None and p99 is not None:
            pts.append((rate, p99))
    return sorted(pts)


def plot_latency_vs_rate(results: dict, run_dir=None, ax=None):
    series = [(c, _rate_points(c)) for c in measured(results)]
    series = [(c, pts) for c, pts in series if pts]
    if not series:
        return None
    ax = new_axes(ax)
    style = styles(results)
    for c, pts in series:
        st = style[c["name"]]
        ax.plot([r for r, _ in pts], [p for _, p in pts], color=st.color, marker=st.marker, lw=1.6, label=c["name"])
        best = names.resolve("sustainable_rps", c, results)
        if best is not None and pts[0][0] <= best <= pts[-1][0]:  # outside the sweep it only stretches the axis
            ax.axvline(best, color=st.color, ls=":", lw=1, label=f"{c['name']}: highest rate within the limit")
    # the limit the sweep judged "highest rate within the limit" against, as recorded: the
    # markers above and this line must read the same limit
    limit = next((names.as_number(schema.open_loop(c)["p99_limit_ms"]) for c, _ in series
                  if schema.open_loop(c).get("p99_limit_ms") is not None), None)
    if limit is not None:
        ax.axhline(limit, color=LIMIT_RED, ls="--", lw=1.2,
                   label=f"p99 limit of the sweep {names.fmt(limit, 'ms')}")
    ax.set_yscale("log")
    rates = [r for _, pts in series for r, _ in pts if r > 0]
    if rates and max(rates) / min(rates) > 20:  # candidates at 100/s and 90,000/s on one chart
        ax.set_xscale("log")
    finish(ax, "p99 latency against offered rate (open loop, Poisson arrivals)", "offered rate (requests/s; log scale when rates span orders of magnitude)",
           "p99 latency the sweep judged (ms, log scale)")
    _plain_log_ticks(ax)
    return ax


def _plain_log_ticks(ax, which: str = "xy") -> None:
    """Log-axis ticks in plain numbers (40 ms, not 4x10^1), by the product's number rule."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    from benchharness.numbers import number

    plain = FuncFormatter(lambda v, _pos: number(v))
    ax.autoscale_view()
    for name, axis, scale, (lo, hi) in (("y", ax.yaxis, ax.get_yscale(), ax.get_ylim()),
                                        ("x", ax.xaxis, ax.get_xscale(), ax.get_xlim())):
        if scale != "log" or name not in which:
            continue
        decades = math.log10(hi / lo) if lo > 0 else 9
        # 1-2-5 ticks over a short span, powers of ten over a long one: labels never collide
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if decades <= 2.5 else (1.0,)))
        axis.set_major_formatter(plain)
        axis.set_minor_formatter(NullFormatter())


def plot_resources(results: dict, run_dir=None, ax=None):
    cands = measured(results)
    cpu_name = "cpu_ms_per_prediction"
    cpu = [(c["name"], names.resolve(cpu_name, c, results)) for c in cands]
    if all(v is None for _, v in cpu):
        cpu_name = "cpu_percent"
        cpu = [(c["name"], names.resolve(cpu_name, c, results)) for c in cands]
    mem = [(c["name"], names.resolve("footprint_mb", c, results), names.resolve("rss_peak_mb", c, results))
           for c in cands]
    cpu = [(n, v) for n, v in cpu if v is not None]
    mem = [(n, f, p) for n, f, p in mem if f is not None or p is not None]
    if not cpu and not mem:
        return None
    if ax is None:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(9.0, 4.0), layout="constrained")
        ax_cpu, ax_mem = fig.subplots(1, 2)
    else:
        ax_cpu, ax_mem = ax
    style = styles(results)
    if cpu:
        bars = ax_cpu.barh([n for n, _ in cpu], [v for _, v in cpu], color=[style[n].color for n, _ in cpu])
        # the value beside each bar: 0.007 ms next to 5 ms draws no bar at all, yet it was measured
        ax_cpu.bar_label(bars, labels=[names.fmt(v, names.unit(cpu_name)) for _, v in cpu], fontsize=8, padding=2)
        ax_cpu.margins(x=0.45)  # room for the label of the longest bar
        ax_cpu.invert_yaxis()
    label = "CPU time per prediction (ms)" if cpu_name == "cpu_ms_per_prediction" else "process CPU (% of one core)"
    finish(ax_cpu, "CPU", label if cpu else "CPU (not measured)", "candidate", legend=False)
    if mem:
        y = np.arange(len(mem))
        ax_mem.barh(y - 0.2, [f or 0 for _, f, _ in mem], height=0.4, color="#56B4E9", label="model footprint")
        ax_mem.barh(y + 0.2, [p or 0 for _, _, p in mem], height=0.4, color="#0072B2", label="peak RSS while predicting")
        ax_mem.set_yticks(y, [n for n, _, _ in mem])
        ax_mem.invert_yaxis()
    finish(ax_mem, "Memory", "resident memory (MB)" if mem else "memory (not measured)", "candidate")
    return ax_cpu
