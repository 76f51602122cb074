"""The performance stages: predictions, closed loop, open loop, batch, each in a fresh child.

Parent side only: build the child's spec from the suite, run it (`isolate.run_in_child`),
turn what comes back into results sections and raw-sample files. A child that crashes,
hangs or raises fails the candidate with a one-line error; what happened (signal, timeout,
stderr tail) is kept in `child_failures`, and the run goes on with the next candidate.

Hooks: modules that want to observe every timed phase inside the children (the resource
sampler) add a "module:attr" to `PHASE_HOOKS` or to `ctx.phase_hooks`; see
`measure/child.py` for the hook contract. What they record comes back in each section's
`phases` and in `cand.phases`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from benchharness import schema
from benchharness.context import CandidateRun, RunContext
from benchharness.errors import ModelError
from benchharness.isolation.isolate import run_in_child
from benchharness.measure.intervals import (
    hierarchical_interval,
    latency_figures,
    ratio_interval,
    stability,
    trial_interval,
)
from benchharness.measure.open_loop import late_start_warning, sweep_p99_limit
from benchharness.measure.samples import save_samples
from benchharness.measure.settings import BatchSettings, RealtimeSettings, as_dict
from benchharness.measure.stats import LATENCY_KEYS, percentile, summarize_ns, tail_bound
from benchharness.measure.threads import child_env
from benchharness.run_folder import safe_name

PHASE_HOOKS: list[str] = ["benchharness.measure.monitor:phase_hook"]  # CPU, memory, GPU, energy
_CHILD = "benchharness.measure.child"
OPEN_LOOP_EXTRA_ERROR_RATE = 0.01  # a sustainable rate fails at most 1 point more than unloaded
# what the fork server imports for every child (per format: the `preload` of its registry row)
_PRELOAD = ["numpy", "pandas", "pyarrow.parquet", "scipy.special", "threadpoolctl",
            "benchharness.measure.child", "benchharness.adapters.registry"]


def preload_modules(ctx: RunContext) -> list[str]:
    """Libraries the candidates of this run need, for the fork server to import once."""
    from benchharness.adapters.registry import find_format
    from benchharness.errors import UserError

    modules = [*_PRELOAD, *ctx.suite.isolation.preload]
    for cand in ctx.candidates:
        try:
            entry = find_format(cand.model_path or "", cand.model_format)
        except UserError:
            continue
        modules += [m for m in entry.preload if m not in modules]
    return modules


# -- spec and child ----------------------------------------------------------------------------
def base_spec(ctx: RunContext, cand: CandidateRun) -> dict:
    """What every child needs: the model, where its input is, threads, hooks."""
    work = Path(ctx.work_dir)
    native = work / f"native-{safe_name(cand.name)}.pkl"
    rt = ctx.suite.realtime
    if ctx.dataset is not None:
        inputs: dict = {"X_test": str(work / "X_test.parquet"), "X_train": str(work / "X_train.parquet")}
    else:
        inputs = {"synthetic": {"rows": rt.synthetic_rows, "seed": rt.synthetic_seed}}
    if native.exists():
        inputs["native"] = str(native)
    return {
        "model": {"source": cand.model_path, "format": cand.model_format,
                  "options": dict(cand.spec.options)},
        "inputs": inputs,
        "threads": as_dict(ctx.suite.threads),
        "phase_hooks": [*PHASE_HOOKS, *ctx.phase_hooks],
    }


def run_child(ctx: RunContext, cand: CandidateRun, measurement: str, func: str, spec: dict,
              timeout_s: float) -> Any:
    """Run `child.<func>(spec)`; return its value or fail the candidate with one line."""
    iso = ctx.suite.isolation
    if ctx.preload is None and iso.start_method == "forkserver":
        ctx.preload = preload_modules(ctx)
    out = run_in_child(f"{_CHILD}:{func}", {"spec": spec}, timeout_s,
                       env=child_env(spec["threads"]), label=f"{measurement} child",
                       start_method=iso.start_method, preload=ctx.preload or (),
                       notify=lambda line: ctx.progress(f"[{cand.name}] {line}"),
                       memory_limit_mb=iso.memory_limit_mb)
    if out.ok:
        phases = out.value.get("phases") if isinstance(out.value, dict) else None
        if phases:
            cand.phases[measurement] = phases
        return out.value
    cand.result.setdefault("child_failures", []).append({"measurement": measurement, **out.record()})
    raise ModelError(f"{measurement}: {out.error}")


def _with_phases(section: dict, value: dict) -> dict:
    if value.get("phases"):
        section["phases"] = value["phases"]
    return section


# -- stages ------------------------------------------------------------------------------------
def predict_stage(ctx: RunContext, cand: CandidateRun) -> None:
    """Model facts and predictions on the splits (quality reads `cand.predictions`)."""
    spec = base_spec(ctx, cand)
    spec["inputs"]["native_out"] = str(Path(ctx.work_dir) / f"native-{safe_name(cand.name)}.pkl")
    spec["inputs"].pop("native", None)
    timeout = ctx.suite.realtime.timeout_s or 600
    out = run_child(ctx, cand, "predict", "predict_child", spec, timeout)
    cand.result["model"] = out["model"]
    fallback = (out["model"].get("details") or {}).get("fallback")
    if fallback:  # asked for a GPU, measured on the CPU: every figure that follows is the CPU's
        ctx.progress(f"[{cand.name}] warning: {fallback}")
    cand.result["signature"] = out["signature"]
    cand.result["load_s"] = out["load_s"]
    if out.get("perf_only"):
        cand.result["perf_only"] = True
    cand.predictions = out["predictions"]


# -- trials: one child each, figures pooled over the trials -----------------------------------
# A measurement (closed loop, open loop at its chosen rates, batch sweep) is made as several
# trials, each in a fresh child; `measure/trials.py` interleaves them across candidates.
# `*_trial(ctx, cand, index)` runs one and keeps its raw outcome in
# `cand.trials[measurement]`; `summarize_*` turns the trials so far into
# the candidate's section (pooled point values, intervals across trials, per-trial figures,
# stability). A trial's length is the measurement's budget divided by its trials.
_LATENCY_FIGURES = LATENCY_KEYS


def trial_records(ctx: RunContext, cand: CandidateRun, measurement: str) -> list[dict]:
    return cand.trials.setdefault(measurement, [])


def trial_window_s(section: RealtimeSettings | BatchSettings) -> float:
    """Timed seconds of one trial: the budget (default: duration_s) over the trials."""
    budget = section.budget_s or section.duration_s
    return max(budget / max(section.trials or 1, 1), 0.02)


def _fixed_window(section: RealtimeSettings | BatchSettings) -> dict:
    """The section, as the child reads it, with its stop rule turned into one fixed window per
    trial: whether a figure is pinned down is judged across trials, not inside one."""
    w = trial_window_s(section)
    return {**as_dict(section), "duration_s": w, "min_duration_s": w, "min_count": 1}


def closed_loop_trial(ctx: RunContext, cand: CandidateRun, index: int) -> dict:
    rt = ctx.suite.realtime
    spec = base_spec(ctx, cand) | {"realtime": _fixed_window(rt), "trial_index": index}
    timeout = rt.timeout_s or 60 + 2 * (rt.warmup_s + trial_window_s(rt))
    out = run_child(ctx, cand, "closed_loop", "closed_loop_child", spec, timeout)
    loop = out["loop"]
    ms = loop.latencies_ns / 1e6
    record = {"index": index, "latency_ns": loop.latencies_ns, "errors": loop.errors,
              "first_error": loop.first_error, "settings": out["settings"],
              "server_samples_ms": out.get("server_samples_ms"), "phases": out.get("phases") or {},
              "figures": {**latency_figures(ms), "qps": loop.qps, "count": len(ms),
                          "duration_s": loop.loop_s, "cpu_s": loop.cpu_s}}
    cpu = _phase_cpu_ms(record["phases"].get("closed_loop"), loop.qps * rt.rows_per_request)
    if cpu is not None:
        record["figures"]["cpu_ms_per_prediction"] = cpu
    trial_records(ctx, cand, "closed_loop").append(record)
    return record["figures"]


def _phase_cpu_ms(by_hook: dict | None, rows_per_s: float) -> float | None:
    """CPU ms per prediction in one trial's timed phase (the resource sampler's record)."""
    from benchharness.measure.monitor import PHASE_HOOK

    rec = (by_hook or {}).get(PHASE_HOOK) or {}
    if rec.get("cpu_s") is None or not rec.get("wall_s") or not rows_per_s:
        return None
    return 1000.0 * rec["cpu_s"] / rec["wall_s"] / rows_per_s


def summarize_closed_loop(ctx: RunContext, cand: CandidateRun) -> None:
    """realtime.closed_loop from every closed-loop trial so far."""
    rt = ctx.suite.realtime
    records = trial_records(ctx, cand, "closed_loop")
    if not records:
        return
    pooled = np.concatenate([r["latency_ns"] for r in records])
    section: schema.ClosedLoop = summarize_ns(pooled, rt.ci_confidence)
    trials = [r["figures"] for r in records]
    count = sum(t["count"] for t in trials)
    seconds = sum(t["duration_s"] for t in trials)
    errors = sum(r["errors"] for r in records)
    attempts = count + errors
    section.update({
        "qps": count / seconds if seconds > 0 else 0.0,
        "duration_s": seconds, "cpu_s": sum(t["cpu_s"] for t in trials),
        "error_count": errors, "error_rate": errors / attempts if attempts else 0.0,
        "first_error": next((r["first_error"] for r in records if r["first_error"]), None),
    })
    seed = rt.trial_seed
    section["intervals"] = hierarchical_interval([r["latency_ns"] / 1e6 for r in records],
                                                 confidence=rt.ci_confidence, seed=seed)
    section["intervals"]["qps"] = ratio_interval([t["count"] for t in trials],
                                                 [t["duration_s"] for t in trials],
                                                 rt.ci_confidence, seed=seed)
    # `round`: the trial's index, the round of the interleaved order it ran in (a paired
    # comparison between candidates matches trials by it)
    section["trials"] = [{**{k: v for k, v in r["figures"].items() if k != "cpu_s"}, "round": r["index"]}
                         for r in records]
    section["stability"] = stability(trials, [*_LATENCY_FIGURES, "qps"], rt.unstable_cv)
    ordered = np.sort(pooled) / 1e6
    section["tail_bounds"] = {key: tail_bound(ordered, q) for key, q in (("p99_ms", 99), ("p999_ms", 99.9))}
    arrays = {"latency_ns": pooled, **{f"trial{i}_latency_ns": r["latency_ns"]
                                       for i, r in enumerate(records)}}
    section["samples_file"] = save_samples(ctx.run_dir, cand.name, "closed_loop", arrays)
    section["settings"] = {**records[0]["settings"], "trials": len(records),
                           "trial_window_s": trial_window_s(rt)}
    server = [r["server_samples_ms"] for r in records if r.get("server_samples_ms")]
    if server and len(server) == len(records):  # an HTTP candidate: the server's model time
        from benchharness.adapters.server_timing import server_time_summary

        section["server_model"] = server_time_summary([t for ts in server for t in ts], section["mean_ms"])
    if records[-1]["phases"]:
        section["phases"] = records[-1]["phases"]
    cand.result.setdefault("realtime", {})["closed_loop"] = section


def open_loop_limit_ms(ctx: RunContext, cand: CandidateRun, closed: dict) -> tuple[float, str]:
    """The p99 a sustainable rate must keep, and where it came from (`sweep_p99_limit`)."""
    return sweep_p99_limit(cand.open_loop_limit, closed)


def _open_loop_spec(ctx: RunContext, cand: CandidateRun) -> dict | None:
    """The open-loop child's spec (None when the open loop does not run for this candidate)."""
    rt = ctx.suite.realtime
    ol = rt.open_loop
    closed = schema.closed_loop(cand.result)
    if not ol.enabled or not closed.get("qps") or not closed.get("count"):
        return None
    limit, source = open_loop_limit_ms(ctx, cand, closed)
    # errors the model makes unloaded (bad rows) are not the rate's; more than those are
    max_errors = (closed.get("error_rate") or 0.0) + OPEN_LOOP_EXTRA_ERROR_RATE
    return base_spec(ctx, cand) | {"realtime": as_dict(rt), "open_loop": as_dict(ol), "p99_limit_ms": limit,
                                   "p99_limit_source": source,
                                   "capacity_per_s": closed["qps"] * ol.workers,
                                   "max_error_rate": max_errors}


