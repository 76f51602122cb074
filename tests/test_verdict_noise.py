"""Decisions that noise cannot flip: three-outcome limits in the verdict, ranking ties from
overlapping intervals, what to change when nothing qualifies, the baseline as an option, and
whether the test split can show a quality margin at all.

Candidate sections follow the results.json layout of measured sections (point value,
`intervals {figure: [lo, hi]}`, `trials [...]`); each expectation is worked out by hand.
"""

import numpy as np
import pytest

from benchharness.decide import verdict
from benchharness.decide.limits import LimitResult
from benchharness.exit_codes import CANDIDATE_FAILED, INCONCLUSIVE, NO, OK
from benchharness.quality import sample_size
from benchharness.quality.bootstrap import BootstrapPlan, paired_difference
from benchharness.quality.metrics import ScoredRows


def cand(name, p99, p99_iv=None, usd=1.0, usd_iv=None, acc=0.9, acc_ci=None, status="ok"):
    closed = {"p99_ms": p99}
    if p99_iv:
        closed["intervals"] = {"p99_ms": list(p99_iv)}
    batch = {"usd_per_1m": usd}
    if usd_iv:
        batch["intervals"] = {"usd_per_1m": list(usd_iv)}
    quality = {"primary_metric": "accuracy", "test": {"accuracy": acc}}
    if acc_ci:
        quality["ci"] = {"accuracy": list(acc_ci)}
    return {"name": name, "role": "candidate", "status": status, "error": None if status == "ok" else "boom",
            "quality": quality, "realtime": {"closed_loop": closed}, "cost": {"batch": batch}}


def limit(status, value=55.0, threshold=50.0, expression="p99_ms <= 50", metric="p99_ms", unit="ms",
          severity="fail"):
    margin = threshold - value if "<" in expression else value - threshold
    return LimitResult(expression, metric, severity, status, value, value, threshold, margin, unit,
                       "the interval straddles the limit" if status == "inconclusive" else "")


# -- three outcomes -----------------------------------------------------------------------------
def test_an_inconclusive_hard_limit_blocks_says_so_and_exits_4():
    results = {"candidates": [cand("forest", 55.0, (45.0, 62.0))]}
    v = verdict.decide(results, {"forest": [limit("inconclusive")]}, verdict.parse_objective(None))
    row = v["candidates"][0]
    assert row["status"] == "inconclusive" and v["recommended"] is None
    assert row["blocking"] == ["p99_ms <= 50: p99_ms 45–62 ms straddles the 50 ms limit: inconclusive "
                               "(more trials or a quieter machine would decide it)"]
    assert v["exit_code"] == INCONCLUSIVE and v["exit_code_strict"] == INCONCLUSIVE
    assert v["could_qualify"] == ["forest"]
    assert v["sentence"].startswith("No candidate qualifies for certain: the intervals of forest straddle a limit")
    assert "decide p99_ms 45–62 ms vs 50 ms: more trials or a quieter machine" in v["sentence"]


def test_exit_codes_of_the_three_outcomes_with_and_without_strict():
    objective = verdict.parse_objective(None)
    both = {"candidates": [cand("a", 55.0, (45.0, 62.0)), cand("b", 80.0, (75.0, 90.0))]}
    # one inconclusive, one surely failing: one could still qualify -> 4 (retry), not 1
    v = verdict.decide(both, {"a": [limit("inconclusive")], "b": [limit("fail", 80.0)]}, objective)
    assert (v["exit_code"], v["exit_code_strict"]) == (INCONCLUSIVE, INCONCLUSIVE)
    assert [r["status"] for r in v["candidates"]] == ["inconclusive", "blocked"]
    # an inconclusive limit beside a failing one: that candidate cannot qualify -> 1
    v = verdict.decide(both, {"a": [limit("inconclusive"), limit("fail", 80.0)], "b": [limit("fail", 80.0)]},
                       objective)
    assert v["exit_code"] == NO and v["candidates"][0]["status"] == "blocked"
    # one qualifies: 0; --strict: 4 when the only unmet limits elsewhere are inconclusive, else 1
    v = verdict.decide(both, {"a": [limit("inconclusive")], "b": [limit("pass", 40.0)]}, objective)
    assert (v["exit_code"], v["exit_code_strict"]) == (OK, INCONCLUSIVE) and v["recommended"] == "b"
    assert "Not yet decided: a" in v["sentence"]
    v = verdict.decide(both, {"a": [limit("fail", 80.0)], "b": [limit("pass", 40.0)]}, objective)
    assert (v["exit_code"], v["exit_code_strict"]) == (OK, NO)
    # a crash keeps 3 whatever the others did
    crashed = {"candidates": [cand("a", 55.0, (45.0, 62.0)), cand("dead", 0.0, status="failed")]}
    v = verdict.decide(crashed, {"a": [limit("inconclusive")]}, objective)
    assert v["exit_code"] == CANDIDATE_FAILED
    # an inconclusive warn-level limit is a warning, never a block
    v = verdict.decide(both, {"a": [limit("inconclusive", severity="warn")], "b": []}, objective)
    assert v["exit_code"] == OK and v["candidates"][0]["status"] == "qualifies"
    assert "straddles the 50 ms limit" in v["candidates"][0]["warnings"][0]


