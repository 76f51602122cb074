"""The performance stages: predictions, closed loop, open loop, batch, each in a fresh child.

Parent side only: build the child's spec from the suite, run it (`isolate.run_in_child`),
turn what comes back into results sections and raw-sample files. A child that crashes,
hangs or raises fails the candidate with a one-line error; what happened (signal, timeout,
stderr tail) is kept in `child_failures`, and the run goes on with the next candidate.

Hooks: modules that want to observe every timed phase inside the children (the resource
sampler) add a "module:attr" to `PHASE_HOOKS` or to `ctx.extras["phase_hooks"]`; see
`measure/child.py` for the hook contract. What they record comes back in each section's
`phases` and in `ctx.extras[("phases", candidate)]`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from benchharness.context import CandidateRun, RunContext
from benchharness.errors import ModelError
from benchharness.isolation.isolate import run_in_child
from benchharness.measure.open_loop import late_start_warning, sweep_p99_limit
from benchharness.measure.samples import safe_name, save_samples
from benchharness.measure.stats import summarize_ns
from benchharness.measure.threads import child_env

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

    modules = [*_PRELOAD, *ctx.suite["isolation"]["preload"]]
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
    rt = ctx.suite["realtime"]
    if ctx.dataset is not None:
        inputs: dict = {"X_test": str(work / "X_test.parquet"), "X_train": str(work / "X_train.parquet")}
    else:
        inputs = {"synthetic": {"rows": rt["synthetic_rows"], "seed": rt["synthetic_seed"]}}
    if native.exists():
        inputs["native"] = str(native)
    return {
        "model": {"source": cand.model_path, "format": cand.model_format,
                  "options": dict(cand.spec.get("options") or {})},
        "inputs": inputs,
        "threads": dict(ctx.suite["threads"]),
        "phase_hooks": [*PHASE_HOOKS, *ctx.extras.get("phase_hooks", [])],
    }


def run_child(ctx: RunContext, cand: CandidateRun, measurement: str, func: str, spec: dict,
              timeout_s: float) -> Any:
    """Run `child.<func>(spec)`; return its value or fail the candidate with one line."""
    iso = ctx.suite["isolation"]
    preload = ctx.extras.get("preload")
    if preload is None and iso["start_method"] == "forkserver":
        preload = ctx.extras["preload"] = preload_modules(ctx)
    out = run_in_child(f"{_CHILD}:{func}", {"spec": spec}, timeout_s,
                       env=child_env(spec["threads"]), label=f"{measurement} child",
                       start_method=iso["start_method"], preload=preload or (),
                       notify=lambda line: ctx.progress(f"[{cand.name}] {line}"),
                       memory_limit_mb=iso["memory_limit_mb"])
    if out.ok:
        phases = out.value.get("phases") if isinstance(out.value, dict) else None
        if phases:
            ctx.extras.setdefault(("phases", cand.name), {})[measurement] = phases
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
    timeout = ctx.suite["realtime"]["timeout_s"] or 600
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


def realtime_stage(ctx: RunContext, cand: CandidateRun) -> None:
    """Closed loop (one request at a time, back to back) -> realtime.closed_loop."""
    rt = ctx.suite["realtime"]
    spec = base_spec(ctx, cand) | {"realtime": rt}
    timeout = rt["timeout_s"] or 60 + 2 * (rt["warmup_s"] + rt["duration_s"])
    out = run_child(ctx, cand, "closed_loop", "closed_loop_child", spec, timeout)
    loop = out["loop"]
    section = summarize_ns(loop.latencies_ns, rt["ci_confidence"])
    section.update({
        "qps": loop.qps, "stable": loop.stable, "stop_reason": loop.stop_reason,
        "duration_s": loop.loop_s, "cpu_s": loop.cpu_s, **loop.error_section(),
        "samples_file": save_samples(ctx.run_dir, cand.name, "closed_loop",
                                     {"latency_ns": loop.latencies_ns}),
        "settings": out["settings"],
    })
    if out.get("server_model"):
        section["server_model"] = out["server_model"]
    cand.result.setdefault("realtime", {})["closed_loop"] = _with_phases(section, out)
    ctx.progress(f"[{cand.name}] closed loop: p50 {section.get('p50_ms', 0):.3g} ms, "
                 f"p99 {section.get('p99_ms', 0):.3g} ms, {loop.qps:,.0f} qps"
                 + ("" if loop.stable else " (not stable: more time would tighten the tail)"))


def open_loop_limit_ms(ctx: RunContext, cand: CandidateRun, closed: dict) -> tuple[float, str]:
    """The p99 a sustainable rate must keep, and where it came from (`sweep_p99_limit`)."""
    return sweep_p99_limit(ctx.suite, closed, cand.spec.get("limits"))


def open_loop_stage(ctx: RunContext, cand: CandidateRun) -> None:
    """Open loop at scheduled arrivals + rate sweep -> realtime.open_loop."""
    rt = ctx.suite["realtime"]
    ol = rt["open_loop"]
    closed = (cand.result.get("realtime") or {}).get("closed_loop") or {}
    if not ol["enabled"] or not closed.get("qps") or not closed.get("count"):
        return
    limit, source = open_loop_limit_ms(ctx, cand, closed)
    # errors the model makes unloaded (bad rows) are not the rate's; more than those are
    max_errors = (closed.get("error_rate") or 0.0) + OPEN_LOOP_EXTRA_ERROR_RATE
    capacity = closed["qps"] * ol["workers"]
    rates = ol["rates_per_s"] or [capacity * f for f in ol["fractions"]]
    n_probes = len(rates) + ol["refine_steps"]
    lowest = min(rates) / 2 ** ol["refine_steps"]  # bisection may go below the first rate
    longest = 3 * max(ol["duration_s"], ol["min_count"] / lowest) + 1
    timeout = ol["timeout_s"] or 60 + 2 * rt["warmup_s"] + n_probes * longest
    spec = base_spec(ctx, cand) | {"realtime": rt, "open_loop": ol, "p99_limit_ms": limit,
                                   "capacity_per_s": capacity, "max_error_rate": max_errors}
    out = run_child(ctx, cand, "open_loop", "open_loop_child", spec, timeout)
    warning = late_start_warning(out["rates"], ol["late_threshold_ms"])
    if warning:
        ctx.progress(f"[{cand.name}] warning: {warning}")
    section = {
        "arrival": ol["arrival"], "workers": ol["workers"], "duration_s": ol["duration_s"],
        "p99_limit_ms": limit, "p99_limit_source": source, "error_rate_limit": max_errors,
        "max_sustainable_rate_per_s": out["max_sustainable_rate_per_s"],
        "rates": out["rates"], "late_start_warning": warning,
        "samples_file": save_samples(ctx.run_dir, cand.name, "open_loop", _open_loop_arrays(out["runs"])),
        "settings": out["settings"],
    }
    cand.result.setdefault("realtime", {})["open_loop"] = _with_phases(section, out)
    best = out["max_sustainable_rate_per_s"]
    ctx.progress(f"[{cand.name}] open loop: highest rate with p99 <= {limit:.3g} ms: "
                 + (f"{best:,.0f}/s" if best else "none of the rates tried"))


def _open_loop_arrays(runs: list) -> dict[str, np.ndarray]:
    """Every request of every rate, times in ns from that rate's first scheduled arrival."""
    cols: dict[str, list] = {k: [] for k in ("rate_per_s", "scheduled_ns", "start_ns", "end_ns",
                                              "failed", "ready_ns")}
    for rate, run in runs:
        t0 = run.scheduled_ns[0] if len(run.scheduled_ns) else 0
        cols["rate_per_s"].append(np.full(len(run.end_ns), rate))
        cols["scheduled_ns"].append(run.scheduled_ns - t0)
        cols["start_ns"].append(run.start_ns - t0)
        cols["end_ns"].append(run.end_ns - t0)
        cols["failed"].append(run.failed)
        cols["ready_ns"].append(run.ready_ns - t0)
    return {k: np.concatenate(v) if v else np.array([]) for k, v in cols.items()}


