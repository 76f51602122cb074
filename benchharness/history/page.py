"""The trend page: the figures the suite's limits and objective name first, one chart each,
one series per candidate, as self-contained SVG in the run report's page shell.

x is the date of each run; y the figure, on a log scale for latencies; each point carries its
interval as a vertical bar when the run recorded one; the suite's limit on the figure is a
dashed line; a dashed vertical line marks a run measured on another machine than the run
before; a ringed point is where a step was detected. Colours and markers are the run
report's (colour-blind-safe, `report/chart_style.py`), one per candidate across the page,
and each candidate's line has its own dash pattern and marker, so a line lying on another
still shows.
"""

from __future__ import annotations

import datetime as _dt
import html
import math

from benchharness.decide import figures as names
from benchharness.report.chart_style import LIMIT_RED, OKABE_ITO

W, H, LEFT, RIGHT, TOP, BOTTOM = 760, 250, 78, 150, 30, 44
DASHES = ("", "7 3", "2 2", "9 3 2 3", "4 4", "1 3")
MARKS = ("circle", "square", "triangle", "diamond")


def _time(stamp) -> float | None:
    try:
        return _dt.datetime.fromisoformat(str(stamp)).timestamp()
    except (TypeError, ValueError):
        return None


def _mark(kind: str, x: float, y: float, colour: str, tip: str) -> str:
    title = f"<title>{html.escape(tip)}</title>"
    if kind == "square":
        return f'<rect x="{x - 3.5:.1f}" y="{y - 3.5:.1f}" width="7" height="7" fill="{colour}">{title}</rect>'
    if kind == "triangle":
        return (f'<polygon points="{x:.1f},{y - 4.5:.1f} {x - 4:.1f},{y + 3:.1f} {x + 4:.1f},{y + 3:.1f}" '
                f'fill="{colour}">{title}</polygon>')
    if kind == "diamond":
        return (f'<polygon points="{x:.1f},{y - 4.5:.1f} {x - 4.5:.1f},{y:.1f} {x:.1f},{y + 4.5:.1f} '
                f'{x + 4.5:.1f},{y:.1f}" fill="{colour}">{title}</polygon>')
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}">{title}</circle>'


