"""`preprocess: auto`: the preprocessing a plain estimator needs to train on a real table.

Numbers get their missing values imputed (median) and are scaled; text (categorical) and
boolean columns are imputed (most frequent) and one-hot encoded: the MAX_CATEGORIES most frequent
values of a column get a column each, the rest (and values unseen in training) one shared
"infrequent" column. The output is dense, so every estimator takes it (HistGradientBoosting
refuses sparse input) and its width stays bounded whatever the cardinality.
The same recipe serves the linear baselines (quality/baselines.py) and candidates trained
with `preprocess: auto` (training.py), which become a scikit-learn Pipeline
(`preprocess` -> `model`) saved and measured as one model.
"""

from __future__ import annotations

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

MAX_CATEGORIES = 50


def numeric_columns(X: pd.DataFrame) -> list[str]:
    """Columns a model can take as numbers (booleans count as categories)."""
    return [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c]) and not pd.api.types.is_bool_dtype(X[c])]


def non_numeric_columns(X: pd.DataFrame) -> list[str]:
    numeric = set(numeric_columns(X))
    return [c for c in X.columns if c not in numeric]


def auto_preprocessor(X: pd.DataFrame, by_position: bool = False) -> ColumnTransformer:
    """Impute and scale numbers, impute and one-hot everything else.

    `by_position` selects columns by index rather than name, for a model fed plain arrays
    (an `export: onnx` candidate, whose ONNX input is one float tensor).
    """
    numeric = numeric_columns(X)
    other = [c for c in X.columns if c not in numeric]
    if by_position:
        numeric = [X.columns.get_loc(c) for c in numeric]
        other = [X.columns.get_loc(c) for c in other]
    parts = [("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric)]
    if other:
        encoder = OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=MAX_CATEGORIES)
        parts.append(("cat", make_pipeline(SimpleImputer(strategy="most_frequent"), encoder), other))
    return ColumnTransformer(parts, sparse_threshold=0.0)
