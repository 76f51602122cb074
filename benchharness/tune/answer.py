"""The answer of a tuned candidate, once every variant has been measured and judged.

For each tuned candidate: the paired quality difference of every converted or quantized
variant against the model it came from (a loss beyond `tune.max_quality_loss` marks the
variant, and a marked variant cannot be recommended, whatever it costs), the Pareto front on
quality x p99 x cost per 1M predictions, the recommended variant (qualifies on the limits,
not marked, cheapest, then fastest), a chart and a deployment file for it. All of it goes
to `results["tune"][name]`.
"""

from __future__ import annotations

import math

from benchharness import schema
from benchharness.context import CandidateRun, RunContext
from benchharness.decide import figures
from benchharness.decide.verdict import Term, pareto_front, rank
from benchharness.tune.deploy import write_deployment

COST_FIGURES = ("usd_per_million", "batch_usd_per_million", "realtime_usd_per_million")


def _original_rows(ctx: RunContext, cand: CandidateRun, settings):
    """The scored test rows of the model a variant came from, or None."""
    from benchharness.quality.stage import rows_for
    from benchharness.quality.task import is_classification

    if cand.original_of != cand.name:
        return ctx.quality_rows.get(cand.original_of)
    est = cand.trained_model  # our own estimator (or a file the run already warned about)
    if est is None:
        return None
    # the rows the export saw; by name when the estimator was fitted on named columns
    X = ctx.dataset.X_test if hasattr(est, "feature_names_in_") else ctx.dataset.X_test.to_numpy()
    proba = (
        est.predict_proba(X)
        if is_classification(settings.task) and hasattr(est, "predict_proba")
        else None
    )
    return rows_for(
        settings.task, ctx.dataset.y_test, est.predict(X), proba, getattr(est, "classes_", None)
    )


def quality_guard(
    ctx: RunContext, cand: CandidateRun, tolerance: float, min_agreement: float
) -> dict | None:
    """Paired difference of the primary metric, variant minus original, with its interval;
    `beyond_tolerance` when the variant loses more than `tolerance`, or (a classifier) agrees
    with the original's labels on fewer than `min_agreement` of the test rows: a variant that
    scores as well by changing its answers is not the model that was validated."""
    from benchharness.quality.bootstrap import paired_difference
    from benchharness.quality.stage import _settings

    if not cand.original_of or ctx.dataset is None or "quality" not in ctx.results:
        return None
    settings = _settings(ctx)
    mine = ctx.quality_rows.get(cand.name)
    theirs = _original_rows(ctx, cand, settings)
    metric = settings.primary_metric
    if mine is None or theirs is None:
        return {
            "metric": metric,
            "delta": None,
            "ci": None,
            "reason": "the original has no scored rows",
        }
    diff = paired_difference(mine, theirs, metric, settings.plan)
    delta = diff.get("delta")
    loss = None if delta is None else (-delta if settings.higher_is_better else delta)
    agreement = schema.parity(cand.result).get("label_agreement")
    why = []
    if loss is not None and loss > tolerance:
        why.append(
            f"loses {loss:.4g} {metric} against {cand.original_of} "
            f"(tune.max_quality_loss {tolerance})"
        )
    if agreement is not None and agreement < min_agreement:
        why.append(
            f"predicts the label of {cand.original_of} on {agreement:.1%} of test rows "
            f"(tune.min_label_agreement {min_agreement:.0%})"
        )
    out = {
        "metric": metric,
        "delta": delta,
        "ci": diff.get("ci"),
        "loss": loss,
        "tolerance": tolerance,
        "min_label_agreement": min_agreement,
        "beyond_tolerance": bool(why),
        "why": "; ".join(why) or None,
    }
    if diff.get("reason"):
        out["reason"] = diff["reason"]
    return out


def _cost_figure(cands: list[dict], results: dict) -> str | None:
    for name in COST_FIGURES:
        if cands and all(figures.resolve(name, c, results) is not None for c in cands):
            return name
    return None


