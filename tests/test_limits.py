"""Limit expressions: parsing each kind, rejecting bad ones, judging with value and margin.

The candidate sections are written by hand in the layout results.json uses (see
docs/architecture.md), so every expected number here is computed by hand.
"""

import pytest

from benchharness.decide import limits
from benchharness.errors import SuiteError


def cand(**sections):
    return {"name": "c", "role": "candidate", "status": "ok", **sections}


RESULTS_BASE = {
    "candidates": [
        {"name": "prod", "role": "baseline", "status": "ok",
         "quality": {"primary_metric": "accuracy", "test": {"accuracy": 0.85, "rmse": 3.0}},
         "realtime": {"closed_loop": {"p99_ms": 4.0}}},
    ],
    "baselines": [
        {"name": "most_frequent", "quality": {"test": {"accuracy": 0.60, "rmse": 9.0}}},
        {"name": "logistic", "quality": {"test": {"accuracy": 0.88, "rmse": 2.5}}},
    ],
}


@pytest.mark.parametrize("text,metric,op,number,baseline,arith", [
    ("p99_ms <= 20", "p99_ms", "<=", 20.0, None, None),
    ("p99_ms<=20", "p99_ms", "<=", 20.0, None, None),
    ("usd_per_million <= 1.5", "usd_per_million", "<=", 1.5, None, None),
    ("rss_peak_mb < 500", "rss_peak_mb", "<", 500.0, None, None),
    ("rows_per_s >= 1e5", "rows_per_s", ">=", 1e5, None, None),
    ("accuracy >= baseline + 0.02", "accuracy", ">=", 0.02, "best", "+"),
    ("accuracy >= baseline+0.02", "accuracy", ">=", 0.02, "best", "+"),
    ("accuracy >= baseline * 1.01", "accuracy", ">=", 1.01, "best", "*"),
    ("rmse <= baseline[prod] - 0.5", "rmse", "<=", 0.5, "prod", "-"),
    ("accuracy > baseline", "accuracy", ">", None, "best", None),
    ("accuracy >= baseline(prod) * 1.02", "accuracy", ">=", 1.02, "prod", "*"),
    ("train_accuracy >= 0.9", "train_accuracy", ">=", 0.9, None, None),
    ("realtime.closed_loop.max_ms <= 100", "realtime.closed_loop.max_ms", "<=", 100.0, None, None),
])
def test_parse_each_kind(text, metric, op, number, baseline, arith):
    lim = limits.parse_limit(text)
    assert (lim.metric, lim.op, lim.number, lim.baseline, lim.arith) == (metric, op, number, baseline, arith)


@pytest.mark.parametrize("text,fragment", [
    ("p99 <= 20", "unknown name 'p99'"),
    ("p99_ms == 20", "cannot read"),
    ("p99_ms <= twenty", "must be a number or 'baseline'"),
    ("accuracy >= baseline / 2", "cannot read"),
    ("accuracy >= baseline + x", "after 'baseline'"),
    ("accuracy >= baseline[prod) + 1", "named baseline"),
    ("__import__('os').system('x') <= 1", "cannot read"),
    ("p99_ms", "expected NAME"),
    ("", "non-empty"),
])
def test_bad_expression_shows_it_and_what_is_allowed(text, fragment):
    with pytest.raises(SuiteError) as exc:
        limits.parse_limit(text)
    msg = str(exc.value)
    assert fragment in msg
    assert repr(text) in msg and "allowed" in msg and "p99_ms" in msg


@pytest.mark.parametrize("text", ["f1_weighted >= 0.9", "mse <= 3", "roc_auc_ovr >= 0.8"])
def test_a_limit_on_a_figure_nothing_computes_is_a_suite_error(text):
    # such a limit used to be accepted and then blocked every candidate as "unknown"
    with pytest.raises(SuiteError, match="nothing computes it"):
        limits.parse_limit(text)


def test_every_quality_name_a_limit_accepts_is_one_the_quality_stage_computes():
    from benchharness.decide import figures
    from benchharness.quality.metrics import METRICS

    assert set(figures.QUALITY_METRICS) == set(METRICS)
    for name, metric in METRICS.items():
        assert figures.better(name) == ("higher" if metric.higher_is_better else "lower")
        assert limits.parse_limit(f"{name} >= 0.5").metric == name


def test_a_misspelt_figure_gets_the_closest_name():
    with pytest.raises(SuiteError, match=r"did you mean p99_ms\?"):
        limits.parse_limit("p99ms <= 5")


