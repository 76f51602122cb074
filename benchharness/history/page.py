"""The trend page: one chart per figure, one series per candidate, as self-contained SVG.

x is the run order (oldest left), y the figure; each point carries its interval as a
vertical bar when the run recorded one; a dashed vertical line marks a run measured on
another machine than the run before; a ringed point is where a step was detected.
"""

from __future__ import annotations

import html

from benchharness.decide import figures as names

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
W, H, LEFT, RIGHT, TOP, BOTTOM = 760, 260, 70, 150, 30, 40


def _chart(figure: str, seqs: list[dict], run_order: list[str], machines: dict[str, str]) -> str:
    unit = seqs[0]["unit"]
    ys = [v for s in seqs for p in s["points"] for v in [p["value"], *(p["interval"] or [])]
          if v is not None]
    lo, hi = min(ys), max(ys)
    pad = (hi - lo) * 0.08 or abs(hi) * 0.05 or 1.0
    lo, hi = lo - pad, hi + pad
    pos = {run: i for i, run in enumerate(run_order)}
    span = max(len(run_order) - 1, 1)

    def x(run):
        return LEFT + (W - LEFT - RIGHT) * pos[run] / span

    def y(v):
        return TOP + (H - TOP - BOTTOM) * (1 - (v - lo) / (hi - lo))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" role="img">',
           f'<text x="{LEFT}" y="18" font-weight="bold">{html.escape(figure)}'
           f'{" (" + html.escape(unit) + ")" if unit else ""}, {html.escape(names.better(figure))} is better</text>',
           f'<line x1="{LEFT}" y1="{H - BOTTOM}" x2="{W - RIGHT}" y2="{H - BOTTOM}" stroke="#888"/>',
           f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{H - BOTTOM}" stroke="#888"/>']
    for v in (lo + pad, (lo + hi) / 2, hi - pad):
        out.append(f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end" font-size="11">'
                   f'{html.escape(names.fmt(v, unit))}</text>')
    for prev, run in zip(run_order, run_order[1:]):
        if machines.get(prev) != machines.get(run):
            out.append(f'<line x1="{x(run):.1f}" y1="{TOP}" x2="{x(run):.1f}" y2="{H - BOTTOM}" '
                       f'stroke="#999" stroke-dasharray="4 3"><title>machine changed</title></line>')
            out.append(f'<text x="{x(run) + 3:.1f}" y="{TOP + 10}" font-size="10" fill="#666">machine</text>')
    for k, seq in enumerate(seqs):
        colour = COLOURS[k % len(COLOURS)]
        steps = {c["run_id"] for c in seq["change_points"]}
        path = " ".join(f"{x(p['run_id']):.1f},{y(p['value']):.1f}" for p in seq["points"])
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
        for p in seq["points"]:
            px, py = x(p["run_id"]), y(p["value"])
            if p["interval"]:
                a, b = p["interval"]
                out.append(f'<line x1="{px:.1f}" y1="{y(a):.1f}" x2="{px:.1f}" y2="{y(b):.1f}" stroke="{colour}"/>')
            tip = html.escape(f"{seq['candidate']} {p['run_id']}: {names.fmt(p['value'], unit)}")
            out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3.5" fill="{colour}"><title>{tip}</title></circle>')
            if p["run_id"] in steps:
                out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="8" fill="none" stroke="#d00" stroke-width="2">'
                           f'<title>step detected here</title></circle>')
        out.append(f'<text x="{W - RIGHT + 10}" y="{TOP + 14 * (k + 1)}" fill="{colour}" font-size="12">'
                   f'{html.escape(seq["candidate"][:20])}</text>')
    out.append(f'<text x="{LEFT}" y="{H - 12}" font-size="11" fill="#666">runs, oldest to newest '
               f'({len(run_order)})</text></svg>')
    return "\n".join(out)


def trend_page(seqs: list[dict], change_lines: list[str], title: str = "benchharness history") -> str:
    """The whole HTML page (no script, no external file)."""
    runs = sorted({(p["started_at"] or "", p["run_id"]) for s in seqs for p in s["points"]})
    run_order = [r for _, r in runs]
    machines = {p["run_id"]: p["machine"] for s in seqs for p in s["points"]}
    by_figure: dict[str, list[dict]] = {}
    for s in seqs:
        by_figure.setdefault(f"{s['suite']}: {s['figure']}", []).append(s)
    body = [f"<h1>{html.escape(title)}</h1>",
            f"<p>{len(run_order)} runs. Dashed line: another machine; red ring: a detected step.</p>",
            "<h2>Steps detected</h2>",
            "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in change_lines) + "</ul>"
            if change_lines else "<p>No step in any figure.</p>"]
    for label, group in by_figure.items():
        body.append(f"<h3>{html.escape(label)}</h3>")
        body.append(_chart(group[0]["figure"], group, [r for r in run_order if any(
            p["run_id"] == r for s in group for p in s["points"])], machines))
    return ("<!doctype html><html><head><meta charset='utf-8'><title>" + html.escape(title)
            + "</title><style>body{font-family:sans-serif;margin:2em;max-width:800px}</style></head><body>"
            + "\n".join(body) + "</body></html>")
