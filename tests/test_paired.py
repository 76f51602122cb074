"""Paired comparisons inside a run and against a reference run (decide/paired.py, against/).

Statistics against hand computations and simulations with known truth; the real runs plant
known service times (benchharness.planted) and assert only differences far larger than a
shared 2-core machine's noise on a median."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats

from benchharness import exit_codes, planted
from benchharness.cli import main
from benchharness.decide import paired
from benchharness.measure.trials import interleaved


def test_paired_change_is_the_t_interval_of_the_log_ratios():
    before = {0: 1.00, 1: 1.20, 2: 0.90, 3: 1.05, 4: 1.10}
    after = {0: 1.11, 1: 1.30, 2: 1.00, 3: 1.15, 4: 1.23, 7: 5.0}  # round 7: no partner, left out
    got = paired.paired_change(before, after)
    d = np.log([after[r] / before[r] for r in range(5)])
    lo, hi = stats.t.interval(0.95, 4, loc=d.mean(), scale=d.std(ddof=1) / math.sqrt(5))
    assert got.rounds == 5
    assert got.change == pytest.approx(math.exp(d.mean()) - 1)
    assert (got.low, got.high) == pytest.approx((math.exp(lo) - 1, math.exp(hi) - 1))
    assert paired.paired_change({0: 1, 1: 1}, {0: 2, 1: 2}) is None  # under MIN_ROUNDS


def test_a_drift_shared_by_both_cancels_and_the_interval_covers_the_truth():
    """Rounds drift by up to +-30% (the machine), each trial has 1% noise of its own; B is
    truly 10% slower. The paired interval covers 10% about 95% of the time and is narrow."""
    rng = np.random.default_rng(0)
    covered, widths = 0, []
    sims = 2000
    for _ in range(sims):
        drift = rng.uniform(0.7, 1.3, size=5)
        a = drift * rng.lognormal(0, 0.01, 5)
        b = 1.10 * drift * rng.lognormal(0, 0.01, 5)
        ch = paired.paired_change(dict(enumerate(a)), dict(enumerate(b)))
        covered += ch.low <= 0.10 <= ch.high
        widths.append(ch.high - ch.low)
    assert 0.93 <= covered / sims <= 0.97
    assert np.median(widths) < 0.04  # the drift (60% range) is gone from the comparison


@pytest.mark.parametrize("interval, higher, outcome", [
    ((0.06, 0.12), False, "regression"), ((-0.12, -0.06), True, "regression"),
    ((-0.12, -0.06), False, "improvement"), ((0.06, 0.12), True, "improvement"),
    ((-0.03, 0.04), False, "equivalent"), ((0.02, 0.08), False, "inconclusive"),
    ((-0.20, 0.20), True, "inconclusive"),
])
def test_four_outcomes_against_a_5_percent_threshold(interval, higher, outcome):
    assert paired.outcome(interval, higher, 0.05) == outcome


def test_detectable_is_the_change_whose_interval_just_clears_the_threshold():
    h, t = 0.04, 0.05
    c = paired.detectable(h, t)
    assert math.log(1 + c) - h == pytest.approx(math.log(1 + t))
    assert paired.outcome((math.expm1(math.log1p(c) - h) + 1e-9, math.expm1(math.log1p(c) + h)), False, t) \
        == "regression"


def test_exit_codes_combine_by_precedence():
    assert exit_codes.combine(0, 4) == 4 and exit_codes.combine(4, 1) == 1 and exit_codes.combine(1, 3) == 3
    assert exit_codes.combine(0, 0) == 0


def test_trials_run_in_blocked_rounds_every_candidate_once_per_round():
    jobs = [(c, m, i) for c in "abc" for m in ("closed_loop", "batch") for i in range(4)]
    order = interleaved(jobs, seed=3)
    assert sorted(order) == sorted(jobs) and order == interleaved(jobs, seed=3)
    rounds = [job[2] for job in order]
    assert rounds == sorted(rounds)  # round 0 first, then 1, ...
    assert any(interleaved(jobs, seed=k)[:6] != order[:6] for k in range(4, 8))  # shuffled inside


SUITE = """
name: planted
data: {source: 'sklearn:breast_cancer', target: target}
candidates:
  - {name: same1, model: same1.joblib}
  - {name: same2, model: same2.joblib}
  - {name: slow10, model: slow10.joblib}
