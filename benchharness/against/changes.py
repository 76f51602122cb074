"""What changed against the reference run, each figure judged on paired per-round ratios.

For every candidate measured with its reference (`NAME` and `NAME@reference`, in the same
rounds of this run), each measured figure gets a row shaped as `bench compare --json` rows:
`candidate`, `figure`, `unit`, `before` (the reference, measured now), `after`, `change`,
`interval`, `rounds`, `result` (regression | improvement | equivalent | inconclusive, against
`threshold`), `detectable` (the smallest change the row could show), `regression`. The primary
quality metric is compared on the same test rows.

`gated`: the figures whose inconclusive row makes the answer inconclusive (exit 4): those the
suite's limits and objective name, and p50, p99, qps and rows/s. Any figure's regression makes
it no (exit 1). `unsettled(ctx)` names the (candidate, measurement) pairs whose gated rows
are inconclusive, for the sequential rule to add rounds to both sides.
"""

from __future__ import annotations

import re

from benchharness import exit_codes
from benchharness.against.reference import SUFFIX
from benchharness.context import RunContext
from benchharness.decide import figures as names
from benchharness.decide import paired
from benchharness.suite import Suite

FIGURES = ("p50_ms", "p90_ms", "p99_ms", "p999_ms", "mean_ms", "qps", "open_p99_ms", "sustainable_rps",
           "rows_per_s", "cpu_ms_per_prediction", "batch_usd_per_million", "realtime_usd_per_million")
ALWAYS_GATED = ("p50_ms", "p99_ms", "qps", "rows_per_s")


def pairs(ctx: RunContext) -> list[tuple]:
    """(this run's candidate, its reference) pairs, both measured."""
    by_name = {c.name: c for c in ctx.candidates}
    return [(by_name[c.name.removesuffix(SUFFIX)], c) for c in ctx.candidates
            if c.result.get("role") == "reference" and c.ok
            and c.name.removesuffix(SUFFIX) in by_name and by_name[c.name.removesuffix(SUFFIX)].ok]


def gated(suite: Suite, results: dict | None = None) -> set[str]:
    """Figures named by the suite's limits and objective (a mode-dependent name such as
    usd_per_million as the figure(s) it stands for in this run), and the always-gated ones."""
    text = " ".join(str(x) for x in [suite.limits, suite.objective,
                                    *[c.limits for c in suite.candidates]])
    named = {f for name in re.findall(r"[A-Za-z_]\w*", text) for f in names.explicit(name, results)}
    return (named & set(FIGURES)) | set(ALWAYS_GATED)


def figure_row(name: str, cand: dict, ref: dict, figure: str, threshold: float, results: dict) -> dict | None:
    before, after = names.resolve(figure, ref, results), names.resolve(figure, cand, results)
    if before is None or after is None:
        return None
    higher = names.better(figure, cand, results) == "higher"
    row = {"candidate": name, "figure": figure, "unit": names.unit(figure), "before": before, "after": after,
           "better": "higher" if higher else "lower"}
    change = paired.compare(ref, cand, figure, results)
    if change is None:
        row.update(change=after / before - 1 if before else None, interval=None, rounds=0, detectable=None,
                   result="untested", test=f"fewer than {paired.MIN_ROUNDS} rounds measured both")
    else:
        row.update(change=change.change, interval=[change.low, change.high], rounds=change.rounds,
                   detectable=paired.detectable(change.half_width, threshold),
                   result=paired.outcome(change, higher, threshold),
                   test=f"per-round ratios over {change.rounds} rounds, 95% t interval")
    row["regression"] = row["result"] == paired.REGRESSION
    return row


def quality_row(name: str, cand: dict, ref: dict, results: dict, threshold: float) -> dict | None:
    metric = names.primary_metric(cand, results)
    before, after = names.quality_value(ref, metric), names.quality_value(cand, metric)
    if metric is None or before is None or after is None:
        return None
    from benchharness.decide.compare import _judge_quality

    higher = names.better(metric, cand, results) == "higher"
    change = (after - before) / abs(before) if before else None
    judged = _judge_quality(ref, cand, metric, change, higher, threshold, same_split=True)
    return {"candidate": name, "figure": metric, "unit": "", "before": before, "after": after,
            "better": "higher" if higher else "lower", "change": change, "interval": None, "rounds": 0,
            "detectable": None, **judged, "regression": judged["result"] == paired.REGRESSION}


def rows_for(ctx: RunContext, threshold: float) -> list[dict]:
    out = []
    for cand, ref in pairs(ctx):
        row = quality_row(cand.name, cand.result, ref.result, ctx.results, threshold)
        out += [row] if row else []
        for figure in FIGURES:
            row = figure_row(cand.name, cand.result, ref.result, figure, threshold, ctx.results)
            out += [row] if row else []
    return out


def unsettled(ctx: RunContext) -> list[tuple[str, str]]:
    """(candidate, measurement) pairs, both sides of each inconclusive gated row."""
    from benchharness.decide.sequential import measurement_of

    section = ctx.results.get("against")
    if not section:
        return []
    threshold = section.get("threshold", paired.AGAINST_THRESHOLD)
    keep = gated(ctx.suite, ctx.results)
    out: list[tuple[str, str]] = []
    for row in rows_for(ctx, threshold):
        measurement = measurement_of(row["figure"])
        if row["figure"] in keep and row["result"] == paired.INCONCLUSIVE and measurement:
            for name in (row["candidate"], row["candidate"] + SUFFIX):
                if (name, measurement) not in out:
                    out.append((name, measurement))
    return out


def against_stage(ctx: RunContext) -> None:
    section = ctx.results.get("against")
    if not section:
        return
    threshold = section.setdefault("threshold", paired.AGAINST_THRESHOLD)
    rows = rows_for(ctx, threshold)
    keep = gated(ctx.suite, ctx.results)
    regressions = [r for r in rows if r["regression"]]
    unsure = [r for r in rows if r["result"] == paired.INCONCLUSIVE and r["figure"] in keep]
    section.update(rows=rows, gated=sorted(keep), regressions=len(regressions), inconclusive=len(unsure),
                   exit_code=exit_codes.NO if regressions else exit_codes.INCONCLUSIVE if unsure
                   else exit_codes.OK)
    for r in regressions:
        ctx.progress(f"[{r['candidate']}] REGRESSION against {section['run']}: {r['figure']} "
                     f"{r['change']:+.1%} [{r['interval'][0]:+.1%}, {r['interval'][1]:+.1%}]"
                     if r.get("interval") else f"[{r['candidate']}] REGRESSION: {r['figure']}")


def summary_lines(results: dict, width: int = 100) -> list[str]:
    """The terminal's block: what changed against the reference run, one row per figure
    (under 100 columns without the before and after values)."""
    from benchharness.decide.compare import changes_table

    section = results.get("against") or {}
    if not section.get("run"):
        return []
    regs = section.get("regressions", 0)
    out = ["", f"against {section['run']} (measured again in this run's rounds; a regression is worse "
               f"by more than {section.get('threshold', paired.AGAINST_THRESHOLD):.0%} over the whole 95% "
               "interval):",
           f"  {regs} regression{'s' if regs != 1 else ''}, {section.get('inconclusive', 0)} inconclusive "
           f"on the gated figures ({', '.join(section.get('gated', []))})"]
    out.append("  change: the mean per-round ratio (before and after pool every round, so they can "
               "differ from it)")
    out += [f"  not measured again: {r['candidate']}: {r['reason']}" for r in section.get("refused", [])]
    if section.get("rows"):
        out += changes_table(section["rows"], width)
    return out
