"""PyTorch models on CPU: TorchScript archives (.pt) and torch.export programs (.pt2).

TorchScript is deprecated upstream since torch 2.9 (still loads); prefer torch.export.

Both load without the Python class that defined the model (no pickle of user code):
`torch.jit.load` for TorchScript, `torch.export.load(...).module()` for exported programs.
The model takes one float32 tensor (rows, features). Its output decides the task unless
the `task` option says otherwise: one column is a regression value, several columns are
class scores. Scores that are not already probabilities (rows >= 0 summing to 1) go through
softmax, so `predict_proba` is always a probability; `output: logits|proba` forces either.
"""

from __future__ import annotations

import os
import warnings
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

TASKS = ("auto", "classification", "binary", "regression")
OUTPUTS = ("auto", "logits", "proba")


def torch_module():
    return import_extra("torch", package="torch", extra="torch", what="PyTorch models")


class _TorchAdapter(ModelAdapter):
    accepted_options = frozenset({"task", "output", "classes", "threads", "n_features"})
    runtime_name = "torch"

    def _load(self) -> None:
        self.torch = torch_module()
        for key, allowed in (("task", TASKS), ("output", OUTPUTS)):
            if self.options.get(key, "auto") not in allowed:
                raise ModelError(f"option {key!r} must be one of {', '.join(allowed)}, got {self.options[key]!r}")
        if self.options.get("threads"):
            self.torch.set_num_threads(int(self.options["threads"]))
        try:
            self.module, self.n_features = self._load_module()
        except ModelError:
            raise
        except Exception as exc:  # torch raises RuntimeError/ValueError/zipfile errors
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise ModelError(f"cannot load {self.format} model {self.source!r}: {first}") from None
        self.n_features = self.options.get("n_features", self.n_features)
        self._probe()

    def _load_module(self) -> tuple[Callable, int | None]:
        raise NotImplementedError

    def _probe(self) -> None:
        """Run one zero row to learn the output width (task and class count)."""
        if self.n_features is None:
            self.task, self._classes = "unknown", None
            return
        out = self._call(self.torch.zeros((1, self.n_features), dtype=self.torch.float32))
        width = 1 if out.ndim == 1 else out.shape[1]
        task = self.options.get("task", "auto")
        if task == "auto":
            task = "classification" if width > 1 else "regression"
        self.task = task
        n_classes = 2 if task == "binary" else width
        self._classes = resolve_classes(self.options.get("classes"), n_classes, self.source) if task != "regression" else None

    def _call(self, x):
        with self.torch.inference_mode():
            out = self.module(x)
        if isinstance(out, (tuple, list)):
            out = out[0]
        return out.numpy()

    @property
    def has_proba(self) -> bool:
        return self._classes is not None

    @property
    def classes(self) -> np.ndarray | None:
        return self._classes

    @property
    def signature(self) -> Signature:
        return Signature.matrix(self.n_features, "float32", "value" if self.task == "regression" else "label",
                                len(self._classes) if self.has_proba else None)

    @property
    def info(self) -> ModelInfo:
        size, sha = file_digest(self.source)
        return ModelInfo(
            format=self.format, runtime=self.runtime_name, runtime_version=self.torch.__version__,
            path=os.path.abspath(self.source), size_bytes=size, sha256=sha,
            details={"task": self.task, "device": "cpu", "threads": self.torch.get_num_threads()},
        )

    def prepare(self, X):
        # a copy: torch warns on (and may write to) the read-only arrays pandas hands out
        return self.torch.from_numpy(np.array(numeric_matrix(X, self.source)))

    def predict_fn(self) -> Callable[[Any], Any]:
        torch, module = self.torch, self.module

        def call(x):
            with torch.inference_mode():
                return module(x)

        return call

    def predict_proba(self, X_native) -> np.ndarray:
        if not self.has_proba:
            return super().predict_proba(X_native)
        scores = self._call(X_native)
        if self.task == "binary":
            scores = scores.reshape(-1)
            return proba_matrix(scores if self._is_proba(scores) else 1.0 / (1.0 + np.exp(-scores)))
        return scores if self._is_proba(scores) else _softmax(scores)

    def _is_proba(self, scores: np.ndarray) -> bool:
        output = self.options.get("output", "auto")
        if output != "auto":
            return output == "proba"
        if scores.ndim == 1:
            return bool(np.all((scores >= 0) & (scores <= 1)))
        return bool(np.all(scores >= 0) and np.allclose(scores.sum(axis=1), 1.0, atol=1e-4))

    def predict(self, X_native) -> np.ndarray:
        if self.has_proba:
            return labels_from_proba(self.predict_proba(X_native), self._classes)
        out = self._call(X_native)
        return out.reshape(-1) if out.ndim == 2 and out.shape[1] == 1 else out


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class TorchScriptAdapter(_TorchAdapter):
    format = "torchscript"
    runtime_name = "torch.jit"

    def _load_module(self):
        with warnings.catch_warnings():  # torch 2.9+ deprecates TorchScript; it still loads
            warnings.simplefilter("ignore", DeprecationWarning)
            module = self.torch.jit.load(self.source, map_location="cpu")
        module.eval()
        # TorchScript keeps no input shapes: the width comes from the first Linear layer, if any
        for p in module.parameters():
            return module, int(p.shape[1]) if p.ndim == 2 else None
        return module, None


class TorchExportAdapter(_TorchAdapter):
    format = "torch_export"
    runtime_name = "torch.export"

    def _load_module(self):
        program = self.torch.export.load(self.source)
        user_inputs = set(program.graph_signature.user_inputs)
        shapes = [n.meta["val"].shape for n in program.graph.nodes
                  if n.op == "placeholder" and n.name in user_inputs and "val" in n.meta]
        if len(shapes) != 1 or len(shapes[0]) != 2:
            raise ModelError(
                f"{self.source!r}: benchharness runs programs with one 2-D input (rows, features), got input shapes {[list(s) for s in shapes]}"
            )
        width = shapes[0][1]
        return program.module(), int(width) if isinstance(width, int) else None
