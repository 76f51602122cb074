"""Randomized multiple interleaved trials (Abedi & Brecht 2017) of every candidate.

Each timed measurement is made as several trials, each in a fresh child process
(`measure/stages.py`: `closed_loop_trial`, `batch_trial`, `open_loop_trial`), and the trials
of ALL candidates run in one order shuffled with a seeded generator, so slow drift of the
machine (a neighbour starting, the CPU warming) hits every candidate alike instead of the
one measured last. Three rounds, because each needs the one before:

1. closed-loop and batch trials of every candidate, interleaved;
2. the open-loop sweep of every candidate (it needs the closed loop's rate), interleaved;
3. the open-loop trials at the rates each sweep chose, interleaved.

The order run is recorded in results["trials"]["order"]; the machine's load around each
trial in results["machine_load"] (`machine_load.py`).

`extend_trials_stage` is the sequential rule: after the cost stage, a candidate whose hard
limit on a measured figure is still `inconclusive` gets more trials of the measurement that
figure comes from (two at a time, interleaved, up to `max_trials`), then the figures, the
resources and the cost are recomputed and the limits judged again. The same happens when the
ranking's winner hangs on a term the intervals did not settle (the point values would put
another candidate first: `verdict.unsettled_terms`): both get more trials of that term's
measurement, so a real difference that one slow trial blurred is shown, and identical runs
agree on the winner.
"""

from __future__ import annotations

import random
import time
import traceback

from benchharness import schema
from benchharness.context import CandidateRun, RunContext
from benchharness.errors import UserError
from benchharness.measure import machine_load, run_level
from benchharness.measure import stages as st

# which measurement a figure comes from (for the sequential rule)
_FROM_BATCH = {"rows_per_s", "usd_per_million", "batch_usd_per_million"}
_FROM_OPEN_LOOP = {"sustainable_rps", "realtime_usd_per_million", "monthly_usd"}
EXTEND_STEP = 2  # trials added per candidate and measurement in one round of extension

_RUN = {"closed_loop": st.closed_loop_trial, "batch": st.batch_trial, "open_loop": st.open_loop_trial}
_SUMMARIZE = {"closed_loop": st.summarize_closed_loop, "batch": st.summarize_batch,
              "open_loop": st.summarize_open_loop}
_LABEL = {"closed_loop": "closed loop", "batch": "batch", "open_loop": "open loop"}


def interleaved(jobs: list[tuple[str, str, int]], seed: int) -> list[tuple[str, str, int]]:
    """The jobs (candidate, measurement, trial index) in a seeded random order."""
    order = list(jobs)
    random.Random(seed).shuffle(order)
    return order


def _trial_seconds(ctx: RunContext, measurement: str) -> float:
    """A rough length of one trial, for the ETA (timed window plus warm-up)."""
    rt = ctx.suite["realtime"]
    if measurement == "closed_loop":
        return st.trial_window_s(rt) + rt["warmup_s"]
    if measurement == "batch":
        return st.trial_window_s(ctx.suite["batch"]) * len(ctx.suite["batch"]["batch_sizes"])
    return 2 * rt["open_loop"]["duration_s"] + rt["warmup_s"]


def run_jobs(ctx: RunContext, jobs: list[tuple[str, str, int]], what: str) -> None:
    """Run the jobs in order; a failing one fails its candidate (the rest of its jobs are
    skipped), the others go on. Progress: each trial with an ETA."""
    by_name = {c.name: c for c in ctx.candidates}
    record = ctx.results.setdefault("trials", {"seed": ctx.suite["realtime"]["trial_seed"], "order": []})
    loads = ctx.extras.setdefault("trial_loads", [])
    started = time.monotonic()
    overhead = None  # measured seconds a trial takes beyond its timed window
    for done, (name, measurement, index) in enumerate(jobs):
        cand = by_name[name]
        if not cand.ok:
            continue
        left = len(jobs) - done
        if done:
            per = (time.monotonic() - started) / done
            eta = f", about {per * left:.0f} s left"
        else:
            est = sum(_trial_seconds(ctx, m) for _, m, _ in jobs) + (overhead or 0.5) * len(jobs)
            eta = f", about {est:.0f} s left"
        ctx.progress(f"{what} {done + 1}/{len(jobs)}: [{name}] {_LABEL[measurement]} trial "
                     f"{index + 1}{eta}")
        before = machine_load.snapshot()
        t0 = time.monotonic()
        try:
            _RUN[measurement](ctx, cand, index)
        except UserError as exc:
            cand.fail(str(exc))
        except Exception as exc:  # a bug or a model's own exception: record, go on
            cand.fail(f"{type(exc).__name__}: {exc}")
            cand.result["traceback"] = traceback.format_exc(limit=8)
        seconds = time.monotonic() - t0
        load = machine_load.trial_load(before, machine_load.snapshot())
        loads.append(load)
        record["order"].append({"candidate": name, "measurement": measurement, "trial": index,
                                "seconds": round(seconds, 3), **load})
        if not cand.ok:
            ctx.progress(f"[{name}] FAILED: {cand.result['error']}")
        ctx.save()


