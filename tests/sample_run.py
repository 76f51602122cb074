"""A synthetic run document with controlled numbers, for tests that need known truth.

Charts, verdict and compare tests plant exact values here (a known ranking, a planted
slowdown, trials drawn from known distributions) and check what comes out. The layout is the
one the stages write; tests/fixtures/quick_run/ is real output of the same schema, and
tests/test_real_run_fixture.py checks the two stay in step. Latency samples are drawn from
known distributions and saved as .npz beside results.json, as the performance stage saves them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from benchharness.results import SCHEMA_VERSION


def _open_p99(p99: float, rate: float) -> float:
    return p99 * (1 + (rate * p99 / 1000) ** 3)  # queueing: latency grows steeply near capacity


def _sustainable(p99: float) -> float | None:
    ok = [r for r in (50, 100, 200, 400, 800) if _open_p99(p99, r) <= 5.0]
    return float(max(ok)) if ok else None


def _cand(name, acc, ci, p99, usd, rows, mem, role="candidate", status="ok", error=None):
    return {
        "name": name, "role": role, "status": status, "error": error,
        "model": {"format": "onnx", "path": f"/models/{name}.onnx", "size_bytes": 120_000,
                  "runtime": "onnxruntime", "runtime_version": "1.20"},
        "quality": {"task": "binary", "primary_metric": "accuracy",
                    "test": {"accuracy": acc, "roc_auc": min(acc + 0.03, 1.0)},
                    "train": {"accuracy": min(acc + 0.02, 1.0), "roc_auc": min(acc + 0.04, 1.0)},
                    "ci": {"accuracy": list(ci)},
                    "subgroups": {"mean radius": {"metric": "accuracy", "groups": [
                        {"group": "(6.98, 14.1]", "rows": 90, "value": acc + 0.01, "gap": 0.01, "reliable": True},
                        {"group": "(14.1, 28.1]", "rows": 53, "value": acc - 0.04, "gap": -0.04, "reliable": True}]}}},
        "parity": None,
        "realtime": {
            "closed_loop": {"count": 2000, "mean_ms": p99 / 3, "p50_ms": p99 / 4, "p90_ms": p99 / 2,
                            "p95_ms": p99 / 1.5, "p99_ms": p99, "p999_ms": p99 * 1.5, "qps": 3000 / p99,
                            "samples_file": f"samples/{name}/closed_loop.npz"},
            "open_loop": {"max_sustainable_rate_per_s": _sustainable(p99), "p99_limit_ms": 5.0,
                          "rates": [{"target_rate_per_s": r, "p99_ms": _open_p99(p99, r),
                                     "sustainable": _open_p99(p99, r) <= 5.0, "late_start_share": 0.0}
                                    for r in (50, 100, 200, 400, 800)]},
        },
        "batch": [{"batch_size": b, "rows_per_s": rows * b / (b + 8)} for b in (1, 16, 256, 1024)],
        "resources": {"footprint_mb": mem / 3, "peak_rss_mb": mem, "cpu_ms_per_prediction": p99 / 5,
                      "load_time_ms": 120.0},
        "cost": {"profile": "aws-c7i-large", "batch": {"usd_per_1m": usd},
                 "realtime": {"usd_per_1m": usd * 4, "monthly_usd": usd * 300}},
    }


def sample_results() -> dict:
    cands = [
        _cand("forest", 0.965, (0.94, 0.985), 2.5, 0.40, 90_000, 180.0),
        _cand("logreg", 0.955, (0.93, 0.975), 0.4, 0.02, 900_000, 95.0),
        _cand("boosted", 0.97, (0.95, 0.99), 9.0, 1.90, 40_000, 260.0),
        _cand("broken", 0.0, (0, 0), 1.0, 1.0, 1, 1.0, status="failed", error="RuntimeError: model exploded"),
    ]
    cands[-1] = {k: v for k, v in cands[-1].items() if k in ("name", "role", "status", "error", "model")}
    return {
        "schema_version": SCHEMA_VERSION, "run_id": "20261127-100000-sample-abc123",
        "suite": {"name": "sample", "path": "/suites/sample.yaml", "quick": True},
        "started_at": "2026-11-27T10:00:00+00:00", "finished_at": "2026-11-27T10:01:00+00:00",
        "environment": {"python": "3.11", "platform": "Linux", "cpu": "test cpu", "cores": 2},
        "data": {"source": "sklearn:breast_cancer", "rows": {"train": 426, "test": 143},
                 "fingerprint": "sha256:abc", "split": {"test_size": 0.25, "seed": 0, "stratify": True},
                 "distribution": {
                     "comparisons": {"train_vs_test": {
                         "n_tested": 30, "n_drifted": 3, "share_drifted": 0.1, "dataset_drift": False,
                         "columns": {"mean radius": {"psi": 0.04, "drift": False}, "area error": {"psi": 0.12, "drift": True}},
                         "label": {"drift": False, "psi": 0.3}}},
                     "leakage": {"within_train": 0, "train_test": {"rows": 0, "share_of_test": 0.0}},
                     "warnings": ["train vs test: some columns differ: 3 of 30 columns drifted (area error, ...)"]},
                 "contract": {"path": "contract.yaml", "columns": 30}},
        "baselines": [{"name": "most_frequent", "role": "baseline", "status": "ok", "quality": {"test": {"accuracy": 0.63}}},
                      {"name": "logistic_regression", "role": "baseline", "status": "ok",
                       "quality": {"test": {"accuracy": 0.95}}}],
        "candidates": cands,
        "plan": {"ground_truth": "labels from pathology reports", "ground_truth_delay": "2 weeks",
                 "integration": "realtime", "fallback": None},
    }


def write_run(run_dir: Path, results: dict | None = None, seed: int = 0, slow: dict | None = None) -> Path:
    """Write results.json and raw samples; `slow` multiplies a candidate's latencies."""
    results = results or sample_results()
    rng = np.random.default_rng(seed)
    (run_dir / "samples").mkdir(parents=True, exist_ok=True)
    for c in results["candidates"]:
        cl = c.get("realtime", {}).get("closed_loop")
        if cl:
            factor = (slow or {}).get(c["name"], 1.0)
            lat_ms = rng.lognormal(np.log(cl["p50_ms"] * factor), 0.5, size=cl["count"])
            path = run_dir / cl["samples_file"]
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(path, latency_ns=np.round(lat_ms * 1e6).astype(np.int64))  # as the engine saves them
    (run_dir / "results.json").write_text(json.dumps(results, indent=1))
    return run_dir
