"""The names a suite uses for measured figures, and where each lives in results.json.

Limits (`p99_ms <= 20`), the objective (`max accuracy`), charts and `bench compare` all
speak these names, so the table below is the one place that knows the layout of a
candidate's results section. A name resolves to a number, or to None when the stage that
measures it did not run (never an exception): the caller reports "unknown".

Paths are dotted keys into the candidate's section; a path starting with "/" is read from
the run level (e.g. the data section, shared by every candidate). Several paths are tried
in order, so a section that moves keeps working while old runs still load.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: quality metrics a suite may name; the value is read from quality.test.<name>
#: (train_<name> from quality.train.<name>). Lower-is-better ones are listed separately.
QUALITY_METRICS = (
    "accuracy", "balanced_accuracy", "precision", "recall", "f1", "f1_macro", "f1_weighted",
    "precision_macro", "recall_macro", "roc_auc", "roc_auc_ovr", "average_precision",
    "log_loss", "brier", "brier_score", "r2", "rmse", "mse", "mae", "mape", "max_error",
    "median_absolute_error", "explained_variance",
)
LOWER_IS_BETTER = {"log_loss", "brier", "brier_score", "rmse", "mse", "mae", "mape", "max_error",
                   "median_absolute_error"}


@dataclass(frozen=True)
class Measure:
    """One named figure: where to read it, its unit and which direction is better."""

    name: str
    paths: tuple[str, ...]
    unit: str
    better: str  # "lower" | "higher"
    doc: str
    compute: Callable[[dict, dict], float | None] | None = None  # (candidate, results) -> value


def _max_rows_per_s(cand: dict, results: dict) -> float | None:
    rows = [as_number(b.get("rows_per_s")) for b in batch_list(cand)]
    rows = [r for r in rows if r is not None]
    return max(rows) if rows else None


def batch_list(cand: dict) -> list[dict]:
    batch = cand.get("batch")
    if isinstance(batch, dict):  # {"sizes": [...]} or {"results": [...]}
        batch = batch.get("sizes") or batch.get("results") or batch.get("sweep") or []
    return [b for b in batch or [] if isinstance(b, dict)]


def _worst_gap(section_key: str) -> Callable[[dict, dict], float | None]:
    """Largest gap between the overall primary metric and a slice (subgroup or window)."""

    def compute(cand: dict, results: dict) -> float | None:
        sec = get_path(cand, f"quality.{section_key}")
        if sec is None:
            return None
        for key in ("worst_gap", "max_gap", "gap"):
            v = as_number(sec.get(key)) if isinstance(sec, dict) else None
            if v is not None:
                return abs(v)
        gaps = []
        items = sec.values() if isinstance(sec, dict) else sec
        for item in items:  # per column (subgroups) or per window: look for "worst_gap"/"gap"
            if isinstance(item, dict):
                for key in ("worst_gap", "max_gap", "gap"):
                    v = as_number(item.get(key))
                    if v is not None:
                        gaps.append(abs(v))
                        break
        return max(gaps) if gaps else None

    return compute


_TABLE: list[Measure] = [
    # real time, closed loop (one request at a time)
    *(Measure(f"{p}_ms", (f"realtime.closed_loop.{p}_ms",), "ms", "lower",
              f"closed-loop latency {p} (one request at a time)")
      for p in ("p50", "p90", "p95", "p99", "p999")),
    Measure("mean_ms", ("realtime.closed_loop.mean_ms",), "ms", "lower", "closed-loop mean latency"),
    Measure("max_ms", ("realtime.closed_loop.max_ms",), "ms", "lower", "closed-loop worst latency"),
    Measure("qps", ("realtime.closed_loop.qps",), "req/s", "higher", "closed-loop requests per second"),
    # real time, open loop (Poisson arrivals at the target rate)
    *(Measure(f"open_{p}_ms", (f"realtime.open_loop.{p}_ms",), "ms", "lower",
              f"open-loop latency {p} at the target rate, from scheduled arrival")
      for p in ("p50", "p90", "p95", "p99", "p999")),
    Measure("sustainable_rps", ("realtime.open_loop.max_sustainable_rate_per_s",
                                "realtime.open_loop.sustainable_rate_per_s",
                                "realtime.open_loop.max_rate_per_s"), "req/s", "higher",
            "highest open-loop rate whose p99 stays within the latency limit"),
    Measure("late_share", ("realtime.open_loop.late_share", "realtime.open_loop.late_fraction"),
            "share", "lower", "share of open-loop requests that started late"),
    Measure("error_rate", ("realtime.closed_loop.error_rate", "realtime.error_rate"), "share", "lower",
            "share of requests that raised"),
    # batch
    Measure("rows_per_s", (), "rows/s", "higher", "best batch throughput over the batch sizes",
            compute=_max_rows_per_s),
    # resources
    Measure("rss_peak_mb", ("resources.rss_peak_mb", "resources.memory.rss_peak_mb",
                            "resources.peak_rss_mb"), "MB", "lower",
            "peak resident memory while predicting"),
    Measure("footprint_mb", ("resources.model_footprint_mb", "resources.memory.footprint_mb",
                             "resources.footprint_mb"), "MB", "lower",
            "resident memory the loaded model adds"),
    Measure("cpu_ms_per_prediction", ("resources.cpu_ms_per_prediction",
                                      "resources.cpu.cpu_ms_per_prediction"), "ms", "lower",
            "CPU time (user + system) per prediction"),
    Measure("cpu_percent", ("resources.cpu_percent", "resources.cpu.process_percent"), "%", "lower",
            "process CPU utilisation while predicting (100 = one core)"),
    Measure("load_s", ("resources.load_s", "resources.cold_start_s", "load_s", "model.load_s"), "s", "lower",
            "model load time (cold start)"),
    Measure("gpu_mem_mb", ("resources.gpu.memory_used_mb", "resources.gpu_memory_mb"), "MB", "lower",
            "GPU memory used"),
    Measure("model_mb", ("model.size_mb",), "MB", "lower", "model file size",
            compute=lambda c, r: _scaled(get_path(c, "model.size_bytes"), 1e-6)),
    # cost
    Measure("usd_per_million", ("cost.usd_per_million", "cost.batch.usd_per_million",
                                "cost.batch_usd_per_million"), "USD", "lower",
            "batch cost per 1M predictions"),
    Measure("realtime_usd_per_million", ("cost.realtime.usd_per_million",
                                         "cost.realtime_usd_per_million"), "USD", "lower",
            "real-time cost per 1M predictions at the stated traffic"),
    Measure("monthly_usd", ("cost.realtime.monthly_usd", "cost.monthly_usd"), "USD", "lower",
            "monthly cost of the instances real-time traffic needs"),
    # quality slices and data
    Measure("subgroup_gap", (), "", "lower", "largest gap of the primary metric between a subgroup and overall",
            compute=_worst_gap("subgroups")),
    Measure("window_gap", (), "", "lower", "largest gap of the primary metric between a time window and overall",
            compute=_worst_gap("windows")),
    Measure("drift_share", ("/data.drift.share_drifted", "/data.distribution.share_drifted",
                            "/data.drift.drifted_share"), "share", "lower",
            "share of feature columns whose distribution differs between train and test"),
    Measure("psi_max", ("/data.drift.psi_max", "/data.distribution.psi_max"), "", "lower",
            "largest population stability index over the feature columns"),
    Measure("primary", (), "", "higher", "the suite's primary quality metric on test",
            compute=lambda c, r: quality_value(c, primary_metric(c, r))),
]
MEASURES: dict[str, Measure] = {m.name: m for m in _TABLE}


def _scaled(v: Any, factor: float) -> float | None:
    v = as_number(v)
    return None if v is None else v * factor


def as_number(v: Any) -> float | None:
    """A finite float, or None (for absent, non-numeric, NaN or a {'value': x} wrapper)."""
    if isinstance(v, dict):
        for key in ("value", "point", "estimate", "mean"):
            if key in v:
                return as_number(v[key])
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def get_path(doc: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return None
        doc = doc[part]
    return doc


def is_quality_name(name: str) -> bool:
    base = name[6:] if name.startswith("train_") else name
    return base in QUALITY_METRICS


def known_names() -> list[str]:
    return [*MEASURES, *QUALITY_METRICS]


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


def primary_metric(cand: dict, results: dict) -> str | None:
    q = cand.get("quality") or {}
    return q.get("primary_metric") or get_path(results, "quality.primary_metric")


def quality_value(cand: dict, metric: str | None, split: str = "test") -> float | None:
    if not metric:
        return None
    return as_number(get_path(cand, f"quality.{split}.{metric}"))


def quality_ci(cand: dict, metric: str) -> tuple[float, float] | None:
    """The (low, high) confidence interval of a test metric, wherever the quality stage put it."""
    q = cand.get("quality") or {}
    for holder in (get_path(q, f"ci.{metric}"), get_path(q, f"test_ci.{metric}"),
                   get_path(q, f"test.{metric}"), get_path(q, f"bootstrap.{metric}")):
        ci = interval(holder)
        if ci is not None:
            return ci
    return None


def interval(holder: Any) -> tuple[float, float] | None:
    """Read an interval given as [lo, hi] or as a dict with ci / ci_low+ci_high / low+high."""
    if isinstance(holder, (list, tuple)) and len(holder) == 2:
        lo, hi = as_number(holder[0]), as_number(holder[1])
        return (lo, hi) if lo is not None and hi is not None else None
    if isinstance(holder, dict):
        if "ci" in holder:
            return interval(holder["ci"])
        for lo_key, hi_key in (("ci_low", "ci_high"), ("low", "high"), ("lo", "hi"), ("ci_lo", "ci_hi")):
            if lo_key in holder and hi_key in holder:
                return interval([holder[lo_key], holder[hi_key]])
    return None


def resolve(name: str, cand: dict, results: dict) -> float | None:
    """The value of a named figure for one candidate, or None when it was not measured."""
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
    for path in m.paths:
        doc, path = (results, path[1:]) if path.startswith("/") else (cand, path)
        value = as_number(get_path(doc, path))
        if value is not None:
            return value
    return None


def describe_table() -> list[tuple[str, str, str, str]]:
    """(name, unit, better, what) for every named figure: for the README and error messages."""
    rows = [(m.name, m.unit, m.better, m.doc) for m in _TABLE]
    rows.append(("<quality metric>", "", "per metric",
                 "quality.test.<metric>, e.g. " + ", ".join(QUALITY_METRICS[:6]) + "; train_<metric> for train"))
    return rows


def fmt(value: float | None, unit: str = "") -> str:
    """A figure for people: 4 significant digits and its unit; 'not measured' for None."""
    if value is None:
        return "not measured"
    if unit == "USD":
        sign = "-" if value < 0 else ""
        return f"{sign}${abs(value):,.2f}" if abs(value) >= 1 else f"{sign}${abs(value):.3g}"
    if unit == "share":
        return f"{value * 100:.3g}%"
    if unit == "%":
        return f"{value:.3g}%"
    text = f"{value:,.0f}" if abs(value) >= 10000 else f"{value:.4g}"
    return f"{text} {unit}" if unit else text