def test_an_open_interval_end_is_written_as_such():
    results = {"candidates": [cand("forest", 62.0, (50.0, None))]}
    v = verdict.decide(results, {"forest": [limit("inconclusive", 62.0)]}, verdict.parse_objective(None))
    assert "p99_ms 50 ms or more straddles the 50 ms limit" in v["candidates"][0]["blocking"][0]


# -- ranking that noise cannot flip ------------------------------------------------------------
TERMS = verdict.parse_objective(["min p99_ms", "min usd_per_million"])


def names_of(cands):
    return [c["name"] for c in cands]


def test_overlapping_intervals_tie_and_the_next_term_decides():
    a = cand("a", 10.0, (8.0, 12.0), usd=2.0, usd_iv=(1.9, 2.1))
    b = cand("b", 11.0, (9.0, 13.0), usd=1.0, usd_iv=(0.9, 1.1))
    assert names_of(verdict.rank([a, b], TERMS, {})) == ["b", "a"]  # p99 ties: cost decides
    for c in (a, b):
        del c["realtime"]["closed_loop"]["intervals"]
    assert names_of(verdict.rank([a, b], TERMS, {})) == ["a", "b"]  # no intervals: the point decides


def test_separate_intervals_let_the_first_term_decide():
    a = cand("a", 10.0, (9.0, 11.0), usd=2.0, usd_iv=(1.9, 2.1))
    b = cand("b", 14.0, (12.5, 16.0), usd=1.0, usd_iv=(0.9, 1.1))
    assert names_of(verdict.rank([b, a], TERMS, {})) == ["a", "b"]


def test_quality_terms_tie_on_their_bootstrap_intervals():
    a = cand("a", 5.0, acc=0.95, acc_ci=(0.92, 0.98), usd=3.0)
    b = cand("b", 5.0, acc=0.94, acc_ci=(0.91, 0.97), usd=1.0)
    c = cand("c", 5.0, acc=0.80, acc_ci=(0.75, 0.85), usd=0.1)
    ranked = verdict.rank([a, b, c], verdict.parse_objective(None), {})
    assert names_of(ranked) == ["b", "a", "c"]  # a and b tie on accuracy; c is surely worse


def test_two_identical_runs_recommend_the_same_candidate():
    """Same true figures, new noise: the point values move inside their intervals (and swap
    order on p99), the recommendation does not."""
    rng = np.random.default_rng(7)
    picks = set()
    for _ in range(200):
        a = cand("a", float(rng.uniform(8, 13)), (8.0, 13.0), usd=float(rng.uniform(0.95, 1.05)), usd_iv=(0.95, 1.05))
        b = cand("b", float(rng.uniform(8, 13)), (8.0, 13.0), usd=float(rng.uniform(1.4, 1.6)), usd_iv=(1.4, 1.6))
        c = cand("c", float(rng.uniform(30, 40)), (30.0, 40.0), usd=0.1, usd_iv=(0.09, 0.11))
        picks.add(verdict.judge({"candidates": [b, c, a]}, objective=["min p99_ms", "min usd_per_million"])
                  ["recommended"])
    assert picks == {"a"}


