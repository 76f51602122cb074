"""The quality stages on a real run context: real models, a time column, a declared baseline,
an ONNX export run by onnxruntime."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import write_suite
from sklearn.ensemble import RandomForestClassifier
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier

from benchharness import config
from benchharness.adapters.registry import load_model
from benchharness.cli import main
from benchharness.context import CandidateRun, Dataset, RunContext
from benchharness.errors import SuiteError
from benchharness.quality import stage
from benchharness.quality.display import baseline_cell, quality_table
from benchharness.train.training import export_onnx, new_result


def _frame(n=900, seed=0):
    rng = np.random.default_rng(seed)
    f = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n), "x3": rng.uniform(0, 1, n)})
    f["region"] = rng.choice(["north", "south", "east"], n)
    f["day"] = pd.date_range("2024-01-01", periods=n, freq="6h")
    logit = 2 * f["x1"] - 1.5 * f["x2"] * f["x3"] + (f["region"] == "east")
    f["label"] = (logit + rng.logistic(size=n) > 0).astype(int)
    return f


def _context(tmp_path, frame, quality, candidates):
    raw = {"name": "t", "data": {"source": "sklearn:iris", "target": "label", "time_column": "day"},
           "candidates": candidates, "quality": quality}
    suite = config.parse_suite(raw, tmp_path)
    train, test = frame.iloc[:600].reset_index(drop=True), frame.iloc[600:].reset_index(drop=True)
    features = ["x1", "x2", "x3"]
    ds = Dataset(train[features], train["label"], test[features], test["label"],
                 meta_train=train, meta_test=test, target="label")
    messages = []
    ctx = RunContext(suite, tmp_path / "s.yaml", tmp_path, {"candidates": []}, progress=messages.append,
                     dataset=ds)
    for spec in suite.candidates:
        cand = CandidateRun(spec, new_result(spec))
        ctx.candidates.append(cand)
        ctx.results["candidates"].append(cand.result)
    return ctx, messages


def _predict(model, X, proba=True):
    out = {"test": model.predict(X[0]), "train": model.predict(X[1])}
    if proba:
        out.update(proba_test=model.predict_proba(X[0]), proba_train=model.predict_proba(X[1]),
                   classes=model.classes_)
    return out


def test_stages_end_to_end_on_a_context(tmp_path):
    frame = _frame()
    cands = [{"name": "gbm", "train": "x"}, {"name": "svm", "train": "x"},
             {"name": "champion", "train": "x", "baseline": True}, {"name": "gbm-onnx", "train": "x"}]
    quality = {"subgroups": ["region", "x3"], "window": "week", "production_window": "month",
               "min_group_rows": 25, "bootstrap": {"resamples": 300}}
    ctx, messages = _context(tmp_path, frame, quality, cands)
    ds = ctx.dataset
    X = (ds.X_test, ds.X_train)
    gbm = RandomForestClassifier(n_estimators=30, min_samples_leaf=3, random_state=0).fit(ds.X_train, ds.y_train)
    champion = DecisionTreeClassifier(max_depth=2, random_state=0).fit(ds.X_train, ds.y_train)
    svm = LinearSVC().fit(ds.X_train, ds.y_train)
    onnx_model = load_model(str(export_onnx(gbm, 3, tmp_path / "gbm.onnx")), {})
    by_name = {c.name: c for c in ctx.candidates}
    by_name["gbm"].predictions = _predict(gbm, X)
    by_name["svm"].predictions = _predict(svm, X, proba=False)
    by_name["champion"].predictions = _predict(champion, X)
    Xo = (onnx_model.prepare(ds.X_test), onnx_model.prepare(ds.X_train))
    by_name["gbm-onnx"].predictions = {"test": onnx_model.predict(Xo[0]), "train": onnx_model.predict(Xo[1]),
                                       "proba_test": onnx_model.predict_proba(Xo[0]),
                                       "proba_train": onnx_model.predict_proba(Xo[1]),
                                       "classes": onnx_model.classes}
    by_name["gbm-onnx"].original_of = "gbm"

    stage.baselines_stage(ctx)
    for cand in ctx.candidates:
        stage.quality_stage(ctx, cand)
    stage.compare_stage(ctx)
    stage.parity_stage(ctx)
    json.dumps(ctx.results)  # everything saved must be plain JSON

    r = ctx.results
    assert r["quality"]["task"] == "binary" and r["quality"]["primary_metric"] == "accuracy"
    assert [b["name"] for b in r["baselines"]] == ["most_frequent", "stratified", "uniform", "one_feature", "logistic"]
    pool = {b["name"]: b["quality"]["test"]["accuracy"] for b in r["baselines"]}
    pool["champion"] = by_name["champion"].result["quality"]["test"]["accuracy"]
    best = r["quality"]["best_baseline"]
    assert best["name"] == max(pool, key=pool.get) and best["value"] == pool[best["name"]]

    q = by_name["gbm"].result["quality"]
    assert q["delta_vs_best_baseline"]["delta"] == pytest.approx(q["test"]["accuracy"] - best["value"])
    lo, hi = q["delta_vs_best_baseline"]["ci"]
    assert lo <= q["delta_vs_best_baseline"]["delta"] <= hi
    assert q["beats_baseline"] == (lo > 0)
    assert ("beats the baseline" in q["baseline_statement"]) == q["beats_baseline"]
    assert q["normalised_gain"] == pytest.approx((q["test"]["accuracy"] - best["value"]) / (1 - best["value"]))
    assert "beats_baseline" not in by_name["champion"].result["quality"]  # a baseline is not judged
    assert by_name["svm"].result["quality"]["unavailable"]["roc_auc"].startswith("the model gives no probabilities")

    assert {g["group"] for g in q["subgroups"]["region"]["groups"]} == {"north", "south", "east"}
    assert q["subgroups"]["x3"]["binned"] and len(q["subgroups"]["x3"]["groups"]) == 4
    assert q["production"]["window"] == "month" and q["production"]["windows"] >= 2
    assert q["windows"]["worst"]["rows"] >= 25

    parity = by_name["gbm-onnx"].result["parity"]
    assert parity["original"] == "gbm" and parity["rows"] == 300
    assert parity["label_agreement"] > 0.99 and parity["max_abs_proba_diff"] < 1e-4

    cell = baseline_cell(q)
    assert cell.startswith("beats" if q["beats_baseline"] else ("does not beat", "worse than"))
    assert best["name"] in cell and f"{best['value']:.4g}" in cell
    text = quality_table(r)
    assert f"{best['name']}" in text and "*" in text and "gbm-onnx parity with gbm" in text
    assert any("quality:" in m for m in messages)


def test_primary_metric_must_fit_the_task(tmp_path):
    ctx, _ = _context(tmp_path, _frame(), {"primary_metric": "rmse"}, [{"name": "a", "train": "x"}])
    with pytest.raises(SuiteError, match="'quality.primary_metric' must be one of accuracy.*got 'rmse'"):
        stage.baselines_stage(ctx)


def test_quality_keys_are_validated():
    with pytest.raises(SuiteError, match="'quality.window' must be day, week, month"):
        config.parse_suite({"name": "t", "candidates": [{"name": "a", "model": "m.onnx"}],
                            "quality": {"window": "fortnight"}}, config.REPO_ROOT)
    with pytest.raises(SuiteError, match="'quality.baselines' must be a list drawn from most_frequent"):
        config.parse_suite({"name": "t", "candidates": [{"name": "a", "model": "m.onnx"}],
                            "quality": {"baselines": ["smart"]}}, config.REPO_ROOT)


def test_regression_run_with_time_column_through_the_cli(tmp_path):
    """Real child processes: a regressor, a declared baseline, the last-period median."""
    rng = np.random.default_rng(1)
    n = 480
    f = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "day": np.arange(n),
                      "when": pd.date_range("2024-01-01", periods=n, freq="D"),
                      "shop": rng.choice(["x", "y"], n)})
    # a rising trend: the last month of train guesses the test level far better than the mean
    f["sales"] = 50 + 3 * f["a"] + 2 * f["b"] + f["day"] / 10 + rng.normal(0, 1, n)
    f.to_csv(tmp_path / "sales.csv", index=False)
    suite = write_suite(tmp_path, """
