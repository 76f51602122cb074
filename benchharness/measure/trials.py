"""Randomized multiple interleaved trials (Abedi & Brecht 2017) of every candidate.

Each timed measurement is made as several trials, each in a fresh child process
(`measure/stages.py`: `closed_loop_trial`, `batch_trial`, `open_loop_trial`), and the trials
of ALL candidates run in blocked rounds: round r measures every candidate once (its trial r),
in an order shuffled with a seeded generator, so slow drift of the machine (a neighbour
starting, the CPU warming) hits every candidate alike instead of the one measured last, and
trial r of two candidates can be compared pair by pair. Three phases, because each needs the
one before:

1. closed-loop and batch trials of every candidate, interleaved;
2. the open-loop sweep of every candidate (it needs the closed loop's rate), interleaved;
3. the open-loop trials at the rates each sweep chose, interleaved.

The order run is recorded in results["trials"]["order"]; the machine's load around each
trial in results["machine_load"] (`machine_load.py`).

The sequential rule (more trials where a limit, the ranking or a comparison with a reference
run is unsettled) is the decision's loop: `decide/sequential.py` calls `run_jobs` and
`summarize` here.
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
from benchharness.seeds import seed_for

_RUN = {"closed_loop": st.closed_loop_trial, "batch": st.batch_trial, "open_loop": st.open_loop_trial}
_SUMMARIZE = {"closed_loop": st.summarize_closed_loop, "batch": st.summarize_batch,
              "open_loop": st.summarize_open_loop}
_LABEL = {"closed_loop": "closed loop", "batch": "batch", "open_loop": "open loop"}


def interleaved(jobs: list[tuple[str, str, int]], seed: int) -> list[tuple[str, str, int]]:
    """The jobs (candidate, measurement, trial index) in blocked rounds: round r holds every
    job whose trial index is r, so every candidate is measured once per round, and rounds run
    in index order; inside a round the order is shuffled with a generator seeded by the seed
    and the round (RMIT). Trial r of A and trial r of B then share the machine's state of that
    round, which is what a paired comparison between them relies on (`decide/paired.py`)."""
    order: list[tuple[str, str, int]] = []
    for index in sorted({i for _, _, i in jobs}):
        block = [job for job in jobs if job[2] == index]
        random.Random(seed * 1_000_003 + index).shuffle(block)
        order += block
    return order


def _trial_seconds(ctx: RunContext, measurement: str) -> float:
    """A rough length of one trial, for the ETA (timed window plus warm-up)."""
    rt = ctx.suite.realtime
    if measurement == "closed_loop":
        return st.trial_window_s(rt) + rt.warmup_s
    if measurement == "batch":
        return st.trial_window_s(ctx.suite.batch) * len(ctx.suite.batch.batch_sizes)
    return 2 * rt.open_loop.duration_s + rt.warmup_s


def run_jobs(ctx: RunContext, jobs: list[tuple[str, str, int]], what: str) -> None:
    """Run the jobs in order; a failing one fails its candidate (the rest of its jobs are
    skipped), the others go on. Progress: each trial with an ETA."""
    by_name = {c.name: c for c in ctx.candidates}
    record = ctx.results.setdefault("trials", {"seed": ctx.suite.realtime.trial_seed, "order": []})
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
        ctx.trial_loads.append(load)
        record["order"].append({"candidate": name, "measurement": measurement, "trial": index,
                                "seconds": round(seconds, 3), **load})
        if not cand.ok:
            ctx.progress(f"[{name}] FAILED: {cand.result['error']}")
        ctx.save()


def summarize(ctx: RunContext, names: set[str], measurement: str) -> None:
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
    rt, batch = ctx.suite.realtime, ctx.suite.batch
    ok = [c for c in ctx.candidates if c.ok]
    names = {c.name for c in ok}
    first = [(c.name, "closed_loop", i) for c in ok for i in range(rt.trials)]
    first += [(c.name, "batch", i) for c in ok for i in range(batch.trials)]
    run_jobs(ctx, interleaved(first, seed_for(ctx.suite, "trials")), "trial")
    summarize(ctx, names, "closed_loop")
    summarize(ctx, names, "batch")
    sweep_order = [c for c in ctx.candidates if c.ok]
    random.Random(seed_for(ctx.suite, "open loop sweeps")).shuffle(sweep_order)  # the sweeps are the open loop's round 0
    for cand in sweep_order:
        ctx.progress(f"[{cand.name}] open loop: finding the rates")
        try:
            st.open_loop_sweep(ctx, cand)
        except UserError as exc:
            cand.fail(str(exc))
        except Exception as exc:
            cand.fail(f"{type(exc).__name__}: {exc}")
            cand.result["traceback"] = traceback.format_exc(limit=8)
        ctx.save()
    swept = [c for c in ctx.candidates if c.ok and c.open_loop_sweep]
    more = [(c.name, "open_loop", i) for c in swept for i in range(1, rt.open_loop.trials)]
    run_jobs(ctx, interleaved(more, seed_for(ctx.suite, "open loop trials")), "open-loop trial")
    summarize(ctx, names, "open_loop")
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
        bound = (closed.get("tail_bounds") or {}).get("p99_ms") or {}
        said = (f" (p99 <= {bound['upper_ms']:.3g} ms with 99% confidence over {bound['queries']:,} queries)"
                if bound.get("upper_ms") is not None else
                f" (p99 bounded from {bound['min_queries']} queries)" if bound else "")
        ctx.progress(f"[{cand.name}] closed loop over {len(closed['trials'])} trials: p50 "
                     f"{closed['p50_ms']:.3g} ms, p99 {closed['p99_ms']:.3g} ms{span}{said}, "
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
    section = machine_load.load_section(ctx.trial_loads)
    ctx.results["machine_load"] = section
    if section["busy"]:
        ctx.progress(f"warning: {section['note']}")
