"""Automatic baselines fitted on train, scored like any model."""

import numpy as np
import pandas as pd
import pytest

from benchharness.errors import DataError
from benchharness.quality.baselines import default_baselines, fit_baseline
from benchharness.quality.bootstrap import BootstrapPlan
from benchharness.quality.evaluate import ResolvedQuality, class_balance, evaluate
from benchharness.quality.metrics import ScoredRows


def _frame(n, seed):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"noise": rng.normal(size=n), "signal": rng.uniform(0, 10, n),
                      "colour": rng.choice(["red", "blue"], n)})
    y = pd.Series(np.where(X["signal"] > 7, "yes", "no"))  # 30% "yes": "no" is the majority
    return X, y


def _score(fitted, X, y, task="binary"):
    model = fitted.model
    proba = model.predict_proba(X) if hasattr(model, "predict_proba") else None
    rows = ScoredRows(task, y.to_numpy(), model.predict(X), proba, np.array(["no", "yes"]) if proba is not None else None)
    return evaluate(rows, None, ResolvedQuality(task, "accuracy", BootstrapPlan(100)))


def test_most_frequent_accuracy_equals_the_majority_share():
    X_train, y_train = _frame(400, 0)
    X_test, y_test = _frame(250, 1)
    fitted = fit_baseline("most_frequent", "binary", X_train, y_train)
    majority = y_train.value_counts().idxmax()
    assert majority == "no"
    q = _score(fitted, X_test, y_test)
    assert q["test"]["accuracy"] == pytest.approx((y_test == majority).mean(), abs=1e-15)
    assert q["test"]["roc_auc"] == pytest.approx(0.5)  # a constant score ranks nothing


def test_one_feature_threshold_finds_the_separating_feature():
    X_train, y_train = _frame(400, 0)
    X_test, y_test = _frame(250, 1)
    fitted = fit_baseline("one_feature", "binary", X_train, y_train)
    assert fitted.model.feature_ == "signal"
    assert 6.5 < fitted.model.threshold_ < 7.5
    assert _score(fitted, X_test, y_test)["test"]["accuracy"] > 0.97


def test_logistic_and_random_guesses_handle_text_features():
    X_train, y_train = _frame(400, 0)
    X_test, y_test = _frame(250, 1)
    acc = {name: _score(fit_baseline(name, "binary", X_train, y_train, seed=0), X_test, y_test)["test"]["accuracy"]
           for name in ("logistic", "stratified", "uniform")}
    assert acc["logistic"] > 0.9
    assert 0.3 < acc["uniform"] < 0.7 and 0.4 < acc["stratified"] < 0.75


def test_regression_baselines_mean_median_linear():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    y = pd.Series(3 * X["a"] - 2 * X["b"] + rng.exponential(1.0, 300))  # skewed noise: mean != median
    for name, expected in (("mean", y.mean()), ("median", y.median())):
        pred = fit_baseline(name, "regression", X, y).model.predict(X)
        assert np.allclose(pred, expected)
    linear = fit_baseline("linear", "regression", X, y).model.predict(X)
    assert np.corrcoef(linear, y)[0, 1] > 0.95


def test_last_period_median_uses_the_last_month_of_train():
    times = pd.Series(pd.to_datetime(["2024-01-05", "2024-01-20", "2024-02-02", "2024-02-10", "2024-02-27"]))
    y = pd.Series([100.0, 200.0, 1.0, 5.0, 9.0])
    fitted = fit_baseline("last_period_median", "regression", pd.DataFrame(index=range(5)), y, times, "month")
    assert fitted.model.predict(range(3)).tolist() == [5.0, 5.0, 5.0]  # median of February: 1, 5, 9
    assert "2024-02" in fitted.description


def test_baseline_that_does_not_apply_is_a_clear_error():
    X, y = _frame(50, 0)
    with pytest.raises(DataError, match="'mean' does not apply to a binary task"):
        fit_baseline("mean", "binary", X, y)
    with pytest.raises(DataError, match="needs 'data.time_column'"):
        fit_baseline("last_period_median", "regression", X, pd.Series(np.arange(50.0)))
    with pytest.raises(DataError, match="no numeric feature"):
        fit_baseline("one_feature", "binary", X[["colour"]], y)
    assert "last_period_median" not in default_baselines("regression", has_time=False)
    assert "last_period_median" in default_baselines("regression", has_time=True)


def test_class_balance_warns_when_training_was_resampled():
    y_train = pd.Series([0] * 50 + [1] * 50)  # balanced by over-sampling
    y_test = pd.Series([0] * 90 + [1] * 10)  # the natural distribution
    out = class_balance(y_train, y_test, resampled=True)
    assert out["train"] == {"0": 0.5, "1": 0.5} and out["test"] == {"0": 0.9, "1": 0.1}
    assert out["max_share_difference"] == pytest.approx(0.4)
    assert "re-sampled" in out["warning"] and "natural test distribution" in out["warning"]
    assert class_balance(y_test, y_test, resampled=False)["warning"] is None
