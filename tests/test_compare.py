"""`bench compare`, `bench report` and `bench run` exit codes on real runs made here.

Two real runs of the same candidate name: one a fast threshold rule, one the same rule with
3 ms of busy work per call (a regression made on purpose, tests/slow_models.py). The
Mann-Whitney path is also checked on run dirs whose raw samples come from known
distributions (tests/sample_run.py).
"""

import json

import pytest
from click.testing import CliRunner
from conftest import write_suite
from sample_run import sample_results, write_run

from benchharness.cli import main
from benchharness.decide.compare import compare_runs

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
    assert "QUALIFIES" in res.output and "warning" in res.output and "Ship model" in res.output
    assert (run_dir / "report.html").is_file() and (run_dir / "report.md").is_file()


def test_none_qualifies_exits_1_and_says_what_blocks(runs):
    res, run_dir = runs["slow"]
    assert res.exit_code == 1, res.output
    assert "No candidate qualifies: model — p99_ms <= 1: measured " in res.output
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


def test_compare_flags_the_slowed_model(runs):
    fast, slow = runs["fast"][1], runs["slow"][1]
    res = cli("compare", fast, slow, "--json", runs["tmp"] / "cmp.json")
    assert res.exit_code == 1, res.output
    doc = json.loads((runs["tmp"] / "cmp.json").read_text())
    rows = {r["figure"]: r for r in doc["comparisons"][0]["rows"]}
    assert rows["p50_ms"]["regression"] and rows["p50_ms"]["after"] > 2.5  # 3 ms of busy work per call
    assert rows["rows_per_s"]["regression"]
    assert not rows["accuracy"]["regression"]  # same predictions
    assert "REGRESSION" in res.output
    same = cli("compare", fast, fast)
    assert same.exit_code == 0 and "0 regression(s)" in same.output


def test_report_remakes_and_rejudges_from_the_run_dir(runs):
    run_dir = runs["slow"][1]
    (run_dir / "report.html").unlink()
    res = cli("report", run_dir)
    assert res.exit_code == 0 and (run_dir / "report.html").is_file()
    assert "No candidate qualifies" in res.output
    relaxed = write_suite(runs["tmp"], SUITE.format(name="slow", model="slowed", limits="[p99_ms <= 1000]"), "relaxed.yaml")
    res = cli("report", run_dir, "--suite", relaxed)
    assert res.exit_code == 0 and "Ship model" in res.output
    assert "Ship model" in (run_dir / "report.md").read_text()
    assert cli("report", runs["tmp"]).exit_code == 2  # not a run dir


def test_mann_whitney_on_raw_samples(tmp_path):
    ref = write_run(tmp_path / "a", sample_results(), seed=1)
    same = write_run(tmp_path / "b", sample_results(), seed=2)  # same distributions, new draws
    slower = write_run(tmp_path / "c", sample_results(), seed=3, slow={"forest": 1.3})
    doc = compare_runs([ref, same, slower], threshold=0.10, alpha=0.01)
    by = [{(r["candidate"], r["figure"]): r for r in comp["rows"]} for comp in doc["comparisons"]]
    # summaries in results.json are identical, so the change is 0: no regression whatever the test says
    assert by[0][("forest", "p50_ms")]["test"].startswith("Mann-Whitney U, n=2000/2000")
    assert by[0][("forest", "p50_ms")]["p_value"] > 0.01 and by[0][("forest", "p50_ms")]["significant"] is False
    assert by[1][("forest", "p50_ms")]["significant"] is True and by[1][("forest", "p50_ms")]["p_value"] < 1e-6
    assert by[1][("logreg", "p50_ms")]["significant"] is False
    assert by[0][("forest", "accuracy")]["test"].startswith("intervals")


def test_significance_gates_the_regression(tmp_path):
    ref = write_run(tmp_path / "a", sample_results(), seed=1)
    noisy = write_run(tmp_path / "b", sample_results(), seed=2)  # raw samples: the same distribution ...
    later = json.loads((noisy / "results.json").read_text())
    later["candidates"][0]["realtime"]["closed_loop"]["p50_ms"] *= 1.5  # ... but the summary says 50% worse
    (noisy / "results.json").write_text(json.dumps(later))
    rows = {(r["candidate"], r["figure"]): r for r in compare_runs([ref, noisy])["comparisons"][0]["rows"]}
    r = rows[("forest", "p50_ms")]
    assert r["worse"] and r["change"] == pytest.approx(0.5) and r["significant"] is False and not r["regression"]


def test_batch_throughput_tested_on_per_call_latencies(tmp_path):
    import numpy as np

    def with_batch_samples(run_dir, per_call_ms, seed):
        results = json.loads((run_dir / "results.json").read_text())
        cand = results["candidates"][1]  # logreg
        best = max(cand["batch"], key=lambda b: b["rows_per_s"])
        cand["batch"] = [{"batch_size": 1, "rows_per_s": 10.0}, best]  # the best size stays the best
        best.update(samples_file="samples/logreg/batch.npz", samples_key=f"b{best['batch_size']}_latency_ns")
        rng = np.random.default_rng(seed)
        arrays = {best["samples_key"]: (rng.normal(per_call_ms, 0.05, 500) * 1e6).astype(np.int64),
                  "b1_latency_ns": np.ones(10, dtype=np.int64)}  # another size: must not be the one read
        np.savez(run_dir / best["samples_file"], **arrays)
        best["rows_per_s"] = best["batch_size"] / (per_call_ms / 1e3)
        (run_dir / "results.json").write_text(json.dumps(results))
        return run_dir

    a = with_batch_samples(write_run(tmp_path / "a", seed=1), 1.0, 1)
    b = with_batch_samples(write_run(tmp_path / "b", seed=2), 1.5, 2)
    rows = {(r["candidate"], r["figure"]): r for r in compare_runs([a, b])["comparisons"][0]["rows"]}
    r = rows[("logreg", "rows_per_s")]
    assert r["test"] == "Mann-Whitney U, n=500/500" and r["significant"] and r["regression"]
    assert r["change"] == pytest.approx(1 / 1.5 - 1)


