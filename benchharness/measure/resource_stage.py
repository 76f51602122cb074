"""The candidate's `resources` section, from what the phase hook recorded in each child.

The measuring children (measure/child.py) run `monitor.phase_hook` around every timed phase
(`load`, `predict`, `closed_loop`, `open_loop@RATE`, `batch@SIZE`, `full_split`) and send the
records back; measure/stages.py keeps them in `cand.phases` as
{measurement: {phase: {hook: record}}}. This stage turns each phase's CPU time and energy
into figures per prediction with the rate the measurement reports for that phase, and
picks the headline figures.
"""

from __future__ import annotations

from benchharness import schema
from benchharness.adapters.registry import ran_on_accelerator
from benchharness.context import CandidateRun, RunContext
from benchharness.measure import run_level
from benchharness.measure.monitor import PHASE_HOOK, resources_section
from benchharness.measure.settings import RealtimeSettings

# the child whose model load gives the footprint: a fresh process that only loads and times
_LOAD_FROM = ("closed_loop", "batch", "open_loop", "predict")


def phase_rate(result: dict, phase: str) -> float | None:
    """Predictions (rows) per second during `phase`, as the measurement itself reports them."""
    kind, _, value = phase.partition("@")
    if kind == "closed_loop":
        loop = schema.closed_loop(result)
        per_request = (loop.get("settings") or {}).get("rows_per_request") or 1
        return (loop.get("qps") or 0) * per_request or None
    if kind == "batch":
        for entry in schema.batch_entries(result):
            if str(entry.get("batch_size")) == value:
                return entry.get("rows_per_s") or None
    if kind == "open_loop":
        ol = schema.open_loop(result)
        per_request = (ol.get("settings") or {}).get("rows_per_request") or 1
        for entry in schema.open_loop_rates(result):
            if f"{entry.get('target_rate_per_s', 0):.6g}" == value:
                return (entry.get("achieved_rate_per_s") or 0) * per_request or None
    if kind == "full_split":
        return (result.get("batch_full_split") or {}).get("rows_per_s") or None
    return None


def per_prediction(record: dict, rows_per_s: float | None) -> dict:
    """The record with CPU ms and energy (GPU, CPU package) per prediction added.

        cpu_ms_per_prediction = 1000 x (cpu_s / wall_s) / rows_per_s

    i.e. the cores the phase kept busy divided by the predictions per second the measurement
    reported. A phase also holds its warm-up and the stop rule's checks; dividing rates
    rather than totals keeps those from inflating the figure. Energy likewise: mean power /
    rows_per_s.
    """
    out = dict(record)
    wall = out.get("wall_s") or 0
    if not rows_per_s or wall <= 0:
        return out
    out["rows_per_s"] = rows_per_s
    if out.get("cpu_s") is not None:
        out["cpu_ms_per_prediction"] = 1000.0 * out["cpu_s"] / wall / rows_per_s
    gpu = out.get("gpu") or {}
    if gpu.get("energy_j") is not None and gpu.get("wall_s"):
        out["gpu"] = {**gpu, "energy_per_prediction_j": gpu["energy_j"] / gpu["wall_s"] / rows_per_s}
    energy = out.get("energy") or {}
    if energy.get("cpu_power_mean_w") is not None:
        out["energy"] = {**energy, "cpu_energy_per_prediction_j": energy["cpu_power_mean_w"] / rows_per_s}
    return out


def resources_from_records(result: dict, records: dict, hook: str = PHASE_HOOK) -> schema.Resources | None:
    """Build `resources` from {measurement: {phase: {hook: record}}}; None if nothing was recorded."""
    loads: dict[str, dict] = {}
    phases: dict[str, dict] = {}
    for measurement, by_phase in records.items():
        for phase, by_hook in (by_phase or {}).items():
            record = (by_hook or {}).get(hook)
            if not record:
                continue
            if phase == "load":
                loads[measurement] = record
            else:
                phases[phase] = per_prediction(record, phase_rate(result, phase))
    if not loads and not phases:
        return None
    source = next((m for m in _LOAD_FROM if m in loads), next(iter(loads), None))
    load = None
    if source:
        rec = loads[source]
        load = {k: rec.get(k) for k in ("rss_before_load_mb", "rss_after_load_mb", "footprint_mb",
                                        "load_time_ms", "cpu_s")}
        load["load_peak_rss_mb"] = rec.get("peak_rss_mb")
        load["measured_in"] = source
        load["footprint_by_child_mb"] = {m: r.get("footprint_mb") for m, r in loads.items()}
    section = resources_section(load, phases)
    if section["gpu_energy_per_prediction_j"] is not None and not ran_on_accelerator(result):
        # a GPU idling beside a CPU model draws power; that is not the model's energy
        section["gpu_energy_per_prediction_j"] = None
        section["gpu_energy_note"] = "the model ran on the CPU: the GPU's power is not charged to it"
    return section


def resources_stage(ctx: RunContext, cand: CandidateRun) -> None:
    section = resources_from_records(cand.result, cand.phases)
    if section is not None:
        add_cpu_trials(section, cand.result, ctx.suite.realtime)
        cand.result["resources"] = section
        run_level.widen_candidate(ctx, cand)


def add_cpu_trials(section: schema.Resources, result: dict, rt: RealtimeSettings) -> None:
    """CPU per prediction across the closed loop's trials: each trial's own figure, their
    mean as the point value, an interval and the stability across trials."""
    from benchharness.measure.intervals import stability, trial_interval

    trials = schema.closed_loop(result).get("trials") or []
    values = [t["cpu_ms_per_prediction"] for t in trials if t.get("cpu_ms_per_prediction") is not None]
    if not values:
        return
    section["cpu_ms_per_prediction"] = sum(values) / len(values)
    section["intervals"] = {"cpu_ms_per_prediction": trial_interval(values, rt.ci_confidence,
                                                                     seed=rt.trial_seed)}
    section["trials"] = [{"cpu_ms_per_prediction": t.get("cpu_ms_per_prediction"),
                          "count": t.get("count"), "duration_s": t.get("duration_s")} for t in trials]
    section["stability"] = stability(section["trials"], ["cpu_ms_per_prediction"], rt.unstable_cv)
    section["cpu_source"] = "closed-loop trials: mean of each trial's CPU time per prediction"
