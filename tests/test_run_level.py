"""The run level of measured intervals: drift between runs that the trials of one run cannot
see. Hand-computed widening, a simulation with a planted run effect, and the spread read from
the history of earlier runs on the same machine."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
from sample_run import sample_results

from benchharness import config
from benchharness.history import spread, store
from benchharness.history.identity import file_sha256
from benchharness.measure import intervals, run_level


def test_add_run_level_adds_the_run_term_to_each_side_in_quadrature():
    # z(0.95) = 1.95996; run half-width = 1.95996 * 0.05 * 10 = 0.97998
    lo, hi = intervals.add_run_level(10.0, [9.0, 12.0], 0.05)
    assert lo == pytest.approx(10 - math.hypot(1.0, 0.97998), rel=1e-5)
    assert hi == pytest.approx(10 + math.hypot(2.0, 0.97998), rel=1e-5)
    # an unknown bound stays unknown; no run term leaves the interval; never below zero
    assert intervals.add_run_level(10.0, [None, 12.0], 0.05)[0] is None
    assert intervals.add_run_level(10.0, [9.0, 12.0], 0.0) == [9.0, 12.0]
    assert intervals.add_run_level(1.0, [0.1, 1.5], 2.0)[0] == 0.0


def _run(rng, run_sd: float, trials: int = 5, level: float = 10.0):
    """One run: a run effect shared by all its trials, then trial effects, then samples."""
    run_level_now = level * (1 + rng.normal(0, run_sd))
    return [rng.normal(rng.normal(run_level_now, 0.1), 0.3, size=200) for _ in range(trials)]


def test_with_the_run_term_identical_runs_intervals_cover_the_truth_and_overlap():
    """Runs differ by a planted 4% (std) that their trials cannot see. Trials alone cover the
    long-run mean far less often than 95%; with the run term at the planted size they do, and
    two identical runs' intervals overlap."""
    rng = np.random.default_rng(3)
    sims = 120
    hits_trials = hits_run = overlaps = 0
    previous = None
    for s in range(sims):
        trials = _run(rng, 0.04)
        pooled = np.concatenate(trials)
        point = float(pooled.mean())
        iv = intervals.hierarchical_interval(trials, percentiles=(50,), resamples=150, seed=s)["mean_ms"]
        widened = intervals.add_run_level(point, iv, 0.04)
        hits_trials += iv[0] <= 10.0 <= iv[1]
        hits_run += widened[0] <= 10.0 <= widened[1]
        if previous is not None:
            overlaps += widened[0] <= previous[1] and previous[0] <= widened[1]
        previous = widened
    assert hits_trials / sims < 0.75, hits_trials / sims
    assert hits_run / sims >= 0.9, hits_run / sims
    assert overlaps / (sims - 1) >= 0.97, overlaps / (sims - 1)


def _history_run(i: int, p50: float, suite_sha: str) -> dict:
    r = sample_results()
    r["run_id"] = f"20261127-10{i:02d}00-sample-{i:06x}"
    r["started_at"] = f"2026-11-27T10:{i:02d}:00+00:00"
    r["suite"]["quick"] = False
    r["environment"].update({"hostname": "box-a", "cpu_model": "test cpu", "cpu_count_logical": 2})
    r["history"] = {"identity": {"suite_sha256": suite_sha}}
    r["candidates"][0]["realtime"]["closed_loop"]["p50_ms"] = p50
    return r


def _context(tmp_path, suite_path, runs: list[dict]):
    results_dir = tmp_path / "results"
    for r in runs:
        (results_dir / r["run_id"]).mkdir(parents=True)
        store.write_run(results_dir, r)
    now = _history_run(99, 1.0, "unused")
    del now["history"]
    cand = now["candidates"][0]
    suite = config.parse_suite({"name": "sample", "candidates": [{"name": "forest", "model": "m.onnx"}],
                                "realtime": {"run_cv": config.RUN_CV, "ci_confidence": 0.95},
                                "batch": {"run_cv": config.RUN_CV, "ci_confidence": 0.95}}, tmp_path)
    return SimpleNamespace(run_dir=results_dir / now["run_id"], results=now, suite_path=suite_path,
                           suite=suite, run_level_spread={}, run_level_calibration=None,
                           candidates=[SimpleNamespace(name=cand["name"], result=cand)])


def test_three_earlier_runs_on_this_machine_give_each_figure_its_own_run_to_run_spread(tmp_path):
    suite_path = tmp_path / "suite.yaml"
    suite_path.write_text("name: sample\n")
    sha = file_sha256(suite_path)
    p50s = [0.60, 0.66, 0.72]
    ctx = _context(tmp_path, suite_path, [_history_run(i, v, sha) for i, v in enumerate(p50s)])
    ctx.run_level_spread = spread.history_spread(ctx)
    cv, runs = ctx.run_level_spread[("forest", "p50_ms")]
    assert runs == 3 and cv == pytest.approx(np.std(p50s, ddof=1) / np.mean(p50s))  # 0.0909

    closed = ctx.candidates[0].result["realtime"]["closed_loop"]
    closed["intervals"] = {"p50_ms": [1.0, 1.0], "qps": [closed["qps"], closed["qps"]]}
    run_level.widen_candidate(ctx, ctx.candidates[0])
    assert closed["run_level"]["source"]["p50_ms"] == "history of 3 runs"
    assert closed["run_level"]["cv"]["p50_ms"] == pytest.approx(cv, abs=1e-4)
    half = 1.959964 * cv * closed["p50_ms"]
    assert closed["intervals"]["p50_ms"][1] == pytest.approx(closed["p50_ms"] + half, rel=1e-3)
    # qps is the same in all three earlier runs: a spread of 0 never beats the prior
    assert closed["run_level"]["source"]["qps"] == "prior"
    before = list(closed["intervals"]["p50_ms"])
    run_level.widen_candidate(ctx, ctx.candidates[0])
    assert closed["intervals"]["p50_ms"] == before