def _row(c: dict, results: dict, cost: str | None, verdict_rows: dict) -> dict:
    parity = schema.parity(c)
    guard = parity.get("quality_guard") or {}
    row = {
        "name": c["name"],
        "variant": schema.variant(c) or None,
        "status": c.get("status"),
        "quality": figures.resolve("primary", c, results),
        "p99_ms": figures.resolve("p99_ms", c, results),
        "p99_ms_interval": figures.interval(c, "p99_ms"),
        "cost_per_1m": figures.resolve(cost, c, results) if cost else None,
        "cost_interval": figures.interval(c, cost, results) if cost else None,
        "rows_per_s": figures.resolve("rows_per_s", c, results),
        "label_agreement": parity.get("label_agreement"),
        "max_abs_proba_diff": parity.get("max_abs_proba_diff"),
        "quality_delta": guard.get("delta"),
        "quality_delta_ci": guard.get("ci"),
        "quality_loss_beyond_tolerance": bool(guard.get("beyond_tolerance")),
        "replicas": (c.get("cost") or {}).get("replicas_per_instance"),
        "replicas_source": ((c.get("cost") or {}).get("replicas_plan") or {}).get("source"),
        "verdict": (verdict_rows.get(c["name"]) or {}).get(
            "status", "crashed" if c.get("status") != "ok" else None
        ),
    }
    return row


def _front(rows: list[dict], higher_is_better: bool) -> list[str]:
    axes = [
        k
        for k in ("quality", "p99_ms", "cost_per_1m")
        if rows and all(r[k] is not None for r in rows)
    ]
    if not axes:
        return []
    senses = tuple("higher" if (a == "quality" and higher_is_better) else "lower" for a in axes)
    return pareto_front({r["name"]: tuple(r[a] for a in axes) for r in rows}, senses)


def pick(rows: list[dict], results: dict | None = None, cands: dict[str, dict] | None = None,
         cost: str | None = None) -> str | None:
    """The recommended variant: qualifies on the limits and keeps its quality; the cheapest,
    then the fastest, then the best quality. With the run's candidates (`cands`, by name), the
    variants are ranked as the verdict ranks (`verdict.rank`): measured in the same rounds,
    one is cheaper or faster only when the per-round ratios show it, so noise does not pick
    between equal deployments; without them, by point values."""
    ok = [r for r in rows if r["verdict"] == "qualifies" and not r["quality_loss_beyond_tolerance"]]
    if not ok:
        return None
    if results is not None and cands and all(r["name"] in cands for r in ok):
        terms = ([Term(cost, "min")] if cost else []) + [Term("p99_ms", "min"), Term("primary", None)]
        return rank([cands[r["name"]] for r in ok], terms, results)[0]["name"]

    def key(r):
        inf = math.inf
        return (
            r["cost_per_1m"] if r["cost_per_1m"] is not None else inf,
            r["p99_ms"] if r["p99_ms"] is not None else inf,
            -(r["quality"] or 0.0),
        )

    return min(ok, key=key)["name"]


def tune_guard_stage(ctx: RunContext) -> None:
    """Before the verdict: each converted or quantized variant's quality guard against the
    model it came from (`parity.quality_guard`). A guard beyond tolerance is a hard limit the
    verdict applies (`verdict.decide`), so `bench report RUN --suite` judges it again alike."""
    section = ctx.results.get("tune")
    if not section:
        return
    by_name = {c.name: c for c in ctx.candidates}
    for entry in section.values():
        tolerance = entry["space"]["max_quality_loss"]
        for name in entry["variants"]:
            cand = by_name.get(name)
            if cand is None or not cand.ok or not cand.original_of:
                continue
            guard = quality_guard(ctx, cand, tolerance, entry["space"]["min_label_agreement"])
            if guard is not None:
                cand.result.setdefault("parity", {})["quality_guard"] = guard
                if guard["beyond_tolerance"]:
                    ctx.progress(f"[{cand.name}] tune: quality not kept: {guard['why']}")


