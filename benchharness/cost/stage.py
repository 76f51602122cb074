"""The run's hardware profile and traffic, and each candidate's `cost` section.

`profile_stage` (before measuring) loads the profile named by `--profile` or the suite's
`profile:` (default `local`), so that a bad name fails before anything is measured, and
records it with the traffic the suite states. `cost_stage` (after measuring) prices each
candidate's measured throughput with the formulas in `benchharness.cost.formulas`.
"""

from __future__ import annotations

import dataclasses
import math

from benchharness import schema
from benchharness.adapters.registry import ran_on_accelerator
from benchharness.context import RunContext
from benchharness.cost import formulas as cost
from benchharness.cost.hardware import Profile, detect_machine, load_profile, profile_section
from benchharness.cost.replicas import replica_plan


def profile_stage(ctx: RunContext) -> None:
    machine = detect_machine()
    profile = load_profile(ctx.suite.profile, machine=machine)
    ctx.profile = profile
    section = profile_section(profile, machine)
    section["machine"] = machine
    ctx.results["profile"] = section
    traffic = dict(dataclasses.asdict(ctx.suite.traffic))
    traffic["defaults_used"] = [k for k in traffic if k not in ctx.suite.traffic_given]
    ctx.results["traffic"] = traffic
    if section["mismatch"]:
        ctx.progress(f"profile {profile.name}: " + "; ".join(section["mismatch"]))


def run_profile(ctx: RunContext) -> Profile:
    """The profile the run is priced on (loaded here when profile_stage did not run: a
    caller's own stage list)."""
    if ctx.profile is None:
        ctx.profile = load_profile(ctx.suite.profile)
    return ctx.profile


def cost_stage(ctx: RunContext) -> None:
    profile = run_profile(ctx)
    traffic = dataclasses.asdict(ctx.suite.traffic)
    for cand in ctx.candidates:
        if cand.ok:
            cand.result["cost"] = candidate_cost(cand.result, cand.spec.options, profile, traffic)


def sustainable_rate(result: dict) -> tuple[float | None, str | None, str | None]:
    """Highest rate one replica sustains within the latency limit, where it came from, and a
    warning when the figure is weaker than an open-loop measurement. (The open loop's own
    late-start warning stays in its section: the rate is judged on the model's latency with
    the load generator's delay removed, so it is not repeated here.)"""
    from benchharness.decide.figures import invalid

    open_loop = schema.open_loop(result)
    why = invalid(result, "sustainable_rps")
    if open_loop.get("max_sustainable_rate_per_s") and not why:
        return float(open_loop["max_sustainable_rate_per_s"]), "open_loop.max_sustainable_rate_per_s", None
    qps = schema.closed_loop(result).get("qps")
    if not qps:
        return None, None, None
    if why:
        return (float(qps), "closed_loop.qps (an optimistic upper bound)",
                f"the open-loop sustainable rate is {why}")
    if open_loop.get("rates"):
        return (float(qps), "closed_loop.qps (an optimistic upper bound)",
                "no open-loop rate tried kept p99 within the limit")
    return float(qps), "closed_loop.qps (no open-loop sweep: an optimistic upper bound)", None


# CPU time comes in clock ticks (10 ms on Linux): over a shorter phase one tick more or less
# reads as 50% busy, so a 25 ms predict phase of a one-thread model looked like two cores
_MIN_BUSY_PHASE_S = 0.2


def threads_per_replica(result: dict, options: dict) -> tuple[int, str]:
    """Cores one replica needs: the runtime threads set for it, else the cores it was seen to
    keep busy in its busiest phase, never more than the CPUs it was pinned to.

    Open-loop phases are left out: their load generator spins until each arrival, CPU
    time that is the harness's, not the model's. Phases under `_MIN_BUSY_PHASE_S` too.
    """
    settings = schema.closed_loop(result).get("settings") or {}
    threads = settings.get("threads") or {}
    runtime = threads.get("runtime_options") or {}
    configured = options.get("intra_op_num_threads") or runtime.get("intra_op_num_threads")
    if configured:
        return int(configured), "configured"
    phases = schema.resource_phases(result)
    busy = [p.get("process_cpu_percent") or 0 for name, p in phases.items()
            if not name.startswith("open_loop") and p.get("wall_s", _MIN_BUSY_PHASE_S) >= _MIN_BUSY_PHASE_S]
    if busy and max(busy) > 0:
        # 190% busy means two cores; a little slack so 105% (one core + the sampler) stays one
        cores = max(1, math.ceil(max(busy) / 100 - 0.15))
        pinned = threads.get("affinity")
        return (min(cores, len(pinned)) if pinned else cores), "measured_cpu"
    return 1, "default (not configured, not measured)"


