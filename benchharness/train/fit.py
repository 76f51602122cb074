"""Fit a `train:` class on the train split, and save an exported ONNX graph.

Shared by scikit-learn training (`training.py`) and XGBoost/LightGBM training (`native.py`).
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path

import pandas as pd

from benchharness.errors import ModelError


def _did_you_mean(word: str, options) -> str:
    import difflib

    close = difflib.get_close_matches(word, sorted(set(options)), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def _missing_module_hint(module_name: str) -> str:
    """'did you mean sklearn.linear_model?' for a misspelt submodule of an importable package."""
    import pkgutil

    parent, _, last = module_name.rpartition(".")
    if not parent:
        return _did_you_mean(last, [m.name for m in pkgutil.iter_modules()])
    try:
        package = importlib.import_module(parent)
    except ImportError:
        return _missing_module_hint(parent)
    subs = [m.name for m in pkgutil.iter_modules(getattr(package, "__path__", []))]
    hint = _did_you_mean(last, subs)
    return hint.replace("mean ", f"mean {parent}.") if hint else ""


def import_estimator(path: str):
    """The `train:` class, or ModelError in one line with the closest name when misspelt."""
    module_name, _, cls_name = path.rpartition(".")
    if not module_name:
        raise ModelError(f"'train' must be a dotted class path like sklearn.linear_model.LogisticRegression, got {path!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = _missing_module_hint(module_name) if isinstance(exc, ModuleNotFoundError) else ""
        raise ModelError(f"train: cannot import {module_name} ({exc}){hint}") from None
    cls = getattr(module, cls_name, None)
    if cls is None:
        hint = _did_you_mean(cls_name, [n for n in dir(module) if n[:1].isupper()])
        raise ModelError(f"train: {module_name} has no class {cls_name}{hint}")
    return cls


def fit_estimator(train: str, params: dict, X, y, preprocessor=None):
    """Fit the `train:` class with its params (behind `preprocessor` when given, as a Pipeline)."""
    cls = import_estimator(train)
    try:
        est = cls(**params)
    except TypeError as exc:
        raise ModelError(f"bad params for {train}: {exc}") from None
    _check_task(train, est, y)
    if preprocessor is not None:
        from sklearn.pipeline import Pipeline

        est = Pipeline([("preprocess", preprocessor), ("model", est)])
    t0 = time.perf_counter()
    try:
        est.fit(X, y)
    except Exception as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ModelError(
            f"training {train} failed: {type(exc).__name__}: {first_line}{_input_hint(preprocessor is not None, X)}"
        ) from None
    return est, time.perf_counter() - t0


def _check_task(train: str, est, y) -> None:
    """A regressor on text labels, or a classifier on a continuous target, cannot fit: say so."""
    from sklearn.base import is_classifier, is_regressor

    from benchharness.data.load import is_classification_target

    target = pd.Series(y)
    name = f"the target {target.name!r}" if target.name is not None else "the target"
    if is_regressor(est) and target.dtype.kind not in "fiub":
        examples = ", ".join(map(repr, target.dropna().unique()[:3]))
        raise ModelError(f"{train} is a regressor but {name} holds text labels ({examples}, ...): "
                         "use a classifier, or a numeric target")
    if is_classifier(est) and not is_classification_target(target):
        raise ModelError(f"{train} is a classifier but {name} is continuous ({target.nunique()} distinct "
                         f"values, e.g. {target.iloc[0]!r}): use a regressor")


def _input_hint(preprocessed: bool, X) -> str:
    """What to do when the features are text or have gaps and the candidate has no preprocessing."""
    if preprocessed or not isinstance(X, pd.DataFrame):
        return ""
    from benchharness.train.preprocess import non_numeric_columns

    text = non_numeric_columns(X)
    gaps = [c for c in X.columns if X[c].isna().any()]
    found = []
    if text:
        found.append(f"text (categorical) feature columns {', '.join(map(str, text))}")
    if gaps:
        found.append(f"missing values in {', '.join(map(str, gaps))}")
    if not found:
        return ""
    return (f" -- the data has {' and '.join(found)}; add `preprocess: auto` to the candidate"
            " (imputes missing values, one-hot encodes text columns) or encode the data beforehand")


def write_onnx(onx, classes, path: Path) -> Path:
    """Save an exported model with its class labels as `classes` metadata (the ONNX adapter reads them)."""
    if classes is not None:
        meta = onx.metadata_props.add()
        meta.key, meta.value = "classes", ",".join(map(str, classes))
    path.write_bytes(onx.SerializeToString())
    return path