def _summarize(ctx: RunContext, names: set[str], measurement: str) -> None:
    for cand in ctx.candidates:
        if cand.ok and cand.name in names:
            try:
                _SUMMARIZE[measurement](ctx, cand)
                run_level.widen_candidate(ctx, cand)
            except Exception as exc:  # a bug must not lose the other candidates' figures
                cand.fail(f"summarizing {measurement}: {type(exc).__name__}: {exc}")
                cand.result["traceback"] = traceback.format_exc(limit=8)


def trials_stage(ctx: RunContext) -> None:
    """Every candidate's closed loop, batch and open loop, as interleaved trials."""
    rt, batch = ctx.suite["realtime"], ctx.suite["batch"]
    seed = rt["trial_seed"]
    ok = [c for c in ctx.candidates if c.ok]
    names = {c.name for c in ok}
    first = [(c.name, "closed_loop", i) for c in ok for i in range(rt["trials"])]
    first += [(c.name, "batch", i) for c in ok for i in range(batch["trials"])]
    run_jobs(ctx, interleaved(first, seed), "trial")
    _summarize(ctx, names, "closed_loop")
    _summarize(ctx, names, "batch")
    for cand in interleaved([c for c in ctx.candidates if c.ok], seed + 1):
        ctx.progress(f"[{cand.name}] open loop: finding the rates")
        try:
            st.open_loop_sweep(ctx, cand)
        except UserError as exc:
            cand.fail(str(exc))
        except Exception as exc:
            cand.fail(f"{type(exc).__name__}: {exc}")
            cand.result["traceback"] = traceback.format_exc(limit=8)
        ctx.save()
    swept = [c for c in ctx.candidates if c.ok and ctx.extras.get(("open_loop_sweep", c.name))]
    more = [(c.name, "open_loop", i) for c in swept for i in range(1, rt["open_loop"]["trials"])]
    run_jobs(ctx, interleaved(more, seed + 2), "open-loop trial")
    _summarize(ctx, names, "open_loop")
    record_machine_load(ctx)
    for cand in ctx.candidates:
        if cand.ok:
            _say_figures(ctx, cand)


def _say_figures(ctx: RunContext, cand: CandidateRun) -> None:
    closed = schema.closed_loop(cand.result)
    if closed.get("count"):
        iv = closed["intervals"].get("p99_ms") or [None, None]
        span = f" [{iv[0]:.3g}, {iv[1]:.3g}]" if None not in iv else " [not pinned down]"
        unstable = [u["figure"] for u in closed["stability"]["unstable"]]
        ctx.progress(f"[{cand.name}] closed loop over {len(closed['trials'])} trials: p50 "
                     f"{closed['p50_ms']:.3g} ms, p99 {closed['p99_ms']:.3g} ms{span}, "
                     f"{closed['qps']:,.0f} qps" + (f"; unstable: {', '.join(unstable)}" if unstable else ""))
    ol = schema.open_loop(cand.result)
    if ol:
        best = ol["max_sustainable_rate_per_s"]
        lo, hi = ol["intervals"]["max_sustainable_rate_per_s"]
        ctx.progress(f"[{cand.name}] open loop: highest rate with p99 <= {ol['p99_limit_ms']:.3g} ms: "
                     + (f"{best:,.0f}/s" if best else "none of the rates tried")
                     + (f" [{'?' if lo is None else f'{lo:,.0f}'}, "
                        f"{'not bounded' if hi is None else f'{hi:,.0f}'}]" if ol["trials"] else ""))
        if ol.get("late_start_warning"):
            ctx.progress(f"[{cand.name}] warning: {ol['late_start_warning']}")
    best = schema.best_batch(cand.result)
    if best:
        ctx.progress(f"[{cand.name}] batch: best {best['rows_per_s']:,.0f} rows/s at batch "
                     f"{best['batch_size']}")


