"""A search that fits `tune.budget_s`: successive halving on trial-level intervals.

When measuring every variant in full (closed-loop, batch and open-loop trials) would take
longer than `tune.budget_s`, the variants are screened first, in rungs: each surviving
variant gets more closed-loop and batch trials (three, then two more per rung; interleaved,
fresh children, as the full measurement does), then a variant is dropped as soon as its
intervals across trials show that

- it cannot meet a hard limit (a limit on p99, throughput, ... judged `fail` on its whole
  interval), or
- it cannot reach the Pareto front: another variant of the same candidate has at least its
  quality, a p99 interval entirely below its own and a throughput interval entirely above
  (cost per prediction falls as throughput rises on one machine).

Rungs stop when one variant is left, the trial cap (`max_trials`) is reached or half the
budget is spent (the first rung always runs). Dropped variants leave the run (recorded in
`results["tune"][name]["dropped"]` with the rung and the reason); survivors' screening
trials are discarded and they are measured in full with every other candidate, so all
figures compared in the verdict come from the same interleaved rounds.
"""

from __future__ import annotations

import time

from benchharness import schema
from benchharness.context import CandidateRun, RunContext
from benchharness.decide import figures, paired
from benchharness.decide import limits as lim
from benchharness.measure import stages as st
from benchharness.measure.trials import interleaved, run_jobs
from benchharness.seeds import seed_for
from benchharness.suite import Suite

FIRST_RUNG_TRIALS = 3  # with 2 trials an interval is ~9x the spread (Student's t, 1 df): useless
RUNG_TRIALS = 2  # trials added per variant and measurement in each later rung
CHILD_OVERHEAD_S = 1.0  # a rough start-up cost of one measurement child, for the estimate
_SCREENED = ("closed_loop", "batch")


def full_seconds(suite: Suite) -> float:
    """A rough length of one candidate's full measurement (all trials, open loop included)."""
    rt, batch, ol = suite.realtime, suite.batch, suite.realtime.open_loop
    closed = rt.trials * (st.trial_window_s(rt) + rt.warmup_s + CHILD_OVERHEAD_S)
    batched = batch.trials * (
        st.trial_window_s(batch) * len(batch.batch_sizes) + CHILD_OVERHEAD_S
    )
    rates = len(ol.rates_per_s or ol.fractions or [1]) + ol.trials
    return closed + batched + rates * (ol.duration_s + rt.warmup_s + CHILD_OVERHEAD_S)


def cannot_meet(ctx: RunContext, cand: CandidateRun) -> str | None:
    checks = lim.evaluate_all(
        lim.limits_for(ctx.suite.limits, cand.spec.limits), cand.result, ctx.results
    )
    for r in checks:
        if r.severity == "fail" and r.status == "fail" and r.metric in figures.TRIAL_FIGURES:
            lo, hi = r.interval or (r.value, r.value)
            span = f"[{figures.fmt(lo)}, {figures.fmt(hi)}]"
            return f"cannot meet {r.expression}: interval {span} {r.unit}"
    return None


def dominated_by(a: dict, b: dict, results: dict, higher_is_better: bool) -> bool:
    """True when b beats a beyond doubt: quality at least a's, and p99 and throughput better
    (by their per-round ratios, beyond `paired.RANK_MIN_CHANGE`; without rounds: intervals apart)."""
    qa, qb = figures.resolve("primary", a, results), figures.resolve("primary", b, results)
    if qa is not None and qb is not None and (qb < qa if higher_is_better else qb > qa):
        return False
    p99, rows = paired.compare(a, b, "p99_ms", results), paired.compare(a, b, "rows_per_s", results)
    if p99 is not None and rows is not None:  # measured in the same rounds: judged pair by pair
        return p99.high < -paired.RANK_MIN_CHANGE and rows.low > paired.RANK_MIN_CHANGE
    pa, pb = figures.interval(a, "p99_ms"), figures.interval(b, "p99_ms")
    ra, rb = figures.interval(a, "rows_per_s"), figures.interval(b, "rows_per_s")
    if not (pa and pb and ra and rb) or None in (pa[0], pb[1], ra[1], rb[0]):
        return False
    return pb[1] < pa[0] and rb[0] > ra[1]