def _chart(figure: str, seqs: list[dict], machines: dict[str, str], styles: dict[str, int],
           limit: float | None) -> str:
    unit = seqs[0]["unit"]
    points = [p for s in seqs for p in s["points"]]
    ys = [v for p in points for v in [p["value"], *(p["interval"] or [])] if v is not None]
    ys += [limit] if limit is not None else []
    # latencies on a log scale (an interval's end at 0 is left off it, not the scale)
    log = unit == "ms" and all(p["value"] > 0 for p in points)
    ys = [v for v in ys if v > 0] if log else ys
    f = math.log10 if log else (lambda v: v)
    lo, hi = f(min(ys)), f(max(ys))
    pad = (hi - lo) * 0.08 or abs(hi) * 0.05 or 1.0
    lo, hi = lo - pad, hi + pad
    times = {p["run_id"]: _time(p["started_at"]) for p in points}
    if any(t is None for t in times.values()):  # no dates: the run order
        order = sorted(times, key=lambda r: str(r))
        times = {r: float(i) for i, r in enumerate(order)}
    t0, t1 = min(times.values()), max(times.values())
    span = (t1 - t0) or 1.0

    def x(run):
        return LEFT + (W - LEFT - RIGHT) * ((times[run] - t0) / span if t1 > t0 else 0.5)

    def y(v):
        return TOP + (H - TOP - BOTTOM) * (1 - (f(v) - lo) / (hi - lo))

    better = names.better(figure)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" style="width:100%;max-width:{W}px" role="img" '
           f'font-family="system-ui, sans-serif">',
           f'<text x="{LEFT}" y="18" font-weight="bold" font-size="13">{html.escape(figure)}'
           f'{" (" + html.escape(unit) + (", log scale" if log else "") + ")" if unit else ""}, '
           f'{html.escape(better)} is better</text>',
           f'<line x1="{LEFT}" y1="{H - BOTTOM}" x2="{W - RIGHT}" y2="{H - BOTTOM}" stroke="#888"/>',
           f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{H - BOTTOM}" stroke="#888"/>']
    if log:
        ticks = [10 ** e for e in range(math.floor(lo), math.ceil(hi) + 1) if lo <= e <= hi]
        if len(ticks) < 2:
            ticks = [10 ** lo * 10 ** (pad), 10 ** hi / 10 ** (pad)]
    else:
        ticks = [lo + pad, (lo + hi) / 2, hi - pad]
    for v in ticks:
        out.append(f'<line x1="{LEFT - 4}" y1="{y(v):.1f}" x2="{W - RIGHT}" y2="{y(v):.1f}" stroke="#eee"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end" font-size="11">'
                   f'{html.escape(names.fmt(v, unit))}</text>')
    # dates under the axis: the first, the last and up to three between
    stamps = sorted(set(times.values()))
    shown = stamps if len(stamps) <= 5 else [stamps[round(i * (len(stamps) - 1) / 4)] for i in range(5)]
    one_day = t1 - t0 < 86400
    last_x = -1e9
    for t in shown:
        run = next(r for r, v in times.items() if v == t)
        label = (_dt.datetime.fromtimestamp(t).strftime("%H:%M" if one_day else "%b %d")
                 if _time(next(p["started_at"] for p in points if p["run_id"] == run)) else str(int(t) + 1))
        if x(run) - last_x < 48:  # would overlap the date before: runs of one day
            continue
        last_x = x(run)
        out.append(f'<text x="{x(run):.1f}" y="{H - BOTTOM + 15}" text-anchor="middle" font-size="11">'
                   f'{html.escape(label)}</text>')
    if limit is not None:
        out.append(f'<line x1="{LEFT}" y1="{y(limit):.1f}" x2="{W - RIGHT}" y2="{y(limit):.1f}" '
                   f'stroke="{LIMIT_RED}" stroke-width="1.3" stroke-dasharray="6 4"/>')
        out.append(f'<text x="{LEFT + 4}" y="{y(limit) - 4:.1f}" font-size="11" fill="{LIMIT_RED}">'
                   f'limit {html.escape(names.fmt(limit, unit))}</text>')
    runs = sorted(times, key=lambda r: times[r])
    for prev, run in zip(runs, runs[1:]):
        if machines.get(prev) != machines.get(run):
            out.append(f'<line x1="{x(run):.1f}" y1="{TOP}" x2="{x(run):.1f}" y2="{H - BOTTOM}" '
                       f'stroke="#999" stroke-dasharray="4 3"><title>machine changed</title></line>')
    for k, seq in enumerate(seqs):
        i = styles[seq["candidate"]]
        colour, dash, mark = OKABE_ITO[i % len(OKABE_ITO)], DASHES[i % len(DASHES)], MARKS[i % len(MARKS)]
        steps = {c["run_id"] for c in seq["change_points"]}
        path = " ".join(f"{x(p['run_id']):.1f},{y(p['value']):.1f}" for p in seq["points"])
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.6"{dashed}/>')
        for p in seq["points"]:
            px, py = x(p["run_id"]), y(p["value"])
            if p["interval"] and all(v is not None and (not log or v > 0) for v in p["interval"]):
                a, b = p["interval"]
                out.append(f'<line x1="{px:.1f}" y1="{y(a):.1f}" x2="{px:.1f}" y2="{y(b):.1f}" '
                           f'stroke="{colour}" stroke-opacity="0.6"/>')
            tip = f"{seq['candidate']}, {str(p['started_at'])[:16]} ({p['run_id']}): {names.fmt(p['value'], unit)}"
            out.append(_mark(mark, px, py, colour, tip))
            if p["run_id"] in steps:
                out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="8" fill="none" stroke="#000" stroke-width="1.5">'
                           f'<title>step detected here</title></circle>')
        legend_y = TOP + 16 * (k + 1)
        out.append(f'<line x1="{W - RIGHT + 6}" y1="{legend_y - 4}" x2="{W - RIGHT + 26}" y2="{legend_y - 4}" '
                   f'stroke="{colour}" stroke-width="1.6"{dashed}/>')
        out.append(_mark(mark, W - RIGHT + 16, legend_y - 4, colour, seq["candidate"]))
        out.append(f'<text x="{W - RIGHT + 30}" y="{legend_y}" font-size="12">'
                   f'{html.escape(seq["candidate"])}</text>')
    out.append(f'<text x="{LEFT}" y="{H - 6}" font-size="11" fill="#555">run date '
               f'({len(runs)} runs; dashed vertical: another machine)</text></svg>')
    return "\n".join(out)


def trend_page(seqs: list[dict], change_lines: list[str], title: str = "benchharness history",
               focus: list[str] | None = None, limits: dict[str, float] | None = None) -> str:
    """The whole HTML page (no script, no external file): the figures in `focus` (the
    suite's limits and objective) first, with their `limits` drawn; the others folded."""
    from benchharness.report.html import page

    machines = {p["run_id"]: p["machine"] for s in seqs for p in s["points"]}
    candidates = list(dict.fromkeys(s["candidate"] for s in seqs))
    styles = {c: i for i, c in enumerate(candidates)}
    by_figure: dict[tuple[str, str], list[dict]] = {}
    for s in seqs:
        by_figure.setdefault((s["suite"], s["figure"]), []).append(s)
    focus = list(focus or [])
    rank = {f: i for i, f in enumerate(focus)}
    ordered = sorted(by_figure, key=lambda k: (rank.get(k[1], len(rank)), k[0], k[1]))
    runs = {p["run_id"] for s in seqs for p in s["points"]}
    body = [f"<h1>{html.escape(title)}</h1>",
            f'<p class="note">{len(runs)} runs. First the figures the suite\'s limits and objective name '
            f"(its limit as a dashed line), then the others. Latencies on a log scale; a ringed point: "
            f"a detected step.</p>",
            "<h2>Steps detected</h2>",
            "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in change_lines) + "</ul>"
            if change_lines else "<p>No step in any figure.</p>"]
    named = [k for k in ordered if k[1] in rank]
    others = [k for k in ordered if k[1] not in rank]
    several = len({k[0] for k in ordered}) > 1

    def block(key) -> str:
        head = f"<h3>{html.escape(key[0])}</h3>" if several else ""
        return (head + _chart(key[1], by_figure[key], machines, styles, (limits or {}).get(key[1])))

    if named:
        body.append("<h2>What the suite judges</h2>")
        body += [block(k) for k in named]
    if others:
        body.append(f"<h2>Other figures</h2><details{' open' if not named else ''}><summary>"
                    f"{len(others)} more charts</summary>" + "".join(block(k) for k in others) + "</details>")
    return page(title, "\n".join(body))
