"""The sequential rule: more trials where the decision is not settled yet, then re-priced.

After the cost stage, three things can ask for more trials of a measurement (two rounds at a
time, interleaved like the first ones, up to its `max_trials`):

- `limit`: a candidate's hard limit on a measured figure is `inconclusive` (its interval
  straddles the threshold): that candidate, the measurement the figure comes from;
- `ranking`: the ranking's winner tied, on a measured term, with a candidate better there by
  its point value (`verdict.unsettled_terms`): both, on that term's measurement, so a real
  difference one slow round blurred is shown and identical runs agree on the winner;
- `against`: a gated figure's change against the reference run is inconclusive
  (`against/changes.unsettled`): the candidate and its reference, on that measurement.

After each step the figures, the resources and the cost are recomputed and the questions
asked again. The loop itself is the pipeline's (`pipeline.settle_stage`): this module says
what to add (`next_step`), adds it (`run_step`) and records it (`finish`); measure/ measures
and never calls back here.
"""

from __future__ import annotations

from benchharness.context import CandidateRun, RunContext
from benchharness.decide import figures
from benchharness.decide import limits as lim
from benchharness.measure import stages as st
from benchharness.measure.trials import interleaved, record_machine_load, run_jobs, summarize
from benchharness.seeds import seed_for

# which measurement a figure comes from
_FROM_BATCH = {"rows_per_s", "usd_per_million", "batch_usd_per_million"}
_FROM_OPEN_LOOP = {"sustainable_rps", "realtime_usd_per_million", "monthly_usd"}
EXTEND_STEP = 2  # trials added per candidate and measurement in one step of the rule
REASONS = {"limit": "a limit was inconclusive", "ranking": "the ranking's winner was unsettled",
           "against": "a change against the reference run was inconclusive"}


def measurement_of(figure: str) -> str | None:
    """The measurement a figure comes from, or None when trials cannot change it."""
    if figure in _FROM_BATCH:
        return "batch"
    if figure in _FROM_OPEN_LOOP or figure.startswith("open_"):
        return "open_loop"
    if figure in figures.TRIAL_FIGURES:
        return "closed_loop"
    return None


def _judged(cand: CandidateRun) -> bool:
    """A candidate the verdict judges (not a baseline, not a reference run's candidate)."""
    return cand.ok and cand.result.get("role", "candidate") == "candidate"


def inconclusive_measurements(ctx: RunContext, cand: CandidateRun) -> set[str]:
    checks = lim.evaluate_all(lim.limits_for(ctx.suite.limits, cand.spec.limits),
                              cand.result, ctx.results)
    return {m for r in checks if r.status == lim.INCONCLUSIVE and r.severity == "fail"
            for m in [measurement_of(r.metric)] if m}


def unsettled_ranking(ctx: RunContext) -> list[tuple[str, str]]:
    """(candidate, measurement) pairs whose trials would settle the ranking's winner: the two
    candidates the ranking and the point values put first, on the measurement of the term that
    separates them by points but not by their paired comparison; [] when settled or trials
    cannot help."""
    from benchharness.decide import verdict

    suite_limits, cand_limits, objective = verdict.suite_inputs(ctx.suite)
    qualifying = []
    for cand in ctx.candidates:
        if not _judged(cand):
            continue
        checks = lim.evaluate_all(lim.limits_for(suite_limits, cand_limits.get(cand.name)),
                                  cand.result, ctx.results)
        if not any(r.severity == "fail" and r.status in verdict.HARD_BLOCKING for r in checks):
            qualifying.append(cand.result)
    for term, pair in verdict.unsettled_terms(qualifying, verdict.parse_objective(objective), ctx.results):
        measurement = measurement_of(term.name)
        if measurement:  # a quality term: more trials cannot narrow it, look further down
            return [(name, measurement) for name in pair]
    return []


def wanted(ctx: RunContext) -> dict[tuple[str, str], str]:
    """{(candidate, measurement): reason} of every unsettled question, limits first."""
    from benchharness.against.changes import unsettled as against_unsettled

    out = {(cand.name, m): "limit" for cand in ctx.candidates if _judged(cand)
           for m in sorted(inconclusive_measurements(ctx, cand))}
    for pair in unsettled_ranking(ctx):
        out.setdefault(pair, "ranking")
    for pair in against_unsettled(ctx):
        out.setdefault(pair, "against")
    return out


def next_step(ctx: RunContext) -> dict[tuple[str, str, int], str]:
    """The trials of the rule's next step, {(candidate, measurement, trial index): reason}:
    up to `EXTEND_STEP` more per unsettled question, within each measurement's `max_trials`;
    {} when every question is settled or out of trials."""
    caps = {"closed_loop": ctx.suite.realtime.max_trials, "batch": ctx.suite.batch.max_trials,
            "open_loop": ctx.suite.realtime.max_trials}
    jobs: dict[tuple[str, str, int], str] = {}
    for (name, m), reason in wanted(ctx).items():
        cand = ctx.candidate(name)
        if cand is None or (m == "open_loop" and not cand.open_loop_sweep):
            continue
        have = len(st.trial_records(ctx, cand, m))
        jobs.update({(name, m, have + k): reason for k in range(min(EXTEND_STEP, caps[m] - have))})
    return jobs


def run_step(ctx: RunContext, jobs: dict[tuple[str, str, int], str], added: int) -> list[dict]:
    """Run one step's trials (interleaved, seeded by how many came before) and summarise the
    measurements they added to; the records of what was added and why."""
    order = interleaved(list(jobs), seed_for(ctx.suite, "extra trials", added + len(jobs)))
    run_jobs(ctx, order, "extra trial")
    for m in {m for _, m, _ in jobs}:
        summarize(ctx, {n for n, mm, _ in jobs if mm == m}, m)
    return [{"candidate": n, "measurement": m, "trial": i, "reason": why} for (n, m, i), why in jobs.items()]


def finish(ctx: RunContext, added: list[dict]) -> None:
    """Record what the rule added (results["trials"]["extended"]) and say why."""
    ctx.results.setdefault("trials", {})["extended"] = added
    if added:
        record_machine_load(ctx)
        reasons = sorted({a["reason"] for a in added})
        ctx.progress(f"added {len(added)} trial(s) where {' or '.join(REASONS[r] for r in reasons)}")
