"""LightGBM models in LightGBM's own text format, run by the lightgbm Booster.

The text format has no standard suffix; the registry takes `.lgb.txt` / `.lgb` or
`format: lightgbm`. Labels come from the probabilities (argmax), mapped to the `classes`
option (LightGBM's file stores only encoded labels 0..k-1).
"""

from __future__ import annotations

import functools
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

CLASSIFICATION_OBJECTIVES = {"binary", "multiclass", "softmax", "multiclassova", "cross_entropy"}


def lgb_module():
    return import_extra("lightgbm", package="lightgbm", extra="lightgbm", what="LightGBM models")


class LightGBMAdapter(ModelAdapter):
    format = "lightgbm"
    accepted_options = frozenset({"classes", "threads"})

    def _load(self) -> None:
        lgb = lgb_module()
        try:
            self.booster = lgb.Booster(model_file=self.source)
        except lgb.basic.LightGBMError as exc:
            first = str(exc).strip().splitlines()[0][:200]
            raise ModelError(f"cannot load LightGBM model {self.source!r}: {first}") from None
        self.objective = str(self.booster.params.get("objective", "regression")).split()[0]
        self.n_features = self.booster.num_feature()
        self.is_classifier = self.objective in CLASSIFICATION_OBJECTIVES
        n_classes = max(self.booster.num_model_per_iteration(), 2) if self.is_classifier else 0
        option = self.options.get("classes")
        self._classes = resolve_classes(option, n_classes, self.source) if self.is_classifier else None
        self._predict_kwargs = {"num_threads": int(self.options["threads"])} if self.options.get("threads") else {}
        self._version = lgb.__version__

    @property
    def has_proba(self) -> bool:
        return self.is_classifier

    @property
    def classes(self) -> np.ndarray | None:
        return self._classes

    @property
    def signature(self) -> Signature:
        return Signature.matrix(self.n_features, "float64", "label" if self.is_classifier else "value",
                                len(self._classes) if self.is_classifier else None)

    @property
    def info(self) -> ModelInfo:
        size, sha = file_digest(self.source)
        return ModelInfo(
            format=self.format, runtime="lightgbm", runtime_version=self._version,
            path=os.path.abspath(self.source), size_bytes=size, sha256=sha,
            details={"objective": self.objective, "trees": self.booster.num_trees()},
        )

    def prepare(self, X) -> np.ndarray:
        # float64: LightGBM converts anything else to float64 on every call
        return numeric_matrix(X, self.source, dtype=np.float64)

    def predict_fn(self) -> Callable[[Any], Any]:
        return functools.partial(self.booster.predict, **self._predict_kwargs)

    def predict_proba(self, X_native) -> np.ndarray:
        if not self.is_classifier:
            return super().predict_proba(X_native)
        return proba_matrix(self.booster.predict(X_native, **self._predict_kwargs))

    def predict(self, X_native) -> np.ndarray:
        if self.is_classifier:
            return labels_from_proba(self.predict_proba(X_native), self._classes)
        return self.booster.predict(X_native, **self._predict_kwargs)


def require() -> None:
    lgb_module()


def save_trained(est, stem, classes: list | None) -> tuple[str, dict]:
    """Save a fitted LightGBM sklearn-API model as text; its labels go in adapter options."""
    path = f"{stem}.lgb.txt"
    est.booster_.save_model(path)
    return path, ({"classes": classes} if classes is not None else {})
