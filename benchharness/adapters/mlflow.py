"""A model from MLflow's registry: `models:/NAME/VERSION` or `models:/NAME@ALIAS`.

The version's files are downloaded to a temporary folder (removed on close) and loaded with
the flavour MLflow recorded in its MLmodel file:

- onnx, xgboost (native booster file), lightgbm (native booster file): the file inside is
  loaded by our own adapter for that format, with the same options and thread settings;
- sklearn: MLflow 3 saves scikit-learn models with skops by default: our skops adapter loads
  the file with the types MLflow recorded as trusted (no code runs on load). A model saved as
  pickle/cloudpickle is loaded with `mlflow.sklearn.load_model`, which RUNS CODE FROM THE
  FILE: load only models you trust (`options.trust_pickle: false` refuses them);
- anything else: `mlflow.pyfunc.load_model`, fed a DataFrame (a pyfunc model may unpickle
  too: the same warning applies).

The registry is the one `options.tracking_uri` names (else MLFLOW_TRACKING_URI, else
MLflow's default). Each load downloads the version again, outside any timed loop (the
load time measured includes the download).
"""

from __future__ import annotations

import os
import shutil
import tempfile

import numpy as np
import pandas as pd
import yaml

from benchharness.adapters.base import ModelAdapter, ModelInfo, Signature, TensorSpec, file_digest
from benchharness.adapters.extras import import_extra
from benchharness.errors import ModelError

PICKLE_FORMATS = ("pickle", "cloudpickle")
#: flavour -> (adapter format of the file inside, key of the file in the flavour's MLmodel entry)
FILE_FLAVOURS = {"onnx": ("onnx", "data"), "xgboost": ("xgboost", "data"), "lightgbm": ("lightgbm", "data")}