def _open_loop_timeout(rt: RealtimeSettings, n_probes: int, lowest: float) -> float:
    ol = rt.open_loop
    longest = 3 * max(ol.duration_s, ol.min_count / lowest) + 1
    return ol.timeout_s or 60 + 2 * rt.warmup_s + n_probes * longest


def open_loop_sweep(ctx: RunContext, cand: CandidateRun) -> None:
    """Find the rates once (ascending sweep + bisection, one child); its measurement of the
    rates chosen for trials counts as their trial 0."""
    spec = _open_loop_spec(ctx, cand)
    if spec is None:
        return
    ol = spec["open_loop"]
    rates = ol["rates_per_s"] or [spec["capacity_per_s"] * f for f in ol["fractions"]]
    lowest = min(rates) / 2 ** ol["refine_steps"]  # bisection may go below the first rate
    timeout = _open_loop_timeout(ctx.suite.realtime, len(rates) + ol["refine_steps"], lowest)
    out = run_child(ctx, cand, "open_loop", "open_loop_child", spec, timeout)
    chosen = _trial_rates(out["rates"], out["max_sustainable_rate_per_s"])
    cand.open_loop_sweep = {"spec": spec, "out": out, "chosen": chosen}
    records = trial_records(ctx, cand, "open_loop")
    records.append({"index": 0, "source": "sweep", "phases": out.get("phases") or {},
                    "rates": [r for r in out["rates"] if r["target_rate_per_s"] in chosen],
                    "runs": list(out["runs"])})  # every rate probed: its raw samples are kept


