"""Trials: intervals across trials against simulations with known truth, the three outcomes of a
limit, the seeded interleaving of trials, and one real run of busy-wait models."""

import json

import numpy as np
import pytest
from conftest import write_suite

from benchharness import config
from benchharness.decide import figures, limits
from benchharness.decide.sequential import measurement_of
from benchharness.measure import intervals
from benchharness.measure.trials import interleaved


# -- the statistics -----------------------------------------------------------------------------
def _planted_trials(rng, trials=5, level=10.0, between_sd=1.0, within_sd=0.5, n=300):
    """Trials whose own level varies (the process effect), samples around it."""
    return [rng.normal(rng.normal(level, between_sd), within_sd, size=n) for _ in range(trials)]


def test_hierarchical_interval_covers_the_true_mean_about_95_percent_when_trials_vary():
    rng = np.random.default_rng(1)
    sims, hits, naive_hits = 160, 0, 0
    for s in range(sims):
        trials = _planted_trials(rng)
        lo, hi = intervals.hierarchical_interval(trials, percentiles=(50,), resamples=200, seed=s)["mean_ms"]
        hits += lo <= 10.0 <= hi
        # the interval one process's pooled samples would give (what the old figures did)
        pooled = np.concatenate(trials)
        half = 1.96 * pooled.std(ddof=1) / np.sqrt(len(pooled))
        naive_hits += pooled.mean() - half <= 10.0 <= pooled.mean() + half
    assert 0.88 <= hits / sims <= 0.995, hits / sims
    assert naive_hits / sims < 0.5  # treating all samples as independent is far too narrow


def test_one_trial_gives_no_interval_and_says_why():
    iv = intervals.hierarchical_interval([np.ones(100)])
    assert iv["p99_ms"] == [None, None]
    stab = intervals.stability([{"p99_ms": 1.0}], ["p99_ms"])
    assert stab["unstable"][0]["figure"] == "*"


def test_small_sample_factor_is_students_t_over_normal():
    # t_{0.975, 4} = 2.776, z = 1.960, sqrt(5/4) = 1.118
    assert intervals.small_sample_factor(5) == pytest.approx(2.776 / 1.960 * 1.118, rel=2e-3)
    assert intervals.small_sample_factor(1) == float("inf")


def test_ratio_interval_of_qps_holds_the_point_and_widens_with_disagreement():
    counts, seconds = [1000, 1000, 1000], [1.0, 1.0, 1.0]
    lo, hi = intervals.ratio_interval(counts, seconds)
    assert lo == pytest.approx(1000) and hi == pytest.approx(1000)
    lo, hi = intervals.ratio_interval([800, 1000, 1200], seconds)
    assert lo < 1000 < hi


def test_stability_marks_a_figure_whose_trials_disagree():
    trials = [{"p50_ms": v, "qps": 100.0 + i} for i, v in enumerate([1.0, 1.5, 0.7, 1.2])]
    stab = intervals.stability(trials, ["p50_ms", "qps"], cv_limit=0.10)
    assert stab["cv"]["p50_ms"] == pytest.approx(np.std([1.0, 1.5, 0.7, 1.2], ddof=1) / 1.1)
    assert [u["figure"] for u in stab["unstable"]] == ["p50_ms"]
    assert "trials disagree" in stab["unstable"][0]["reason"]


# -- limits with three outcomes -----------------------------------------------------------------
def _cand(p99, lo, hi):
    return {"name": "m", "status": "ok", "realtime": {"closed_loop": {
        "p99_ms": p99, "intervals": {"p99_ms": [lo, hi]},
        "trials": [{"p99_ms": lo, "count": 10, "duration_s": 1}, {"p99_ms": hi, "count": 10, "duration_s": 1}],
    }}}


@pytest.mark.parametrize("text, interval, status", [
    ("p99_ms <= 50", (40, 45), "pass"),
    ("p99_ms <= 50", (55, 62), "fail"),
    ("p99_ms <= 50", (45, 62), "inconclusive"),
    ("p99_ms <= 50", (45, None), "inconclusive"),  # the upper bound is not pinned down
    ("p99_ms <= 50", (51, None), "fail"),
    ("p99_ms >= 50", (51, 60), "pass"),
])
def test_a_measured_limit_passes_or_fails_only_on_its_whole_interval(text, interval, status):
    res = limits.evaluate(limits.parse_limit(text), _cand(48, *interval), {})
    assert res.status == status
    assert res.interval == list(interval)


