"""The names a suite uses for measured figures, and where each lives in results.json.

Limits (`p99_ms <= 20`), the objective (`max accuracy`), charts and `bench compare` all
speak these names, so the table below is the one place that maps a name to its place in a
candidate's results section. A name resolves to a number, or to None when the stage that
measures it did not run (never an exception): the caller reports "unknown".

Paths are dotted keys into the candidate's section, read through the accessors of
`benchharness/schema.py` (the one module that knows the layout): each figure has the one
path its stage writes; older documents are upgraded on load (`results.load_results`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchharness import numbers, schema
from benchharness.quality.metrics import METRICS
from benchharness.schema import get_path, open_loop_rate_at_best

#: quality metrics a suite may name: exactly those quality/metrics.py computes (one table), read
#: from quality.test.<name> (train_<name> from quality.train.<name>)
QUALITY_METRICS = tuple(METRICS)
LOWER_IS_BETTER = {name for name, m in METRICS.items() if not m.higher_is_better}


@dataclass(frozen=True)
class Measure:
    """One named figure: where to read it, its unit and which direction is better."""

    name: str
    path: str | None  # dotted path into the candidate's section; None: `compute` derives it
    unit: str
    better: str  # "lower" | "higher"
    doc: str
    compute: Callable[[dict, dict], float | None] | None = None  # (candidate, results) -> value


def _max_rows_per_s(cand: dict, results: dict) -> float | None:
    rows = [as_number(b.get("rows_per_s")) for b in schema.batch_entries(cand)]
    rows = [r for r in rows if r is not None]
    return max(rows) if rows else None


def _worst_gap(section_key: str) -> Callable[[dict, dict], float | None]:
    """Largest shortfall of a slice (subgroup or time window) against the overall metric.

    Reads quality.subgroups {column: {metric, groups: [{value, gap, reliable}]}} and
    quality.windows {metric, windows: [...]}: only reliable slices count, and only gaps in
    the worse direction (a group better than overall is no risk).
    """

    def compute(cand: dict, results: dict) -> float | None:
        sec = schema.quality(cand).get(section_key)
        if not isinstance(sec, dict):
            return None
        tables = [sec] if "windows" in sec else [v for v in sec.values() if isinstance(v, dict)]
        gaps = []
        for table in tables:
            metric = table.get("metric") or primary_metric(cand, results)
            sign = -1.0 if better(metric or "") == "higher" else 1.0
            for row in table.get("groups") or table.get("windows") or []:
                gap = as_number(row.get("gap")) if isinstance(row, dict) else None
                if gap is not None and row.get("reliable", True):
                    gaps.append(max(0.0, sign * gap))
        return max(gaps) if gaps else None

    return compute


def _find_all(doc: Any, key: str, depth: int = 5) -> list[Any]:
    """Every value stored under `key` in a nested section (the data stage nests by split pair)."""
    if depth < 0 or not isinstance(doc, dict):
        return []
    found = [doc[key]] if key in doc else []
    for value in doc.values():
        if isinstance(value, dict):
            found += _find_all(value, key, depth - 1)
    return found


def _drift_share(cand: dict, results: dict) -> float | None:
    shares = [as_number(v) for v in _find_all(results.get("data"), "share_drifted")]
    shares = [v for v in shares if v is not None]
    return max(shares) if shares else None


def _psi_max(cand: dict, results: dict) -> float | None:
    """Largest PSI of a feature column over the split pairs compared (the label is not a feature)."""
    psis = [as_number(col.get("psi")) for cols in _find_all(results.get("data"), "columns")
            if isinstance(cols, dict) for col in cols.values() if isinstance(col, dict)]
    psis = [v for v in psis if v is not None]
    return max(psis) if psis else None


def _open_loop_at_best(key: str) -> Callable[[dict, dict], float | None]:
    """An open-loop figure at the highest sustainable rate (else at the lowest rate tried):
    the model's own (`model_<key>`, the load generator's delay removed) where the rate has it,
    as the sweep judged it (`judged_on`), else the latency from the scheduled arrival."""

    def compute(cand: dict, results: dict) -> float | None:
        pick = open_loop_rate_at_best(cand)
        return as_number(pick.get(f"model_{key}", pick.get(key))) if pick else None

    return compute


def _phase_figure(getter: Callable[[dict], Any], reduce=max) -> Callable[[dict, dict], float | None]:
    """A figure from the resource phases (resources.phases.<phase>), reduced over the phases."""

    def compute(cand: dict, results: dict) -> float | None:
        phases = schema.resource_phases(cand)
        order = [k for k in ("closed_loop",) if k in phases] + [k for k in phases if k != "closed_loop"]
        values = [as_number(getter(phases[k])) for k in order]
        values = [v for v in values if v is not None]
        return reduce(values) if values else None

    return compute


def _late_share(cand: dict, results: dict) -> float | None:
    shares = [as_number(r.get("late_start_share")) for r in schema.open_loop_rates(cand)]
    shares = [v for v in shares if v is not None]
    return max(shares) if shares else None


_TABLE: list[Measure] = [
    # real time, closed loop (one request at a time)
    *(Measure(f"{p}_ms", f"realtime.closed_loop.{p}_ms", "ms", "lower",
              f"closed-loop latency {p} (one request at a time)")
      for p in ("p50", "p90", "p95", "p99", "p999")),
    Measure("mean_ms", "realtime.closed_loop.mean_ms", "ms", "lower", "closed-loop mean latency"),
    Measure("max_ms", "realtime.closed_loop.max_ms", "ms", "lower", "closed-loop worst latency"),
    Measure("qps", "realtime.closed_loop.qps", "req/s", "higher", "closed-loop requests per second"),
    # real time, open loop (Poisson arrivals at the target rate)
    *(Measure(f"open_{p}_ms", None, "ms", "lower",
              f"open-loop latency {p} of the model (from scheduled arrival, less the load "
              "generator's delay), at the highest sustainable rate",
              compute=_open_loop_at_best(f"{p}_ms"))
      for p in ("p50", "p90", "p95", "p99", "p999")),
    Measure("sustainable_rps", "realtime.open_loop.max_sustainable_rate_per_s", "req/s", "higher",
            "highest open-loop rate whose p99 stays within the latency limit"),
    Measure("late_share", None, "share", "lower", "largest share of open-loop requests that started late",
            compute=_late_share),
    Measure("error_rate", "realtime.closed_loop.error_rate", "share", "lower",
            "share of requests that raised"),
    # batch
    Measure("rows_per_s", None, "rows/s", "higher", "best batch throughput over the batch sizes",
            compute=_max_rows_per_s),
    # resources
    Measure("rss_peak_mb", "resources.peak_rss_mb", "MB", "lower",
            "peak resident memory while predicting"),
    Measure("footprint_mb", "resources.footprint_mb", "MB", "lower",
            "resident memory the loaded model adds"),
    Measure("cpu_ms_per_prediction", "resources.cpu_ms_per_prediction", "ms", "lower",
            "CPU time (user + system) per prediction"),
    Measure("cpu_percent", None, "%", "lower",
            "process CPU utilisation while predicting one request at a time (100 = one core)",
            compute=_phase_figure(lambda p: p.get("process_cpu_percent"), reduce=lambda v: v[0])),
    Measure("load_s", "load_s", "s", "lower", "model load time (cold start)",
            compute=lambda c, r: _scaled(schema.resources(c).get("load_time_ms"), 1e-3)),
    Measure("gpu_mem_mb", None, "MB", "lower", "GPU memory the process used (device memory if NVML cannot tell)",
            compute=_phase_figure(lambda p: (p.get("gpu") or {}).get("process_memory_max_mb")
                                  or (p.get("gpu") or {}).get("memory_used_max_mb"))),
    Measure("model_mb", None, "MB", "lower", "model file size",
            compute=lambda c, r: _scaled(schema.model(c).get("size_bytes"), 1e-6)),
    # cost
    Measure("usd_per_million", None, numbers.PER_MILLION, "lower",
            "cost per 1M predictions in the suite's integration mode (plan.integration: realtime -> "
            "the real-time cost, batch or unset -> the batch cost, both -> each judged; the objective "
            "ranks on the real-time one)", compute=lambda c, r: resolve(in_mode("usd_per_million", r), c, r)),
    Measure("batch_usd_per_million", "cost.batch.usd_per_1m", numbers.PER_MILLION, "lower",
            "batch cost per 1M predictions (rows at the best batch throughput)"),
    Measure("realtime_usd_per_million", "cost.realtime.usd_per_1m", numbers.PER_MILLION, "lower",
            "real-time cost per 1M predictions at the stated traffic"),
    Measure("monthly_usd", "cost.realtime.monthly_usd", "USD", "lower",
            "monthly cost of the instances real-time traffic needs"),
    # quality slices and data
    Measure("subgroup_gap", None, "", "lower", "largest gap of the primary metric between a subgroup and overall",
            compute=_worst_gap("subgroups")),
    Measure("window_gap", None, "", "lower", "largest gap of the primary metric between a time window and overall",
            compute=_worst_gap("windows")),
    Measure("drift_share", None, "share", "lower",
            "share of feature columns whose distribution differs between splits (worst pair)",
            compute=_drift_share),
    Measure("psi_max", None, "", "lower", "largest population stability index over the feature columns",
            compute=_psi_max),
    Measure("primary", None, "", "higher", "the suite's primary quality metric on test",
            compute=lambda c, r: quality_value(c, primary_metric(c, r))),
]
MEASURES: dict[str, Measure] = {m.name: m for m in _TABLE}


#: the explicit cost figure of each integration mode (plan.integration)
COST_BY_MODE = {"batch": "batch_usd_per_million", "realtime": "realtime_usd_per_million"}
MODE_NAMES = {"usd_per_million": COST_BY_MODE}  # a figure whose meaning follows the mode


def integration(results: dict | None) -> str | None:
    """The suite's plan.integration: 'batch', 'realtime', 'both' or None (not said)."""
    return ((results or {}).get("plan") or {}).get("integration")