def _trial_rates(rates: list[dict], best: float | None) -> list[float]:
    """The rates trials re-measure: the highest sustainable one and the first above it that
    failed (the sustainable rate lies between them); the lowest tried when none passed."""
    tried = sorted(r["target_rate_per_s"] for r in rates)
    if not tried:
        return []
    if best is None:
        return tried[:1]
    above = [r for r in tried if r > best]
    return [best] + above[:1]


def open_loop_trial(ctx: RunContext, cand: CandidateRun, index: int) -> dict | None:
    sweep = cand.open_loop_sweep
    if not sweep or not sweep["chosen"]:
        return None
    spec = sweep["spec"] | {"trial_rates": sweep["chosen"], "trial_index": index}
    timeout = _open_loop_timeout(ctx.suite.realtime, len(sweep["chosen"]), min(sweep["chosen"]))
    out = run_child(ctx, cand, "open_loop", "open_loop_rates_child", spec, timeout)
    trial_records(ctx, cand, "open_loop").append(
        {"index": index, "source": "trial", "phases": out.get("phases") or {},
         "rates": out["rates"], "runs": out["runs"]})
    return {r["target_rate_per_s"]: r.get("p99_ms") for r in out["rates"]}


def _sustainable(p99_ms: float | None, error_rate: float, dropped: int, spec: dict) -> bool:
    return bool(p99_ms is not None and p99_ms <= spec["p99_limit_ms"] and not dropped
                and error_rate <= spec["max_error_rate"])