def test_a_tie_on_every_term_keeps_the_suite_order_and_says_so():
    first = cand("first", 10.5, (8.0, 13.0), usd=1.02, usd_iv=(0.9, 1.1))
    second = cand("second", 9.5, (8.0, 13.0), usd=0.98, usd_iv=(0.9, 1.1))  # better points, same intervals
    v = verdict.judge({"candidates": [first, second]}, objective=["min p99_ms", "min usd_per_million"])
    assert v["ranking"] == ["first", "second"]
    assert "ties with second on every term of the objective" in v["sentence"]
    assert v["ties"][0] == {"term": "min p99_ms", "candidates": ["first", "second"]}
    a = cand("a", 10.0, (8.0, 12.0), usd=2.0, usd_iv=(1.9, 2.1))
    b = cand("b", 11.0, (9.0, 13.0), usd=1.0, usd_iv=(0.9, 1.1))
    v = verdict.judge({"candidates": [a, b]}, objective=["min p99_ms", "min usd_per_million"])
    assert v["recommended"] == "b" and "It ties on p99_ms (no difference shown); usd_per_million decided." in v["sentence"]


def test_a_tie_on_a_measured_term_against_a_better_point_is_called_a_close_call():
    # p99: a 10 [9, 12] ms, b 11 [10.5, 12.5] ms overlap, so cost decides for b (cheaper);
    # a is better on p99 by its point value: the sentence says the lead was not shown on p99
    a = cand("a", 10.0, (9.0, 12.0), usd=2.0, usd_iv=(1.9, 2.1))
    b = cand("b", 11.0, (10.5, 12.5), usd=1.0, usd_iv=(0.9, 1.1))
    v = verdict.judge({"candidates": [a, b]}, objective=["min p99_ms", "min usd_per_million"])
    assert v["recommended"] == "b" and v["close_call"] == ["b", "a"]
    assert "A close call: a has the better p99_ms by its point value" in v["sentence"]
    # intervals apart (b at 15 [14, 16]): p99 decides for a, nothing close
    b = cand("b", 15.0, (14.0, 16.0), usd=1.0, usd_iv=(0.9, 1.1))
    v = verdict.judge({"candidates": [a, b]}, objective=["min p99_ms", "min usd_per_million"])
    assert v["recommended"] == "a" and v["close_call"] == []
    assert "close call" not in v["sentence"]


def test_an_unsettled_winner_names_the_term_whose_trials_would_settle_it():
    # accuracy ties by intervals but c is better by points (quality: trials cannot help, it is
    # listed first all the same); cost: a 1.0 [0.5, 1.6] vs b 1.5 [1.4, 1.6] overlap, so p99
    # decides for b (5 vs 10 ms) while a is cheaper by points: cost is what trials can settle
    a = cand("a", 10.0, (9.0, 11.0), usd=1.0, usd_iv=(0.5, 1.6), acc=0.90, acc_ci=(0.85, 0.95))
    b = cand("b", 5.0, (4.5, 5.5), usd=1.5, usd_iv=(1.4, 1.6), acc=0.90, acc_ci=(0.85, 0.95))
    c = cand("c", 50.0, (45.0, 55.0), usd=9.0, usd_iv=(8.0, 10.0), acc=0.92, acc_ci=(0.87, 0.97))
    terms = verdict.parse_objective(["max accuracy", "min usd_per_million", "min p99_ms"])
    found = verdict.unsettled_terms([a, b, c], terms, {"candidates": [a, b, c]})
    assert [(t.name, pair) for t, pair in found] == [("accuracy", ["b", "c"]), ("usd_per_million", ["b", "a"])]
    # once trials narrow a's cost to [0.9, 1.1], cost separates them: only accuracy is left
    a = cand("a", 10.0, (9.0, 11.0), usd=1.0, usd_iv=(0.9, 1.1), acc=0.90, acc_ci=(0.85, 0.95))
    found = verdict.unsettled_terms([a, b, c], terms, {"candidates": [a, b, c]})
    assert [t.name for t, _ in found] == ["accuracy"]
    # a tie within the term's tolerance is the suite's choice, not an unsettled one
    loose = verdict.parse_objective(["max accuracy within 0.05", "min usd_per_million within 1", "min p99_ms"])
    a = cand("a", 10.0, (9.0, 11.0), usd=1.0, usd_iv=(0.5, 1.6), acc=0.90, acc_ci=(0.85, 0.95))
    assert verdict.unsettled_terms([a, b, c], loose, {"candidates": [a, b, c]}) == []