def integration_modes(results: dict | None) -> tuple[str, ...]:
    """The modes the suite serves (plan.integration): ('realtime',), ('batch',) or both;
    ('batch',) when the plan does not say."""
    mode = integration(results)
    return ("batch", "realtime") if mode == "both" else ("realtime",) if mode == "realtime" else ("batch",)


def explicit(name: str, results: dict | None) -> list[str]:
    """The explicit figure(s) a mode-dependent name stands for in this run: `usd_per_million`
    -> ['realtime_usd_per_million'] under integration realtime, both figures under `both`
    (each judged); [name] itself when the plan does not say (it reads as the batch cost) and
    for any other name."""
    by_mode = MODE_NAMES.get(name)
    if not by_mode or integration(results) is None:
        return [name]
    return [by_mode[m] for m in integration_modes(results)]


def in_mode(name: str, results: dict | None) -> str:
    """The one explicit figure a mode-dependent name reads as a single value (the objective,
    tables): the batch one when the plan does not say, the real-time one under `both` (the
    traffic's steady cost)."""
    by_mode = MODE_NAMES.get(name)
    if not by_mode:
        return name
    return by_mode[integration_modes(results)[-1]]


def cost_mode_word(name: str, results: dict | None) -> str:
    """'real-time' or 'batch': which cost a cost figure is in this run."""
    return "real-time" if in_mode(name, results) == "realtime_usd_per_million" else "batch"