def batch_stage(ctx: RunContext, cand: CandidateRun) -> None:
    """Batch-size sweep -> results["batch"] (a list) and batch_full_split_s beside it."""
    cfg = ctx.suite["batch"]
    spec = base_spec(ctx, cand) | {"batch": cfg}
    timeout = cfg["timeout_s"] or 120 + 2 * len(cfg["batch_sizes"]) * (cfg["duration_s"] + 1)
    out = run_child(ctx, cand, "batch", "batch_child", spec, timeout)
    arrays = {f"b{size}_latency_ns": loop.latencies_ns for size, loop in out["loops"]}
    samples_file = save_samples(ctx.run_dir, cand.name, "batch", arrays)
    for entry in out["batch"]:
        entry["samples_file"] = samples_file
        entry["samples_key"] = f"b{entry['batch_size']}_latency_ns"
    cand.result["batch"] = out["batch"]
    full = out["full_split"]
    cand.result["batch_full_split_s"] = full["seconds"] if full else None  # None: every call failed
    cand.result["batch_full_split"] = full
    cand.result["batch_settings"] = _with_phases({"settings": out["settings"]}, out)
    best = max(out["batch"], key=lambda b: b["rows_per_s"])
    ctx.progress(f"[{cand.name}] batch: best {best['rows_per_s']:,.0f} rows/s at batch {best['batch_size']}"
                 + (f"; whole test split ({full['rows']} rows) in {full['seconds'] * 1e3:.3g} ms"
                    if full and full["seconds"] else ""))

