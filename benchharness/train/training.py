"""Candidates trained on the fly, and `export: onnx`.

A candidate with `train: sklearn.ensemble.RandomForestClassifier` is fitted on the train split
with its `params`, saved to the run's work folder, and from there measured like any model
file (in a child process). With `export: onnx` the fitted model is converted with skl2onnx
and the ONNX file is what gets measured; the fitted original stays on the candidate so that
the run can report parity between the two.
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path

import pandas as pd

from benchharness.adapters.pickles import pickles_refused
from benchharness.context import CandidateRun, RunContext
from benchharness.errors import MissingExtraError, ModelError, UserError
from benchharness.measure.samples import safe_name


def import_estimator(path: str):
    module_name, _, cls_name = path.rpartition(".")
    if not module_name:
        raise ModelError(f"'train' must be a dotted class path like sklearn.linear_model.LogisticRegression, got {path!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelError(f"cannot import {module_name!r} for train: {path!r} ({exc})") from None
    cls = getattr(module, cls_name, None)
    if cls is None:
        raise ModelError(f"module {module_name!r} has no class {cls_name!r} (train: {path!r})")
    return cls


def fit_estimator(spec: dict, X, y, preprocessor=None):
    """Fit the `train:` class with its params (behind `preprocessor` when given, as a Pipeline)."""
    cls = import_estimator(spec["train"])
    try:
        est = cls(**spec["params"])
    except TypeError as exc:
        raise ModelError(f"bad params for {spec['train']}: {exc}") from None
    _check_task(spec["train"], est, y)
    if preprocessor is not None:
        from sklearn.pipeline import Pipeline

        est = Pipeline([("preprocess", preprocessor), ("model", est)])
    t0 = time.perf_counter()
    try:
        est.fit(X, y)
    except Exception as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ModelError(
            f"training {spec['train']} failed: {type(exc).__name__}: {first_line}{_input_hint(spec, X)}"
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


def _input_hint(spec: dict, X) -> str:
    """What to do when the features are text or have gaps and the candidate has no preprocessing."""
    if spec.get("preprocess") or not isinstance(X, pd.DataFrame):
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


def export_onnx(est, n_features: int, path: Path) -> Path:
    """Convert a fitted scikit-learn estimator to ONNX (float32 input, plain tensors)."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    options = {}
    if hasattr(est, "predict_proba"):
        options = {id(est): {"zipmap": False}}
    try:
        onx = convert_sklearn(
            est, initial_types=[("input", FloatTensorType([None, n_features]))],
            options=options, target_opset={"": 17, "ai.onnx.ml": 3},
        )
    except Exception as exc:
        raise ModelError(f"cannot export {type(est).__name__} to ONNX: {type(exc).__name__}: {exc}") from None
    return write_onnx(onx, getattr(est, "classes_", None), path)


def write_onnx(onx, classes, path: Path) -> Path:
    """Save an exported model with its class labels as `classes` metadata (the ONNX adapter reads them)."""
    if classes is not None:
        meta = onx.metadata_props.add()
        meta.key, meta.value = "classes", ",".join(map(str, classes))
    path.write_bytes(onx.SerializeToString())
    return path


def preprocessor(spec: dict, X_train: pd.DataFrame):
    """The `preprocess: auto` step for this candidate, or None."""
    if spec.get("preprocess") != "auto":
        return None
    from benchharness.train.preprocess import auto_preprocessor

    # an ONNX export takes one float tensor: columns by position, not by name
    return auto_preprocessor(X_train, by_position=spec["export"] == "onnx")


def _text_columns(X: pd.DataFrame) -> str:
    from benchharness.train.preprocess import non_numeric_columns

    return ", ".join(map(str, non_numeric_columns(X)))


def new_result(spec: dict) -> dict:
    return {
        "name": spec["name"],
        "role": "baseline" if spec["baseline"] else "candidate",
        "status": "ok",
        "error": None,
        "source": spec["model"] or f"train: {spec['train']}",
        "model": None,
    }


def resolve_candidate(ctx: RunContext, cand: CandidateRun) -> None:
    spec = cand.spec
    if spec.get("preprocess") and (spec["model"] or _native(spec["train"])):
        raise ModelError(f"preprocess: {spec['preprocess']} applies to scikit-learn classes given as `train:`, "
                         f"not to {'model: ' + spec['model'] if spec['model'] else 'train: ' + spec['train']}")
    if spec["model"]:
        cand.model_path = spec["model"]
        cand.model_format = spec["format"]
        from benchharness.adapters.pickles import guard_pickle

        guard_pickle(spec["model"], spec["format"], warn=lambda line: ctx.progress(f"[{cand.name}] {line}"))
        return
    ds = ctx.dataset
    if ds is None:
        raise ModelError(f"'train: {spec['train']}' needs a data section to train on")
    from benchharness.train.native import native_kind, resolve

    if native_kind(spec["train"]):  # XGBoost / LightGBM: native files, onnxmltools export
        return resolve(ctx, cand, native_kind(spec["train"]))
    X = ds.X_train.to_numpy() if spec["export"] == "onnx" else ds.X_train
    if spec["export"] == "onnx" and X.dtype.kind not in "fiub":
        raise ModelError(f"export: onnx needs numeric features; non-numeric columns: {_text_columns(ds.X_train)}")
    ctx.progress(f"[{cand.name}] training {spec['train']}")
    est, fit_s = fit_estimator(spec, X, ds.y_train, preprocessor(spec, ds.X_train))
    cand.trained_model = est
    cand.result["training"] = {"estimator": spec["train"], "params": spec["params"], "fit_s": round(fit_s, 4),
                               "preprocess": spec.get("preprocess")}
    import joblib

    stem = ctx.work_dir / safe_name(cand.name)
    if spec["export"] == "onnx":
        cand.model_path = str(export_onnx(est, X.shape[1], stem.with_suffix(".onnx")))
        cand.original_of = cand.name
    elif pickles_refused():  # a team that accepts no pickle: the children read a skops file
        cand.model_path, cand.model_format, trusted = save_skops(est, stem.with_suffix(".skops"))
        cand.spec = {**spec, "options": {**spec["options"], "trusted": trusted}}
    else:
        # our own object, written and read by this run only: joblib is safe here
        joblib.dump(est, stem.with_suffix(".joblib"))
        cand.model_path = str(stem.with_suffix(".joblib"))


def save_skops(est, path: Path) -> tuple[str, str, list[str]]:
    """Write a model this run trained as skops; its types are trusted (we built it)."""
    try:
        import skops.io as sio
    except ImportError:
        raise MissingExtraError("training under --no-pickle", "skops", "skops") from None
    sio.dump(est, path)
    return str(path), "skops", list(sio.get_untrusted_types(file=path))


def _native(train: str) -> bool:
    from benchharness.train.native import native_kind

    return native_kind(train) is not None


def resolve_candidates_stage(ctx: RunContext) -> None:
    for spec in ctx.suite["candidates"]:
        cand = CandidateRun(spec=spec, result=new_result(spec))
        ctx.candidates.append(cand)
        ctx.results["candidates"].append(cand.result)
        try:
            resolve_candidate(ctx, cand)
        except UserError as exc:
            cand.fail(str(exc))
            ctx.progress(f"[{cand.name}] FAILED: {exc}")