def _scaled(v: Any, factor: float) -> float | None:
    v = as_number(v)
    return None if v is None else v * factor


def as_number(v: Any) -> float | None:
    """A finite float, or None (absent, non-numeric, NaN). A dict with a `value` (a slice's
    worst group, the best baseline, reached by a dotted path) reads as that value."""
    if isinstance(v, dict):
        return as_number(v["value"]) if "value" in v else None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def is_quality_name(name: str) -> bool:
    base = name[6:] if name.startswith("train_") else name
    return base in QUALITY_METRICS


def better(name: str, cand: dict | None = None, results: dict | None = None) -> str:
    """'higher' or 'lower': which direction of this figure is better."""
    if name == "primary" and cand is not None:
        name = primary_metric(cand, results or {}) or name
    base = name[6:] if name.startswith("train_") else name
    if base in MEASURES:
        return MEASURES[base].better
    return "lower" if base in LOWER_IS_BETTER else "higher"


def unit(name: str) -> str:
    m = MEASURES.get(name)
    return m.unit if m else ""


def primary_metric(cand: dict, results: dict | None) -> str | None:
    return schema.primary_metric(cand, results)


def quality_value(cand: dict, metric: str | None, split: str = "test") -> float | None:
    if not metric:
        return None
    return as_number((schema.quality(cand).get(split) or {}).get(metric))