def test_spec_forms_and_severity():
    assert [lim.severity for lim in limits.parse_spec(["p99_ms <= 1", "accuracy >= 0.5"])] == ["fail", "fail"]
    parsed = limits.parse_spec({"fail": ["p99_ms <= 1"], "warn": ["p50_ms <= 0.5"]})
    assert [(lim.metric, lim.severity) for lim in parsed] == [("p99_ms", "fail"), ("p50_ms", "warn")]
    with pytest.raises(SuiteError, match="allowed: fail, warn"):
        limits.parse_spec({"hard": ["p99_ms <= 1"]})
    with pytest.raises(SuiteError, match="limits.warn"):
        limits.parse_spec({"warn": "p99_ms <= 1"})


def test_candidate_limits_override_the_suite_on_the_same_figure():
    merged = limits.limits_for(["p99_ms <= 10", "accuracy >= 0.9"], ["p99_ms <= 50"])
    assert sorted(lim.text for lim in merged) == ["accuracy >= 0.9", "p99_ms <= 50"]


def test_absolute_limits_pass_and_fail_with_margin():
    c = cand(realtime={"closed_loop": {"p99_ms": 12.5}}, cost={"batch": {"usd_per_1m": 2.0}})
    ok = limits.evaluate(limits.parse_limit("p99_ms <= 20"), c, {})
    assert ok.status == "pass" and ok.value == 12.5 and ok.margin == pytest.approx(7.5) and ok.unit == "ms"
    bad = limits.evaluate(limits.parse_limit("usd_per_million <= 1.5"), c, {})
    assert bad.status == "fail" and bad.margin == pytest.approx(-0.5)
    warn = limits.evaluate(limits.parse_limit("usd_per_million <= 1.5", "warn"), c, {})
    assert warn.status == "warn"
    # strict comparison: equal is not below
    assert limits.evaluate(limits.parse_limit("p99_ms < 12.5"), c, {}).status == "fail"
    assert limits.evaluate(limits.parse_limit("p99_ms <= 12.5"), c, {}).status == "pass"


def test_missing_measurement_is_unknown_not_a_crash():
    r = limits.evaluate(limits.parse_limit("rss_peak_mb < 500"), cand(), {})
    assert r.status == "unknown" and r.value is None and "not measured" in r.note
    r = limits.evaluate(limits.parse_limit("accuracy >= baseline + 0.01"), cand(quality={"test": {"accuracy": 0.9}}), {})
    assert r.status == "unknown" and "no baseline" in r.note


def test_baseline_margin_judged_on_lower_end_of_candidate_interval():
    # best baseline on accuracy is logistic (0.88); threshold 0.88 + 0.02 = 0.90
    c = cand(quality={"test": {"accuracy": 0.93}, "ci": {"accuracy": [0.895, 0.96]}})
    r = limits.evaluate(limits.parse_limit("accuracy >= baseline + 0.02"), c, RESULTS_BASE)
    assert r.threshold == pytest.approx(0.90)
    assert r.judged == pytest.approx(0.895) and r.value == 0.93
    assert r.status == "fail" and r.margin == pytest.approx(-0.005)
    assert "logistic" in r.note
    # relative: 0.88 * 1.01 = 0.8888 < 0.895 -> pass
    r = limits.evaluate(limits.parse_limit("accuracy >= baseline * 1.01"), c, RESULTS_BASE)
    assert r.status == "pass" and r.margin == pytest.approx(0.895 - 0.8888)


def test_paired_delta_interval_is_preferred_over_own_interval():
    c = cand(quality={"test": {"accuracy": 0.93}, "ci": {"accuracy": [0.80, 0.99]},
                      "delta_vs_best_baseline": {"baseline": "logistic", "metric": "accuracy", "delta": 0.05,
                                                 "ci": [0.03, 0.07]}})
    r = limits.evaluate(limits.parse_limit("accuracy >= baseline + 0.02"), c, RESULTS_BASE)
    assert r.judged == pytest.approx(0.88 + 0.03) and r.status == "pass" and "paired" in r.note


