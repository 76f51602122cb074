"""The tuned candidate's variants on one chart: p99 latency against cost per 1M predictions,
colour for quality; the Pareto front ringed, the recommended variant starred, variants that
lost quality beyond the tolerance crossed."""

from __future__ import annotations

from pathlib import Path

from benchharness.run_folder import safe_name


def colour_span(known: list[float], rows: list[dict]) -> tuple[float | None, float | None]:
    """The colour scale's ends: the qualities' range, widened to at least the width of the
    variants' quality interval (their difference from the original, paired bootstrap), so
    that differences within the noise read as one colour (57.90 and 57.98 rmse are the same
    model when the interval is 0.5 wide)."""
    if not known:
        return None, None
    widths = [abs(ci[1] - ci[0]) for r in rows for ci in [r.get("quality_delta_ci")]
              if isinstance(ci, (list, tuple)) and len(ci) == 2 and None not in ci]
    noise = max(widths, default=0.0) or 0.01 * max(abs(v) for v in known) or 0.005
    lo, hi = min(known), max(known)
    if hi - lo < noise:
        mid = (lo + hi) / 2
        lo, hi = mid - noise / 2, mid + noise / 2
    return lo, hi


def draw(
    run_dir: Path,
    base: str,
    rows: list[dict],
    recommended: str | None,
    metric: str | None,
    cost_figure: str | None,
) -> str | None:
    """Write `tune-<base>.png` in the run folder; return its name (None: nothing to draw)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = [r for r in rows if r["p99_ms"] is not None]
    if not pts:
        return None
    use_cost = cost_figure is not None and all(r["cost_per_1m"] is not None for r in pts)
    ys = [r["cost_per_1m"] if use_cost else r["rows_per_s"] or 0.0 for r in pts]
    xs = [r["p99_ms"] for r in pts]
    qs = [r["quality"] if r["quality"] is not None else float("nan") for r in pts]
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=110)
    known = [q for q in qs if q == q]
    lo, hi = colour_span(known, pts)
    sc = ax.scatter(
        xs,
        ys,
        c=qs,
        cmap="viridis",
        vmin=lo,
        vmax=hi,
        s=70,
        zorder=3,
        edgecolors="black",
        linewidths=0.5,
    )
    fig.colorbar(sc, ax=ax, label=f"{metric or 'quality'} (test; the scale spans at least the "
                                   "quality's own uncertainty)")
    labels = []
    for r, x, y in zip(pts, xs, ys, strict=True):
        if r.get("on_front"):
            ax.scatter(
                [x], [y], s=260, facecolors="none", edgecolors="tab:red", linewidths=1.6, zorder=4
            )
        if r["quality_loss_beyond_tolerance"]:
            ax.scatter([x], [y], s=140, marker="x", color="tab:red", zorder=5)
        if r["name"] == recommended:
            ax.scatter([x], [y], s=420, marker="*", color="gold", edgecolors="black", zorder=6)
        lo_hi = r.get("p99_ms_interval")
        if lo_hi and None not in lo_hi:
            ax.plot(lo_hi, [y, y], color="grey", linewidth=1, zorder=2)
        labels.append((r["name"].removeprefix(base) or r["name"], x, y))
    ax.set_xscale("log")
    ax.margins(x=0.25, y=0.15)
    if use_cost and min(ys) > 0 and max(ys) / min(ys) > 10:  # a log scale only over decades
        ax.set_yscale("log")
    from benchharness.report.charts_tradeoff import place_labels

    bars = []  # the interval lines are obstacles too: no label sits on one
    for r, y in zip(pts, ys, strict=True):
        iv = r.get("p99_ms_interval")
        if iv and None not in iv:
            (x0, py), (x1, _) = ax.transData.transform((iv[0], y)), ax.transData.transform((iv[1], y))
            bars.append((x0, py - 3, x1 - x0, 6))
    place_labels(ax, labels, avoid=bars)
    ax.set_xlabel("p99 latency, closed loop (ms, log; grey: interval across trials)")
    if use_cost:
        from matplotlib.ticker import NullFormatter

        from benchharness.report.charts_tradeoff import money_axis

        unit = money_axis(ax.yaxis, ys)
        ax.yaxis.set_minor_formatter(NullFormatter())
        if ax.get_yscale() == "log":  # within a decade a 1-2-5 series, so the axis has numbers
            from matplotlib.ticker import LogLocator

            ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        mode = "batch" if cost_figure == "batch_usd_per_million" else "real time"
        ax.set_ylabel(f"USD per {unit} predictions ({mode})")
    else:
        ax.set_ylabel("rows per second (best batch)")
    ax.set_title(f"{base}: variants (red ring: Pareto front; star: recommended; x: quality lost)")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    name = f"tune-{safe_name(base)}.png"
    fig.savefig(Path(run_dir) / name)
    plt.close(fig)
    return name
