"""Verdict: qualification, ranking by the objective, Pareto front, sentence and exit codes.

Candidate sections are hand-made in the results.json layout so each expectation is worked
out by hand.
"""

import pytest

from benchharness.decide import verdict
from benchharness.errors import SuiteError


def c(name, acc, p99, usd, status="ok", role="candidate"):
    return {"name": name, "role": role, "status": status, "error": None if status == "ok" else "boom",
            "quality": {"primary_metric": "accuracy", "test": {"accuracy": acc}},
            "realtime": {"closed_loop": {"p99_ms": p99}}, "cost": {"batch": {"usd_per_1m": usd}}}


def test_pareto_front_on_hand_made_points():
    pts = {"a": (0.9, 10.0, 1.0), "b": (0.8, 5.0, 1.0), "c": (0.8, 10.0, 1.0),  # c dominated by a and b
           "d": (0.95, 50.0, 3.0), "e": (0.9, 10.0, 1.0)}  # e equals a: neither dominates the other
    front = verdict.pareto_front(pts, ("higher", "lower", "lower"))
    assert sorted(front) == ["a", "b", "d", "e"]
    assert verdict.pareto_front({"x": (1.0,), "y": (2.0,)}, ("lower",)) == ["x"]


def test_ranking_default_objective_best_primary_then_cost():
    cands = [c("slow", 0.90, 30, 0.5), c("best", 0.95, 5, 2.0), c("cheap", 0.95, 8, 1.0)]
    ranked = verdict.rank(cands, verdict.parse_objective(None), {})
    assert [x["name"] for x in ranked] == ["cheap", "best", "slow"]


def test_ranking_with_tolerance_lets_cost_decide():
    cands = [c("top", 0.951, 5, 2.0), c("close", 0.948, 5, 0.3), c("far", 0.90, 1, 0.1)]
    terms = verdict.parse_objective(["max accuracy within 0.005", "min usd_per_million"])
    assert [x["name"] for x in verdict.rank(cands, terms, {})] == ["close", "top", "far"]
    terms = verdict.parse_objective("min p99_ms")
    assert [x["name"] for x in verdict.rank(cands, terms, {})][0] == "far"


def test_unmeasured_values_rank_last():
    cands = [c("nocost", 0.9, 5, None), c("cost", 0.9, 5, 3.0)]
    assert [x["name"] for x in verdict.rank(cands, verdict.parse_objective("min usd_per_million"), {})] == ["cost", "nocost"]


def test_bad_objective_is_a_suite_error():
    with pytest.raises(SuiteError, match="'objective' term 'fastest'"):
        verdict.parse_objective(["fastest"])
    with pytest.raises(SuiteError, match="allowed"):
        verdict.parse_objective("max accuracy within lots")


def test_judge_recommends_and_sets_exit_codes():
    results = {"candidates": [c("a", 0.95, 30, 1.0), c("b", 0.93, 8, 0.5), c("c", 0.96, 9, 9.0)]}
    v = verdict.judge(results, ["p99_ms <= 20", "usd_per_million <= 5"])
    rows = {r["name"]: r for r in v["candidates"]}
    assert rows["a"]["status"] == "blocked" and "p99_ms <= 20: measured 30 ms, missed by 10 ms" in rows["a"]["blocking"][0]
    assert rows["c"]["status"] == "blocked" and rows["b"]["status"] == "qualifies"
    assert v["ranking"] == ["b"] and v["recommended"] == "b" and v["exit_code"] == 0
    assert v["sentence"].startswith("Ship b: it meets all 2 hard limits")
    one = verdict.judge({"candidates": [c("a", 0.9, 3, 1.0)]}, ["p99_ms <= 5"], objective="min p99_ms")
    assert one["sentence"].startswith("Ship a: it meets its hard limit and ranks first by min p99_ms")
    assert sorted(v["pareto_front"]) == ["a", "b", "c"] and v["pareto_axes"] == ["primary", "p99_ms", "usd_per_million"]
    assert v["exit_code_strict"] == 1  # other candidates fail limits
    assert results["candidates"][0]["limits"][0]["status"] == "fail"  # written onto each candidate


