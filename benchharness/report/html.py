"""report.html: one self-contained page (charts inlined as data URIs, CSS inline, one small
inline script of our own that sorts a table by the column clicked, nothing fetched: no CDN, no
fonts or images), readable on a laptop and printable, and readable with scripts off."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from benchharness.report.document import Bullets, Chart, Checklist, Heading, InlineSvg, Para, Table

CSS = """
:root { --ok:#009E73; --bad:#D55E00; --warn:#E69F00; --muted:#555; --line:#ddd; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:#111;
       max-width: 1100px; margin: 0 auto; padding: 24px; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; border-bottom: 2px solid var(--line); padding-bottom: 4px; margin-top: 1.8em; }
.note { color: var(--muted); }
.verdict-ok, .verdict-none { font-size: 1.1em; padding: 12px 16px; border-left: 6px solid var(--ok);
       background: #eef8f4; }
.verdict-none { border-color: var(--bad); background: #fbefe8; }
.warning { padding: 6px 12px; border-left: 4px solid var(--warn); background: #fdf6e6; color: #5a3d00; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 4px; font-size: 0.9em; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
.nw { white-space: nowrap; }
table.wide { font-size: 0.8em; } table.wide th, table.wide td { padding: 3px 5px; }
th { white-space: normal; }
th.sortable { cursor: pointer; } th.sortable:hover { background: #e8e8e8; }
th[aria-sort=ascending]::after { content: " \\25B2"; } th[aria-sort=descending]::after { content: " \\25BC"; }
caption { caption-side: bottom; text-align: left; color: var(--muted); font-size: 0.85em; padding-top: 4px; }
td.PASS, td.qualifies, td.met, td.declared { color: var(--ok); font-weight: 600; }
td.FAIL, td.INVALID, td.blocked, td.crashed, td.missing { color: var(--bad); font-weight: 600; }
td.WARN, td.UNKNOWN, td.INCONCLUSIVE, td.inconclusive, td.attention { color: #8a5a00; font-weight: 600; }
figure { margin: 16px 0; }
figure img { width: 100%; max-width: 860px; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: 0.85em; }
.checklist > li { margin-bottom: 12px; }
.checklist .status { display: inline-block; min-width: 6.5em; font-weight: 700; text-transform: uppercase;
       font-size: 0.8em; }
.status.met, .status.declared { color: var(--ok); } .status.missing { color: var(--bad); }
.status.attention { color: #8a5a00; }
.checklist ul { margin: 2px 0 0 0; color: #333; font-size: 0.92em; }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  h2 { break-after: avoid; } figure, table, .checklist li { break-inside: avoid; }
  .scroll { overflow: visible; }
}
"""

#: click a column head to sort its table (again: the other way); figures sort by their number
#: ($1,234.5 ms -> 1234.5), the rest as text, a missing value last. Vendored here, no CDN.
SCRIPT = r"""
document.querySelectorAll("table").forEach(function (table) {
  var body = table.tBodies[0]; if (!body || !table.tHead) return;
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
    th.classList.add("sortable"); th.title = "sort by this column";
    th.addEventListener("click", function () {
      var up = th.getAttribute("aria-sort") !== "ascending";
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", up ? "ascending" : "descending");
      var key = function (row) {
        var text = (row.cells[col] || {}).textContent || "";
        var m = text.replace(/[$,\u2212]/g, function (c) { return c === "\u2212" ? "-" : ""; }).match(/^\s*[-+]?\d*\.?\d+(e[-+]?\d+)?/i);
        return m ? [0, parseFloat(m[0])] : [text.trim() === "-" || text.trim() === "" ? 2 : 1, text];
      };
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x[0] !== y[0]) return x[0] - y[0];
        var d = x[0] === 0 ? x[1] - y[1] : String(x[1]).localeCompare(String(y[1]));
        return up ? d : -d;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""

_STATUS_CELLS = {"INVALID", "PASS", "FAIL", "WARN", "UNKNOWN", "INCONCLUSIVE", "qualifies", "inconclusive", "blocked",
                 "crashed", "met", "missing", "attention", "declared"}
_MIME = {"svg": "image/svg+xml", "png": "image/png"}


def _e(text) -> str:
    return html.escape(str(text), quote=True)


_BOLD = re.compile(r"\*\*(.+?)\*\*")


def _inline(text) -> str:
    """Escaped text with Markdown's **bold** as <b> (the one inline markup a block carries)."""
    return _BOLD.sub(r"<b>\1</b>", _e(text))


def _cell(text: str, tag: str = "td") -> str:
    classes = [text] if text in _STATUS_CELLS else []
    if len(text) <= 14 and tag == "td":  # figures, short words: never broken; headers wrap
        classes.append("nw")
    cls = f' class="{_e(" ".join(classes))}"' if classes else ""
    return f"<{tag}{cls}>{_e(text)}</{tag}>"


def _table(t: Table) -> str:
    head = "".join(_cell(h, "th") for h in t.headers) if any(t.headers) else ""
    rows = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in t.rows)
    cap = f"<caption>{_e(t.caption)}</caption>" if t.caption else ""
    # many columns: a smaller font so the table fits the page instead of scrolling
    wide = ' class="wide"' if len(t.headers) > 8 else ""
    return f'<div class="scroll"><table{wide}>{cap}{"<thead><tr>" + head + "</tr></thead>" if head else ""}<tbody>{rows}</tbody></table></div>'


def _chart(c: Chart, run_dir: Path) -> str:
    if c.skipped:
        return f'<p class="note"><b>{_e(c.title)}</b>: {_e(c.skipped)}.</p>'
    # SVG stays sharp on paper; a data URI keeps each chart's ids apart from the others'
    for kind in ("svg", "png"):
        rel = getattr(c, kind)
        path = run_dir / rel if rel else None
        if path and path.is_file():
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            return (f'<figure id="chart-{_e(c.name)}"><img alt="{_e(c.title)}" src="data:{_MIME[kind]};base64,{data}">'
                    f"<figcaption>{_e(c.title)}</figcaption></figure>")
    return f'<p class="note"><b>{_e(c.title)}</b>: chart file missing.</p>'


def _checklist(cl: Checklist) -> str:
    items = []
    for it in cl.items:
        evidence = "".join(f"<li>{_e(line)}</li>" for line in it.evidence)
        items.append(f'<li><span class="status {_e(it.status)}">{_e(it.status)}</span> <b>{_e(it.question)}</b>'
                     f"<ul>{evidence}</ul></li>")
    return f'<ol class="checklist">{"".join(items)}</ol>'


def render_html(blocks: list, run_dir: str | Path, title: str | None = None) -> str:
    """The blocks as one page; chart files are read from run_dir. The page title is `title`,
    else the first level-1 heading."""
    run_dir = Path(run_dir)
    title = title or next((b.text for b in blocks if isinstance(b, Heading) and b.level == 1),
                          "benchharness report")
    body = []
    for b in blocks:
        if isinstance(b, Heading):
            body.append(f"<h{b.level}>{_e(b.text)}</h{b.level}>")
        elif isinstance(b, Para):
            body.append(f'<p class="{_e(b.kind)}">{_e(b.text)}</p>' if b.kind else f"<p>{_e(b.text)}</p>")
        elif isinstance(b, Table):
            body.append(_table(b))
        elif isinstance(b, Chart):
            body.append(_chart(b, run_dir))
        elif isinstance(b, Checklist):
            body.append(_checklist(b))
        elif isinstance(b, Bullets):
            body.append("<ul>" + "".join(f"<li>{_inline(item)}</li>" for item in b.items) + "</ul>")
        elif isinstance(b, InlineSvg):  # the tool's own markup (numbers, escaped names)
            body.append(b.markup)
    return page(title, "\n".join(body))


def page(title: str, body: str) -> str:
    """The one page shell of every HTML page the tool writes (the run report, `bench compare
    --html`, the history page, `bench monitor`'s report): self-contained, the same styles,
    readable and printable."""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title><style>{CSS}</style></head><body>\n{body}\n"
            f"<script>{SCRIPT}</script>\n</body></html>\n")
