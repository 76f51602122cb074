"""Replicas of a variant measured side by side: N processes x T threads on this machine.

A profile with 8 vCPUs runs 8 one-thread replicas of a model, but 8 replicas do not answer
8 times as fast as one: they share caches, memory bandwidth and turbo headroom. So the
aggregate is measured, not multiplied: N replica children (fresh processes, started with
`isolation/isolate.run_in_child`, one thread each in the parent waiting on it) load the
model, warm up, signal they are ready, and start timing at one common instant (a start time
on the system-wide monotonic clock, `measure/child.replica_child`). Each runs a closed loop
(one request at a time) and then a batch loop at the variant's best batch size, in the same
two wall-clock windows as every other replica; only calls that end inside a window count.

Per N: the aggregate throughput (the sum over replicas of what each completed in the
window, over the window), each replica's p99 under that co-load, and the scaling efficiency
aggregate / (N x the aggregate of one replica measured the same way). The cost stage
(`cost/replicas.py`) prices the instance from the measured aggregate when the N measured is
the N the profile fits, and says it extrapolated otherwise.

Children are spawned (a new interpreter each), not forked from the run's fork server: that
server forks one child at a time, and here N must run at once.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from benchharness.adapters.registry import ran_on_accelerator
from benchharness.context import CandidateRun, RunContext
from benchharness.decide import figures
from benchharness.isolation.isolate import run_in_child
from benchharness.measure import stages as st
from benchharness.measure.settings import as_dict
from benchharness.measure.stats import percentile
from benchharness.measure.threads import child_env

MIN_WINDOW_S = 0.5  # each replica's closed-loop and batch windows: at least this long
GAP_S = 0.05  # between the two windows, so a call running over the first does not eat the second
START_MARGIN_S = 0.2  # the common start is this far after the last replica said it is ready
WAIT_S = 300.0  # how long a ready replica waits for the others (spawned: imports, model load)
_TARGET = "benchharness.measure.child:replica_child"


def machine_cores() -> int:
    """CPUs this process may run on (a container's or taskset's share, not the host's)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def counts_to_measure(asked, fit: int, threads: int, cores: int) -> tuple[list[int], list[str]]:
    """The replica counts to measure and, for counts left out, why.

    `auto`: up to top = min(cores // threads, fit): 1, 2, 4, ... below top, and top itself
    (so the count the profile fits is measured whenever this machine holds it). A list: those
    counts, each only where N x T threads fit this machine's cores (more would time the
    scheduler, not the model). One replica is always measured: it is what the efficiency
    is relative to."""
    most = max(1, cores // max(threads, 1))
    if asked == "auto":
        top = min(most, fit)
        return sorted({top, *(2**k for k in range(top.bit_length()) if 2**k < top)}), []
    keep, why = [1], []
    for n in sorted(set(asked)):
        if n == 1:
            continue
        if n > most:
            why.append(f"{n} replicas x {threads} thread(s) need {n * threads} cores; this machine "
                       f"lets the run use {cores}")
        else:
            keep.append(n)
    return keep, why


def replica_fit(profile, threads: int, memory_mb: float | None) -> dict:
    """How many replicas the profile holds: by vCPUs (threads each) and by memory."""
    from benchharness.cost import formulas as cost

    by_cpu = cost.replicas_per_instance(profile.vcpus, threads)
    by_memory = cost.replicas_by_memory(profile.memory_gb, memory_mb)
    return {"profile": profile.name, "vcpus": profile.vcpus, "memory_gb": profile.memory_gb,
            "threads_per_replica": threads, "memory_per_replica_mb": memory_mb,
            "by_vcpus": by_cpu, "by_memory": by_memory,
            "replicas": min(by_cpu, by_memory) if by_memory else by_cpu}


def run_together(ctx: RunContext, cand: CandidateRun, n: int, batch_size: int,
                 window_s: float) -> list:
    """N replica children of `cand`, timed in the same windows; their outcomes, in order."""
    folder = Path(tempfile.mkdtemp(prefix="replicas-", dir=ctx.work_dir))
    rt = ctx.suite.realtime
    spec = st.base_spec(ctx, cand) | {"realtime": as_dict(rt)}
    spec["phase_hooks"] = []  # the resource sampler's thread would be one more co-runner
    timeout = WAIT_S + 60 + 2 * (rt.warmup_s + window_s + GAP_S)
    go = folder / "go"

    def signal(text: str) -> None:
        tmp = folder / "go.tmp"
        tmp.write_text(text)
        tmp.replace(go)  # atomic: a replica never reads half a start time

    def one(i: int):
        s = spec | {"replica": {"index": i, "barrier": str(folder), "window_s": window_s,
                                "gap_s": GAP_S, "batch_size": batch_size, "wait_s": WAIT_S}}
        return run_in_child(_TARGET, {"spec": s}, timeout, env=child_env(spec["threads"]),
                            label=f"replica {i + 1}/{n} child", start_method="spawn",
                            memory_limit_mb=ctx.suite.isolation.memory_limit_mb)

    try:
        with ThreadPoolExecutor(n) as pool:
            futures = [pool.submit(one, i) for i in range(n)]
            try:
                deadline = time.monotonic() + WAIT_S
                while not go.exists():
                    if len(list(folder.glob("ready-*"))) == n:
                        signal(str(time.monotonic_ns() + int(START_MARGIN_S * 1e9)))
                    elif any(f.done() for f in futures) or time.monotonic() > deadline:
                        signal("abort")  # one ended before the start: it failed
                    else:
                        time.sleep(0.01)
            except BaseException:
                signal("abort")  # Ctrl-C: the waiting replicas leave at once
                raise
            return [f.result() for f in futures]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def summarize(n: int, values: list[dict], window_s: float) -> dict:
    """Aggregate and per-replica figures of N replicas measured together."""
    per = []
    for v in values:
        closed, batch = v["closed_loop"], v["batch"]
        ms = closed["latency_ns"] / 1e6
        per.append({
            "qps": len(ms) / window_s,
            "p50_ms": percentile(ms, 50) if len(ms) else None,
            "p99_ms": percentile(ms, 99) if len(ms) else None,
            "count": len(ms), "errors": closed["errors"],
            "batch_rows_per_s": len(batch["latency_ns"]) * v["rows_per_batch"] / window_s,
            "batch_errors": batch["errors"],
            "start_lag_ms": round(v["start_lag_ms"], 3),
        })
    p99s = [p["p99_ms"] for p in per if p["p99_ms"] is not None]
    return {
        "replicas": n,
        "window_s": window_s,
        "batch_size": values[0]["rows_per_batch"],
        "qps": sum(p["qps"] for p in per),
        "batch_rows_per_s": sum(p["batch_rows_per_s"] for p in per),
        "p99_ms_worst_replica": max(p99s) if p99s else None,
        "per_replica": per,
    }


def add_efficiency(runs: list[dict]) -> None:
    """efficiency = aggregate of N / (N x aggregate of 1), for the closed loop and batch."""
    one = next((r for r in runs if r["replicas"] == 1), None)
    for r in runs:
        r["efficiency"] = {
            key: (r[figure] / (r["replicas"] * one[figure]) if one and one[figure] else None)
            for key, figure in (("closed_loop", "qps"), ("batch", "batch_rows_per_s"))
        }


def measure_variant(ctx: RunContext, cand: CandidateRun, asked, profile) -> dict:
    """The candidate's `replicas` section: the fit, each N measured together, what was left."""
    cost = cand.result.get("cost") or {}
    threads = int(cost.get("threads_per_replica") or 1)
    memory_mb = (cand.result.get("resources") or {}).get("peak_rss_mb")
    fit = replica_fit(profile, threads, memory_mb)
    cores = machine_cores()
    counts, left = counts_to_measure(asked, fit["replicas"], threads, cores)
    best = figures._best_batch(cand.result) or {}
    batch_size = int(best.get("batch_size") or 1)
    window = max(st.trial_window_s(ctx.suite.realtime), MIN_WINDOW_S)
    runs = []
    for n in counts:
        ctx.progress(f"[{cand.name}] replicas: {n} x {threads} thread(s) together, "
                     f"{2 * window + GAP_S:.1f} s timed (spawned children: a few seconds more)")
        outcomes = run_together(ctx, cand, n, batch_size, window)
        failed = next((o for o in outcomes if not o.ok), None)
        if failed is not None:
            cand.result.setdefault("child_failures", []).append(
                {"measurement": f"replicas x{n}", **failed.record()})
            left.append(f"{n} replicas: {failed.error}")
            break  # more replicas would fail the same way
        runs.append(summarize(n, [o.value for o in outcomes], window))
    add_efficiency(runs)
    return {"asked": asked, "machine_cores": cores, "fit": fit, "measured": runs,
            "not_measured": left,
            "note": "one run per replica count, each replica in its own process; aggregate = "
                    "sum of what every replica completed in the same window"}


def tune_replicas_stage(ctx: RunContext) -> None:
    """Measure replicas of every variant whose tuned candidate asks `replicas:` (the pipeline
    prices again after this stage: the cost stage reads the measured aggregate)."""
    from benchharness.cost.stage import run_profile

    section = ctx.results.get("tune") or {}
    asked = {base: e["space"].get("replicas") for base, e in section.items()}
    todo = [(base, c) for c in ctx.candidates if c.ok
            for base, e in section.items() if asked[base] and c.name in e["variants"]]
    if not todo:
        return
    profile = run_profile(ctx)
    started = time.monotonic()
    for done, (base, cand) in enumerate(todo):
        eta = (f", about {(time.monotonic() - started) / done * (len(todo) - done):.0f} s left"
               if done else "")
        ctx.progress(f"tune replicas {done + 1}/{len(todo)}: [{cand.name}]{eta}")
        on_gpu = ran_on_accelerator(cand.result)
        if on_gpu:  # the cost stage prices one replica per GPU: nothing to measure here
            cand.result["replicas"] = {"asked": asked[base], "measured": [], "not_measured": [
                f"it ran on a GPU ({on_gpu}): one replica per GPU, not measured side by side"]}
            ctx.progress(f"[{cand.name}] replicas not measured: it ran on a GPU ({on_gpu})")
            continue
        try:
            cand.result["replicas"] = measure_variant(ctx, cand, asked[base], profile)
        except Exception as exc:  # replicas are extra figures: the variant keeps the rest
            cand.result["replicas"] = {"asked": asked[base], "measured": [],
                                       "not_measured": [f"{type(exc).__name__}: {exc}"]}
        for line in describe(cand.name, cand.result["replicas"]):
            ctx.progress(line)
        ctx.save()


def describe(name: str, section: dict) -> list[str]:
    """One line per replica count measured, and why others were not."""
    out = []
    for r in section.get("measured") or []:
        eff = r.get("efficiency") or {}
        out.append(
            f"[{name}] {r['replicas']} replica(s) together: {r['qps']:,.0f} qps "
            f"(efficiency {_pct(eff.get('closed_loop'))}), worst replica p99 "
            f"{_ms(r['p99_ms_worst_replica'])}; batch {r['batch_size']}: "
            f"{r['batch_rows_per_s']:,.0f} rows/s (efficiency {_pct(eff.get('batch'))})")
    out += [f"[{name}] replicas not measured: {why}" for why in section.get("not_measured") or []]
    return out


def _pct(v) -> str:
    return "-" if v is None or not np.isfinite(v) else f"{v:.0%}"


def _ms(v) -> str:
    return "-" if v is None else f"{v:.3g} ms"
