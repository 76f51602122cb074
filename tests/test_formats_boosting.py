"""XGBoost and LightGBM: trained, saved natively, loaded, predicted, exported with parity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import write_suite
from sklearn.datasets import load_diabetes, load_iris

from benchharness.adapters.registry import find_format, load_model
from benchharness.errors import ModelError
from benchharness.quality.parity import parity
from benchharness.train.native import DecodedLabels, encode_labels, export_onnx

xgb = pytest.importorskip("xgboost")
lgb = pytest.importorskip("lightgbm")


@pytest.fixture(scope="module")
def iris_named():
    """Multiclass with string labels: what XGBoost cannot take without encoding."""
    X, y = load_iris(return_X_y=True)
    return X, np.array(["setosa", "versicolor", "virginica"])[y]


def test_suffixes_pick_the_native_adapters():
    assert find_format("m.ubj").format == "xgboost"
    assert find_format("m.json").format == "xgboost"
    assert find_format("m.lgb.txt").format == "lightgbm"  # longer suffix wins over a plain .txt
    assert find_format("anything.txt", "lightgbm").format == "lightgbm"
    assert find_format("m.pt").format == "torchscript" and find_format("m.pt2").format == "torch_export"
    assert find_format("https://h/v2/models/m").format == "http"


def test_encode_labels():
    y, classes = encode_labels(pd.Series(["b", "a", "b", "c"]))
    assert y.tolist() == [1, 0, 1, 2] and classes == ["a", "b", "c"]
    y, classes = encode_labels(pd.Series([0, 1, 1, 0]))
    assert y.tolist() == [0, 1, 1, 0] and classes is None
    assert encode_labels(pd.Series([1, 2, 2]))[1] == [1, 2]  # not 0..k-1: encoded


@pytest.mark.parametrize("suffix", [".ubj", ".json"])
def test_xgboost_classifier_roundtrip_keeps_real_labels(tmp_path, iris_named, suffix):
    from benchharness.adapters.xgboost import save_trained

    X, labels = iris_named
    y, classes = encode_labels(labels)
    est = xgb.XGBClassifier(n_estimators=8, max_depth=3, n_jobs=1).fit(X, y)
    path, options = save_trained(est, tmp_path / "m", classes)
    if suffix == ".json":  # the same model in XGBoost's JSON format
        est.get_booster().save_model(str(tmp_path / "m.json"))
        path, options = str(tmp_path / "m.json"), {"classes": classes}
    model = load_model(path, options | {"threads": 1})
    native = model.prepare(pd.DataFrame(X))
    np.testing.assert_allclose(model.predict_proba(native), est.predict_proba(X), atol=1e-6)
    np.testing.assert_array_equal(model.predict(native), np.asarray(classes)[est.predict(X)])
    assert list(model.classes) == ["setosa", "versicolor", "virginica"]
    assert model.info.details["objective"] == "multi:softprob"
    assert model.signature.n_features == 4


def test_xgboost_binary_and_regression(tmp_path, cancer):
    X, y = cancer
    clf = xgb.XGBClassifier(n_estimators=5, n_jobs=1).fit(X, y)
    clf.save_model(tmp_path / "b.json")
    model = load_model(str(tmp_path / "b.json"))
    native = model.prepare(X)
    assert model.predict_proba(native).shape == (len(X), 2)
    np.testing.assert_array_equal(model.predict(native), clf.predict(X))
    fn = model.predict_fn()  # the bare call the timed loops use: the runtime's own
    assert np.asarray(fn(model.take(native, 0, 3))).shape == (3,)

    Xd, yd = load_diabetes(return_X_y=True)
    reg = xgb.XGBRegressor(n_estimators=5, n_jobs=1).fit(Xd, yd)
    reg.save_model(tmp_path / "r.ubj")
    model = load_model(str(tmp_path / "r.ubj"))
    assert not model.has_proba and model.classes is None
    np.testing.assert_allclose(model.predict(model.prepare(Xd)), reg.predict(Xd), rtol=1e-6)


def test_lightgbm_roundtrip(tmp_path, iris_named):
    from benchharness.adapters.lightgbm import save_trained

    X, labels = iris_named
    y, classes = encode_labels(labels)
    est = lgb.LGBMClassifier(n_estimators=10, num_leaves=7, verbose=-1, n_jobs=1).fit(X, y)
    path, options = save_trained(est, tmp_path / "m", classes)
    assert path.endswith(".lgb.txt") and options == {"classes": classes}
    model = load_model(path, options)
    native = model.prepare(X)
    np.testing.assert_allclose(model.predict_proba(native), est.predict_proba(X), atol=1e-12)
    np.testing.assert_array_equal(model.predict(native), np.asarray(classes)[est.predict(X)])
    with pytest.raises(ModelError, match="must list 3 labels"):
        load_model(path, {"classes": ["a", "b"]})

    Xd, yd = load_diabetes(return_X_y=True)
    reg = lgb.LGBMRegressor(n_estimators=5, verbose=-1, n_jobs=1).fit(Xd, yd)
    reg.booster_.save_model(str(tmp_path / "r.txt"))
    model = load_model(str(tmp_path / "r.txt"), fmt="lightgbm")
    np.testing.assert_allclose(model.predict(model.prepare(Xd)), reg.predict(Xd), rtol=1e-9)


def test_unreadable_files_are_model_errors(tmp_path):
    (tmp_path / "bad.ubj").write_bytes(b"\x00not a model")
    (tmp_path / "bad.lgb.txt").write_text("not a model\n")
    with pytest.raises(ModelError, match="cannot load XGBoost model"):
        load_model(str(tmp_path / "bad.ubj"))
    with pytest.raises(ModelError, match="cannot load LightGBM model"):
        load_model(str(tmp_path / "bad.lgb.txt"))


def test_non_numeric_features_are_refused_by_name(tmp_path, cancer):
    X, y = cancer
    xgb.XGBClassifier(n_estimators=2).fit(X.iloc[:, :2], y).save_model(tmp_path / "m.ubj")
    model = load_model(str(tmp_path / "m.ubj"))
    with pytest.raises(ModelError, match=r"non-numeric columns: \['colour'\]"):
        model.prepare(pd.DataFrame({"a": [1.0], "colour": ["red"]}))


@pytest.mark.parametrize("kind", ["xgboost", "lightgbm"])
def test_onnx_export_matches_the_original(tmp_path, iris_named, kind):
    X, labels = iris_named
    y, classes = encode_labels(labels)
    est = (xgb.XGBClassifier(n_estimators=8, n_jobs=1) if kind == "xgboost"
           else lgb.LGBMClassifier(n_estimators=8, verbose=-1, n_jobs=1)).fit(X, y)
    path = export_onnx(kind, est, X.shape[1], tmp_path / "m.onnx", classes)
    model = load_model(str(path))
    native = model.prepare(X)
    original = DecodedLabels(est, classes)  # what the run keeps as the trained model
    # the ONNX graph answers with the data's labels, not XGBoost's encoded 0..k-1
    assert set(model.predict(native)) <= set(labels)
    np.testing.assert_array_equal(model.predict(native), original.predict(X))
    figures = parity("multiclass", {"test": original.predict(X), "proba_test": original.predict_proba(X)},
                     {"test": model.predict(native), "proba_test": model.predict_proba(native)})
    assert figures["label_agreement"] >= 0.99
    assert figures["max_abs_proba_diff"] < 1e-5  # float32 trees: about 1e-7 in practice
    assert list(model.classes) == classes


@pytest.mark.slow
def test_suite_trains_exports_and_benchmarks_boosting_models(tmp_path):
    from benchharness.api import run_suite

    suite = write_suite(tmp_path, """