def _pooled_rate(rate: float, runs: list, spec: dict) -> dict:
    """A rate's figures over the trials' runs at that rate (pooled samples): latency from the
    scheduled arrival, and the split `summarize_run` makes of it (service time, the model's
    own latency, the load generator's delay); `judged_on` names the figure the sweep judges."""
    confidence = spec["realtime"]["ci_confidence"]
    ok = [~run.failed for run in runs]

    def pooled(values_of) -> np.ndarray:
        parts = [values_of(run)[mask] for run, mask in zip(runs, ok)]
        return np.concatenate(parts) if parts else np.array([], dtype=np.int64)

    out = {"target_rate_per_s": rate}
    out.update(summarize_ns(pooled(lambda run: run.latency_ns), confidence))
    for prefix, values_of in (("service_", lambda run: run.service_ns),
                              ("model_", lambda run: run.model_latency_ns()),
                              ("generator_delay_", lambda run: run.generator_delay_ns())):
        summary = summarize_ns(pooled(values_of), confidence)
        out.update({f"{prefix}{k}": summary[k] for k in (*_LATENCY_FIGURES, "max_ms") if k in summary})
    out["judged_on"] = "model_p99_ms" if out.get("model_p99_ms") is not None else "p99_ms"
    failed = sum(int(run.failed.sum()) for run in runs)
    total = sum(len(run.failed) for run in runs)
    out["error_count"] = failed
    out["error_rate"] = failed / total if total else 0.0
    out["dropped"] = sum(int(run.dropped) for run in runs)
    return out


