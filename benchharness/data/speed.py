"""The live model's speed on current data, against the run that qualified it (`bench monitor`).

An indicative check, not a benchmark: latency is one row at a time over a small sample in
this process (no child, no warm-up beyond a few calls), throughput is rows over the time
spent in `predict` while scoring the current batch. It catches a model, a runtime or a
machine that became several times slower; `bench run` on the target machine is the
measurement to trust.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchharness import schema
from benchharness.errors import DataError, UserError
from benchharness.measure.stats import percentile
from benchharness.results import load_results
from benchharness.run_folder import RESULTS_FILE, results_path

LATENCY_SAMPLE_ROWS = 200
WARMUP_CALLS = 5


def measure_latency(model, X: pd.DataFrame, rows: int = LATENCY_SAMPLE_ROWS) -> dict:
    """p50/p99 of single-row predictions over up to `rows` rows of X."""
    if X.empty:
        return {}
    native = model.prepare(X.iloc[:rows])
    n = model.n_rows(native)
    fn = model.predict_fn()
    for i in range(min(WARMUP_CALLS, n)):
        fn(model.take(native, i, i + 1))
    samples = np.empty(n)
    for i in range(n):
        request = model.take(native, i, i + 1)
        started = time.perf_counter_ns()
        fn(request)
        samples[i] = (time.perf_counter_ns() - started) / 1e6
    return {"latency_count": n, "p50_ms": percentile(samples, 50), "p99_ms": percentile(samples, 99)}


def run_figures(run_dir: str | Path | None, model_path: str | None = None, candidate: str | None = None) -> dict:
    """Latency, throughput and test scores of one candidate of a `bench run` folder.

    The candidate is the one named, else the one whose model file has the same sha256 as
    `model_path`, else the only successful one. Returns {} when none can be chosen.
    """
    if run_dir is None:
        return {}
    path = results_path(Path(run_dir))
    if not path.exists():
        raise DataError(f"run folder {run_dir} has no {RESULTS_FILE}")
    try:
        results = load_results(path)  # the one loader: schema_version checked, older files upgraded
    except UserError as exc:  # names the file and what is wrong with it
        raise DataError(f"cannot read {exc}") from None
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    cands = [c for c in schema.candidates(results) if c.get("status") == "ok"]
    chosen = None
    if candidate:
        chosen = next((c for c in cands if c.get("name") == candidate), None)
        if chosen is None:
            names = ", ".join(c.get("name", "?") for c in cands)
            raise DataError(f"candidate {candidate!r} not found in {path}; successful candidates: {names}")
    elif model_path and Path(model_path).exists():
        from benchharness.adapters.base import file_digest

        digest = file_digest(model_path)[1]
        chosen = next((c for c in cands if schema.model(c).get("sha256") == digest), None)
    if chosen is None and len(cands) == 1:
        chosen = cands[0]
    if chosen is None:
        return {}
    closed = schema.closed_loop(chosen)
    batch = [b.get("rows_per_s") for b in schema.batch_entries(chosen) if b.get("rows_per_s")]
    return {
        "candidate": chosen.get("name"),
        "p50_ms": closed.get("p50_ms"),
        "p99_ms": closed.get("p99_ms"),
        "rows_per_s": max(batch) if batch else None,
        "quality": schema.quality(chosen).get("test") or {},
    }


def compare_speed(now: dict, run: dict, tolerance: float) -> dict:
    """Now against the run: a regression when the median latency grew, or throughput fell, by
    more than a factor (1 + tolerance). The median, not p99: over a couple of hundred calls in
    a shared process, p99 is one or two calls and mostly noise."""
    out = {"current": now, "run": {k: v for k, v in run.items() if k != "quality"} or None,
           "tolerance": tolerance, "regressions": []}
    factor = 1 + tolerance
    if run.get("p50_ms") and now.get("p50_ms") and now["p50_ms"] > run["p50_ms"] * factor:
        out["regressions"].append(f"median latency {now['p50_ms']:.3f} ms vs {run['p50_ms']:.3f} ms in run "
                                  f"(more than {factor:g}x)")
    if run.get("rows_per_s") and now.get("rows_per_s") and now["rows_per_s"] < run["rows_per_s"] / factor:
        out["regressions"].append(f"throughput {now['rows_per_s']:,.0f} rows/s vs {run['rows_per_s']:,.0f} "
                                  f"in run (less than 1/{factor:g})")
    return out