def quality_ci(cand: dict, metric: str) -> tuple[float, float] | None:
    """The (low, high) bootstrap interval of a test metric (quality.ci.<metric>), both bounds
    known, or None."""
    return read_interval(schema.quality_ci(cand, metric))


def read_interval(holder: Any) -> tuple[float, float] | None:
    """An interval as the stages write it, [lo, hi], with both bounds known; else None."""
    if isinstance(holder, (list, tuple)) and len(holder) == 2:
        lo, hi = as_number(holder[0]), as_number(holder[1])
        return (lo, hi) if lo is not None and hi is not None else None
    return None


# -- intervals and trials of measured figures ----------------------------------------------------
# Every measured section (realtime.closed_loop, each realtime.open_loop.rates entry, the
# open-loop section itself, each batch entry, resources, cost.batch, cost.realtime) has its
# point values, `intervals: {key: [lo, hi]}` (95%, across trials; a bound may be null),
# `trials: [{key: value, ..., count, duration_s}]` and `stability: {cv, unstable}`.
_closed = schema.closed_loop
_best_batch = schema.best_batch  # the batch entry a batch price and rows_per_s come from


#: figure name -> (its section in a candidate's results, the key inside that section)
_SECTIONS: dict[str, tuple[Callable[[dict], dict | None], str]] = {
    **{f"{p}_ms": (_closed, f"{p}_ms") for p in ("p50", "p90", "p95", "p99", "p999", "mean")},
    "qps": (_closed, "qps"),
    **{f"open_{p}_ms": (open_loop_rate_at_best, f"{p}_ms") for p in ("p50", "p90", "p95", "p99", "p999")},
    "sustainable_rps": (schema.open_loop, "max_sustainable_rate_per_s"),
    "rows_per_s": (_best_batch, "rows_per_s"),
    "cpu_ms_per_prediction": (schema.resources, "cpu_ms_per_prediction"),
    "batch_usd_per_million": (schema.cost_batch, "usd_per_1m"),
    "realtime_usd_per_million": (schema.cost_realtime, "usd_per_1m"),
    "monthly_usd": (schema.cost_realtime, "monthly_usd"),
}
#: the figures measured in trials: they have an interval across trials and per-trial values
TRIAL_FIGURES = (*_SECTIONS, *MODE_NAMES)


def _section(cand: dict, name: str, results: dict | None = None) -> tuple[dict | None, str | None]:
    where = _SECTIONS.get(in_mode(name, results))
    if where is None:
        return None, None
    sec = where[0](cand)
    if not sec:
        return None, where[1]
    key = where[1]
    if name.startswith("open_") and f"model_{key}" in sec:  # the generator's delay removed
        key = f"model_{key}"
    return sec, key


def interval(cand: dict, name: str, results: dict | None = None) -> tuple[float | None, float | None] | None:
    """The 95% interval of a named figure: a quality metric's bootstrap interval, a measured
    figure's interval across trials. (lo, hi), a bound None when the trials do not pin it
    down (both None: measured in too few trials to bound it at all); None when the figure
    has no interval."""
    if name == "primary":
        name = primary_metric(cand, results or {}) or name
    if is_quality_name(name):
        return None if name.startswith("train_") else quality_ci(cand, name)
    if invalid(cand, name):
        return None
    sec, key = _section(cand, name, results)
    iv = ((sec or {}).get("intervals") or {}).get(key) if key else None
    if not isinstance(iv, (list, tuple)) or len(iv) != 2:
        return None
    return as_number(iv[0]), as_number(iv[1])


def _trials(cand: dict, name: str, results: dict | None) -> tuple[list | None, str | None]:
    """(the trials of a figure's section, the figure's key in them); (None, None) when the
    figure is INVALID or not measured in trials."""
    if invalid(cand, name):
        return None, None
    sec, key = _section(cand, name, results)
    trials = (sec or {}).get("trials") if key else None
    return (trials, key) if isinstance(trials, list) else (None, None)


