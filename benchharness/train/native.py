"""XGBoost and LightGBM candidates trained on the fly (`train: xgboost.XGBClassifier`).

Like the scikit-learn ones (`training.py`), but saved in the library's own format (XGBoost
.ubj, LightGBM text), not as a pickle, and exported to ONNX with onnxmltools on
`export: onnx`. XGBoost wants class labels 0..k-1: other labels are encoded for training and
the real labels travel with the model (an XGBoost attribute, the LightGBM adapter's
`classes` option, the ONNX `classes` metadata), so predictions come back as the data's labels.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from sklearn.base import is_classifier

from benchharness.context import CandidateRun, RunContext
from benchharness.errors import ModelError
from benchharness.suite import CandidateSettings

KINDS = ("xgboost", "lightgbm")
ONNX_OPSET = 15  # the highest onnxmltools' tree converters support


def native_kind(train: str | None) -> str | None:
    """'xgboost' / 'lightgbm' when the `train:` class comes from that library, else None."""
    top = (train or "").split(".", 1)[0]
    return top if top in KINDS else None


def encode_labels(y) -> tuple[np.ndarray, list | None]:
    """(labels 0..k-1, original classes) for a classifier's target; classes None if already 0..k-1."""
    values = np.asarray(y)
    classes = np.unique(values)
    if values.dtype.kind in "iu" and np.array_equal(classes, np.arange(len(classes))):
        return values, None
    return np.searchsorted(classes, values), classes.tolist()


def resolve(ctx: RunContext, cand: CandidateRun, kind: str) -> None:
    """Fit, save (native, or ONNX on `export: onnx`) and point the candidate at the file."""
    from benchharness.run_folder import safe_name
    from benchharness.train.fit import fit_estimator

    spec = cand.spec
    module = _adapter_module(kind)
    module.require()
    export = spec.export == "onnx"
    X = ctx.dataset.X_train
    if export:
        X = X.to_numpy()
        if X.dtype.kind not in "fiub":
            raise ModelError("export: onnx needs numeric features; the data has non-numeric columns")
    y, classes = ctx.dataset.y_train, None
    probe = _instance(spec)
    if is_classifier(probe):  # sklearn's own test, tags included
        y, classes = encode_labels(y)
    ctx.progress(f"[{cand.name}] training {spec.train}")
    est, fit_s = fit_estimator(spec.train, spec.params, X, y)
    cand.trained_model = est if classes is None else DecodedLabels(est, classes)
    cand.result["training"] = {"estimator": spec.train, "params": spec.params, "fit_s": round(fit_s, 4)}
    if classes is not None:
        cand.result["training"]["classes"] = classes
    stem = ctx.work_dir / safe_name(cand.name)
    if export:
        cand.model_path = str(export_onnx(kind, est, X.shape[1], stem.with_suffix(".onnx"), classes))
        cand.original_of = cand.name
        return
    path, options = module.save_trained(est, stem, classes)
    cand.model_path = str(path)
    cand.model_format = kind
    if options:  # e.g. LightGBM's classes: the adapter needs them, the file cannot hold them
        cand.spec = dataclasses.replace(spec, options={**spec.options, **options})


class DecodedLabels:
    """A classifier trained on encoded labels that predicts the data's own labels, so that
    whoever compares it (parity with its ONNX export) sees what the export sees."""

    def __init__(self, est, classes: list):
        self.est = est
        self.classes_ = np.asarray(classes)

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.asarray(self.est.predict(X)).astype(int)]

    def predict_proba(self, X) -> np.ndarray:
        return self.est.predict_proba(X)

    def __getattr__(self, name):
        return getattr(self.est, name)


def _instance(spec: CandidateSettings):
    from benchharness.train.fit import import_estimator

    try:
        return import_estimator(spec.train)(**spec.params)
    except TypeError as exc:
        raise ModelError(f"bad params for {spec.train}: {exc}") from None


def _adapter_module(kind: str):
    if kind == "xgboost":
        from benchharness.adapters import xgboost as module
    else:
        from benchharness.adapters import lightgbm as module
    return module


def export_onnx(kind: str, est, n_features: int, path: Path, classes: list | None = None) -> Path:
    """Convert a fitted XGBoost/LightGBM sklearn-API model to ONNX with onnxmltools."""
    from benchharness.adapters.extras import import_extra

    onnxmltools = import_extra("onnxmltools", package="onnxmltools", extra=kind, what=f"export: onnx of {kind} models")
    from onnxmltools.convert.common.data_types import FloatTensorType

    initial = [("input", FloatTensorType([None, n_features]))]
    try:
        if kind == "xgboost":
            onx = onnxmltools.convert_xgboost(est, initial_types=initial, target_opset=ONNX_OPSET)
        else:
            onx = onnxmltools.convert_lightgbm(est, initial_types=initial, target_opset=ONNX_OPSET, zipmap=False)
    except Exception as exc:
        raise ModelError(f"cannot export {type(est).__name__} to ONNX: {type(exc).__name__}: {exc}") from None
    for out in onx.graph.output:  # some converters declare a fixed batch of 1: make it free
        dims = out.type.tensor_type.shape.dim
        if len(dims) and dims[0].HasField("dim_value"):
            dims[0].dim_param = "N"
    if classes is not None:
        _decode_label_output(onx, classes)
    from benchharness.train.fit import write_onnx

    return write_onnx(onx, classes if classes is not None else getattr(est, "classes_", None), path)


def _decode_label_output(onx, classes: list) -> None:
    """Make the graph's `label` output the data's labels: Gather(classes, label index).

    The converters emit the encoded index XGBoost was trained on (0..k-1); without this the
    ONNX model would answer 0/1/2 where the data says "setosa"/"versicolor"/"virginica".
    """
    from onnx import TensorProto, helper, numpy_helper

    label = next((o for o in onx.graph.output if o.name == "label"), None)
    if label is None:
        return
    values = np.asarray(classes)
    is_text = values.dtype.kind in "OUS"
    table = numpy_helper.from_array(values.astype(object if is_text else np.int64), name="benchharness_classes")
    for node in onx.graph.node:  # the converter's label now feeds the lookup
        node.output[:] = ["label_index" if o == "label" else o for o in node.output]
    onx.graph.initializer.append(table)
    onx.graph.node.append(helper.make_node("Gather", ["benchharness_classes", "label_index"], ["label"], axis=0))
    elem = TensorProto.STRING if is_text else TensorProto.INT64
    label.type.tensor_type.elem_type = elem
