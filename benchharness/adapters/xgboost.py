"""XGBoost models in XGBoost's own formats (.json, .ubj), run by the xgboost Booster.

The Booster is called with `inplace_predict` on a float32 matrix: no DMatrix per request,
which is what a serving stack does. Labels come from the probabilities (argmax), mapped to
the `classes` option or, failing that, a `classes` attribute that benchharness writes when
it trains the model, else 0..k-1 (XGBoost itself only knows encoded labels).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from benchharness.adapters.base import ModelAdapter, ModelInfo, Signature, file_digest
from benchharness.adapters.extras import import_extra
from benchharness.adapters.scores import (
    labels_from_proba,
    numeric_matrix,
    proba_matrix,
    resolve_classes,
)
from benchharness.errors import ModelError

#: objectives whose output is a probability (binary: of the positive class; multi: per class)
PROBA_OBJECTIVES = {"binary:logistic", "multi:softprob"}
#: objectives whose output is already a class index
LABEL_OBJECTIVES = {"multi:softmax", "binary:hinge"}
CLASSES_ATTR = "benchharness_classes"


def xgb_module():
    return import_extra("xgboost", package="xgboost-cpu", extra="xgboost", what="XGBoost models")


class XGBoostAdapter(ModelAdapter):
    format = "xgboost"
    accepted_options = frozenset({"classes", "threads"})

    def _load(self) -> None:
        xgb = xgb_module()
        try:
            self.booster = xgb.Booster(model_file=self.source)
        except xgb.core.XGBoostError as exc:
            first = str(exc).strip().splitlines()[0][:200]
            raise ModelError(f"cannot load XGBoost model {self.source!r}: {first}") from None
        if self.options.get("threads"):
            self.booster.set_param({"nthread": int(self.options["threads"])})
        learner = json.loads(self.booster.save_config())["learner"]
        self.objective = learner["objective"]["name"]
        n_class = int(learner["learner_model_param"].get("num_class", "0") or 0)
        self.n_features = self.booster.num_features()
        self.is_classifier = self.objective.startswith(("binary:", "multi:"))
        n_classes = max(n_class, 2) if self.is_classifier else 0
        saved = self.booster.attr(CLASSES_ATTR)
        option = self.options.get("classes", json.loads(saved) if saved else None)
        self._classes = resolve_classes(option, n_classes, self.source) if self.is_classifier else None
        self._version = xgb.__version__

    @property
    def has_proba(self) -> bool:
        return self.objective in PROBA_OBJECTIVES

    @property
    def classes(self) -> np.ndarray | None:
        return self._classes

    @property
    def signature(self) -> Signature:
        return Signature.matrix(self.n_features, "float32", "label" if self.is_classifier else "value",
                                len(self._classes) if self.has_proba else None)

    @property
    def info(self) -> ModelInfo:
        size, sha = file_digest(self.source)
        fmt = "ubj" if self.source.lower().endswith(".ubj") else "json"
        return ModelInfo(
            format=self.format, runtime="xgboost", runtime_version=self._version,
            path=os.path.abspath(self.source), size_bytes=size, sha256=sha,
            details={"objective": self.objective, "file_format": fmt,
                     "trees": self.booster.num_boosted_rounds()},
        )

    def prepare(self, X) -> np.ndarray:
        return numeric_matrix(X, self.source)

    def predict_fn(self) -> Callable[[Any], Any]:
        # the runtime's own call; validate_features off: the matrix was prepared once
        return functools.partial(self.booster.inplace_predict, validate_features=False)

    def predict_proba(self, X_native) -> np.ndarray:
        if not self.has_proba:
            return super().predict_proba(X_native)
        return proba_matrix(self.booster.inplace_predict(X_native, validate_features=False))

    def predict(self, X_native) -> np.ndarray:
        raw = self.booster.inplace_predict(X_native, validate_features=False)
        if self.objective in LABEL_OBJECTIVES:
            return self._classes[np.asarray(raw).astype(int).reshape(-1)]
        if self.has_proba:
            return labels_from_proba(proba_matrix(raw), self._classes)
        if self.is_classifier:  # binary:logitraw: a margin, positive class above 0
            return self._classes[(np.asarray(raw).reshape(-1) > 0).astype(int)]
        return np.asarray(raw)


def require() -> None:
    xgb_module()


def save_trained(est, stem, classes: list | None) -> tuple[str, dict]:
    """Save a fitted XGBoost sklearn-API model as .ubj, with its real class labels inside."""
    booster = est.get_booster()
    if classes is not None:
        booster.set_attr(**{CLASSES_ATTR: json.dumps(classes)})
    path = f"{stem}.ubj"
    booster.save_model(path)
    return path, {}