def load_time_s(result: dict) -> float | None:
    ms = schema.resources(result).get("load_time_ms")
    if ms is not None:
        return ms / 1000
    return result.get("load_s")


def candidate_cost(result: dict, options: dict, profile: Profile, traffic: dict) -> schema.Cost:
    """The candidate's `cost` section (USD), or the reason a figure could not be priced."""
    price = profile.price_per_hour_usd
    threads, threads_source = threads_per_replica(result, options)
    replicas = cost.replicas_per_instance(profile.vcpus, threads)
    on_gpu = ran_on_accelerator(result)
    if on_gpu:  # the GPU is what one replica holds: vCPUs do not multiply its throughput
        replicas = int((profile.gpu or {}).get("count") or 1)
        threads_source = f"gpu ({on_gpu}): one replica per GPU"
    by_memory = None if on_gpu else cost.replicas_by_memory(
        profile.memory_gb, schema.resources(result).get("peak_rss_mb"))
    if by_memory is not None and by_memory < replicas:
        replicas, threads_source = by_memory, f"{threads_source}; replicas bounded by memory"
    plan = None if on_gpu else replica_plan(schema.replicas(result), replicas)
    if plan:  # replicas measured side by side (tune): their aggregate, not a multiple of one
        replicas = plan["replicas"]
    out: schema.Cost = {
        "profile": profile.name,
        "price_per_hour_usd": price,
        "price_is_approximate": profile.approximate,
        "threads_per_replica": threads,
        "threads_source": threads_source,
        "replicas_per_instance": replicas,
        "replicas_by_memory": by_memory,
    }
    if plan:
        out["replicas_plan"] = plan
    best = schema.best_batch(result)  # batch is priced at the batch size with the highest rows/s
    # per-replica throughput under co-load, relative to one replica alone
    batch_scale = 1.0
    if best and plan:
        batch_scale = plan["instance_rows_per_s"] / replicas / best["rows_per_s"]
    rate_scale = plan["realtime_efficiency"] if plan else 1.0
    if best:
        rows = best["rows_per_s"] * batch_scale
        daily = cost.batch_daily_cost_usd(traffic["batch_rows_per_day"], rows, price, replicas)
        out["batch"] = {
            "batch_size": best.get("batch_size"),
            "rows_per_s_per_replica": rows,
            "rows_per_s_per_instance": rows * replicas,
            "usd_per_1m": cost.batch_usd_per_million(rows, price, replicas),
            "rows_per_day": traffic["batch_rows_per_day"],
            "hours_per_day": daily["hours_per_day"],
            "daily_usd": daily["usd_per_day"],
            "monthly_usd": daily["usd_per_month"],
        }
    else:
        out["batch"] = {"usd_per_1m": None, "reason": "no batch throughput measured"}
    rate, rate_source, rate_warning = sustainable_rate(result)
    if rate:
        rate *= rate_scale  # each replica's rate under co-load (1 unless measured together)
        rt = cost.realtime_cost(traffic["peak_rps"], traffic["daily_volume"], rate, replicas, price)
        out["realtime"] = {
            "peak_rps": traffic["peak_rps"],
            "daily_volume": traffic["daily_volume"],
            "sustainable_per_s_per_replica": rate,
            "rate_source": rate_source,
            **({"replicas_efficiency": rate_scale} if plan else {}),
            "rate_warning": rate_warning,
            "instances": rt["instances"],
            "capacity_per_s": rt["capacity_per_s"],
            "monthly_usd": rt["usd_per_month"],
            "usd_per_1m": rt["usd_per_million"],
            "utilisation": rt["utilisation"],
        }
    else:
        out["realtime"] = {"usd_per_1m": None, "reason": "no real-time rate measured"}
    add_cost_intervals(out, result, best, price, replicas, traffic, batch_scale, rate_scale)
    load_s = load_time_s(result)
    out["cold_start_usd"] = cost.cold_start_usd(load_s, price) if load_s is not None else None
    if profile.spot_price_per_hour_usd and best:
        out["spot_batch_usd_per_1m"] = cost.batch_usd_per_million(
            best["rows_per_s"] * batch_scale, profile.spot_price_per_hour_usd, replicas)
    return out


