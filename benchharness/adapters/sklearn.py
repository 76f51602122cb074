"""scikit-learn models saved with joblib/pickle, or with skops (the safe path).

Loading a pickle or joblib file RUNS CODE from the file: only load files you trust. skops
files are loaded with an explicit list of trusted types instead, and ONNX exports need no
Python object at all.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd

from benchharness.adapters.base import ModelAdapter, ModelInfo, Signature, TensorSpec, file_digest
from benchharness.adapters.pickles import pickles_refused, refusal
from benchharness.errors import MissingExtraError, ModelError


class SklearnAdapter(ModelAdapter):
    format = "sklearn"
    accepted_options = frozenset({"trust_pickle"})

    def _load(self) -> None:
        if not self.options.get("trust_pickle", True):
            raise ModelError(f"refusing to load pickle {self.source}: options.trust_pickle is false")
        if pickles_refused():
            raise ModelError(refusal(self.source))
        import os

        import joblib

        with contextlib.suppress(OSError):
            if os.path.isfile(self.source) and os.path.getsize(self.source) == 0:
                raise ModelError(f"cannot load {self.source} as a joblib/pickle model: the file is "
                                 "empty (0 bytes)")
        try:
            self.model = joblib.load(self.source)
        except EOFError:  # Python says nothing more: the file stops before the pickle does
            raise ModelError(f"cannot load {self.source} as a joblib/pickle model: the file ends "
                             "too early (truncated or not fully copied)") from None
        except Exception as exc:
            raise ModelError(f"cannot load {self.source} as a joblib/pickle model: {type(exc).__name__}: {exc}") from None
        self._check_model()

    security_note = "pickle/joblib: loading runs code from the file; load only files you trust"

    def _check_model(self) -> None:
        if not hasattr(self.model, "predict"):
            raise ModelError(f"{self.source} holds a {type(self.model).__name__}, which has no predict()")

    # -- data path ------------------------------------------------------------------
    def prepare(self, X):
        # models fitted on a frame want the frame (names checked); others get the array
        if isinstance(X, pd.DataFrame) and not hasattr(self.model, "feature_names_in_"):
            return X.to_numpy()
        return X

    def predict(self, X):
        return np.asarray(self.model.predict(X))

    @property
    def has_proba(self) -> bool:
        return hasattr(self.model, "predict_proba")

    def predict_proba(self, X):
        if not self.has_proba:
            return super().predict_proba(X)
        return np.asarray(self.model.predict_proba(X))

    @property
    def classes(self):
        return getattr(self.model, "classes_", None)

    def predict_fn(self):
        return self.model.predict

    # -- description ------------------------------------------------------------------
    @property
    def signature(self) -> Signature:
        n = getattr(self.model, "n_features_in_", None)
        names = getattr(self.model, "feature_names_in_", None)
        dtype = "float64"
        if names is not None:
            return Signature(inputs=[TensorSpec(str(nm), dtype, [None, 1]) for nm in names])
        return Signature(inputs=[TensorSpec("X", dtype, [None, int(n) if n is not None else None])])

    @property
    def info(self) -> ModelInfo:
        import sklearn

        size, sha = file_digest(self.source)
        return ModelInfo(
            format=self.format, runtime="scikit-learn", runtime_version=sklearn.__version__,
            path=self.source, size_bytes=size, sha256=sha,
            details={"estimator": type(self.model).__name__, "security": self.security_note},
        )


class SkopsAdapter(SklearnAdapter):
    """skops: no code runs on load; only the types listed as trusted are rebuilt."""

    format = "skops"
    security_note = "skops: no code runs on load; only trusted types are rebuilt"
    accepted_options = frozenset({"trusted"})

    def _load(self) -> None:
        try:
            import skops.io as sio
        except ImportError:
            raise MissingExtraError("loading .skops files", "skops", "skops") from None
        try:
            untrusted = sio.get_untrusted_types(file=self.source)
            trusted = list(self.options.get("trusted", []))
            left = [t for t in untrusted if t not in trusted]
            if left:
                raise ModelError(
                    f"{self.source} contains types not trusted by default: {left}; "
                    "list them under options.trusted if you trust them"
                )
            self.model = sio.load(self.source, trusted=untrusted)
        except ModelError:
            raise
        except Exception as exc:
            raise ModelError(f"cannot load {self.source} as a skops file: {type(exc).__name__}: {exc}") from None
        self._check_model()