def summarize_open_loop(ctx: RunContext, cand: CandidateRun) -> None:
    """realtime.open_loop: the sweep's rates, the chosen ones pooled over their trials."""
    sweep = cand.open_loop_sweep
    if not sweep:
        return
    spec, out, chosen = sweep["spec"], sweep["out"], sweep["chosen"]
    rt, ol = ctx.suite.realtime, spec["open_loop"]
    records = trial_records(ctx, cand, "open_loop")
    seed = rt.trial_seed
    entries: list[schema.OpenLoopRate] = []
    for probe in out["rates"]:
        rate = probe["target_rate_per_s"]
        per_trial = [(rec["index"], next((r for r in rec["rates"] if r["target_rate_per_s"] == rate), None),
                      dict(rec["runs"]).get(rate)) for rec in records]
        per_trial = [(i, r, run) for i, r, run in per_trial if r is not None and run is not None]
        if rate not in chosen or not per_trial:
            entry = dict(probe)
            entry["trials"] = [_rate_trial(probe)]
            # measured once, by the sweep: no interval across trials
            entry["intervals"] = {k: [None, None] for k in (*_LATENCY_FIGURES, "achieved_rate_per_s",
                                                            *(f"model_{k}" for k in _LATENCY_FIGURES))}
            entry["stability"] = stability(entry["trials"], _LATENCY_FIGURES, rt.unstable_cv)
            entries.append(entry)
            continue
        runs = [run for _, _, run in per_trial]
        entry = {**probe, **_pooled_rate(rate, runs, spec)}
        entry["achieved_rate_per_s"] = float(np.mean([r["achieved_rate_per_s"] for _, r, _ in per_trial]))
        entry["late_start_share"] = max(r["late_start_share"] for _, r, _ in per_trial)
        entry["queued_share"] = float(np.mean([r.get("queued_share") or 0.0 for _, r, _ in per_trial]))
        entry["sustainable"] = _sustainable(entry.get(entry["judged_on"]), entry["error_rate"],
                                            entry["dropped"], spec)
        entry["trials"] = [{**_rate_trial(r), "round": i} for i, r, _ in per_trial]
        entry["intervals"] = hierarchical_interval(
            [run.latency_ns[~run.failed] / 1e6 for run in runs], confidence=rt.ci_confidence, seed=seed)
        entry["intervals"].update({f"model_{k}": v for k, v in hierarchical_interval(
            [run.model_latency_ns()[~run.failed] / 1e6 for run in runs], confidence=rt.ci_confidence,
            seed=seed).items()})
        entry["intervals"]["achieved_rate_per_s"] = trial_interval(
            [r["achieved_rate_per_s"] for _, r, _ in per_trial], rt.ci_confidence, seed=seed)
        entry["stability"] = stability(entry["trials"], _LATENCY_FIGURES, rt.unstable_cv)
        entries.append(entry)
    entries.sort(key=lambda e: e["target_rate_per_s"])
    passing = [e["target_rate_per_s"] for e in entries if e.get("sustainable")]
    best = max(passing) if passing else None
    best_lo, best_hi, per_trial_best = _sustainable_interval(entries, records, chosen, spec, seed,
                                                             rt.ci_confidence)
    best_hi = _capacity_bound(best_hi, best_lo, cand, ol["workers"])
    warning = late_start_warning(entries, ol["late_threshold_ms"])
    if warning:
        ctx.progress(f"[{cand.name}] warning: {warning}")
    section: schema.OpenLoop = {
        "arrival": ol["arrival"], "workers": ol["workers"], "duration_s": ol["duration_s"],
        "p99_limit_ms": spec["p99_limit_ms"], "p99_limit_source": spec["p99_limit_source"],
        "error_rate_limit": spec["max_error_rate"],
        "max_sustainable_rate_per_s": best,
        "intervals": {"max_sustainable_rate_per_s": [best_lo, best_hi]},
        "trials": [{"max_sustainable_rate_per_s": v, "count": c, "duration_s": d, "round": r}
                   for v, c, d, r in per_trial_best],
        "stability": stability([{"max_sustainable_rate_per_s": v} for v, *_ in per_trial_best],
                               ["max_sustainable_rate_per_s"], rt.unstable_cv),
        "trial_rates_per_s": chosen,
        "rates": entries, "late_start_warning": warning,
        "samples_file": save_samples(ctx.run_dir, cand.name, "open_loop", _open_loop_arrays(records)),
        "settings": {**out["settings"], "trials": len(records)},
    }
    if out.get("phases"):
        section["phases"] = out["phases"]
    cand.result.setdefault("realtime", {})["open_loop"] = section


