"""How long the quality stage's bootstrap takes, vectorised vs calling sklearn per resample.

    python -m benchmarks.quality_bootstrap_speed [--rows 1000 10000] [--resamples 1000]

For each size: every binary metric's interval over `--resamples` resamples by the weighted
numpy forms (what the stage runs), next to the naive loop (sklearn on each resample), timed
on `--naive-resamples` resamples and scaled to the same count (said so in the output).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchharness.quality.bootstrap import BootstrapPlan, confidence_intervals
from benchharness.quality.metrics import METRICS, ScoredRows, metric_names


def _rows(n: int) -> ScoredRows:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, n)
    p1 = np.clip(0.5 + 0.35 * (2 * y - 1) + rng.normal(0, 0.25, n), 0.001, 0.999)
    return ScoredRows("binary", y, (p1 > 0.5).astype(int), np.column_stack([1 - p1, p1]), np.array([0, 1]))


def naive_seconds(rows: ScoredRows, names: list[str], resamples: int) -> float:
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    for _ in range(resamples):
        sample = rows.subset(rng.integers(0, rows.n, rows.n))
        sample._cache["labels"] = rows.labels
        for name in names:
            METRICS[name].score(sample)
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--naive-resamples", type=int, default=20)
    args = ap.parse_args()
    names = metric_names("binary")
    print(f"{len(names)} binary metrics, {args.resamples} resamples")
    print(f"{'rows':>7}  {'vectorised s':>12}  {'naive sklearn s (scaled)':>24}  {'speed-up':>8}")
    for n in args.rows:
        rows = _rows(n)
        started = time.perf_counter()
        confidence_intervals(rows, names, BootstrapPlan(args.resamples, seed=0))
        fast = time.perf_counter() - started
        naive = naive_seconds(rows, names, args.naive_resamples) * args.resamples / args.naive_resamples
        print(f"{n:>7}  {fast:>12.2f}  {naive:>24.1f}  {naive / fast:>7.0f}x")
    print(f"(naive timed on {args.naive_resamples} resamples, scaled to {args.resamples})")


if __name__ == "__main__":
    main()