def test_lower_is_better_metric_uses_upper_end_and_named_baseline():
    c = cand(quality={"test": {"rmse": 2.6}, "ci": {"rmse": [2.2, 2.9]}})
    best = limits.evaluate(limits.parse_limit("rmse <= baseline"), c, RESULTS_BASE)
    assert best.threshold == 2.5 and best.judged == 2.9 and best.status == "fail"  # best rmse baseline is 2.5
    prod = limits.evaluate(limits.parse_limit("rmse <= baseline[prod] * 0.99"), c, RESULTS_BASE)
    assert prod.threshold == pytest.approx(2.97) and prod.status == "pass"
    missing = limits.evaluate(limits.parse_limit("rmse <= baseline[nope]"), c, RESULTS_BASE)
    assert missing.status == "unknown" and "'nope' not found" in missing.note


def test_latency_against_declared_baseline_point_value():
    c = cand(realtime={"closed_loop": {"p99_ms": 5.0}})
    r = limits.evaluate(limits.parse_limit("p99_ms <= baseline * 1.5"), c, RESULTS_BASE)
    assert r.threshold == pytest.approx(6.0) and r.status == "pass" and "point value" in r.note


def test_slices_drift_and_batch_figures():
    # layouts of the quality stage (subgroups/windows), the data stage (drift) and batch
    c = cand(quality={"primary_metric": "accuracy", "test": {"accuracy": 0.9},
                      "subgroups": {
                          "age": {"metric": "accuracy", "groups": [
                              {"group": "young", "value": 0.83, "gap": -0.07, "reliable": True},
                              {"group": "old", "value": 0.97, "gap": 0.07, "reliable": True},  # better: no risk
                              {"group": "tiny", "value": 0.5, "gap": -0.4, "reliable": False}]},  # too few rows
                          "sex": {"metric": "accuracy", "groups": [{"group": "f", "gap": -0.02, "reliable": True}]}},
                      "windows": {"metric": "accuracy", "windows": [{"gap": 0.01, "reliable": True},
                                                                    {"gap": -0.01, "reliable": True}]}},
             batch=[{"batch_size": 1, "rows_per_s": 900.0}, {"batch_size": 256, "rows_per_s": 50000.0}])
    results = {"data": {"distribution": {"comparisons": {
        "train_vs_test": {"share_drifted": 0.25, "columns": {"x": {"psi": 0.3}, "y": {"psi": 0.01}},
                          "label": {"psi": 0.9}},  # the label is not a feature: not in psi_max
        "train_vs_validation": {"share_drifted": 0.1}}}}}
    got = {t: limits.evaluate(limits.parse_limit(t), c, results)
           for t in ("subgroup_gap <= 0.05", "window_gap <= 0.05", "drift_share <= 0.5", "rows_per_s >= 10000",
                     "psi_max < 0.2")}
    assert got["subgroup_gap <= 0.05"].value == pytest.approx(0.07) and got["subgroup_gap <= 0.05"].status == "fail"
    assert got["window_gap <= 0.05"].value == pytest.approx(0.01) and got["window_gap <= 0.05"].status == "pass"
    assert got["drift_share <= 0.5"].value == 0.25 and got["drift_share <= 0.5"].status == "pass"  # worst pair
    assert got["rows_per_s >= 10000"].value == 50000.0 and got["rows_per_s >= 10000"].margin == 40000.0
    assert got["psi_max < 0.2"].value == 0.3 and got["psi_max < 0.2"].status == "fail"
    rmse = cand(quality={"primary_metric": "rmse", "test": {"rmse": 3.0},
                         "subgroups": {"g": {"metric": "rmse", "groups": [{"gap": 0.5, "reliable": True}]}}})
    assert limits.evaluate(limits.parse_limit("subgroup_gap <= 0.1"), rmse, {}).value == 0.5  # higher rmse is worse