def test_runs_of_another_suite_file_or_too_few_runs_leave_the_prior(tmp_path):
    suite_path = tmp_path / "suite.yaml"
    suite_path.write_text("name: sample\n")
    sha = file_sha256(suite_path)
    two = [_history_run(i, v, sha) for i, v in enumerate([0.6, 0.9])]
    other = [_history_run(i + 5, v, "sha256:another-suite") for i, v in enumerate([0.6, 0.9, 1.2])]
    ctx = _context(tmp_path, suite_path, two + other)
    assert ("forest", "p50_ms") not in spread.history_spread(ctx)


def test_the_sustainable_rate_widens_at_both_ends_under_the_capacity_cap(tmp_path):
    """Its ends are grid rates that drift with the closed loop between runs; its top never
    passes the capacity cap (one worker: the closed loop's widened throughput)."""
    suite_path = tmp_path / "suite.yaml"
    suite_path.write_text("name: sample\n")
    ctx = _context(tmp_path, suite_path, [])
    cand = ctx.candidates[0]
    ol = cand.result["realtime"].setdefault("open_loop", {})
    closed = cand.result["realtime"]["closed_loop"]
    closed["intervals"] = {"qps": [1300.0, 1300.0]}  # widened to about [1224, 1376]
    closed["qps"] = 1300.0
    ol.update({"max_sustainable_rate_per_s": 1000.0, "workers": 1,
               "intervals": {"max_sustainable_rate_per_s": [1000.0, 1500.0]}})
    run_level.widen_candidate(ctx, cand)
    run_half = 1.959964 * config.RUN_CV * 1000
    lo, hi = ol["intervals"]["max_sustainable_rate_per_s"]
    assert lo == pytest.approx(1000 - run_half, rel=1e-4)
    # widened alone the top would be 1000 + hypot(500, run_half) = 1503; the cap is lower
    assert hi == pytest.approx(1300 + 1.959964 * config.RUN_CV * 1300, rel=1e-4)
    assert hi < 1000 + math.hypot(500, run_half)


def test_tail_percentiles_get_the_tail_prior_and_zero_means_trials_only():
    assert run_level.prior_for("p50_ms", 0.03) == 0.03
    assert run_level.prior_for("p99_ms", 0.03) == run_level.TAIL_RUN_CV == 0.15
    assert run_level.prior_for("model_p999_ms", 0.03) == 0.15
    assert run_level.prior_for("p99_ms", 0.2) == 0.2  # a larger section prior stays
    assert run_level.prior_for("p99_ms", 0.0) == 0.0


def test_a_candidate_trained_by_the_suite_matches_its_earlier_runs_whatever_its_file_hash(tmp_path):
    suite_path = tmp_path / "suite.yaml"
    suite_path.write_text("name: sample\n")
    sha = file_sha256(suite_path)
    runs = [_history_run(i, v, sha) for i, v in enumerate([0.60, 0.66, 0.72])]
    for i, r in enumerate(runs):  # each run trained a new file: a new hash
        r["candidates"][0]["model"]["sha256"] = f"{i:064x}"
    ctx = _context(tmp_path, suite_path, runs)
    ctx.candidates[0].result["model"]["sha256"] = "f" * 64
    assert ("forest", "p50_ms") not in spread.history_spread(ctx)  # a given file must match
    ctx.candidates[0].result["training"] = {"estimator": "sklearn.ensemble.RandomForestClassifier"}
    assert spread.history_spread(ctx)[("forest", "p50_ms")][1] == 3


def test_compare_takes_a_prices_run_level_from_the_throughput_it_is_priced_from():
    from benchharness.decide import figures

    cand = {"batch": [{"batch_size": 8, "rows_per_s": 100.0, "run_level": {"cv": {"rows_per_s": 0.1}}}],
            "cost": {"batch": {"usd_per_1m": 2.0}}}
    assert figures.run_cv(cand, "usd_per_million") == 0.1 == figures.run_cv(cand, "rows_per_s")


def test_an_index_with_other_suites_only_gives_no_spread_and_no_error(tmp_path):
    suite_path = tmp_path / "suite.yaml"
    suite_path.write_text("name: sample\n")
    other = [_history_run(i, v, "sha256:another-suite") for i, v in enumerate([0.6, 0.9, 1.2])]
    ctx = _context(tmp_path, suite_path, other)
    assert spread.history_spread(ctx) == {}
