"""Tune: the search space, conversions, the quality guard, the answer and a whole run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from benchharness.adapters.base import file_digest
from benchharness.errors import ModelError, SuiteError
from benchharness.tune.answer import _front, pick, table_lines
from benchharness.tune.space import expand, validate

# -- the search space ------------------------------------------------------------------------


def test_validate_fills_defaults_and_names_bad_values():
    space = validate(
        {"export": ["none", "onnx"], "intra_op_num_threads": [1, 2]}, "candidates[0].tune"
    )
    assert space["quantize"] == ["none"] and space["graph_optimization_level"] == [None]
    assert space["max_quality_loss"] == 0.01 and space["min_label_agreement"] == 0.98
    with pytest.raises(
        SuiteError,
        match=r"candidates\[0\]\.tune\.quantize must be a list of values from "
        r"none, int8, int8_static, got 'int4'",
    ):
        validate({"quantize": ["int4"]}, "candidates[0].tune")
    with pytest.raises(
        SuiteError, match=r"intra_op_num_threads must be a list of positive integers, got 0"
    ):
        validate({"intra_op_num_threads": [0]}, "candidates[0].tune")
    with pytest.raises(
        SuiteError, match=r"unknown key candidates\[0\]\.tune\.'thread'; allowed: export"
    ):
        validate({"thread": [1]}, "candidates[0].tune")
    with pytest.raises(
        SuiteError, match=r"min_label_agreement must be a number >= 0 and <= 1, got 2"
    ):
        validate({"min_label_agreement": 2}, "candidates[0].tune")


def test_suite_with_a_bad_tune_key_is_one_line_error(tmp_path):
    from benchharness.config import parse_suite

    raw = {
        "name": "s",
        "data": {"source": "sklearn:iris"},
        "candidates": [
            {
                "name": "f",
                "train": "sklearn.tree.DecisionTreeClassifier",
                "tune": {"export": ["onnx", "tensorrt"]},
            }
        ],
    }
    with pytest.raises(SuiteError) as err:
        parse_suite(raw, tmp_path)
    assert str(err.value) == (
        "candidates[0].tune.export must be a list of values from none, onnx, got 'tensorrt'"
    )


def test_expand_names_variants_merges_native_threads_and_skips_int8_without_onnx():
    space = validate(
        {"export": ["none", "onnx"], "intra_op_num_threads": [1, 2], "quantize": ["none", "int8"]},
        "t",
    )
    variants = expand("forest", space, model_is_onnx=False)
    measured = [v.name for v in variants if not v.skipped]
    assert measured == [
        "forest[native]",
        "forest[onnx,t1]",
        "forest[onnx,t1,int8]",
        "forest[onnx,t2]",
        "forest[onnx,t2,int8]",
    ]
    native = next(v for v in variants if v.name == "forest[native]")
    assert native.merged == ["export=none threads=2 quantize=none"]  # threads do not apply: once
    skipped = [v for v in variants if v.skipped]
    assert len(skipped) == 1 and "needs an ONNX graph" in skipped[0].skipped
    assert len(skipped[0].merged) == 1  # both thread counts of native int8: said once
    assert next(v for v in variants if v.name == "forest[onnx,t2,int8]").session_options == {
        "intra_op_num_threads": 2
    }


def test_expand_of_an_onnx_model_has_nothing_to_export():
    space = validate(
        {"export": ["none", "onnx"], "graph_optimization_level": ["basic", "all"]}, "t"
    )
    variants = expand("m", space, model_is_onnx=True)
    assert [v.name for v in variants if not v.skipped] == ["m[onnx,opt-basic]", "m[onnx,opt-all]"]
    assert {v.skipped for v in variants if v.skipped} == {
        "export onnx: the model already is an ONNX graph"
    }


# -- conversions -------------------------------------------------------------------------------


def _exported(tmp_path, est, X, y, name):
    from benchharness.train.training import export_onnx

    est.fit(X, y)
    return est, export_onnx(est, X.shape[1], tmp_path / f"{name}.onnx")


def test_int8_quantizes_an_mlp_and_refuses_a_forest(tmp_path):
    import onnx
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.neural_network import MLPClassifier

    from benchharness.tune.build import QUANTIZED_OPS, quantize_int8

    X, y = load_iris(return_X_y=True)
    _, mlp = _exported(tmp_path, MLPClassifier((16,), max_iter=300, random_state=0), X, y, "mlp")
    out = quantize_int8(mlp, tmp_path / "mlp-int8.onnx")
    assert {n.op_type for n in onnx.load(str(out)).graph.node} & QUANTIZED_OPS
    _, forest = _exported(tmp_path, RandomForestClassifier(5, random_state=0), X, y, "forest")
    with pytest.raises(ModelError, match="no quantizable operator .*TreeEnsemble"):
        quantize_int8(forest, tmp_path / "forest-int8.onnx")
    assert not (tmp_path / "forest-int8.onnx").exists()


def test_static_int8_calibrates_on_train_rows_and_keeps_the_answers(tmp_path):
    import onnx
    import onnxruntime as ort
    from sklearn.datasets import load_wine
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from benchharness.tune.build import calibration_sample, quantize_int8_static

    X, y = load_wine(return_X_y=True)
    X_train, X_test, y_train, _ = train_test_split(X, y, test_size=0.3, random_state=0)
    mlp = make_pipeline(StandardScaler(), MLPClassifier((32,), max_iter=600, random_state=0))
    _, fp32 = _exported(tmp_path, mlp, X_train, y_train, "wine")
    sample = calibration_sample(X_train)
    assert sample.dtype == np.float32 and len(sample) == len(X_train)  # 124 rows: all of them
    # every calibration row is a train row: the test split is never seen
    assert {tuple(r) for r in sample} <= {tuple(r) for r in X_train.astype(np.float32)}
    out = quantize_int8_static(fp32, tmp_path / "wine-int8-static.onnx", sample)
    ops = {n.op_type for n in onnx.load(str(out)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    feed = {"input": X_test.astype(np.float32)}
    labels, proba = ort.InferenceSession(str(fp32)).run(None, feed)
    labels_q, proba_q = ort.InferenceSession(str(out)).run(None, feed)
    assert (labels == labels_q).mean() >= 0.9  # int8 moves a few answers at most
    assert 0 < np.abs(proba - proba_q).max() < 0.2  # quantized: close, not identical
    _, forest = _exported(tmp_path, RandomForestClassifier(5, random_state=0), X, y, "forest")
    with pytest.raises(ModelError, match="int8_static: the graph has no quantizable operator"):
        quantize_int8_static(forest, tmp_path / "forest-static.onnx", sample)


# -- the answer ---------------------------------------------------------------------------------


def _row(name, quality, p99, cost, verdict="qualifies", flagged=False):
    return {
        "name": name,
        "status": "ok",
        "quality": quality,
        "p99_ms": p99,
        "cost_per_1m": cost,
        "rows_per_s": 1.0,
        "label_agreement": 1.0,
        "quality_delta": 0.0,
        "p99_ms_interval": None,
        "quality_loss_beyond_tolerance": flagged,
        "verdict": verdict,
    }


def test_front_and_pick_by_hand():
    rows = [
        _row("a", 0.95, 1.0, 5.0),
        _row("b", 0.95, 0.5, 2.0),
        _row("c", 0.90, 0.1, 0.5, flagged=True),
        _row("d", 0.96, 3.0, 9.0),
        _row("e", 0.80, 0.05, 0.1, verdict="blocked"),
    ]
    # a is dominated by b (same quality, faster, cheaper); every other point is best on some axis
    assert _front(rows, higher_is_better=True) == ["b", "c", "d", "e"]
    # c and e are cheaper, but c lost quality and e misses a limit: b is the answer
    assert pick(rows) == "b"
    assert pick([_row("c", 0.9, 0.1, 0.5, flagged=True)]) is None
    lines = table_lines(
        "m",
        {
            "table": [dict(r, on_front=r["name"] in "bcde") for r in rows],
            "recommended": "b",
            "skipped": [],
            "metric": "accuracy",
        },
    )
    assert all(len(line) <= 100 for line in lines)
    assert [line[:3] for line in lines if line[2:3] in "abcde" and line[3:4] == " "] == [
        "  a", ">*b", " *c", " *d", " *e"
    ]
    assert "!" in next(line for line in lines if line.startswith(" *c"))  # c lost quality


# -- a whole run ----------------------------------------------------------------------------

SHORT = {
    "realtime": {
        "duration_s": 0.2,
        "min_duration_s": 0.1,
        "trials": 2,
        "max_trials": 2,
        "open_loop": {"trials": 1, "fractions": [0.5], "duration_s": 0.2},
    },
    "batch": {"batch_sizes": [1, 64], "trials": 2, "duration_s": 0.1},
}


@pytest.mark.slow
def test_tune_run_measures_variants_guards_quality_and_ships_one(tmp_path):
    from benchharness.api import run_suite

    suite = {
        "name": "tune-test",
        "data": {"source": "sklearn:breast_cancer", "split": {"test_size": 0.3, "seed": 1}},
        "candidates": [
            {
                "name": "forest",
                "train": "sklearn.ensemble.RandomForestClassifier",
                "params": {"n_estimators": 10, "max_depth": 5, "random_state": 0, "n_jobs": 1},
                "tune": {
                    "export": ["none", "onnx"],
                    "intra_op_num_threads": [1, 2],
                    "quantize": ["none", "int8"],
                },
            },
            {
                "name": "mlp",
                "train": "sklearn.neural_network.MLPClassifier",
                "params": {"hidden_layer_sizes": [32], "max_iter": 300, "random_state": 0},
                "tune": {"export": ["onnx"], "quantize": ["none", "int8", "int8_static"]},
            },
        ],
        "traffic": {"peak_rps": 20, "daily_volume": 100000, "batch_rows_per_day": 1000000},
        "limits": {"fail": ["accuracy >= 0.8", "p99_ms <= 500"]},
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    said: list[str] = []
    ctx = run_suite(path, tmp_path / "out", quick=True, progress=said.append, overrides=SHORT)
    res = json.loads((ctx.run_dir / "results.json").read_text())
    names = [c["name"] for c in res["candidates"]]
    assert names == [
        "forest[native]",
        "forest[onnx,t1]",
        "forest[onnx,t2]",
        "mlp[onnx]",
        "mlp[onnx,int8]",
        "mlp[onnx,int8_static]",
    ]
    by = {c["name"]: c for c in res["candidates"]}
    for c in by.values():  # every variant went through everything a candidate gets
        assert c["status"] == "ok", c["error"]
        assert c["variant_of"] in ("forest", "mlp") and c["variant"]["export"] in ("none", "onnx")
        assert c["realtime"]["closed_loop"]["p99_ms"] > 0 and c["cost"]["batch"]["usd_per_1m"] > 0
        assert c["limits"] and c["quality"]["test"]["accuracy"] > 0
    # skipped combinations said once, with the reason
    forest = res["tune"]["forest"]
    reasons = {s["reason"] for s in forest["skipped"]}
    assert any("no quantizable operator" in r for r in reasons)
    assert any("needs an ONNX graph" in r for r in reasons)
    assert sum("no quantizable operator" in line for line in said) == 1
    # parity for every converted variant, against what it came from
    for name in ("forest[onnx,t1]", "forest[onnx,t2]", "mlp[onnx]"):
        assert by[name]["parity"]["original"].endswith("trained in this run, before export")
    assert by["mlp[onnx,int8]"]["parity"]["original"] == "mlp[onnx]"
    assert by["mlp[onnx,int8_static]"]["parity"]["original"] == "mlp[onnx]"
    assert by["mlp[onnx,int8_static]"]["variant"]["quantize"] == "int8_static"
    assert "parity" not in by["forest[native]"] or not by["forest[native]"]["parity"]
    for name in ("forest[onnx,t1]", "mlp[onnx]", "mlp[onnx,int8]", "mlp[onnx,int8_static]"):
        guard = by[name]["parity"]["quality_guard"]
        lo, hi = guard["ci"]
        assert lo <= guard["delta"] <= hi
        expected = guard["loss"] > 0.01 or by[name]["parity"]["label_agreement"] < 0.98
        assert guard["beyond_tolerance"] == expected
    # the answer: a recommended variant that meets the limits and kept its quality
    verdict = {r["name"]: r for r in res["verdict"]["candidates"]}
    for base in ("forest", "mlp"):
        entry = res["tune"][base]
        rec = entry["recommended"]
        assert rec in entry["variants"] and set(entry["pareto_front"]) <= set(entry["variants"])
        assert entry["pareto_front"]
        assert verdict[rec]["status"] == "qualifies"
        row = next(r for r in entry["table"] if r["name"] == rec)
        assert not row["quality_loss_beyond_tolerance"]
        for r in entry["table"]:  # a marked variant is blocked in the run's verdict as well
            if r["quality_loss_beyond_tolerance"]:
                assert (
                    verdict[r["name"]]["status"] == "blocked"
                    and r["name"] not in res["verdict"]["ranking"]
                )
        deploy = yaml.safe_load((ctx.run_dir / entry["deployment"]["file"]).read_text())
        assert deploy["variant"] == rec and deploy["variant_of"] == base
        assert file_digest(deploy["model"]["path"])[1] == deploy["model"]["sha256"]
        assert deploy["serve_command"].startswith("bench serve ")
        assert (ctx.run_dir / entry["chart"]).stat().st_size > 10_000
    assert np.isfinite(by["forest[onnx,t1]"]["parity"]["max_abs_proba_diff"])
    assert Path(ctx.run_dir / "deploy").is_dir()
    # the report gives each tuned candidate's answer: table, chart, the deployment file
    md = (ctx.run_dir / "report.md").read_text()
    html = (ctx.run_dir / "report.html").read_text()
    for base in ("forest", "mlp"):
        entry = res["tune"][base]
        assert f"### Tuning {base}" in md
        assert f"{base}: ship {entry['recommended']}; deployment file {entry['deployment']['file']}" in md
        for r in entry["table"]:
            assert f"| {r['name']} |" in md
        assert f"![{base}: variants" in md and f'id="chart-tune-{base}"' in html
    # judged again from the run folder with the same suite: the same answer (the quality guard
    # is a limit the verdict applies, not a rewrite after it)
    from click.testing import CliRunner

    from benchharness.cli import main

    again = CliRunner().invoke(main, ["report", str(ctx.run_dir), "--suite", str(path)])
    assert again.exit_code == 0, again.output
    rejudged = json.loads((ctx.run_dir / "results.json").read_text())["verdict"]
    assert rejudged["ranking"] == res["verdict"]["ranking"]
    assert rejudged["recommended"] == res["verdict"]["recommended"]
    assert [r["status"] for r in rejudged["candidates"]] == [r["status"] for r in res["verdict"]["candidates"]]


# -- successive halving ----------------------------------------------------------------------------


def _measured(acc, p99, p99_iv, rows, rows_iv):
    return {
        "quality": {"primary_metric": "accuracy", "test": {"accuracy": acc}},
        "realtime": {"closed_loop": {"p99_ms": p99, "intervals": {"p99_ms": list(p99_iv)}}},
        "batch": [
            {"batch_size": 64, "rows_per_s": rows, "intervals": {"rows_per_s": list(rows_iv)}}
        ],
    }


def test_dominated_only_when_intervals_do_not_overlap():
    from benchharness.tune.halving import dominated_by

    results = {"quality": {"primary_metric": "accuracy", "higher_is_better": True}}
    slow = _measured(0.95, 10.0, (8, 12), 1_000, (900, 1_100))
    fast = _measured(0.95, 1.0, (0.5, 1.5), 50_000, (40_000, 60_000))
    assert dominated_by(slow, fast, results, True)
    assert not dominated_by(fast, slow, results, True)
    # better quality keeps a slow variant in the race
    assert not dominated_by(
        _measured(0.97, 10.0, (8, 12), 1_000, (900, 1_100)), fast, results, True
    )
    # overlapping p99 intervals: not beyond doubt
    assert not dominated_by(
        _measured(0.95, 10.0, (1.2, 12), 1_000, (900, 1_100)), fast, results, True
    )
    # an interval not pinned down (one trial) decides nothing
    assert not dominated_by(
        _measured(0.95, 10.0, (None, None), 1_000, (900, 1_100)), fast, results, True
    )


def test_full_grid_estimate_grows_with_trials():
    from benchharness.config import parse_suite
    from benchharness.tune.halving import full_seconds

    raw = {
        "name": "s",
        "data": {"source": "sklearn:iris"},
        "candidates": [{"name": "f", "train": "sklearn.tree.DecisionTreeClassifier"}],
    }
    base = full_seconds(parse_suite(raw, Path(".")))
    more = full_seconds(
        parse_suite({**raw, "realtime": {"trials": 20, "max_trials": 40}}, Path("."))
    )
    assert 0 < base < more


@pytest.mark.slow
def test_halving_measures_fewer_variants_and_picks_the_grid_winner(tmp_path):
    from benchharness.api import run_suite

    def run(budget, folder):
        tune = {"export": ["none", "onnx"], "intra_op_num_threads": [1]}
        if budget is not None:
            tune["budget_s"] = budget
        suite = {
            "name": "halving",
            "data": {"source": "sklearn:breast_cancer", "split": {"test_size": 0.3, "seed": 2}},
            "candidates": [
                {
                    "name": "forest",
                    "train": "sklearn.ensemble.RandomForestClassifier",
                    "params": {"n_estimators": 100, "max_depth": 8, "random_state": 0, "n_jobs": 1},
                    "tune": tune,
                }
            ],
            # scikit-learn's forest: about 10k rows/s at best here; its ONNX export: 30x that. A
            # throughput cannot exceed the machine's, so the native interval's upper end stays
            # far below the limit however loaded the machine (a p99's lower end would not)
            "limits": {"fail": ["rows_per_s >= 50000"]},
        }
        path = tmp_path / f"{folder}.yaml"
        path.write_text(yaml.safe_dump(suite))
        short = {
            "realtime": {**SHORT["realtime"], "max_trials": 5},
            "batch": {**SHORT["batch"], "max_trials": 5},
        }
        return run_suite(
            path, tmp_path / folder, quick=True, progress=lambda m: None, overrides=short
        ).results["tune"]["forest"]

    grid = run(None, "grid")
    halving = run(1, "halving")
    assert grid["search"]["kind"] == "grid" and len(grid["table"]) == 2
    assert halving["search"]["kind"] == "successive halving"
    assert halving["search"]["measured_in_full"] < grid["search"]["variants"]
    assert [d["variant"] for d in halving["dropped"]] == ["forest[native]"]
    assert "cannot meet rows_per_s >= 50000" in halving["dropped"][0]["reason"]
    assert halving["recommended"] == grid["recommended"] == "forest[onnx,t1]"
