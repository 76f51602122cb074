"""`bench compare`, `bench report` and `bench run` exit codes on real runs made here.

Two real runs of the same candidate name: one a fast threshold rule, one the same rule with
3 ms of busy work per call (a regression made on purpose, tests/slow_models.py). The
trial-level judgement is checked on simulated trial sets with a known truth in
tests/test_compare_trials.py.
"""

import json

import pytest
from click.testing import CliRunner
from conftest import write_suite

from benchharness.cli import main

SUITE = """
name: {name}
data: {{source: sklearn:breast_cancer}}
candidates:
  - {{name: model, model: 'slow_models:{model}'}}
realtime: {{duration_s: 0.3, warmup_count: 5, warmup_s: 0}}
batch: {{batch_sizes: [8], duration_s: 0.1}}
limits: {limits}
plan: {{integration: batch}}
"""


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("runs")
    fast = write_suite(tmp, SUITE.format(name="fast", model="fast",
                                         limits="{fail: [p99_ms <= 100], warn: [p99_ms <= 0.000001]}"), "fast.yaml")
    slow = write_suite(tmp, SUITE.format(name="slow", model="slowed", limits="[p99_ms <= 1]"), "slow.yaml")
    res_fast = cli("run", fast, "--out", tmp / "fast", "--strict")
    res_slow = cli("run", slow, "--out", tmp / "slow")
    return {"fast": (res_fast, next((tmp / "fast").iterdir())), "slow": (res_slow, next((tmp / "slow").iterdir())),
            "tmp": tmp}


def test_strict_turns_a_missed_warning_into_exit_1(runs):
    res, run_dir = runs["fast"]
    assert res.exit_code == 1, res.output
    assert "QUALIFIES" in res.output and "warning" in res.output
    # the rule 'fast' predicts badly: the automatic baseline is named as the better option
    assert "The baseline logistic is better than every candidate on accuracy" in res.output
    assert "If a candidate must ship, take model: it meets its hard limit" in res.output
    assert (run_dir / "report.html").is_file() and (run_dir / "report.md").is_file()


def test_none_qualifies_exits_1_and_says_what_blocks(runs):
    res, run_dir = runs["slow"]
    assert res.exit_code == 1, res.output
    assert "No candidate qualifies.\nWhat to change, closest first:\n  model: p99_ms " in res.output
    results = json.loads((run_dir / "results.json").read_text())
    assert results["verdict"]["exit_code"] == 1 and results["plan"]["integration"] == "batch"
    limit = results["candidates"][0]["limits"][0]
    assert limit["status"] == "fail" and limit["value"] >= 3.0 and limit["margin"] == pytest.approx(1 - limit["value"])


def test_bad_limit_is_a_suite_error_exit_2(tmp_path):
    suite = write_suite(tmp_path, SUITE.format(name="bad", model="fast", limits="[p99 <= 5]"))
    res = CliRunner().invoke(main, ["run", str(suite), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2
    assert "limit 'p99 <= 5': unknown name 'p99'" in res.output and "allowed" in res.output
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_compare_of_real_runs(runs):
    """The slowed model is 3 ms per call slower. Runs that keep trials judge it on them (a
    regression); runs without trials show the change as untested, never a regression."""
    from benchharness.decide import figures as names

    fast, slow = runs["fast"][1], runs["slow"][1]
    res = cli("compare", fast, slow, "--json", runs["tmp"] / "cmp.json")
    doc = json.loads((runs["tmp"] / "cmp.json").read_text())
    rows = {r["figure"]: r for r in doc["comparisons"][0]["rows"]}
    assert rows["p50_ms"]["after"] > 2.5 > rows["p50_ms"]["before"]  # 3 ms of busy work per call
    assert rows["accuracy"]["result"] == "equivalent"  # same predictions on the same rows
    cand = json.loads((slow / "results.json").read_text())["candidates"][0]
    has_trials = len(names.trial_values(cand, "p50_ms")) >= 4
    assert rows["p50_ms"]["result"] == ("regression" if has_trials else "untested")
    assert res.exit_code == (1 if has_trials else 0), res.output
    assert "verdict: model: qualifies -> blocked" in res.output and max(map(len, res.output.splitlines())) <= 100
    same = cli("compare", fast, fast)
    # a run against itself: never a regression; across runs both runs' drift is added, so a
    # tail can stay inconclusive (exit 4) rather than be called equivalent
    assert same.exit_code in (0, 4) and "0 regression(s)" in same.output
    if same.exit_code == 4:
        assert "inconclusive" in same.output


def test_report_remakes_and_rejudges_from_the_run_dir(runs):
    run_dir = runs["slow"][1]
    (run_dir / "report.html").unlink()
    res = cli("report", run_dir)
    assert res.exit_code == 0 and (run_dir / "report.html").is_file()
    assert "No candidate qualifies" in res.output
    relaxed = write_suite(runs["tmp"], SUITE.format(name="slow", model="slowed", limits="[p99_ms <= 1000]"), "relaxed.yaml")
    res = cli("report", run_dir, "--suite", relaxed)
    assert res.exit_code == 0 and "take model: it meets its hard limit" in res.output
    assert "take model" in (run_dir / "report.md").read_text()
    assert cli("report", runs["tmp"]).exit_code == 2  # not a run dir