# -- what to change, shortest first; the baseline as an option ---------------------------------
def test_nothing_qualifies_lists_what_to_change_closest_first():
    results = {"candidates": [cand("far", 100.0, usd=9.0), cand("near", 52.0, usd=1.0), cand("two", 60.0, usd=6.0)]}
    v = verdict.judge(results, ["p99_ms <= 50", "usd_per_million <= 5"])
    assert v["exit_code"] == NO
    sentence = v["sentence"]
    assert sentence.startswith("No candidate qualifies. What to change, closest first: "
                               "near — p99_ms 52 ms → ≤ 50 ms (4% less) | ")
    assert sentence.index("near —") < sentence.index("two —") < sentence.index("far —")
    assert "far — usd_per_million $9.00 per 1M → ≤ $5.00 per 1M (44% less); p99_ms 100 ms → ≤ 50 ms (50% less)" in sentence
    lines = verdict.summary_lines({"verdict": v})
    assert max(len(line) for line in lines) <= 100
    listed = lines[lines.index("What to change, closest first:") + 1:]
    assert [line.split(":")[0].strip() for line in listed] == ["near", "two", "far"]
    assert v["what_to_change"][0] == {"candidate": "near", "changes": ["p99_ms 52 ms → ≤ 50 ms (4% less)"]}


def with_baseline(cands, beats):
    for c, b in zip(cands, beats, strict=True):
        c["quality"].update(beats_baseline=b, baseline_statement=f"{c['name']} does not beat the baseline logistic",
                            delta_vs_best_baseline={"baseline": "logistic", "metric": "accuracy",
                                                    "baseline_value": 0.958})
    return {"candidates": cands, "quality": {"best_baseline": {"name": "logistic", "metric": "accuracy",
                                                               "value": 0.958}}}


def test_a_baseline_as_good_as_every_candidate_is_named_as_an_option():
    results = with_baseline([cand("forest", 5.0, acc=0.965), cand("svc", 5.0, acc=0.95, usd=0.5)], [False, False])
    v = verdict.judge(results)
    assert v["sentence"].startswith("The baseline logistic is as good as every candidate on accuracy "
                                    "(logistic 0.958, best candidate forest 0.965)")
    assert "logistic, the simpler model, is an option. If a candidate must ship, take forest: it" in v["sentence"]
    assert "Caution" not in v["sentence"]
    # one candidate shown better: the usual sentence, with the caution on a winner that is not
    results = with_baseline([cand("forest", 5.0, acc=0.965), cand("svc", 5.0, acc=0.95)], [False, True])
    v = verdict.judge(results)
    assert v["sentence"].startswith("Ship forest") and "Caution: forest does not beat" in v["sentence"]


# -- can the test split show the margin? -------------------------------------------------------
def test_resolution_matches_the_hand_computation():
    # interval [-0.03, +0.02] at 95%: SE = 0.05 / (2 * 1.959964) = 0.0127554
    # detectable = (1.959964 + 0.841621) * SE = 0.0357355; rows for 0.01: 143 * 3.57355^2 = 1826.2
    res = sample_size.resolution(143, (-0.03, 0.02), 0.95, margin=0.01, measured=-0.003)
    assert res.se == pytest.approx(0.0127554, rel=1e-5)
    assert res.detectable == pytest.approx(0.0357355, rel=1e-5)
    assert res.too_small and res.scale == 0.01 and res.rows_needed == 1827
    plain = sample_size.resolution(5000, (0.01, 0.03), 0.95, margin=0.0, measured=0.02)
    assert plain.scale == 0.02 and not plain.too_small  # detectable 0.0143 < the measured 0.02


def paired_rows(rng, n, a, b, base_acc=0.85):
    """Truth and two models' labels: candidate right and baseline wrong with probability a,
    the reverse with b (true difference a - b), both right or both wrong otherwise."""
    y = rng.integers(0, 2, n)
    u = rng.random(n)
    cand_right = (u < a) | (u >= a + b) & (u < a + b + base_acc - b)
    base_right = (u >= a) & (u < a + b + base_acc - b)
    return (ScoredRows("binary", y, np.where(cand_right, y, 1 - y)),
            ScoredRows("binary", y, np.where(base_right, y, 1 - y)))