def test_a_quick_run_or_other_data_is_called_out(tmp_path):
    from benchharness.decide.compare import compare_text

    ref = write_run(tmp_path / "a", sample_results(), seed=1)
    same = write_run(tmp_path / "b", sample_results(), seed=2)
    full = sample_results()
    full["suite"]["quick"] = False
    full["data"].setdefault("split", {})["split_sha256"] = "f" * 64
    other = write_run(tmp_path / "c", full, seed=2)
    doc = compare_runs([ref, same, other])
    assert doc["comparisons"][0]["setup_changes"] == []
    changes = doc["comparisons"][1]["setup_changes"]
    assert changes[0].startswith("--quick: True -> False") and changes[1].startswith("data split: ")
    assert "setup changed: --quick: True -> False" in compare_text(doc)


def _with_closed_loop(run_dir, name, lat_ms):
    """Replace one candidate's raw closed-loop samples and its summary with these latencies."""
    import numpy as np

    from benchharness.measure.stats import summarize_ns

    results = json.loads((run_dir / "results.json").read_text())
    cand = next(c for c in results["candidates"] if c["name"] == name)
    ns = np.round(lat_ms * 1e6).astype(np.int64)
    summary = summarize_ns(ns)
    cl = cand["realtime"]["closed_loop"]
    cl.update({k: summary[k] for k in ("count", "mean_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "p999_ms")})
    np.savez_compressed(run_dir / cl["samples_file"], latency_ns=ns)
    (run_dir / "results.json").write_text(json.dumps(results))
    return run_dir


def test_a_tail_only_regression_is_flagged_on_the_tail_not_the_centre(tmp_path):
    """Same distribution, but the slowest 2% of the second run's requests take 5x as long:
    the truth is an unchanged median and p90/p95, a p99 and p99.9 five times worse."""
    import numpy as np
    from scipy.stats import mannwhitneyu

    from benchharness.decide.compare import compare_text

    base_a = np.random.default_rng(11).lognormal(np.log(1.0), 0.3, 2000)
    base_b = np.random.default_rng(12).lognormal(np.log(1.0), 0.3, 2000)
    tail_b = np.where(base_b > np.quantile(base_b, 0.98), base_b * 5, base_b)
    a = _with_closed_loop(write_run(tmp_path / "a", seed=1), "forest", base_a)
    b = _with_closed_loop(write_run(tmp_path / "b", seed=2), "forest", tail_b)
    doc = compare_runs([a, b], threshold=0.10, alpha=0.01)
    rows = {r["figure"]: r for r in doc["comparisons"][0]["rows"] if r["candidate"] == "forest"}
    for figure in ("p99_ms", "p999_ms"):
        assert rows[figure]["method"] == "bootstrap-percentile", rows[figure]
        assert rows[figure]["significant"] and rows[figure]["regression"] and rows[figure]["interval"][0] > 0
    for figure in ("p90_ms", "p95_ms"):
        assert rows[figure]["method"] == "bootstrap-percentile" and rows[figure]["significant"] is False
    assert rows["p50_ms"]["method"] == "mann-whitney" and rows["p50_ms"]["significant"] is False
    assert rows["mean_ms"]["method"] == "mann-whitney" and rows["accuracy"]["method"] == "intervals"
    # the old judgement (one Mann-Whitney for every figure) misses this regression
    assert mannwhitneyu(base_a, tail_b).pvalue > 0.01
    assert "bootstrap p99 difference +" in compare_text(doc) and doc["exit_code"] == 1


def test_tail_bootstrap_false_alarms_stay_near_alpha():
    """Identical distributions, new draws each time: the 95% interval should exclude zero in
    about 5% of repetitions; allow up to 10 of 100 per percentile."""
    import numpy as np

    from benchharness.measure.stats import bootstrap_percentile_difference

    rng = np.random.default_rng(2026)
    alarms = {90: 0, 99: 0}
    for rep in range(100):
        a, b = rng.lognormal(0, 0.5, 500), rng.lognormal(0, 0.5, 500)
        found = bootstrap_percentile_difference(a, b, (90, 99), confidence=0.95, resamples=1000, seed=rep)
        for q, (_, lo, hi) in found.items():
            alarms[q] += not lo <= 0 <= hi
    assert alarms[90] <= 10 and alarms[99] <= 10, alarms


def test_bootstrap_difference_uses_nearest_rank_and_is_seeded():
    import numpy as np

    from benchharness.measure.stats import bootstrap_percentile_difference

    before = np.arange(1.0, 101.0)  # nearest rank: p90 = 90th value = 90, p99 = 99
    found = bootstrap_percentile_difference(before, before * 2, (90, 99))
    assert found[90][0] == 90.0 and found[99][0] == 99.0
    assert found[90][1] <= 90.0 <= found[90][2]
    assert found == bootstrap_percentile_difference(before, before * 2, (90, 99))  # same seed, same verdict
    assert bootstrap_percentile_difference(np.ones(50), np.full(50, 3.0), (99,)) == {99: (2.0, 2.0, 2.0)}
    capped = bootstrap_percentile_difference(before, before * 2, (90,), max_samples=20)[90]
    assert capped[0] == 90.0 and capped[2] - capped[1] > found[90][2] - found[90][1]  # fewer per resample: wider
