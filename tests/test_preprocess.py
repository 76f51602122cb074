"""`preprocess: auto` and the errors a user sees for text columns and missing values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import write_suite

from benchharness.config import CANDIDATE as CANDIDATE_SCHEMA
from benchharness.config import validate_section
from benchharness.errors import ModelError
from benchharness.suite import candidate_from
from benchharness.train.fit import fit_estimator


def _table(n: int = 240) -> pd.DataFrame:
    """The label depends on a text column: a model that drops or mangles `city` cannot learn it."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "income": rng.normal(50, 10, n).round(2),
        "city": rng.choice(["paris", "lyon", "nice"], n),
    })
    frame["churn"] = ((frame.city == "nice") ^ (frame.income > 55)).astype(int)
    return frame


TRAIN = ("sklearn.linear_model.LogisticRegression", {})
CANDIDATE = validate_section({"name": "c", "train": TRAIN[0]}, CANDIDATE_SCHEMA, "candidates[0]")


def test_text_columns_without_preprocess_name_the_columns_and_the_fix():
    frame = _table()
    with pytest.raises(ModelError) as err:
        fit_estimator(*TRAIN, frame[["income", "city"]], frame.churn)
    message = str(err.value)
    assert "\n" not in message
    assert "text (categorical) feature columns city" in message and "income" not in message.split("columns")[1]
    assert "preprocess: auto" in message


def test_missing_values_without_preprocess_name_the_column():
    frame = _table()
    frame.loc[::7, "income"] = np.nan
    with pytest.raises(ModelError, match=r"missing values in income; add `preprocess: auto`"):
        fit_estimator(*TRAIN, frame[["income"]], frame.churn)


def test_auto_preprocessing_one_hot_encodes_text_and_imputes():
    from benchharness.train.preprocess import auto_preprocessor

    frame = _table()
    frame.loc[::7, "income"] = np.nan
    X = frame[["income", "city"]]
    est, _ = fit_estimator(*TRAIN, X, frame.churn, auto_preprocessor(X))
    # three one-hot city columns and one scaled income column reach the model
    assert est.named_steps["model"].coef_.shape == (1, 4)
    unseen = pd.DataFrame({"income": [np.nan], "city": ["lille"]})  # unseen category, missing number
    assert est.predict(unseen).shape == (1,)


def test_suite_with_text_columns_runs_the_auto_candidate_and_fails_the_plain_one(tmp_path):
    from benchharness.api import run_suite

    _table().to_csv(tmp_path / "churn.csv", index=False)
    suite = write_suite(tmp_path, """
name: text-columns
data: {source: churn.csv, target: churn, split: {test_size: 0.25, seed: 0}}
candidates:
  - {name: plain, train: sklearn.tree.DecisionTreeClassifier}
  - {name: auto, train: sklearn.tree.DecisionTreeClassifier, params: {random_state: 0}, preprocess: auto}
  - {name: xgb, train: xgboost.XGBClassifier, preprocess: auto}
realtime: {duration_s: 0.1, min_duration_s: 0.05, warmup_count: 2, warmup_s: 0.01, open_loop: {enabled: false}}
batch: {batch_sizes: [8], duration_s: 0.05, warmup_count: 1}
""")
    plain, auto, xgb = run_suite(suite, out_dir=tmp_path / "out", progress=lambda m: None).results["candidates"]
    assert plain["status"] == "failed" and "city" in plain["error"] and "preprocess: auto" in plain["error"]
    assert auto["status"] == "ok", auto["error"]
    assert auto["training"]["preprocess"] == "auto"
    # a tree on income and the one-hot city learns the XOR; without city it cannot pass ~0.75
    assert auto["quality"]["test"]["accuracy"] > 0.9
    assert auto["realtime"]["closed_loop"]["count"] > 0
    assert xgb["status"] == "failed" and "applies to scikit-learn classes" in xgb["error"]


def test_preprocess_key_only_takes_auto(tmp_path):
    from benchharness.config import load_suite
    from benchharness.errors import SuiteError

    suite = write_suite(tmp_path, """
name: x
data: {source: "sklearn:iris"}
candidates: [{name: a, train: sklearn.tree.DecisionTreeClassifier, preprocess: onehot}]
""")
    with pytest.raises(SuiteError, match="preprocess.*one of auto.*onehot"):
        load_suite(suite)


def test_a_regressor_on_text_labels_and_a_classifier_on_a_continuous_target_say_so():
    frame = _table()
    X = frame[["income"]]
    labels = frame.churn.map({0: "no", 1: "yes"}).rename("churn")
    with pytest.raises(ModelError, match=r"LinearRegression is a regressor but the target 'churn' holds text labels"):
        fit_estimator("sklearn.linear_model.LinearRegression", {}, X, labels)
    amount = (frame.income * 2.5).rename("spend")
    with pytest.raises(ModelError, match=r"LogisticRegression is a classifier but the target 'spend' is continuous"):
        fit_estimator(*TRAIN, X, amount)
    # a regressor on 0/1 labels is unusual but fits: no error
    fit_estimator("sklearn.linear_model.LinearRegression", {}, X, frame.churn)


def test_a_high_cardinality_text_column_gives_a_bounded_dense_matrix_every_estimator_takes():
    from benchharness.train.preprocess import MAX_CATEGORIES, auto_preprocessor

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=2000), "shop": [f"s{i}" for i in rng.integers(0, 500, 2000)]})
    y = rng.integers(0, 2, 2000)
    est, _ = fit_estimator("sklearn.ensemble.HistGradientBoostingClassifier", {"max_iter": 5}, X, y,
                           auto_preprocessor(X))  # HGB refuses sparse input
    width = est.named_steps["preprocess"].transform(X.iloc[:3]).shape[1]
    assert width == 1 + MAX_CATEGORIES
    assert est.predict(pd.DataFrame({"x": [0.0], "shop": ["never-seen"]})).shape == (1,)


def test_auto_preprocessing_exports_to_onnx_with_missing_values(tmp_path):
    """`export: onnx` + `preprocess: auto` on numeric data with gaps: columns by position, same labels."""
    from benchharness.adapters.registry import load_model
    from benchharness.train.training import export_onnx, preprocessor

    frame = _table()
    frame["age"] = np.random.default_rng(1).integers(18, 80, len(frame)).astype(float)
    frame.loc[::5, "income"] = np.nan
    X = frame[["income", "age"]]
    spec = candidate_from({**CANDIDATE, "preprocess": "auto", "export": "onnx"})
    est, _ = fit_estimator(*TRAIN, X.to_numpy(), frame.churn, preprocessor(spec, X))
    model = load_model(str(export_onnx(est, 2, tmp_path / "m.onnx")), {})
    assert np.array_equal(model.predict(model.prepare(X)), est.predict(X.to_numpy()))