realtime: {trials: 5, max_trials: 5, budget_s: 0.6, warmup_s: 0.05, open_loop: {enabled: false}}
batch: {batch_sizes: [8], budget_s: 0.15, trials: 5, max_trials: 5, full_split: false}
objective: [min p50_ms]
"""


@pytest.mark.slow
def test_inside_a_run_10_percent_slower_ranks_last_and_against_finds_a_planted_slowdown(tmp_path):
    for name, ms in (("same1", 0.5), ("same2", 0.5), ("slow10", 0.55)):
        planted.save(tmp_path / f"{name}.joblib", ms)
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    out = tmp_path / "out"
    first = CliRunner().invoke(main, ["run", str(suite), "--out", str(out)])
    assert first.exit_code == 0, first.output
    run_a = next(out.iterdir())
    res = json.loads((run_a / "results.json").read_text())
    v = res["verdict"]
    # the two copies tie (suite order), the 10% slower one is shown worse than both
    assert v["ranking"] == ["same1", "same2", "slow10"]
    assert {"term": "min p50_ms", "candidates": ["same1", "same2"]} in v["ties"]
    assert not any("slow10" in t["candidates"] for t in v["ties"])
    by = {c["name"]: c for c in res["candidates"]}
    assert all(c["model"]["kept"].startswith("models/") for c in by.values())
    assert [t["round"] for t in by["same1"]["realtime"]["closed_loop"]["trials"]] == list(range(5))

    # the next version: same1 unchanged, slow10 now 1.5x the old time; the reference's files are
    # overwritten, so --against must measure the copies the first run kept
    planted.save(tmp_path / "slow10.joblib", 0.825)
    second = CliRunner().invoke(main, ["run", str(suite), "--out", str(out), "--against", "last"])
    assert second.exit_code == 1, second.output  # a regression is a no
    run_b = max(out.iterdir())
    against = json.loads((run_b / "results.json").read_text())["against"]
    assert against["run"] == res["run_id"] and not against["refused"]
    rows = {(r["candidate"], r["figure"]): r for r in against["rows"]}
    slow = rows[("slow10", "p50_ms")]
    assert slow["result"] == "regression" and 0.35 < slow["change"] < 0.65 and slow["rounds"] >= 3
    assert rows[("same1", "p50_ms")]["result"] in ("equivalent", "inconclusive")
    assert not any(rows[(c, f)]["regression"] for c in ("same1", "same2") for f in ("p50_ms", "qps"))
    assert "REGRESSION" in second.output and "sees" in second.output
    assert max(map(len, second.output.splitlines())) <= 100
    # the report has the same rows, with the smallest change each could show
    md = (run_b / "report.md").read_text()
    assert "Against the reference run" in md and "could show" in md and "REGRESSION" in md
    assert "Against the reference run" in (run_b / "report.html").read_text()
    # at 80 columns the table keeps the change, its interval, what it could show and the outcome
    from benchharness.report.terminal import summary_text

    narrow = summary_text(json.loads((run_b / "results.json").read_text()), str(run_b), width=80)
    header = next(line for line in narrow.splitlines() if line.rstrip().endswith("sees  result"))
    assert max(map(len, narrow.splitlines())) <= 80 and "before" not in header and "change" in header


def test_a_tail_interval_never_reaches_below_a_lower_percentile():
    from benchharness.measure.intervals import monotone_percentiles

    ivs = {"p50_ms": [0.60, 0.70], "p90_ms": [0.5, 0.9], "p99_ms": [0.0, 3.38], "p999_ms": [None, 2.0]}
    monotone_percentiles(ivs)
    assert ivs == {"p50_ms": [0.60, 0.70], "p90_ms": [0.60, 0.9], "p99_ms": [0.60, 3.38],
                   "p999_ms": [None, 3.38]}


def test_run_level_cv_is_the_drift_beyond_what_the_trials_explain():
    from benchharness.machine_calibration import run_level_cv

    # points 10, 12, 14 (var 4); trials with variance 1 over 4 trials each explain 0.25
    got = run_level_cv([10.0, 12.0, 14.0], [[9, 10, 11, 10], [11, 12, 13, 12], [13, 14, 15, 14]])
    within = np.var([9, 10, 11, 10], ddof=1) / 4
    assert got == pytest.approx(math.sqrt(4 - within) / 12)
    assert run_level_cv([10.0, 10.0], [[9, 11], [9, 11]]) == 0.0  # the trials explain it all


@pytest.mark.slow
def test_calibrate_stores_this_machines_drift_and_later_runs_use_it(tmp_path, monkeypatch):
    from benchharness import machine_calibration

    cal = tmp_path / "cal.json"
    monkeypatch.setenv("BENCH_CALIBRATION", str(cal))
    planted.save(tmp_path / "m.joblib", 0.3)
    suite = tmp_path / "s.yaml"
    suite.write_text("""