def _rate_trial(summary: dict) -> dict:
    keys = (*_LATENCY_FIGURES, *(f"model_{k}" for k in _LATENCY_FIGURES), "achieved_rate_per_s", "error_rate")
    figures = {k: summary.get(k) for k in keys if k in summary}
    figures["count"] = summary.get("count", 0)
    target = summary.get("target_rate_per_s") or 0
    figures["duration_s"] = (summary.get("count", 0) + summary.get("error_count", 0)) / target if target else None
    return figures


def _capacity_bound(hi: float | None, lo: float | None, cand: CandidateRun, workers: int) -> float | None:
    """The sustainable rate's upper bound, capped by capacity: with `workers` requests in
    service at once no arrival rate above workers x the closed loop's throughput (one request
    after another, its interval's upper end) can be kept up with, a queue would grow without
    end. So a sweep in which every rate passed still has a bounded interval."""
    closed = (cand.result.get("realtime") or {}).get("closed_loop") or {}
    top = ((closed.get("intervals") or {}).get("qps") or [None, None])[1]
    if top is None:
        return hi
    cap = workers * top
    if lo is not None and cap < lo:  # the open loop kept up with more: no cap is shown
        return hi
    return cap if hi is None else min(hi, cap)


def _sustainable_interval(entries, records, chosen, spec, seed, confidence):
    """Interval of the highest sustainable rate, and each trial's own.

    The true highest sustainable rate lies between the highest rate that passed and the
    first rate above it that failed (the sweep's grid is coarse). Resample the trials (each
    measured every chosen rate), judge every chosen rate on the resampled trials' pooled
    p99, and keep both ends of that bracket: the low bound is the low quantile of the
    highest passing rate (else the highest sweep rate below them that passed; 0 when none),
    the high bound the high quantile of the first failing rate (null when, in some
    resamples, every chosen rate passed: nothing above was shown to fail)."""
    below = [e["target_rate_per_s"] for e in entries
             if e["target_rate_per_s"] < min(chosen or [0]) and e.get("sustainable")]
    fallback = max(below) if below else None
    usable = [rec for rec in records if all(rate in dict(rec["runs"]) for rate in chosen)]
    if not chosen or not usable:
        return None, None, []

    # each (trial, rate) reduced once to what judging needs: a quantile sketch of the judged
    # latency (the model's own when known) and the error counts; the 200 resamples below then
    # cost microseconds instead of re-summarizing up to millions of raw samples each time
    judged = {(i, rate): _judged_sketch(dict(rec["runs"])[rate])
              for i, rec in enumerate(usable) for rate in chosen}

    def bracket(trials: list[int]) -> tuple[float | None, float | None]:
        ok, failed = [], []
        for rate in chosen:
            parts = [judged[(i, rate)] for i in trials]
            values = np.concatenate([s for s, *_ in parts])
            errors, total, dropped = (sum(p[k] for p in parts) for k in (1, 2, 3))
            p99 = percentile(values, 99) if len(values) else None
            passed = _sustainable(p99, errors / total if total else 0.0, dropped, spec)
            (ok if passed else failed).append(rate)
        best = max(ok) if ok else fallback
        above = [r for r in failed if best is None or r > best]
        return best, (min(above) if above else None)

    per_trial = []
    for rec in usable:
        runs = dict(rec["runs"])
        count = sum(len(runs[r].failed) for r in chosen)
        seconds = sum(len(runs[r].failed) / r for r in chosen)
        per_trial.append((bracket([usable.index(rec)])[0], count, seconds, rec["index"]))
    if len(usable) < 2:
        return None, None, per_trial
    rng = np.random.default_rng(seed)
    lows, highs = [], []
    for _ in range(200):
        pick = rng.integers(0, len(usable), size=len(usable))
        best, first_fail = bracket(list(pick))
        lows.append(best or 0.0)
        highs.append(np.inf if first_fail is None else first_fail)
    tail = (1 - confidence) / 2
    lo = float(np.quantile(lows, tail, method="inverted_cdf"))
    hi = float(np.quantile(highs, 1 - tail, method="inverted_cdf"))
    return (lo if lo > 0 else None), (hi if np.isfinite(hi) else None), per_trial