def _drop(ctx: RunContext, base: str, cand: CandidateRun, rung: int, reason: str) -> None:
    entry = ctx.results["tune"][base]
    entry.setdefault("dropped", []).append(
        {
            "variant": cand.name,
            "rung": rung,
            "reason": reason,
            "trials": len(st.trial_records(ctx, cand, "closed_loop")),
            "p99_ms": figures.resolve("p99_ms", cand.result, ctx.results),
            "p99_ms_interval": figures.interval(cand.result, "p99_ms"),
            "rows_per_s_interval": figures.interval(cand.result, "rows_per_s"),
        }
    )
    entry["variants"].remove(cand.name)
    ctx.candidates.remove(cand)
    ctx.results["candidates"].remove(cand.result)
    ctx.suite.candidates[:] = [s for s in ctx.suite.candidates if s.name != cand.name]
    ctx.progress(f"[{cand.name}] tune: dropped after rung {rung + 1}: {reason}")


def tune_halving_stage(ctx: RunContext) -> None:
    section = schema.run_section(ctx.results, "tune")
    higher = bool(schema.run_quality(ctx.results).get("higher_is_better", True))
    for base, entry in section.items():
        budget = entry["space"].get("budget_s")
        variants = [c for c in ctx.candidates if c.ok and c.name in entry["variants"]]
        if budget is None or len(variants) < 2:
            entry["search"] = {"kind": "grid", "variants": len(variants)}
            continue
        estimate = full_seconds(ctx.suite) * len(variants)
        if estimate <= budget:
            entry["search"] = {
                "kind": "grid",
                "variants": len(variants),
                "estimate_s": round(estimate, 1),
                "budget_s": budget,
            }
            ctx.progress(
                f"[{base}] tune: the full grid of {len(variants)} variants fits the budget "
                f"(about {estimate:.0f} s of {budget:g} s)"
            )
            continue
        ctx.progress(
            f"[{base}] tune: {len(variants)} variants would take about {estimate:.0f} s, over the "
            f"budget of {budget:g} s: successive halving on trial intervals"
        )
        started = time.monotonic()
        cap = min(ctx.suite.realtime.max_trials, ctx.suite.batch.max_trials)
        rung, have = 0, 0
        while len(variants) > 1 and have < cap and time.monotonic() - started < budget / 2:
            add = min(RUNG_TRIALS if have else FIRST_RUNG_TRIALS, cap - have)
            jobs = [(c.name, m, have + k) for c in variants for m in _SCREENED for k in range(add)]
            run_jobs(ctx, interleaved(jobs, seed_for(ctx.suite, "halving", rung)), f"{base} rung {rung + 1} trial")
            have += add
            for c in variants:
                if c.ok:
                    st.summarize_closed_loop(ctx, c)
                    st.summarize_batch(ctx, c)
            for c in list(variants):
                if not c.ok:
                    continue
                why = cannot_meet(ctx, c)
                if why is None:
                    beaten = next(
                        (
                            o
                            for o in variants
                            if o is not c
                            and o.ok
                            and dominated_by(c.result, o.result, ctx.results, higher)
                        ),
                        None,
                    )
                    why = (
                        f"cannot reach the front: {beaten.name} is faster and cheaper beyond doubt"
                        if beaten
                        else None
                    )
                if why:
                    _drop(ctx, base, c, rung, why)
                    variants.remove(c)
            rung += 1
        for c in variants:  # survivors are measured in full with everyone else
            for m in _SCREENED:
                c.trials[m] = []
            c.result.pop("realtime", None)
            c.result.pop("batch", None)
        entry["search"] = {
            "kind": "successive halving",
            "variants": len(entry["variants"]) + len(entry.get("dropped", [])),
            "measured_in_full": len(variants),
            "rungs": rung,
            "screening_s": round(time.monotonic() - started, 1),
            "estimate_s": round(estimate, 1),
            "budget_s": budget,
        }
        ctx.progress(
            f"[{base}] tune: {len(variants)} of {entry['search']['variants']} variants "
            "measured in full "
            f"after {rung} rung(s), {time.monotonic() - started:.0f} s of screening"
        )
        ctx.save()