def test_a_limit_set_exactly_at_the_measured_p99_is_inconclusive():
    cand = _cand(50.0, 44.0, 57.0)
    res = limits.evaluate(limits.parse_limit("p99_ms <= 50"), cand, {})
    assert res.status == "inconclusive"
    assert "straddles the 50 ms limit" in res.note and "more trials" in res.note
    # even a degenerate interval (every trial equal) touching the limit does not pass
    cand = _cand(50.0, 50.0, 50.0)
    assert limits.evaluate(limits.parse_limit("p99_ms <= 50"), cand, {}).status == "inconclusive"


def test_figure_accessors_read_intervals_and_trial_values():
    cand = _cand(48, 40, 45)
    assert figures.interval(cand, "p99_ms") == (40.0, 45.0)
    assert figures.trial_values(cand, "p99_ms") == [40.0, 45.0]
    assert figures.interval(cand, "qps") is None  # not in this section's intervals
    assert figures.interval(cand, "accuracy") is None  # not a trial figure
    assert measurement_of("p99_ms") == "closed_loop" and measurement_of("usd_per_million") == "batch"
    assert measurement_of("sustainable_rps") == "open_loop" and measurement_of("accuracy") is None


def test_cost_interval_is_the_throughput_interval_through_the_formula():
    from benchharness.cost.hardware import load_profile
    from benchharness.cost.stage import candidate_cost

    batch = [{"batch_size": 64, "rows_per_s": 1000.0, "intervals": {"rows_per_s": [800.0, 1250.0]},
              "trials": [{"rows_per_s": 900.0}, {"rows_per_s": 1100.0}]}]
    traffic = {"batch_rows_per_day": 1e6, "peak_rps": 10, "daily_volume": 1e5}
    out = candidate_cost({"batch": batch}, {}, load_profile("local"), traffic)
    usd = out["batch"]["usd_per_1m"]
    lo, hi = out["batch"]["intervals"]["usd_per_1m"]
    # cost is inversely proportional to throughput: the fast end gives the cheap end
    assert lo == pytest.approx(usd * 1000 / 1250) and hi == pytest.approx(usd * 1000 / 800)
    assert [t["usd_per_1m"] for t in out["batch"]["trials"]] == pytest.approx([usd * 1000 / 900, usd * 1000 / 1100])


# -- interleaving -------------------------------------------------------------------------------
def test_interleaved_order_is_seeded_and_mixes_candidates():
    jobs = [(c, "closed_loop", i) for c in ("a", "b", "c") for i in range(5)]
    one, again, other = interleaved(jobs, 0), interleaved(jobs, 0), interleaved(jobs, 1)
    assert one == again and sorted(one) == sorted(jobs) and one != other
    assert [c for c, _, _ in one] != sorted(c for c, _, _ in one)  # not one candidate after another