def test_open_loop_resources_and_cost_figures():
    c = cand(realtime={"open_loop": {"max_sustainable_rate_per_s": 400.0, "rates": [
                {"target_rate_per_s": 200.0, "p99_ms": 2.0, "sustainable": True, "late_start_share": 0.0},
                {"target_rate_per_s": 400.0, "p99_ms": 4.0, "sustainable": True, "late_start_share": 0.002},
                {"target_rate_per_s": 800.0, "p99_ms": 90.0, "sustainable": False, "late_start_share": 0.03}]}},
             resources={"peak_rss_mb": 210.0, "footprint_mb": 40.0, "load_time_ms": 1500.0, "cpu_ms_per_prediction": 0.2,
                        "phases": {"batch": {"process_cpu_percent": 180.0, "gpu": {"process_memory_max_mb": 900.0}},
                                   "closed_loop": {"process_cpu_percent": 99.0, "gpu": {"memory_used_max_mb": 700.0}}}},
             cost={"batch": {"usd_per_1m": 0.05}, "realtime": {"usd_per_1m": 0.4, "monthly_usd": 120.0}})
    value = {n: limits.evaluate(limits.parse_limit(f"{n} <= 1e9"), c, {}).value
             for n in ("open_p99_ms", "late_share", "rss_peak_mb", "footprint_mb", "load_s", "usd_per_million",
                       "realtime_usd_per_million", "monthly_usd", "cpu_ms_per_prediction", "cpu_percent",
                       "gpu_mem_mb")}
    assert value == {"open_p99_ms": 4.0, "late_share": 0.03, "rss_peak_mb": 210.0, "footprint_mb": 40.0,
                     "load_s": 1.5, "usd_per_million": 0.05, "realtime_usd_per_million": 0.4,
                     "monthly_usd": 120.0, "cpu_ms_per_prediction": 0.2,
                     "cpu_percent": 99.0,  # one request at a time: the closed-loop phase
                     "gpu_mem_mb": 900.0}  # the largest over the phases
    assert limits.evaluate(limits.parse_limit("sustainable_rps >= 500"), c, {}).margin == -100.0


def _suite(**extra):
    base = {"name": "s", "data": {"source": "sklearn:iris"}, "candidates": [{"name": "a", "model": "m:f"}]}
    base.update(extra)
    return base


def test_suite_keys_validated_at_load(tmp_path):
    from benchharness import config
    from benchharness.report.checklist import PLAN_KEYS

    suite = config.parse_suite(_suite(limits={"warn": ["p99_ms <= 5"]}, objective="min p99_ms",
                                      plan={"integration": "both", "wrong_prediction_cost": 40}), tmp_path)
    assert suite.plan["integration"] == "both" and suite.plan["ethics"] is None
    assert set(config.PLAN) == set(PLAN_KEYS)  # every plan key is shown in the checklist
    with pytest.raises(SuiteError, match="limit 'p99_ms <= fast'"):
        config.parse_suite(_suite(limits=["p99_ms <= fast"]), tmp_path)
    with pytest.raises(SuiteError, match="'objective' term 'cheapest'"):
        config.parse_suite(_suite(objective=["cheapest"]), tmp_path)
    with pytest.raises(SuiteError, match="'plan.integration' must be one of batch, realtime, both, got 'stream'"):
        config.parse_suite(_suite(plan={"integration": "stream"}), tmp_path)
    with pytest.raises(SuiteError, match="unknown key 'plan.owner'"):
        config.parse_suite(_suite(plan={"owner": "me"}), tmp_path)
    bad_cand = _suite()
    bad_cand["candidates"][0]["limits"] = ["rss_peak_mb < lots"]
    with pytest.raises(SuiteError, match="rss_peak_mb < lots"):
        config.parse_suite(bad_cand, tmp_path)


# -- cost judged in the suite's integration mode, on the committed real run -------------------
def _real_run():
    from pathlib import Path

    from benchharness.results import load_results

    return load_results(Path(__file__).resolve().parent / "fixtures" / "quick_run")


def test_usd_per_million_is_the_cost_of_the_plans_integration_mode():
    from benchharness import schema
    from benchharness.decide import limits

    real = _real_run()
    assert real["plan"]["integration"] == "realtime"  # the quickstart's plan
    cand = next(c for c in real["candidates"] if c["status"] == "ok")
    (res,) = limits.evaluate_all(limits.parse_spec({"warn": ["usd_per_million <= 1.0"]}), cand, real)
    assert res.metric == "realtime_usd_per_million"
    assert res.value == schema.cost_realtime(cand)["usd_per_1m"] != schema.cost_batch(cand)["usd_per_1m"]
    assert "real-time cost" in res.note and "plan.integration: realtime" in res.note
    # explicit names always mean what they say
    (batch,) = limits.evaluate_all(limits.parse_spec(["batch_usd_per_million <= 1.0"]), cand, real)
    assert batch.value == schema.cost_batch(cand)["usd_per_1m"]


def test_integration_both_judges_each_cost():
    from benchharness.decide import limits

    real = _real_run()
    real["plan"]["integration"] = "both"
    cand = next(c for c in real["candidates"] if c["status"] == "ok")
    out = limits.evaluate_all(limits.parse_spec(["usd_per_million <= 1.0"]), cand, real)
    assert [r.metric for r in out] == ["batch_usd_per_million", "realtime_usd_per_million"]
    assert [r.status for r in out] == ["pass", "fail"]  # $0.00001 batch, $4.28 real time per 1M