SKETCH_POINTS = 2000  # order statistics kept per (trial, rate) for judging resampled trials


def _judged_sketch(run) -> tuple[np.ndarray, int, int, int]:
    """(evenly spaced order statistics of the judged latency in ms, errors, requests, dropped)
    of one open-loop run: the model's own latency, as the sweep judges it."""
    ok = ~run.failed
    values = np.sort(run.model_latency_ns()[ok]) / 1e6
    if len(values) > SKETCH_POINTS:
        values = values[((np.arange(SKETCH_POINTS) + 0.5) * len(values) / SKETCH_POINTS).astype(int)]
    return values, int(run.failed.sum()), len(run.failed), int(run.dropped)


OPEN_LOOP_SAVED_PER_RUN = 20_000  # raw requests kept per (trial, rate); beyond, every k-th


def _open_loop_arrays(records: list[dict]) -> dict[str, np.ndarray]:
    """The requests of every trial and rate, times in ns from that rate's first arrival. A run
    of more than OPEN_LOOP_SAVED_PER_RUN requests (a fast model at a high rate: millions) keeps
    every k-th request, k in `kept_every`, so the file stays small and quick to write; the
    figures were computed on every request before this."""
    names = ("trial", "rate_per_s", "kept_every", "scheduled_ns", "start_ns", "end_ns", "failed",
             "ready_ns")
    cols: dict[str, list] = {k: [] for k in names}
    for rec in records:
        for rate, run in rec["runs"]:
            n = len(run.end_ns)
            every = max(1, -(-n // OPEN_LOOP_SAVED_PER_RUN))
            keep = slice(None, None, every)
            t0 = run.scheduled_ns[0] if n else 0
            kept = len(run.end_ns[keep])
            cols["trial"].append(np.full(kept, rec["index"]))
            cols["rate_per_s"].append(np.full(kept, rate))
            cols["kept_every"].append(np.full(kept, every))
            cols["scheduled_ns"].append(run.scheduled_ns[keep] - t0)
            cols["start_ns"].append(run.start_ns[keep] - t0)
            cols["end_ns"].append(run.end_ns[keep] - t0)
            cols["failed"].append(run.failed[keep])
            cols["ready_ns"].append(run.ready_ns[keep] - t0)
    return {k: np.concatenate(v) if v else np.array([]) for k, v in cols.items()}


def batch_trial(ctx: RunContext, cand: CandidateRun, index: int) -> dict:
    """One batch trial: every batch size in a fresh child (the whole split timed in trial 0)."""
    cfg = ctx.suite.batch
    window = _fixed_window(cfg)
    window["full_split"] = cfg.full_split and index == 0
    spec = base_spec(ctx, cand) | {"batch": window, "trial_index": index}
    timeout = cfg.timeout_s or 120 + 2 * len(cfg.batch_sizes) * (trial_window_s(cfg) + 1)
    out = run_child(ctx, cand, "batch", "batch_child", spec, timeout)
    record = {"index": index, "entries": out["batch"], "loops": dict(out["loops"]),
              "full_split": out["full_split"], "settings": out["settings"],
              "phases": out.get("phases") or {}}
    trial_records(ctx, cand, "batch").append(record)
    return {e["batch_size"]: e["rows_per_s"] for e in out["batch"]}


def summarize_batch(ctx: RunContext, cand: CandidateRun) -> None:
    """results["batch"] (one entry per batch size, pooled over the trials) and the whole split."""
    cfg = ctx.suite.batch
    records = trial_records(ctx, cand, "batch")
    if not records:
        return
    seed = ctx.suite.realtime.trial_seed
    arrays: dict[str, np.ndarray] = {}
    entries: list[schema.BatchEntry] = []
    for size in cfg.batch_sizes:
        used = [rec for rec in records if size in rec["loops"]]
        loops = [rec["loops"][size] for rec in used]
        trials = [next(e for e in rec["entries"] if e["batch_size"] == size) for rec in used]
        pooled = np.concatenate([loop.latencies_ns for loop in loops])
        count = sum(len(loop.latencies_ns) for loop in loops)
        seconds = sum(loop.loop_s for loop in loops)
        errors = sum(loop.errors for loop in loops)
        rows = trials[0]["rows_per_batch"]
        entry = {"batch_size": size, "rows_per_batch": rows, "batches": count,
                 "rows_per_s": count * rows / seconds if seconds > 0 else 0.0,
                 "batches_per_s": count / seconds if seconds > 0 else 0.0}
        entry.update({k: v for k, v in summarize_ns(pooled, cfg.ci_confidence).items() if k != "count"})
        entry["duration_s"] = seconds
        entry["error_count"] = errors
        entry["error_rate"] = errors / (count + errors) if count + errors else 0.0
        entry["first_error"] = next((t["first_error"] for t in trials if t.get("first_error")), None)
        entry["intervals"] = hierarchical_interval([loop.latencies_ns / 1e6 for loop in loops],
                                                   confidence=cfg.ci_confidence, seed=seed)
        entry["intervals"]["rows_per_s"] = ratio_interval(
            [len(loop.latencies_ns) * rows for loop in loops], [loop.loop_s for loop in loops],
            cfg.ci_confidence, seed=seed)
        entry["trials"] = [{**latency_figures(loop.latencies_ns / 1e6), "rows_per_s": t["rows_per_s"],
                            "count": len(loop.latencies_ns), "duration_s": loop.loop_s,
                            "round": rec["index"]}
                           for loop, t, rec in zip(loops, trials, used)]
        entry["stability"] = stability(entry["trials"], [*_LATENCY_FIGURES, "rows_per_s"],
                                       cfg.unstable_cv)
        key = f"b{size}_latency_ns"
        arrays[key] = pooled
        arrays.update({f"b{size}_trial{i}_latency_ns": loop.latencies_ns for i, loop in enumerate(loops)})
        entry["samples_key"] = key
        entries.append(entry)
    samples_file = save_samples(ctx.run_dir, cand.name, "batch", arrays)
    for entry in entries:
        entry["samples_file"] = samples_file
    cand.result["batch"] = entries
    full = next((rec["full_split"] for rec in records if rec["full_split"]), None)
    cand.result["batch_full_split_s"] = full["seconds"] if full else None  # None: every call failed
    cand.result["batch_full_split"] = full
    settings = {"settings": {**records[0]["settings"], "trials": len(records),
                             "trial_window_s": trial_window_s(cfg)}}
    cand.result["batch_settings"] = _with_phases(settings, records[-1])

