"""`bench calibrate`: the run level measured on this machine instead of the built-in priors.

A run's intervals are widened by a run-level term (`measure/run_level.py`): the drift of a
whole run that its trials cannot see. Its built-in priors (3% for medians, means and rates,
10% for batch throughput, 15% for tails) are what an A/A measured on one 2-core VM. Another
machine drifts differently, so `bench calibrate` runs a suite (default: the built-in
quickstart) N times unchanged and estimates, per figure, the relative std between runs beyond
what each run's trials explain (method of moments: var(run points) - mean(var(trials) / n)),
then per figure class the 90th percentile over candidates and figures (a few runs estimate a
spread poorly: the high end errs on the wide side).

The result is stored under the machine's fingerprint (host, CPU, cores, memory: the one
`bench history` uses) and `--quick`, in `calibration_path()` (`$BENCH_CALIBRATION`, else
`~/.cache/benchharness/calibration.json`). Later runs on the same machine use it in place of
the priors, and say so: `run_level.source` reads "calibration of N runs".
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import statistics
from pathlib import Path

#: figure class -> the figures whose drift it stands for (the same split as the priors)
CLASSES = {"centre": ("p50_ms", "mean_ms", "qps", "cpu_ms_per_prediction"),
           "tail": ("p90_ms", "p95_ms", "p99_ms", "p999_ms"),
           "batch": ("rows_per_s",)}
MIN_RUNS = 3
FLOOR = 0.005  # never claim less drift than half a percent from a handful of runs


def calibration_path() -> Path:
    return Path(os.environ.get("BENCH_CALIBRATION") or Path.home() / ".cache" / "benchharness" / "calibration.json")


def key(fingerprint: str, quick: bool) -> str:
    return f"{fingerprint}{':quick' if quick else ''}"


def run_level_cv(values: list[float | None], trials: list[list[float] | None]) -> float | None:
    """The relative std of a figure between runs beyond what each run's trials explain:
    sqrt(max(0, var(run points) - mean(var(trial values) / trials))) / mean(run points)."""
    pairs = [(v, t) for v, t in zip(values, trials) if v is not None and t and len(t) >= 2]
    if len(pairs) < 2:
        return None
    points = [v for v, _ in pairs]
    mean = sum(points) / len(points)
    between = sum((v - mean) ** 2 for v in points) / (len(points) - 1)
    within = sum(statistics.variance(t) / len(t) for _, t in pairs) / len(pairs)
    return math.sqrt(max(0.0, between - within)) / abs(mean) if mean else None


def class_of(figure: str) -> str | None:
    return next((c for c, figs in CLASSES.items() if figure in figs), None)


def estimate(docs: list[dict]) -> dict:
    """{"classes": {class: cv}, "figures": {"candidate figure": cv}} from identical runs."""
    from benchharness import schema
    from benchharness.decide import figures

    per_class: dict[str, list[float]] = {c: [] for c in CLASSES}
    seen = {}
    names = [c["name"] for c in schema.candidates(docs[0]) if c.get("status") == "ok"]
    for name in names:
        cands = [next((c for c in schema.candidates(d) if c["name"] == name), {}) for d in docs]
        for cls, figs in CLASSES.items():
            for fig in figs:
                values = [figures.resolve(fig, c, d) if c else None for c, d in zip(cands, docs)]
                trials = [figures.trial_values(c, fig, d) if c else None for c, d in zip(cands, docs)]
                cv = run_level_cv(values, trials)
                if cv is not None:
                    per_class[cls].append(cv)
                    seen[f"{name} {fig}"] = round(cv, 4)
    classes = {}
    for cls, cvs in per_class.items():
        if cvs:
            cvs.sort()
            classes[cls] = round(max(FLOOR, cvs[int(0.9 * (len(cvs) - 1))]), 4)
    return {"classes": classes, "figures": seen}


def save(fingerprint: str, quick: bool, suite: str, runs: int, found: dict, path: Path | None = None) -> Path:
    from benchharness.run_folder import write_json

    path = path or calibration_path()
    try:
        stored = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        stored = {}
    stored[key(fingerprint, quick)] = {
        "classes": found["classes"], "figures": found["figures"], "runs": runs, "suite": suite,
        "quick": quick, "at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, stored)
    return path


def load(fingerprint: str | None, quick: bool) -> dict | None:
    """This machine's calibration, or None (no file, another machine, unreadable)."""
    if not fingerprint:
        return None
    try:
        stored = json.loads(calibration_path().read_text())
    except (OSError, ValueError):
        return None
    entry = stored.get(key(fingerprint, quick)) if isinstance(stored, dict) else None
    return entry if isinstance(entry, dict) and isinstance(entry.get("classes"), dict) else None