def trial_values(cand: dict, name: str, results: dict | None = None) -> list[float] | None:
    """The figure's value in each trial, in the order the trials ran; None when not measured
    in trials. Trials in which it could not be computed are left out."""
    trials, key = _trials(cand, name, results)
    if trials is None:
        return None
    return [v for v in (as_number(t.get(key)) for t in trials if isinstance(t, dict)) if v is not None]


def trial_rounds(cand: dict, name: str, results: dict | None = None) -> dict[int, float] | None:
    """{round: value} of the figure's trials (the round of the interleaved order each ran in:
    `decide/paired.py` matches candidates by it); None when not measured in trials or the
    trials carry no round (runs from before rounds were kept) or the figure is INVALID."""
    trials, key = _trials(cand, name, results)
    out = {}
    for t in trials or []:
        if isinstance(t, dict) and isinstance(t.get("round"), int):
            value = as_number(t.get(key))
            if value is not None:
                out[t["round"]] = value
    return out or None


#: a price is computed from a throughput: its run-level term is that throughput's
_PRICED_FROM = {"batch_usd_per_million": "rows_per_s", "realtime_usd_per_million": "sustainable_rps",
                "monthly_usd": "sustainable_rps"}


def unstable(cand: dict, name: str, results: dict | None = None) -> str | None:
    """The reason a measured figure is unstable (its trials disagree), or None."""
    sec, key = _section(cand, name, results)
    for item in ((sec or {}).get("stability") or {}).get("unstable") or []:
        if isinstance(item, dict) and item.get("figure") == key:
            return str(item.get("reason") or "unstable")
    return None


def trial_cv(cand: dict, name: str, results: dict | None = None) -> float | None:
    """How much a measured figure varies between trials (std/mean), as its stability records it."""
    sec, key = _section(cand, name, results)
    return as_number((((sec or {}).get("stability") or {}).get("cv") or {}).get(key)) if key else None


def run_cv(cand: dict, name: str, results: dict | None = None) -> float:
    """The run-level relative std its interval was widened by (`measure/run_level.py`); 0
    when the section records none (a run from before the run level was kept)."""
    name = in_mode(name, results)
    sec, key = _section(cand, _PRICED_FROM.get(name, name))
    value = as_number((((sec or {}).get("run_level") or {}).get("cv") or {}).get(key)) if key else None
    return value or 0.0


def invalid(cand: dict, name: str) -> str | None:
    """Why a figure is INVALID (as MLPerf LoadGen marks a run whose load it could not
    generate), or None: the open-loop sustainable rate where the load generator started so
    many requests late at that rate that it, not the model, limited the measurement. An
    invalid figure reads as not measured: no limit, ranking or cost uses it."""
    if name != "sustainable_rps":
        return None
    from benchharness.measure.open_loop import generator_limited

    best = as_number(schema.open_loop(cand).get("max_sustainable_rate_per_s"))
    at = next((r for r in schema.open_loop_rates(cand) if as_number(r.get("target_rate_per_s")) == best), None)
    if best is None or at is None or not generator_limited(at):
        return None
    return (f"INVALID: the load generator limited the measurement at {numbers.number(best)}/s "
            f"({numbers.number(100 * (at.get('late_start_share') or 0), 3)}% of requests started late)")


def resolve(name: str, cand: dict, results: dict) -> float | None:
    """The value of a named figure for one candidate, or None when it was not measured (or
    is `invalid`)."""
    if invalid(cand, name):
        return None
    if is_quality_name(name):
        split = "train" if name.startswith("train_") else "test"
        return quality_value(cand, name[6:] if split == "train" else name, split)
    if "." in name:  # a dotted path straight into the candidate's section
        return as_number(get_path(cand, name))
    m = MEASURES.get(name)
    if m is None:
        return None
    if m.compute is not None:
        value = m.compute(cand, results)
        if value is not None:
            return value
    return as_number(get_path(cand, m.path)) if m.path else None


def fmt(value: float | None, unit: str = "") -> str:
    """A figure for people, by the product's one number rule (benchharness/numbers.py)."""
    return numbers.figure(value, unit)