class MlflowAdapter(ModelAdapter):
    format = "mlflow"
    accepted_options = frozenset({"tracking_uri", "trust_pickle", "trusted", "intra_op_num_threads",
                                  "inter_op_num_threads", "threads", "classes"})

    def _load(self) -> None:
        mlflow = import_extra("mlflow", package="mlflow", extra="mlflow", what="models:/ candidates")
        uri = self.options.get("tracking_uri")
        if uri:
            mlflow.set_tracking_uri(uri)
            mlflow.set_registry_uri(uri)
        self._dir = tempfile.mkdtemp(prefix="bench-mlflow-")
        self.inner: ModelAdapter | None = None
        try:
            self.local = mlflow.artifacts.download_artifacts(artifact_uri=self.source, dst_path=self._dir)
            with open(os.path.join(self.local, "MLmodel")) as fh:
                self.mlmodel = yaml.safe_load(fh) or {}
        except Exception as exc:
            self.close()
            raise ModelError(f"cannot fetch {self.source} from the MLflow registry "
                             f"({uri or mlflow.get_tracking_uri()}): {type(exc).__name__}: {str(exc)[:300]}") from None
        self.size_bytes, self.sha256 = file_digest(self.local)
        flavors = self.mlmodel.get("flavors") or {}
        try:
            self._load_flavour(mlflow, flavors)
        except ModelError:
            self.close()
            raise
        except Exception as exc:
            self.close()
            raise ModelError(f"cannot load {self.source} with MLflow's {self.flavour} flavour: "
                             f"{type(exc).__name__}: {str(exc)[:300]}") from None

    def _load_flavour(self, mlflow, flavors: dict) -> None:
        from benchharness.adapters.registry import adapter_class, find_format

        for flavour, (fmt, key) in FILE_FLAVOURS.items():
            data = (flavors.get(flavour) or {}).get(key)
            if data and not str(data).endswith((".pkl", ".pickle")):
                self.flavour = flavour
                cls = adapter_class(find_format("", fmt))
                opts = {k: v for k, v in self.options.items() if k in cls.accepted_options}
                self.inner = cls(os.path.join(self.local, data), opts)
                self.security = f"{flavour} file: no code runs on load"
                return
        sk = flavors.get("sklearn")
        self.flavour = "sklearn" if sk else "python_function"
        serialization = (sk or {}).get("serialization_format", "unknown" if not sk else "cloudpickle")
        if serialization == "skops":  # the safe format: our skops adapter, with MLflow's trusted types
            from benchharness.adapters.sklearn import SkopsAdapter

            trusted = list(sk.get("skops_trusted_types") or []) + list(self.options.get("trusted") or [])
            self.inner = SkopsAdapter(os.path.join(self.local, sk["pickled_model"]), {"trusted": trusted})
            self.security = SkopsAdapter.security_note
            return
        pickled = serialization in PICKLE_FORMATS or not sk
        if pickled and not self.options.get("trust_pickle", True):
            raise ModelError(f"refusing to load {self.source}: saved as {serialization} (runs code on load) "
                             "and options.trust_pickle is false")
        self.security = (f"MLflow {self.flavour} model saved as {serialization}: loading runs code from "
                         "the file; load only models you trust (safe: skops or ONNX)" if pickled
                         else "skops: no code runs on load; only trusted types are rebuilt")
        if sk:
            self.model = mlflow.sklearn.load_model(self.local)
            self._frame = hasattr(self.model, "feature_names_in_")
        else:
            self.model = mlflow.pyfunc.load_model(self.local)
            self._frame = True
        if not hasattr(self.model, "predict"):
            raise ModelError(f"{self.source} holds a {type(self.model).__name__}, which has no predict()")

    def close(self) -> None:
        if getattr(self, "inner", None) is not None:
            self.inner.close()
        if getattr(self, "_dir", None):
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    # -- data path: the inner adapter's, or the loaded object's -----------------------------
    def prepare(self, X):
        if self.inner is not None:
            return self.inner.prepare(X)
        if isinstance(X, pd.DataFrame) and not self._frame:
            return X.to_numpy()
        return X

    def take(self, X_native, start, stop):
        return self.inner.take(X_native, start, stop) if self.inner else super().take(X_native, start, stop)

    def n_rows(self, X_native):
        return self.inner.n_rows(X_native) if self.inner else super().n_rows(X_native)

    def predict(self, X):
        return self.inner.predict(X) if self.inner else np.asarray(self.model.predict(X))

    def predict_fn(self):
        return self.inner.predict_fn() if self.inner else self.model.predict

    @property
    def has_proba(self) -> bool:
        return self.inner.has_proba if self.inner else hasattr(self.model, "predict_proba")

    def predict_proba(self, X):
        if self.inner:
            return self.inner.predict_proba(X)
        if not self.has_proba:
            return super().predict_proba(X)
        return np.asarray(self.model.predict_proba(X))

    @property
    def classes(self):
        return self.inner.classes if self.inner else getattr(self.model, "classes_", None)

    # -- description ----------------------------------------------------------------------
    @property
    def signature(self) -> Signature:
        if self.inner:
            return self.inner.signature
        names = getattr(self.model, "feature_names_in_", None)
        if names is not None:
            return Signature(inputs=[TensorSpec(str(n), "float64", [None, 1]) for n in names])
        n = getattr(self.model, "n_features_in_", None)
        return Signature(inputs=[TensorSpec("X", "float64", [None, int(n) if n is not None else None])])

    @property
    def info(self) -> ModelInfo:
        if self.inner:
            inner = self.inner.info
            runtime, version, details = inner.runtime, inner.runtime_version, dict(inner.details)
        else:
            runtime, version, details = "mlflow", self.mlmodel.get("mlflow_version", "?"), {
                "estimator": type(self.model).__name__}
        details.update({"model_uri": self.source, "flavour": self.flavour, "security": self.security,
                        "mlflow_run_id": self.mlmodel.get("run_id"),
                        "mlflow_model_id": self.mlmodel.get("model_id")})
        return ModelInfo(format=self.format, runtime=runtime, runtime_version=str(version),
                         path=self.source, size_bytes=self.size_bytes, sha256=self.sha256, details=details)
