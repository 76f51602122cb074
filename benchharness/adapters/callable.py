"""A Python callable or class named `module:attr`.

A function is called as `f(X)` and returns predictions. A class is instantiated with the
candidate's `options` as keyword arguments and must have `predict(X)`; `predict_proba(X)` and
`classes_` are used when present. Importing the module runs its code, like any import.
"""

from __future__ import annotations

import importlib
import inspect
import sys

import numpy as np

from benchharness.adapters.base import ModelAdapter, ModelInfo, Signature, TensorSpec
from benchharness.errors import ModelError


class CallableAdapter(ModelAdapter):
    format = "callable"
    accepted_options = frozenset({"kwargs", "sys_path", "n_features"})

    def _load(self) -> None:
        module_name, _, attr = self.source.partition(":")
        for p in self.options.get("sys_path", []):
            if p not in sys.path:
                sys.path.insert(0, p)
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ModelError(f"cannot import module {module_name!r} for {self.source!r}: {exc}") from None
        obj = module
        for part in attr.split("."):
            if not hasattr(obj, part):
                raise ModelError(f"module {module_name!r} has no attribute {attr!r}")
            obj = getattr(obj, part)
        self._module = module
        if inspect.isclass(obj):
            self.obj = obj(**self.options.get("kwargs", {}))
            if not hasattr(self.obj, "predict"):
                raise ModelError(f"{self.source} is a class without a predict() method")
            self._predict = self.obj.predict
        elif callable(obj):
            self.obj = obj
            self._predict = obj
        else:
            raise ModelError(f"{self.source} is a {type(obj).__name__}, not a callable or class")

    def predict(self, X):
        return np.asarray(self._predict(X))

    @property
    def has_proba(self) -> bool:
        return hasattr(self.obj, "predict_proba")

    def predict_proba(self, X):
        if not self.has_proba:
            return super().predict_proba(X)
        return np.asarray(self.obj.predict_proba(X))

    @property
    def classes(self):
        return getattr(self.obj, "classes_", None)

    def predict_fn(self):
        return self._predict

    @property
    def signature(self) -> Signature:
        n = self.options.get("n_features") or getattr(self.obj, "n_features_in_", None)
        return Signature(inputs=[TensorSpec("X", "float64", [None, n])])

    @property
    def info(self) -> ModelInfo:
        path = getattr(self._module, "__file__", None)
        return ModelInfo(
            format=self.format, runtime="python", runtime_version=sys.version.split()[0],
            path=path, details={"callable": self.source},
        )
