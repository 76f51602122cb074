"""`bench compare` at the trial level, on simulated trial sets with a known truth.

Every measured section gets `trials` (one dict per independent trial, as the measuring
stages write them) drawn around the section's point value with a between-trial spread
(lognormal, coefficient of variation about `cv`); a planted slowdown multiplies one
candidate's times (and divides its throughputs) by a known factor.
"""

import math

import numpy as np
import pytest
from sample_run import sample_results, write_run

from benchharness.decide.compare import (
    compare_results,
    compare_runs,
    compare_text,
    ratio_interval,
    trials_can_show,
)

LOWER = ("mean_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "p999_ms")


def _trials(section: dict, keys: dict[str, str], rng, n: int, cv: float, factor: float) -> None:
    """keys: {key: 'lower'|'higher'}; point values become the trial medians."""
    trials = [{"count": 1000, "duration_s": 1.0} for _ in range(n)]
    for key, better in keys.items():
        truth = section[key] * (factor if better == "lower" else 1 / factor)
        values = truth * rng.lognormal(0, cv, n)
        for t, v in zip(trials, values, strict=True):
            t[key] = float(v)
        section[key] = float(np.median(values))
        section.setdefault("intervals", {})[key] = [float(values.min()), float(values.max())]
    section["trials"] = trials


def with_trials(results: dict, seed: int, n: int = 5, cv: float = 0.1, slow: dict | None = None) -> dict:
    rng = np.random.default_rng(seed)
    for c in results["candidates"]:
        if c["status"] != "ok":
            continue
        factor = (slow or {}).get(c["name"], 1.0)
        _trials(c["realtime"]["closed_loop"], {**dict.fromkeys(LOWER, "lower"), "qps": "higher"}, rng, n, cv, factor)
        for entry in c["batch"]:
            _trials(entry, {"rows_per_s": "higher"}, rng, n, cv, factor)
        _trials(c["resources"], {"cpu_ms_per_prediction": "lower"}, rng, n, cv, factor)
        _trials(c["cost"]["batch"], {"usd_per_1m": "lower"}, rng, n, cv, factor)
        _trials(c["cost"]["realtime"], {"usd_per_1m": "lower"}, rng, n, cv, factor)
    return results


def regressions(doc):
    return [(r["candidate"], r["figure"]) for comp in doc["comparisons"] for r in comp["rows"] if r["regression"]]


def test_testable_and_the_ratio_interval_by_hand():
    # C(6,3) = 20 < 2/0.05 = 40; C(8,4) = 70; C(8,3) = 56; C(10,5) = 252 >= 200; C(8,4) = 70 < 200
    assert not trials_can_show(3, 3, 0.05) and trials_can_show(4, 4, 0.05) and trials_can_show(3, 5, 0.05)
    assert trials_can_show(5, 5, 0.01) and not trials_can_show(4, 4, 0.01) and not trials_can_show(1, 30, 0.05)
    assert ratio_interval([1.0] * 4, [2.0] * 4, 0.95) == (2.0, 2.0, 2.0)
    point, lo, hi = ratio_interval([1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 6.0, 8.0], 0.95)
    assert point == 2.0 and lo == pytest.approx(1 / 1.0 * 1.0, abs=1.0) and lo < 2.0 < hi
    assert hi <= 8.0 / 1.0 and lo >= 2.0 / 4.0  # medians of resamples stay within the trials' range
    assert ratio_interval([1.0, 2.0, 3.0], [2.0, 3.0, 4.0], 0.95, seed=3) == \
        ratio_interval([1.0, 2.0, 3.0], [2.0, 3.0, 4.0], 0.95, seed=3)


@pytest.mark.slow
def test_identical_runs_give_no_regressions_across_many_seeds():
    """A/A: both runs drawn from the same distributions, 120 pairs of runs, 30 tested figures
    each. alpha (0.05) is per figure and the interval two-sided, so a figure's false-alarm rate
    must stay below alpha / 2; at 10% spread between trials nearly every pair of identical runs
    compares clean; with threshold 0 (any worsening counts) the per-figure rate stays near
    alpha / 2, as a calibrated interval's should."""
    for cv, most_pairs_flagged in ((0.1, 0.02), (0.3, 0.2)):
        tested = alarms = alarms_any = pairs_flagged = 0
        for seed in range(120):
            a = with_trials(sample_results(), seed=2 * seed, cv=cv)
            b = with_trials(sample_results(), seed=2 * seed + 1, cv=cv)
            doc = compare_results(a, [b])
            rows = doc["comparisons"][0]["rows"]
            tested += sum(r["result"] != "untested" and r["figure"] != "accuracy" for r in rows)
            alarms += doc["regressions"]
            pairs_flagged += doc["regressions"] > 0
            if cv == 0.1:
                alarms_any += compare_results(a, [b], threshold=0.0)["regressions"]
        assert tested == 120 * 30
        assert alarms / tested <= 0.025 / 4, (cv, alarms / tested)
        assert pairs_flagged / 120 <= most_pairs_flagged, (cv, pairs_flagged)
        if cv == 0.1:
            assert 0.005 <= alarms_any / tested <= 0.035, alarms_any / tested


def test_a_planted_slowdown_is_found_on_that_candidate_only():
    found = {}
    for seed in range(40):
        a = with_trials(sample_results(), seed=2 * seed)
        b = with_trials(sample_results(), seed=2 * seed + 1, slow={"forest": 1.5})
        regs = regressions(compare_results(a, [b]))
        assert all(cand == "forest" for cand, _ in regs), regs
        for key in regs:
            found[key[1]] = found.get(key[1], 0) + 1
    # every figure the slowdown touches, found in nearly every repetition (cv 10%, 5 + 5 trials)
    for figure in (*LOWER, "qps", "rows_per_s", "cpu_ms_per_prediction", "usd_per_million"):
        assert found.get(figure, 0) >= 36, (figure, found)


def test_the_summary_comes_first_and_the_table_fits_100_columns():
    a = with_trials(sample_results(), seed=1)
    b = with_trials(sample_results(), seed=2, slow={"forest": 1.5})
    a["verdict"] = {"recommended": "forest", "exit_code": 0, "candidates": [{"name": "forest", "status": "qualifies"}]}
    b["verdict"] = {"recommended": "logreg", "exit_code": 0, "candidates": [{"name": "forest", "status": "blocked"}]}
    doc = compare_results(a, [b])
    text = compare_text(doc)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 100, max(lines, key=len)
    first_table = lines.index(next(line for line in lines if line.lstrip().startswith("candidate")))
    summary = "\n".join(lines[:first_table])
    assert "regressions; verdict changed" in summary
    assert "verdict: recommended: forest -> logreg" in summary and "verdict: forest: qualifies -> blocked" in summary
    assert "REGRESSION forest (" in summary and "p99_ms +" in summary
    row = next(r for r in doc["comparisons"][0]["rows"] if (r["candidate"], r["figure"]) == ("forest", "p99_ms"))
    assert row["interval"][0] > 0.10 and math.isclose(row["change"] + 1, row["after"] / row["before"], rel_tol=1e-9)


def test_runs_without_trials_are_untested_never_regressions(tmp_path):
    """Results from before trials were kept: summaries differ by 50%, nothing is claimed."""
    old = sample_results()
    worse = sample_results()
    worse["candidates"][0]["realtime"]["closed_loop"]["p99_ms"] *= 1.5
    doc = compare_results(old, [worse])
    row = next(r for r in doc["comparisons"][0]["rows"] if (r["candidate"], r["figure"]) == ("forest", "p99_ms"))
    assert row["result"] == "untested" and row["test"] == "no trials in either run" and not row["regression"]
    assert row["change"] == pytest.approx(0.5) and doc["exit_code"] == 3  # hand-made: no verdict
    assert "untested: no trials in either run" in compare_text(doc)
    assert "NOT COMPARABLE" in compare_text(doc) and "has no verdict" in compare_text(doc)
    # one run with trials, the other without; and too few trials to test anything
    doc = compare_results(old, [with_trials(sample_results(), seed=1)])
    assert {r["test"] for r in doc["comparisons"][0]["rows"] if r["figure"] == "p99_ms"} == {
        "no trials in the reference run"}
    few = compare_results(with_trials(sample_results(), 1, n=3), [with_trials(sample_results(), 2, n=3, slow={"forest": 2})])
    assert few["regressions"] == 0
    assert "3 + 3 trials cannot show a change at alpha 0.05" in compare_text(few)
    # from run folders on disk, as the CLI reads them
    a, b = write_run(tmp_path / "a", sample_results()), write_run(tmp_path / "b", worse)
    assert compare_runs([a, b])["regressions"] == 0


def test_a_quick_run_or_other_data_is_called_out():
    ref, same, full = sample_results(), sample_results(), sample_results()
    full["suite"]["quick"] = False
    full["data"].setdefault("split", {})["split_sha256"] = "f" * 64
    doc = compare_results(ref, [same, full])
    assert doc["comparisons"][0]["setup_changes"] == []
    changes = doc["comparisons"][1]["setup_changes"]
    assert changes[0].startswith("--quick: True -> False") and changes[1].startswith("data split: ")
    assert "setup changed: --quick: True -> False" in compare_text(doc)


def test_interval_and_trial_values_read_each_measured_section():
    from benchharness.decide import figures

    res = with_trials(sample_results(), seed=5, n=4)
    forest = res["candidates"][0]
    cl = forest["realtime"]["closed_loop"]
    assert figures.interval(forest, "p99_ms") == tuple(cl["intervals"]["p99_ms"])
    assert figures.trial_values(forest, "p99_ms") == [t["p99_ms"] for t in cl["trials"]]
    best = max(forest["batch"], key=lambda b: b["rows_per_s"])  # rows_per_s: the best batch size's trials
    assert figures.trial_values(forest, "rows_per_s") == [t["rows_per_s"] for t in best["trials"]]
    assert figures.interval(forest, "usd_per_million") == tuple(forest["cost"]["batch"]["intervals"]["usd_per_1m"])
    # the suite's plan says integration: realtime, so with the run the name is the real-time cost
    assert figures.interval(forest, "usd_per_million", res) == tuple(forest["cost"]["realtime"]["intervals"]["usd_per_1m"])
    assert figures.interval(forest, "accuracy") == (0.94, 0.985)  # quality: its bootstrap interval
    assert figures.interval(forest, "primary", res) == (0.94, 0.985)
    cl["intervals"]["p99_ms"] = [50.0, None]  # an open upper end stays open
    assert figures.interval(forest, "p99_ms") == (50.0, None)
    plain = sample_results()["candidates"][0]
    assert figures.interval(plain, "p99_ms") is None and figures.trial_values(plain, "p99_ms") is None
    assert figures.read_interval([0.1, 0.2]) == (0.1, 0.2)  # a stored interval, read
