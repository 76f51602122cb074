"""Automatic baselines: the "stupid models" every candidate must beat, fitted on the train split.

Classification: the most frequent class, a stratified random guess, a uniform random guess,
the best one-feature threshold (a depth-1 tree on each numeric feature, the best on train
kept) and a logistic regression. Regression: the mean, the median, a linear regression and,
when the data has a time column, the median of the target over the last period of train
(the checklist's "previous median"). They run in this process: they are ours, small and
fitted here, unlike a candidate's model, which runs in a child.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.tree import DecisionTreeClassifier

from benchharness.errors import DataError
from benchharness.quality.slices import period_keys
from benchharness.quality.task import is_classification
from benchharness.train.preprocess import auto_preprocessor, numeric_columns

CLASSIFICATION_BASELINES = ("most_frequent", "stratified", "uniform", "one_feature", "logistic")
REGRESSION_BASELINES = ("mean", "median", "linear", "last_period_median")
ALL_BASELINES = CLASSIFICATION_BASELINES + REGRESSION_BASELINES


class OneFeatureThreshold(ClassifierMixin, BaseEstimator):
    """The best single split on one numeric feature: `feature_ <= threshold_` decides."""

    def fit(self, X: pd.DataFrame, y) -> OneFeatureThreshold:
        numeric = numeric_columns(X)
        if not numeric:
            raise DataError("one_feature baseline: the data has no numeric feature to threshold")
        best = None
        for col in numeric:
            fill = float(X[col].median()) if X[col].notna().any() else 0.0
            column = X[[col]].fillna(fill).to_numpy(dtype=float)
            tree = DecisionTreeClassifier(max_depth=1, random_state=0).fit(column, y)
            score = tree.score(column, y)
            if best is None or score > best[0]:
                best = (score, col, fill, tree)
        _, self.feature_, self.fill_, self.tree_ = best
        self.classes_ = self.tree_.classes_
        self.threshold_ = float(self.tree_.tree_.threshold[0])  # -2 (no split) when no split helps
        return self

    def _column(self, X: pd.DataFrame) -> np.ndarray:
        return X[[self.feature_]].fillna(self.fill_).to_numpy(dtype=float)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.tree_.predict(self._column(X))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.tree_.predict_proba(self._column(X))


class LastPeriodMedian(RegressorMixin, BaseEstimator):
    """Predicts the median target of the last period of train (by the time column)."""

    def __init__(self, period: str | int = "month"):
        self.period = period

    def fit(self, times: pd.Series, y) -> LastPeriodMedian:
        keys = period_keys(pd.Series(times).reset_index(drop=True), self.period)
        y = pd.Series(np.asarray(y, dtype=float))
        last = keys.max()
        self.last_period_ = str(last)
        self.value_ = float(y[keys == last].median())
        return self

    def predict(self, X) -> np.ndarray:
        """One value for every row of X (the features are not used)."""
        return np.full(len(X), self.value_)


@dataclass
class FittedBaseline:
    name: str
    model: object
    description: str


def _build(name: str, task: str, seed: int) -> tuple[object, str]:
    builders: dict[str, Callable[[], tuple[object, str]]] = {
        "most_frequent": lambda: (DummyClassifier(strategy="most_frequent"), "always the most frequent class"),
        "stratified": lambda: (DummyClassifier(strategy="stratified", random_state=seed),
                               "random guess with the training class shares"),
        "uniform": lambda: (DummyClassifier(strategy="uniform", random_state=seed), "uniform random guess"),
        "one_feature": lambda: (OneFeatureThreshold(), "best single threshold on one feature"),
        "logistic": lambda: (Pipeline([("prep", None), ("model", LogisticRegression(max_iter=1000))]),
                             "logistic regression on all features"),
        "mean": lambda: (DummyRegressor(strategy="mean"), "always the training mean"),
        "median": lambda: (DummyRegressor(strategy="median"), "always the training median"),
        "linear": lambda: (Pipeline([("prep", None), ("model", LinearRegression())]),
                           "linear regression on all features"),
    }
    return builders[name]()


def default_baselines(task: str, has_time: bool) -> list[str]:
    if is_classification(task):
        return list(CLASSIFICATION_BASELINES)
    return [b for b in REGRESSION_BASELINES if has_time or b != "last_period_median"]


def fit_baseline(
    name: str, task: str, X_train: pd.DataFrame, y_train: pd.Series,
    times_train: pd.Series | None = None, period: str | int = "month", seed: int = 0,
) -> FittedBaseline:
    """Fit one automatic baseline on the train split. Raises DataError when it cannot apply."""
    allowed = CLASSIFICATION_BASELINES if is_classification(task) else REGRESSION_BASELINES
    if name not in allowed:
        raise DataError(f"baseline {name!r} does not apply to a {task} task; allowed: {', '.join(allowed)}")
    if name == "last_period_median":
        if times_train is None:
            raise DataError("baseline 'last_period_median' needs 'data.time_column', got none")
        model = LastPeriodMedian(period).fit(times_train, y_train)
        return FittedBaseline(name, model, f"median of the last {period} of train ({model.last_period_})")
    model, description = _build(name, task, seed)
    if isinstance(model, Pipeline):
        model.set_params(prep=auto_preprocessor(X_train))
    model.fit(X_train, y_train)
    if name == "one_feature":
        description = f"{model.feature_} <= {model.threshold_:.4g}"
    return FittedBaseline(name, model, description)