def test_none_qualifies_says_what_blocks_each_and_keeps_baseline():
    results = {"candidates": [c("a", 0.95, 30, 1.0), c("prod", 0.9, 3, 1.0, role="baseline")]}
    v = verdict.judge(results, {"fail": ["p99_ms <= 20", "rss_peak_mb <= 100"]})
    assert v["recommended"] is None and v["exit_code"] == 1
    assert v["sentence"].startswith("No candidate qualifies. What to change, closest first: "
                                    "a — p99_ms 30 ms → ≤ 20 ms (33% less); measure rss_peak_mb (not measured)")
    assert "p99_ms <= 20: measured 30 ms, missed by 10 ms" in v["candidates"][0]["blocking"]
    assert "Keep prod" in v["sentence"]


def test_warnings_do_not_block_but_strict_counts_them():
    results = {"candidates": [c("a", 0.95, 30, 1.0)]}
    v = verdict.judge(results, {"warn": ["p99_ms <= 20"]})
    assert v["recommended"] == "a" and v["exit_code"] == 0 and v["exit_code_strict"] == 1
    assert v["candidates"][0]["warnings"]


def test_crash_gives_exit_code_three_and_is_listed():
    results = {"candidates": [c("a", 0.95, 3, 1.0), c("dead", 0.0, 0, 0, status="failed")]}
    v = verdict.judge(results, ["p99_ms <= 20"])
    assert v["exit_code"] == 3 and v["recommended"] == "a"
    assert next(r for r in v["candidates"] if r["name"] == "dead")["status"] == "crashed"
    assert verdict.judge({"candidates": [c("dead", 0, 0, 0, status="failed")]})["exit_code"] == 3


def test_no_limits_every_clean_candidate_qualifies():
    v = verdict.judge({"candidates": [c("a", 0.9, 3, None), c("b", 0.92, 3, None)]})
    assert v["ranking"] == ["b", "a"] and "sets no hard limits" in v["sentence"]
    assert v["pareto_axes"] == ["primary", "p99_ms"]  # cost not measured for all: axis dropped


def test_default_objective_ranks_a_lower_is_better_metric_lowest_first():
    def reg(name, rmse):
        return {"name": name, "role": "candidate", "status": "ok", "error": None,
                "quality": {"primary_metric": "rmse", "test": {"rmse": rmse}},
                "realtime": {"closed_loop": {"p99_ms": 1.0}}, "cost": {"batch": {"usd_per_1m": 1.0}}}

    cands = [reg("worse", 60.9), reg("best", 55.9), reg("middle", 58.0)]
    ranked = verdict.rank(cands, verdict.parse_objective(None), {})
    assert [x["name"] for x in ranked] == ["best", "middle", "worse"]
    v = verdict.judge({"candidates": cands})
    assert v["recommended"] == "best" and "ranks first by min rmse" in v["sentence"]


def test_recommendation_cautions_when_the_winner_does_not_beat_the_baseline():
    a = c("a", 0.95, 5, 1.0)
    a["quality"].update(beats_baseline=False, baseline_statement="a does not beat the baseline logistic")
    b = c("b", 0.90, 5, 1.0)
    b["quality"].update(beats_baseline=True, baseline_statement="b beats the baseline")
    v = verdict.judge({"candidates": [a, b]})
    assert v["recommended"] == "a"
    assert v["sentence"].endswith("Caution: a does not beat the baseline logistic.")
    v = verdict.judge({"candidates": [b]})
    assert "Caution" not in v["sentence"]


def test_sentence_names_the_primary_metric_and_its_direction():
    def reg(name, rmse):
        return {"name": name, "role": "candidate", "status": "ok", "error": None,
                "quality": {"primary_metric": "rmse", "test": {"rmse": rmse}},
                "realtime": {"closed_loop": {"p99_ms": 1.0}}}

    v = verdict.judge({"candidates": [reg("bad", 60.9), reg("good", 55.9)]})
    assert "ranks first by min rmse, then min usd_per_million" in v["sentence"] and "primary" not in v["sentence"]
    assert "ranks first by max accuracy within 0.01" in verdict.judge(
        {"candidates": [c("a", 0.9, 3, None)]}, objective=["best primary within 0.01"])["sentence"]
