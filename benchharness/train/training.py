"""Candidates trained on the fly, and `export: onnx`.

A candidate with `train: sklearn.ensemble.RandomForestClassifier` is fitted on the train split
with its `params`, saved to the run's work folder, and from there measured like any model
file (in a child process). With `export: onnx` the fitted model is converted with skl2onnx
and the ONNX file is what gets measured; the fitted original stays on the candidate so that
the run can report parity between the two.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from benchharness.adapters.pickles import pickles_refused
from benchharness.context import CandidateRun, RunContext
from benchharness.errors import MissingExtraError, ModelError, UserError
from benchharness.run_folder import safe_name
from benchharness.suite import CandidateSettings
from benchharness.train.fit import fit_estimator, write_onnx


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


def preprocessor(spec: CandidateSettings, X_train: pd.DataFrame):
    """The `preprocess: auto` step for this candidate, or None."""
    if spec.preprocess != "auto":
        return None
    from benchharness.train.preprocess import auto_preprocessor

    # an ONNX export takes one float tensor: columns by position, not by name
    return auto_preprocessor(X_train, by_position=spec.export == "onnx")


def _text_columns(X: pd.DataFrame) -> str:
    from benchharness.train.preprocess import non_numeric_columns

    return ", ".join(map(str, non_numeric_columns(X)))


def new_result(spec: CandidateSettings) -> dict:
    return {
        "name": spec.name,
        "role": "baseline" if spec.baseline else "candidate",
        "status": "ok",
        "error": None,
        "source": spec.model or f"train: {spec.train}",
        "model": None,
    }


def resolve_candidate(ctx: RunContext, cand: CandidateRun) -> None:
    spec = cand.spec
    if spec.preprocess and (spec.model or _native(spec.train)):
        raise ModelError(f"preprocess: {spec.preprocess} applies to scikit-learn classes given as `train:`, "
                         f"not to {'model: ' + spec.model if spec.model else 'train: ' + str(spec.train)}")
    if spec.model:
        cand.model_path = spec.model
        cand.model_format = spec.format
        from benchharness.adapters.pickles import guard_pickle

        guard_pickle(spec.model, spec.format, warn=lambda line: ctx.progress(f"[{cand.name}] {line}"))
        return
    ds = ctx.dataset
    if ds is None:
        raise ModelError(f"'train: {spec.train}' needs a data section to train on")
    from benchharness.train.native import native_kind, resolve

    if native_kind(spec.train):  # XGBoost / LightGBM: native files, onnxmltools export
        return resolve(ctx, cand, native_kind(spec.train))
    X = ds.X_train.to_numpy() if spec.export == "onnx" else ds.X_train
    if spec.export == "onnx" and X.dtype.kind not in "fiub":
        raise ModelError(f"export: onnx needs numeric features; non-numeric columns: {_text_columns(ds.X_train)}")
    ctx.progress(f"[{cand.name}] training {spec.train}")
    est, fit_s = fit_estimator(spec.train, spec.params, X, ds.y_train, preprocessor(spec, ds.X_train))
    cand.trained_model = est
    cand.result["training"] = {"estimator": spec.train, "params": spec.params, "fit_s": round(fit_s, 4),
                               "preprocess": spec.preprocess}
    import joblib

    stem = ctx.work_dir / safe_name(cand.name)
    if spec.export == "onnx":
        cand.model_path = str(export_onnx(est, X.shape[1], stem.with_suffix(".onnx")))
        cand.original_of = cand.name
    elif pickles_refused():  # a team that accepts no pickle: the children read a skops file
        cand.model_path, cand.model_format, trusted = save_skops(est, stem.with_suffix(".skops"))
        cand.spec = dataclasses.replace(spec, options={**spec.options, "trusted": trusted})
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
    for spec in ctx.suite.candidates:
        cand = CandidateRun(spec=spec, result=new_result(spec))
        ctx.candidates.append(cand)
        ctx.results["candidates"].append(cand.result)
        try:
            resolve_candidate(ctx, cand)
        except UserError as exc:
            cand.fail(str(exc))
            ctx.progress(f"[{cand.name}] FAILED: {exc}")
