"""The run level of every measured interval: drift between runs that one run cannot see.

The trials of one run are fresh processes spread over the run, so their spread covers what
varies between processes; it cannot cover what stays the same for a whole run and changes
between runs minutes apart (the machine's frequency and thermal state, a neighbour's load,
the page cache). Two identical runs then give intervals that miss each other. So each
interval across trials is widened by a run-level relative standard deviation
(`intervals.add_run_level`), taken for each candidate and figure from:

- **history**: when the results folder holds at least `MIN_RUNS` earlier runs of the same
  suite file, on the same machine, with the same model file and the same `--quick`, the
  spread of the figure's value across those runs (std / mean). That spread also holds each
  run's own trial noise, so the interval errs on the wide side;
- **the prior** `realtime.run_cv` / `batch.run_cv` (defaults `config.RUN_CV`,
  `config.BATCH_RUN_CV`: what `benchmarks/aa_test.py` measured between identical runs on a
  2-core VM), at least `TAIL_RUN_CV` for tail percentiles, otherwise, and as a floor under the
  history's figure (a few runs estimate a spread poorly, so history can only widen an
  interval).

The sustainable rate's interval is the bracket of the sweep's grid, whose rates are
fractions of the closed loop's throughput, so the grid drifts between runs with it: both ends
are widened here, and the top then stays under the capacity cap (`stages._capacity_bound`:
workers x the closed loop's widened throughput).

Each widened section records what it used in `run_level: {cv: {key: value}, source: {...}}`;
a section with `run_level` is not widened again.
"""

from __future__ import annotations

from benchharness import schema
from benchharness.measure.intervals import add_run_level, monotone_percentiles
from benchharness.measure.stats import LATENCY_KEYS, TAIL_KEYS

# a section's interval key -> the figure name the history index stores it under
_CLOSED_KEYS = {k: k for k in (*LATENCY_KEYS, "qps")}
_OPEN_RATE_KEYS = {f"{pre}{p}_ms": f"open_{p}_ms" for pre in ("", "model_")
                   for p in ("p50", "p90", "p95", "p99", "p999")}


#: the prior of a tail percentile: in an 8-run A/A of the quickstart here, p50, mean and qps
#: moved 0-5% between identical runs beyond what their trials explained, p90 to p99.9 15-20%
#: (a tail is set by rare events: a timer interrupt, a page fault, a neighbour's burst)
TAIL_RUN_CV = 0.15


def prior_for(key: str, prior: float) -> float:
    """The prior run-level cv of one interval key: the section's prior, at least TAIL_RUN_CV
    for a tail percentile (model_ keys included); 0 stays 0 (trials-only asked for)."""
    if prior > 0 and key.removeprefix("model_") in TAIL_KEYS:
        return max(prior, TAIL_RUN_CV)
    return prior


def calibrated(key: str, prior: float, calibration: dict | None) -> tuple[float, str]:
    """(cv, source) of one interval key before history: this machine's calibration for the
    key's figure class (`bench calibrate`) when there is one, else the prior; a prior of 0
    (trials only, asked for) stays 0."""
    from benchharness.machine_calibration import class_of

    cv = prior_for(key, prior)
    if not calibration or prior <= 0:
        return cv, "prior"
    figure = key.removeprefix("model_")
    cls = "centre" if figure in ("max_sustainable_rate_per_s", "achieved_rate_per_s") else class_of(figure)
    value = (calibration.get("classes") or {}).get(cls or "")
    if not isinstance(value, (int, float)):
        return cv, "prior"
    return float(value), f"calibration of {calibration.get('runs', '?')} runs"


def widen_section(section: dict, prior: float, confidence: float, figure_of: dict[str, str],
                  spread: dict, candidate: str, calibration: dict | None = None) -> None:
    """Widen every interval of one measured section by its run-level term (once)."""
    if not isinstance(section, dict) or "run_level" in section or not section.get("intervals"):
        return
    cvs, sources = {}, {}
    for key, iv in section["intervals"].items():
        point = section.get(key)
        if not isinstance(iv, list) or len(iv) != 2 or not isinstance(point, (int, float)):
            continue
        seen = spread.get((candidate, figure_of.get(key, "")))
        cv, source = calibrated(key, prior, calibration)
        if seen is not None and seen[0] > cv:
            cv, source = seen[0], f"history of {seen[1]} runs"
        section["intervals"][key] = add_run_level(float(point), iv, cv, confidence)
        cvs[key], sources[key] = round(cv, 4), source
    for prefix in ("", "model_"):
        monotone_percentiles(section["intervals"], prefix)
    section["run_level"] = {"cv": cvs, "source": sources}


def widen_candidate(ctx, cand) -> None:
    """Widen every not yet widened measured section of a candidate (after its summaries)."""
    rt, batch = ctx.suite.realtime, ctx.suite.batch
    spread = ctx.run_level_spread
    cal = ctx.run_level_calibration
    result = cand.result
    widen_section(schema.closed_loop(result), rt.run_cv, rt.ci_confidence, _CLOSED_KEYS, spread,
                  cand.name, cal)
    open_loop = schema.open_loop(result)
    if open_loop:
        for entry in schema.open_loop_rates(result):
            widen_section(entry, rt.run_cv, rt.ci_confidence, _OPEN_RATE_KEYS, spread, cand.name, cal)
        # both ends widen; the top then stays under the capacity cap (workers x the closed
        # loop's widened throughput), which needs no second widening
        widen_section(open_loop, rt.run_cv, rt.ci_confidence,
                      {"max_sustainable_rate_per_s": "sustainable_rps"}, spread, cand.name, cal)
        widened = (open_loop.get("intervals") or {}).get("max_sustainable_rate_per_s")
        qps_top = ((schema.closed_loop(result).get("intervals") or {}).get("qps") or [None, None])[1]
        if isinstance(widened, list) and widened[1] is not None and qps_top is not None:
            widened[1] = min(widened[1], (open_loop.get("workers") or 1) * qps_top)
    for entry in schema.batch_entries(result):
        widen_section(entry, batch.run_cv, batch.ci_confidence, {"rows_per_s": "rows_per_s"},
                      spread, cand.name, cal)
    widen_section(schema.resources(result), rt.run_cv, rt.ci_confidence,
                  {"cpu_ms_per_prediction": "cpu_ms_per_prediction"}, spread, cand.name, cal)