name: sales
data: {source: sales.csv, target: sales, time_column: when, drop: [shop], split: {time_ordered: true}}
candidates:
  - {name: ridge, train: sklearn.linear_model.Ridge}
  - {name: today, train: sklearn.dummy.DummyRegressor, baseline: true}
quality: {subgroups: [shop], window: month, baselines: [mean, last_period_median], bootstrap: {resamples: 100}}
realtime: {duration_s: 0.1, warmup_count: 1, warmup_s: 0, trials: 2, open_loop: {enabled: false}}
batch: {batch_sizes: [8], duration_s: 0.05, warmup_count: 1, trials: 2}
""")
    res = CliRunner().invoke(main, ["run", str(suite), "--out", str(tmp_path / "out")], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    results = json.loads(next((tmp_path / "out").iterdir()).joinpath("results.json").read_text())
    assert [b["name"] for b in results["baselines"]] == ["mean", "last_period_median"]
    lpm = results["baselines"][1]
    assert lpm["status"] == "ok" and "last month" in lpm["description"]
    assert lpm["quality"]["test"]["rmse"] < results["baselines"][0]["quality"]["test"]["rmse"]
    ridge = results["candidates"][0]["quality"]
    assert results["quality"]["best_baseline"]["name"] == "last_period_median"
    assert ridge["beats_baseline"] is True and ridge["delta_vs_best_baseline"]["ci"][1] < 0
    assert [g["group"] for g in ridge["subgroups"]["shop"]["groups"]] == ["x", "y"]
    test_months = sorted({str(t.to_period("M")) for t in f["when"].iloc[360:]})  # the last 120 rows
    assert [w["group"] for w in ridge["windows"]["windows"]] == test_months
    assert "ridge beats the baseline last_period_median" in res.output


def test_a_baseline_that_cannot_fit_is_recorded_and_the_others_run(tmp_path):
    frame = _frame()
    frame["x1"] = np.where(frame["x1"] > 0, "high", "low")  # text features only
    frame["x2"] = np.where(frame["x2"] > 0, "up", "down")
    frame["x3"] = np.where(frame["x3"] > 0.5, "a", "b")
    ctx, messages = _context(tmp_path, frame, {"baselines": ["one_feature", "logistic"]},
                             [{"name": "a", "train": "x"}])
    stage.baselines_stage(ctx)
    one, logistic = ctx.results["baselines"]
    assert one["status"] == "failed" and "no numeric feature" in one["error"]
    assert logistic["status"] == "ok" and logistic["quality"]["test"]["accuracy"] > 0.6
    assert any("baseline one_feature unavailable" in m for m in messages)
    # the suite names a time column and no window: monthly windows by default
    assert [w["group"] for w in logistic["quality"]["windows"]["windows"]] == ["2024-05", "2024-06", "2024-07", "2024-08"]


def test_quick_runs_use_fewer_resamples():
    raw = {"name": "t", "candidates": [{"name": "a", "model": "m.onnx"}]}
    assert config.parse_suite(raw, config.REPO_ROOT).quality.bootstrap.resamples == 1000
    assert config.parse_suite(raw, config.REPO_ROOT, quick=True).quality.bootstrap.resamples == 200