def tune_answer_stage(ctx: RunContext) -> None:
    section = ctx.results.get("tune")
    if not section:
        return
    by_name = {c.name: c for c in ctx.candidates}
    higher = bool(schema.run_quality(ctx.results).get("higher_is_better", True))
    for base, entry in section.items():
        tolerance = entry["space"]["max_quality_loss"]
        cands = [by_name[n] for n in entry["variants"] if n in by_name]
        measured = [c.result for c in cands if c.ok]
        cost = _cost_figure(measured, ctx.results)
        cost = figures.in_mode(cost, ctx.results) if cost else None  # the explicit one: batch or real time
        verdict_rows = {
            r["name"]: r for r in schema.verdict(ctx.results).get("candidates", [])
        }
        rows = [_row(c.result, ctx.results, cost, verdict_rows) for c in cands]
        front = _front([r for r in rows if r["status"] == "ok"], higher)
        for r in rows:
            r["on_front"] = r["name"] in front
        best = pick(rows, ctx.results, {c.name: c.result for c in cands if c.ok}, cost)
        entry.update(
            metric=schema.run_quality(ctx.results).get("primary_metric"),
            higher_is_better=higher,
            cost_figure=cost,
            table=rows,
            pareto_front=front,
            recommended=best,
            tolerance=tolerance,
        )
        if best is not None:
            entry["deployment"] = write_deployment(ctx, by_name[best], rows)
        try:
            from benchharness.tune.chart import draw

            entry["chart"] = draw(ctx.run_dir, base, rows, best, entry["metric"], cost)
        except ImportError as exc:  # matplotlib is an optional extra
            entry["chart"] = None
            ctx.progress(f"[{base}] tune: no chart ({exc})")
        for line in table_lines(base, entry):
            ctx.progress(line)


def table_lines(base: str, entry: dict) -> list[str]:
    """The variants as a table that fits 100 columns; front (*) and recommended (>) marked.
    Numbers by the project's one rule (`numbers.py`); long notes folded, never cut."""
    from textwrap import wrap

    from benchharness import numbers

    metric = entry.get("metric") or "quality"
    lines = wrap(
        f"tune {base}: {len(entry.get('table', []))} variants, "
        f"{len(entry.get('skipped', []))} skipped (* Pareto front, > recommended, ! quality "
        "lost; repl: replicas per instance, m measured together, e extrapolated)",
        100, subsequent_indent="  ",
    )
    mode = "batch" if entry.get("cost_figure") == "batch_usd_per_million" else "real-time"
    unit, costs = numbers.money_column(r["cost_per_1m"] for r in entry.get("table", []))
    head = ["variant", metric[:9], "dq", "agree", "p99 ms", f"{mode} $/{unit}", "rows/s", "repl", "verdict"]
    body = []
    for r, cost in zip(entry.get("table", []), costs, strict=True):
        mark = (">" if r["name"] == entry.get("recommended") else " ") + (
            "*" if r.get("on_front") else " "
        )
        flag = "!" if r["quality_loss_beyond_tolerance"] else ""
        agree = "-" if r["label_agreement"] is None else f"{r['label_agreement']:.1%}"
        source = {"measured": "m", "extrapolated": "e"}.get(r.get("replicas_source") or "", "")
        repl = f"{r['replicas']}{source}" if r.get("replicas") else "-"
        body.append((mark, [
            r["name"], numbers.metric(r["quality"]), numbers.number(r["quality_delta"], 2) + flag,
            agree, numbers.number(r["p99_ms"]), cost,
            numbers.number(r["rows_per_s"]), repl, r["verdict"] or r["status"],
        ]))
    # columns as wide as their widest cell; label agreement only where a variant has one
    keep = [i for i in range(len(head)) if i != 3 or any(c[3] != "-" for _, c in body)]
    widths = {i: max(len(head[i]), *(len(c[i]) for _, c in body)) for i in keep}

    def line(mark: str, cells: list[str]) -> str:
        parts = [cells[i].ljust(widths[i]) if i in (0, 8) else cells[i].rjust(widths[i])
                 for i in keep]
        return (mark + " ".join(parts)).rstrip()

    lines.append(line("  ", head))
    lines += [line(mark, cells) for mark, cells in body]
    notes = [
        f"skipped {s['variant']} ({s['combinations']} combination"
        f"{'s' if s['combinations'] > 1 else ''}): {s['reason']}"
        for s in entry.get("skipped", [])
    ]
    notes += [
        f"dropped {d['variant']} after rung {d['rung'] + 1}: {d['reason']}"
        for d in entry.get("dropped", [])
    ]
    rec = entry.get("recommended")
    notes.append(
        f"recommended: {rec}; deployment file {entry.get('deployment', {}).get('file')}"
        if rec
        else "recommended: none (no variant qualifies on the limits with its quality kept)"
    )
    for note in notes:
        lines += wrap(note, 100, initial_indent="  ", subsequent_indent="    ")
    return lines