def test_the_bootstrap_interval_width_gives_the_analytic_standard_error():
    a, b, n = 0.06, 0.04, 1000
    cand_rows, base_rows = paired_rows(np.random.default_rng(1), n, a, b)
    found = paired_difference(cand_rows, base_rows, "accuracy", BootstrapPlan(1000, 0, 0.95))
    se_true = np.sqrt((a + b - (a - b) ** 2) / n)  # sd of a {-1, 0, +1} difference per row
    assert sample_size.standard_error(found["ci"], 0.95) == pytest.approx(se_true, rel=0.12)


@pytest.mark.slow
def test_rows_needed_gives_the_promised_power_in_simulation():
    """`accuracy >= baseline + 0.03` with a true difference of 0.06 (0.03 beyond the margin):
    at the rows `resolution` names for 0.03 the limit passes about 4 times in 5; at a fifth of
    them far less often."""
    a, b, margin = 0.13, 0.07, 0.03
    var = a + b - (a - b) ** 2
    n0 = 300
    half = 1.959964 * np.sqrt(var / n0)
    res = sample_size.resolution(n0, (0.06 - half, 0.06 + half), 0.95, margin=margin, measured=0.06)
    assert res.too_small and 1600 < res.rows_needed < 1850  # 7.849 * 0.1964 / 0.0009 = 1713
    rng = np.random.default_rng(2026)
    plan = BootstrapPlan(200, 0, 0.95)

    def pass_rate(n, reps):
        passes = 0
        for _ in range(reps):
            cand_rows, base_rows = paired_rows(rng, n, a, b)
            passes += paired_difference(cand_rows, base_rows, "accuracy", plan)["ci"][0] >= margin
        return passes / reps

    assert 0.68 <= pass_rate(res.rows_needed, 150) <= 0.92
    assert pass_rate(res.rows_needed // 5, 60) < 0.45


def test_a_quality_limit_line_says_what_was_judged_and_whether_the_split_can_show_it():
    c = cand("forest", 5.0, acc=0.955, acc_ci=(0.92, 0.98))
    c["quality"].update(rows={"test": 143}, delta_vs_best_baseline={
        "baseline": "logistic", "metric": "accuracy", "delta": -0.003, "ci": [-0.03, 0.02]})
    results = {"candidates": [c], "baselines": [{"name": "logistic", "quality": {"test": {"accuracy": 0.958}}}],
               "quality": {"bootstrap": {"confidence": 0.95}}}
    v = verdict.judge(results, ["accuracy >= baseline + 0.01"])
    line = v["candidates"][0]["blocking"][0]
    assert line == ("accuracy >= baseline + 0.01: needs 0.968 (logistic 0.958 + 0.01); judged at 0.928, "
                    "the lower end of the 95% paired interval vs logistic (measured 0.955): missed by 0.04. "
                    "The 143-row test split is too small: it shows only differences of 0.03574 or more "
                    "beyond the margin; about 1,827 rows would resolve 0.01")
    assert "the test split is too small to show the margin (about 1,827 rows needed, 143 used)" in v["sentence"]


def test_an_inconclusive_baseline_limit_shows_where_the_paired_interval_puts_the_candidate():
    c = cand("forest", 5.0, acc=0.955, acc_ci=(0.92, 0.98))
    c["quality"].update(rows={"test": 143}, delta_vs_best_baseline={
        "baseline": "logistic", "metric": "accuracy", "delta": -0.003, "ci": [-0.03, 0.02]})
    results = {"candidates": [c], "baselines": [{"name": "logistic", "quality": {"test": {"accuracy": 0.958}}}]}
    check = LimitResult("accuracy >= baseline + 0.01", "accuracy", "fail", "inconclusive", 0.955, 0.928,
                        0.968, -0.04, "")
    v = verdict.decide(results, {"forest": [check]}, verdict.parse_objective(None))
    # 0.958 - 0.03 = 0.928 and 0.958 + 0.02 = 0.978: the candidate's own interval would say 0.92–0.98
    assert v["candidates"][0]["blocking"] == [
        "accuracy >= baseline + 0.01: accuracy 0.928–0.978 straddles the 0.968 limit: inconclusive "
        "(a larger test split would decide it)"]
    assert v["exit_code"] == INCONCLUSIVE