# -- intervals: the throughput's interval (across trials) carried through the formulas ----------
def _bounds_through(f, lo: float | None, hi: float | None) -> list[float | None]:
    """[lo, hi] of a decreasing function of a rate: f(hi) is the low end, f(lo) the high one;
    an unknown or zero rate end leaves that bound null."""
    low = f(hi) if hi else None
    high = f(lo) if lo else None
    return [low, high]


def rate_interval(result: dict, source: str | None) -> tuple[list, list]:
    """(interval, per-trial values) of the rate a real-time price was computed from."""
    sec = schema.open_loop(result) if (source or "").startswith("open_loop") else schema.closed_loop(result)
    if not sec:
        return [None, None], []
    key = "max_sustainable_rate_per_s" if (source or "").startswith("open_loop") else "qps"
    iv = (sec.get("intervals") or {}).get(key) or [None, None]
    return list(iv), [(t.get(key), t.get("round")) for t in sec.get("trials") or []]


def add_cost_intervals(out: dict, result: dict, best: dict | None, price: float, replicas: int,
                       traffic: dict, batch_scale: float = 1.0, rate_scale: float = 1.0) -> None:
    """Each priced section gets intervals / trials / stability for its USD figures,
    propagated from the interval of the throughput it was priced from (times the replicas'
    measured scaling, when replicas were measured side by side)."""
    from benchharness.measure.intervals import stability

    if best and (best.get("intervals") or {}).get("rows_per_s"):
        lo, hi = best["intervals"]["rows_per_s"]

        def batch_usd(rows):
            return cost.batch_usd_per_million(rows * batch_scale, price, replicas)

        def batch_month(rows):
            return cost.batch_daily_cost_usd(traffic["batch_rows_per_day"], rows * batch_scale, price,
                                             replicas)["usd_per_month"]

        out["batch"]["intervals"] = {"usd_per_1m": _bounds_through(batch_usd, lo, hi),
                                     "monthly_usd": _bounds_through(batch_month, lo, hi)}
        trials = [{"usd_per_1m": batch_usd(t["rows_per_s"]) if t.get("rows_per_s") else None,
                   "count": t.get("count"), "duration_s": t.get("duration_s"), "round": t.get("round")}
                  for t in best.get("trials") or []]
        out["batch"]["trials"] = trials
        out["batch"]["stability"] = stability(trials, ["usd_per_1m"])
    rt = out.get("realtime") or {}
    if rt.get("usd_per_1m") is not None:
        (lo, hi), values = rate_interval(result, rt.get("rate_source"))

        def rt_figures(rate):
            return cost.realtime_cost(traffic["peak_rps"], traffic["daily_volume"], rate * rate_scale,
                                      replicas, price)

        rt["intervals"] = {
            "usd_per_1m": _bounds_through(lambda r: rt_figures(r)["usd_per_million"], lo, hi),
            "monthly_usd": _bounds_through(lambda r: rt_figures(r)["usd_per_month"], lo, hi),
        }
        trials = [{"usd_per_1m": rt_figures(v)["usd_per_million"],
                   "monthly_usd": rt_figures(v)["usd_per_month"], "round": r} if v else {}
                  for v, r in values]
        rt["trials"] = trials
        rt["stability"] = stability(trials, ["usd_per_1m", "monthly_usd"])