name: boosting
data: {source: "sklearn:iris", split: {seed: 0}}
candidates:
  - {name: xgb, train: xgboost.XGBClassifier, params: {n_estimators: 10, n_jobs: 1}, options: {threads: 1}}
  - {name: lgb-onnx, train: lightgbm.LGBMClassifier, params: {n_estimators: 10, verbose: -1, n_jobs: 1}, export: onnx}
realtime: {duration_s: 0.2, warmup_count: 5, warmup_s: 0.05, trials: 2, open_loop: {trials: 2}}
batch: {batch_sizes: [8], duration_s: 0.1, warmup_count: 1, trials: 2}
""")
    ctx = run_suite(suite, out_dir=tmp_path / "out", progress=lambda m: None)
    xgb_res, lgb_res = ctx.results["candidates"]
    for res in (xgb_res, lgb_res):
        assert res["status"] == "ok", res["error"]
        assert res["realtime"]["closed_loop"]["count"] > 0 and res["batch"][0]["rows_per_s"] > 0
        assert res["quality"]["test"]["accuracy"] > 0.8
    assert xgb_res["model"]["format"] == "xgboost" and xgb_res["model"]["path"].endswith(".ubj")
    assert lgb_res["model"]["format"] == "onnx"
    parity = lgb_res["parity"]
    assert parity["rows"] == ctx.results["data"]["split"]["rows"]["test"]
    assert parity["label_agreement"] >= 0.95 and parity["max_abs_proba_diff"] < 1e-4
