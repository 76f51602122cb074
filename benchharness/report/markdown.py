"""report.md: the same blocks as report.html, as GitHub-flavoured Markdown (charts linked as
files beside it, for a pull request or a wiki page)."""

from __future__ import annotations

from benchharness.report.document import Bullets, Chart, Checklist, Heading, InlineSvg, Para, Table

_MARK = {"met": "✅", "declared": "📝", "attention": "⚠️", "missing": "❌"}


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(t: Table) -> list[str]:
    headers = t.headers if any(t.headers) else ["", ""]
    lines = ["| " + " | ".join(_cell(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in t.rows]
    if t.caption:
        lines += ["", f"_{t.caption}_"]
    return lines


def render_markdown(blocks: list) -> str:
    out: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            out += ["#" * b.level + " " + b.text, ""]
        elif isinstance(b, Para):
            out += [f"> **{b.text}**" if b.kind.startswith("verdict") else
                    f"> ⚠️ {b.text}" if b.kind == "warning" else (f"_{b.text}_" if b.kind else b.text), ""]
        elif isinstance(b, Table):
            out += _table(b) + [""]
        elif isinstance(b, Chart):
            out += ([f"_{b.title}: {b.skipped}._"] if b.skipped else [f"![{b.title}]({b.png})"]) + [""]
        elif isinstance(b, Bullets):
            out += [f"- {item}" for item in b.items] + [""]
        elif isinstance(b, InlineSvg):  # no file to link: the chart is in report.html only
            continue
        elif isinstance(b, Checklist):
            for i, it in enumerate(b.items, 1):
                out.append(f"{i}. {_MARK.get(it.status, '')} **{it.status.upper()}** — {it.question}")
                out += [f"    - {line}" for line in it.evidence]
            out.append("")
    return "\n".join(out)