@pytest.mark.slow
def test_a_run_interleaves_trials_and_reports_figures_across_them(tmp_path):
    from benchharness.api import run_suite

    ctx = run_suite(write_suite(tmp_path, """
name: trials
data: {source: 'sklearn:breast_cancer', target: target}
candidates:
  - {name: fast, model: 'measure_models:FixedService', options: {kwargs: {ms: 0.3}}}
  - {name: slow, model: 'measure_models:FixedService', options: {kwargs: {ms: 1.5}}}
realtime:
  trials: 3
  budget_s: 0.6
  warmup_count: 5
  warmup_s: 0
  trial_seed: 7
  open_loop: {duration_s: 0.2, min_count: 20, fractions: [0.3, 0.6], refine_steps: 0, trials: 2, p99_limit_ms: 50}
batch: {batch_sizes: [1, 16], budget_s: 0.2, trials: 2, full_split: false}
limits: [p99_ms <= 1000]
"""), out_dir=tmp_path / "out", progress=lambda m: None)
    saved = json.loads((ctx.run_dir / "results.json").read_text())
    assert saved["schema_version"] == 2
    order = [(o["candidate"], o["measurement"], o["trial"]) for o in saved["trials"]["order"]]
    first = [(c, "closed_loop", i) for c in ("fast", "slow") for i in range(3)]
    first += [(c, "batch", i) for c in ("fast", "slow") for i in range(2)]
    assert order[:len(first)] == interleaved(first, 7)
    assert sorted(order[len(first):]) == [("fast", "open_loop", 1), ("slow", "open_loop", 1)]
    assert saved["machine_load"]["trials_observed"] == len(order)

    by_name = {c["name"]: c for c in saved["candidates"]}
    for name, service_ms in (("fast", 0.3), ("slow", 1.5)):
        closed = by_name[name]["realtime"]["closed_loop"]
        assert len(closed["trials"]) == 3 and all(t["count"] > 0 and t["duration_s"] > 0 for t in closed["trials"])
        assert closed["p50_ms"] >= service_ms  # a busy wait is a floor
        lo, hi = closed["intervals"]["p50_ms"]
        assert lo <= closed["p50_ms"] <= hi
        # widened by the prior run level (no history here): at least z * run_cv * p50 each side
        assert closed["run_level"]["source"]["p50_ms"] == "prior"
        assert hi - closed["p50_ms"] >= 1.95 * config.RUN_CV * closed["p50_ms"]
        assert closed["intervals"]["qps"][0] <= closed["qps"] <= closed["intervals"]["qps"][1]
        assert set(closed["stability"]) == {"cv", "unstable"}
        raw = np.load(ctx.run_dir / closed["samples_file"])
        assert sum(len(raw[f"trial{i}_latency_ns"]) for i in range(3)) == closed["count"]
        for entry in by_name[name]["batch"]:
            assert len(entry["trials"]) == 2 and "rows_per_s" in entry["intervals"]
        ol = by_name[name]["realtime"]["open_loop"]
        lo_rate, hi_rate = ol["intervals"]["max_sustainable_rate_per_s"]
        # one worker cannot keep up with more than the closed loop's throughput: a bounded top
        assert hi_rate is not None and hi_rate <= closed["intervals"]["qps"][1] * (1 + 1e-9)
        assert figures.interval(by_name[name], "usd_per_million") is not None
        assert by_name[name]["limits"][0]["status"] in ("pass", "inconclusive")
    # the slow model's p50 interval lies above the fast one's: trials separate a real 5x gap
    assert by_name["slow"]["realtime"]["closed_loop"]["intervals"]["p50_ms"][0] > \
        by_name["fast"]["realtime"]["closed_loop"]["intervals"]["p50_ms"][1]
    # a limit set exactly at the measured p99 cannot be decided by these trials
    fast = by_name["fast"]
    exact = limits.parse_limit(f"p99_ms <= {fast['realtime']['closed_loop']['p99_ms']!r}")
    assert limits.evaluate(exact, fast, saved).status == "inconclusive"


@pytest.mark.slow
def test_an_inconclusive_limit_gets_more_trials_up_to_the_cap(tmp_path):
    from benchharness.api import run_suite

    # one trial pins nothing down: the p99 limit is inconclusive, so the run adds trials
    ctx = run_suite(write_suite(tmp_path, """
name: extend
data: {source: 'sklearn:breast_cancer', target: target}
candidates:
  - {name: one, model: 'measure_models:FixedService', options: {kwargs: {ms: 0.2}}}
realtime: {trials: 1, max_trials: 3, budget_s: 0.1, warmup_s: 0, open_loop: {enabled: false}}
batch: {batch_sizes: [1], budget_s: 0.05, trials: 2, full_split: false}
limits: [p99_ms <= 1000]
"""), out_dir=tmp_path / "out", progress=lambda m: None)
    saved = json.loads((ctx.run_dir / "results.json").read_text())
    extended = saved["trials"]["extended"]
    assert [(e["measurement"], e["trial"]) for e in extended] == [("closed_loop", 1), ("closed_loop", 2)]
    closed = saved["candidates"][0]["realtime"]["closed_loop"]
    assert len(closed["trials"]) == 3
    assert saved["candidates"][0]["limits"][0]["status"] in ("pass", "inconclusive")
