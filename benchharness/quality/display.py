"""Terminal view of the quality sections: every candidate against every baseline.

Reads saved results only (a report can be remade without re-running).
"""

from __future__ import annotations

from benchharness import schema
from benchharness.numbers import metric as _num
from benchharness.numbers import number


def _signed(v) -> str:
    return "-" if v is None else ("+" if v >= 0 else "-") + number(abs(v), 3)


def with_interval(value, ci) -> str:
    """'0.958 [0.93, 0.979]', or the value alone when there is no interval."""
    if value is None:
        return "-"
    return _num(value) + (f" [{_num(ci[0])}, {_num(ci[1])}]" if ci else "")


def metric_cell(q: dict) -> str:
    """The primary metric with its interval, e.g. for the run summary table."""
    metric = q.get("primary_metric")
    return with_interval((q.get("test") or {}).get(metric), (q.get("ci") or {}).get(metric))


def baseline_cell(q: dict) -> str:
    """'beats logistic 0.958 [0.923, 0.986]': the verdict and the best baseline's figure."""
    d = q.get("delta_vs_best_baseline")
    if not d:
        return "-"
    words = {"beats": "beats", "no": "does not beat", "worse": "worse than", "-": "vs"}[_verdict(q)]
    return f"{words} {d['baseline']} {with_interval(d.get('baseline_value'), d.get('baseline_ci'))}"


def _verdict(q: dict) -> str:
    beats = q.get("beats_baseline")
    if beats is None:
        return "-"
    if beats:
        return "beats"
    lo, hi = q["delta_vs_best_baseline"]["ci"]
    worse = hi < 0 if q.get("higher_is_better") else lo > 0
    return "worse" if worse else "no"


def _worst_group(q: dict) -> str:
    worst = []
    for col, sub in (q.get("subgroups") or {}).items():
        if sub.get("worst"):
            worst.append(f"{col}={sub['worst']['group']}: {_num(sub['worst']['value'])}")
    return "; ".join(worst) or "-"


def _production(q: dict) -> str:
    p = q.get("production") or {}
    if p.get("typical") is None:
        return "-"
    worst = (p.get("worst") or {}).get("value")
    window = f"{p['window']} rows" if isinstance(p["window"], int) else p["window"]
    return f"{_num(p['typical'])} typ / {_num(worst)} worst per {window}"


def _row(entry: dict, role: str) -> list[str]:
    q = schema.quality(entry)
    metric = q.get("primary_metric")
    delta = q.get("delta_vs_best_baseline") or {}
    gap = (q.get("overfit") or {})
    return [
        entry.get("name", "?"),
        role,
        metric_cell(q) if entry.get("status") == "ok" else "FAILED",
        _num((q.get("train") or {}).get(metric)),
        "yes" if gap.get("overfit") else ("no" if gap.get("overfit") is False else "-"),
        f"{_signed(delta.get('delta'))} [{_signed(delta['ci'][0])}, {_signed(delta['ci'][1])}]"
        if delta.get("ci") else "-",
        _num(q.get("normalised_gain")),
        _verdict(q),
        _worst_group(q),
        _production(q),
    ]


def quality_table(results: dict) -> str | None:
    """Candidates then baselines, the best baseline starred, then one sentence per candidate."""
    from benchharness.report.console import render_table

    summary = schema.run_quality(results)
    if not summary:
        return None
    best = (summary.get("best_baseline") or {}).get("name")
    rows = []
    for c in schema.candidates(results):
        role = "baseline (declared)" if c.get("role") == "baseline" else "candidate"
        rows.append(_row(c, role + (" *" if c.get("name") == best else "")))
    for b in schema.baselines(results):
        rows.append(_row(b, "baseline" + (" *" if b.get("name") == best else "")))
    conf = summary.get("bootstrap", {}).get("confidence", 0.95)
    metric = summary["primary_metric"]
    header = ["model", "role", f"test {metric} [{conf:.0%} CI]", "train", "overfit",
              "delta vs best baseline [CI]", "norm. gain", "verdict", "worst subgroup", "production window"]
    lines = [f"quality ({summary['task']}; * = best baseline; bootstrap {summary['bootstrap']['resamples']} resamples)",
             render_table(rows, header, priorities=[0, 1, 2, 6, 7, 3, 8, 4, 5, 9])]
    for c in schema.candidates(results):
        q = schema.quality(c)
        if q.get("baseline_statement"):
            lines.append("  " + q["baseline_statement"])
        parity = schema.parity(c)
        if "label_agreement" in parity:
            lines.append(f"  {c['name']} parity with {parity['original']}: labels agree on "
                         f"{parity['label_agreement']:.2%} of rows, max |proba diff| {_num(parity.get('max_abs_proba_diff'))}")
    warning = (summary.get("class_balance") or {}).get("warning")
    if warning:
        lines.append("  warning: " + warning)
    return "\n".join(lines)