name: cal
data: {source: 'sklearn:breast_cancer', target: target}
candidates: [{name: m, model: m.joblib}]
realtime: {trials: 3, budget_s: 0.3, warmup_s: 0.02, open_loop: {enabled: false}}
batch: {batch_sizes: [4], budget_s: 0.1, trials: 3, full_split: false}
""")
    res = CliRunner().invoke(main, ["calibrate", str(suite), "--runs", "3"])
    assert res.exit_code == 0, res.output
    stored = json.loads(cal.read_text())
    (entry,) = stored.values()
    assert entry["runs"] == 3 and set(entry["classes"]) <= {"centre", "tail", "batch"} and entry["classes"]
    assert all(v >= machine_calibration.FLOOR for v in entry["classes"].values())
    assert "built-in prior" in res.output
    run = CliRunner().invoke(main, ["run", str(suite), "--out", str(tmp_path / "out")])
    doc = json.loads((next((tmp_path / "out").iterdir()) / "results.json").read_text())
    closed = doc["candidates"][0]["realtime"]["closed_loop"]
    assert run.exit_code == 0 and closed["run_level"]["source"]["p50_ms"] == "calibration of 3 runs"
    if "centre" in entry["classes"]:
        assert closed["run_level"]["cv"]["p50_ms"] == pytest.approx(entry["classes"]["centre"], abs=1e-4)


def test_tail_bound_is_loadgens_one_sided_order_statistic():
    from scipy.stats import binom

    from benchharness.measure.stats import tail_bound

    values = np.arange(1, 1001, dtype=float)  # 1..1000 ms
    got = tail_bound(values, 99, 0.99)
    # the smallest rank u >= ceil(0.99 n) with P(Binomial(n, 0.99) <= u - 1) >= 0.99
    u = next(u for u in range(990, 1001) if binom.cdf(u - 1, 1000, 0.99) >= 0.99)
    assert got["upper_ms"] == values[u - 1] and got["min_queries"] == 459
    assert tail_bound(values[:400], 99, 0.99)["upper_ms"] is None  # under 459 queries: no bound


def _cand(name: str, p50s: list[float]) -> dict:
    """A candidate whose closed-loop trials ran in rounds 0..n-1 (the shape the trials write)."""
    trials = [{"p50_ms": v, "count": 1000, "duration_s": 1.0, "round": r} for r, v in enumerate(p50s)]
    wide = [min(p50s) * 0.8, max(p50s) * 1.2]  # absolute intervals with the run level: overlapping
    return {"name": name, "status": "ok", "role": "candidate",
            "realtime": {"closed_loop": {"p50_ms": float(np.median(p50s)), "trials": trials,
                                         "intervals": {"p50_ms": wide}}}}


def test_ranking_judges_one_runs_candidates_on_their_rounds():
    from benchharness.decide import verdict

    drift = [1.00, 1.08, 0.95, 1.12, 1.03]  # the machine's state per round, shared by all
    same1 = _cand("same1", [0.50 * d for d in drift])
    same2 = _cand("same2", [0.5005 * d for d in drift])
    slow = _cand("slow10", [0.55 * d for d in drift])
    res = {"candidates": [slow, same1, same2]}
    v = verdict.judge(res, objective=["min p50_ms"])
    # the intervals overlap (the drift), the rounds do not: slow10 is last, the copies tie
    assert v["ranking"] == ["same1", "same2", "slow10"]
    assert v["ties"] == [{"term": "min p50_ms", "candidates": ["same1", "same2"]}]
    shown = {p["candidate"]: p["shown_worse"] for p in v["paired"]}
    assert shown == {"same2": False, "slow10": True}
    # the copies differ by 0.1%, well inside 2%: settled, no trials asked for, no close call
    assert verdict.unsettled_terms([same1, same2], verdict.parse_objective(["min p50_ms"]), res) == []
    # a fleet (other machines) has no shared rounds: intervals decide, and they overlap
    assert verdict.rank([slow, same1], verdict.parse_objective(["min p50_ms"]), res, same_run=False)[0] is slow


def test_a_bad_against_is_one_line_and_exit_2_before_measuring(tmp_path):
    planted.save(tmp_path / "m.joblib", 0.1)
    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\ndata: {source: 'sklearn:breast_cancer', target: target}\n"
                     "candidates: [{name: m, model: m.joblib}]\n")
    out = tmp_path / "out"
    for spec, said in ((str(tmp_path / "nowhere"), "not a run folder"),
                       ("last", "no finished earlier run of suite 's'")):
        res = CliRunner().invoke(main, ["run", str(suite), "--out", str(out), "--against", spec])
        assert res.exit_code == 2 and said in res.output and "Traceback" not in res.output, res.output
        assert not out.exists() or not any(out.iterdir())  # nothing measured, no run folder