def record_machine_load(ctx: RunContext) -> None:
    section = machine_load.load_section(ctx.extras.get("trial_loads") or [])
    ctx.results["machine_load"] = section
    if section["busy"]:
        ctx.progress(f"warning: {section['note']}")


# -- the sequential rule -----------------------------------------------------------------------
def measurement_of(figure: str) -> str | None:
    """The measurement a limit's figure comes from, or None when trials cannot change it."""
    from benchharness.decide import figures

    if figure in _FROM_BATCH:
        return "batch"
    if figure in _FROM_OPEN_LOOP or figure.startswith("open_"):
        return "open_loop"
    if figure in figures.TRIAL_FIGURES:
        return "closed_loop"
    return None


def inconclusive_measurements(ctx: RunContext, cand: CandidateRun) -> set[str]:
    from benchharness.decide import limits as lim

    checks = lim.evaluate_all(lim.limits_for(ctx.suite.get("limits"), cand.spec.get("limits")),
                              cand.result, ctx.results)
    return {m for r in checks if r.status == lim.INCONCLUSIVE and r.severity == "fail"
            for m in [measurement_of(r.metric)] if m}


def unsettled_ranking(ctx: RunContext) -> list[tuple[str, str]]:
    """(candidate, measurement) pairs whose trials would settle the ranking's winner: the two
    candidates the ranking and the point values put first, on the measurement of the term that
    separates them by points but not by intervals; [] when settled or trials cannot help."""
    from benchharness.decide import limits as lim
    from benchharness.decide import verdict

    suite_limits, cand_limits, objective = verdict.suite_inputs(ctx.suite)
    qualifying = []
    for cand in ctx.candidates:
        if not cand.ok or cand.result.get("role") == "baseline":
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


def extend_trials_stage(ctx: RunContext) -> None:
    """Add trials while a hard limit on a measured figure is inconclusive, or while the
    ranking's winner hangs on a term its intervals did not settle, and trials remain."""
    from benchharness.cost.stage import cost_stage

    caps = {"closed_loop": ctx.suite["realtime"]["max_trials"], "batch": ctx.suite["batch"]["max_trials"],
            "open_loop": ctx.suite["realtime"]["max_trials"]}
    seed = ctx.suite["realtime"]["trial_seed"] + 100
    added: list[dict] = []
    by_name = {c.name: c for c in ctx.candidates}
    while True:
        wanted = {(cand.name, m): "limit" for cand in ctx.candidates if cand.ok
                  for m in sorted(inconclusive_measurements(ctx, cand))}
        for pair in unsettled_ranking(ctx):
            wanted.setdefault(pair, "ranking")
        jobs, why = [], {}
        for (name, m), reason in wanted.items():
            if m == "open_loop" and not ctx.extras.get(("open_loop_sweep", name)):
                continue
            have = len(st.trial_records(ctx, by_name[name], m))
            more = [(name, m, have + k) for k in range(min(EXTEND_STEP, caps[m] - have))]
            jobs += more
            why.update({job: reason for job in more})
        if not jobs:
            break
        added += [{"candidate": n, "measurement": m, "trial": i, "reason": why[(n, m, i)]}
                  for n, m, i in jobs]
        run_jobs(ctx, interleaved(jobs, seed + len(added)), "extra trial")
        for m in {m for _, m, _ in jobs}:
            _summarize(ctx, {n for n, mm, _ in jobs if mm == m}, m)
        from benchharness.measure.resource_stage import resources_stage

        for name in {n for n, _, _ in jobs}:
            cand = next(c for c in ctx.candidates if c.name == name)
            if cand.ok:
                resources_stage(ctx, cand)
        cost_stage(ctx)
        ctx.save()
    ctx.results.setdefault("trials", {})["extended"] = added
    if added:
        record_machine_load(ctx)
        reasons = sorted({a["reason"] for a in added})
        said = {"limit": "a limit was inconclusive", "ranking": "the ranking's winner was unsettled"}
        ctx.progress(f"added {len(added)} trial(s) where {' or '.join(said[r] for r in reasons)}")
