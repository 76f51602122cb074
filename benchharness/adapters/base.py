"""The one interface every model format implements.

The runner never touches a runtime directly: it loads an adapter, converts the feature frame
once with `prepare` (outside any timed loop), slices requests with `take`, and times the bare
callable returned by `predict_fn`. Keeping conversion out of the hot path is what lets the
harness's latency stay within a few percent of a bare loop over the same runtime.
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from benchharness.errors import NotSupportedError


@dataclass
class TensorSpec:
    name: str
    dtype: str
    shape: list[int | None]


@dataclass
class Signature:
    inputs: list[TensorSpec]
    outputs: list[TensorSpec] = field(default_factory=list)

    @property
    def n_features(self) -> int | None:
        """Width of a 2-D tabular input, when the model declares one."""
        if len(self.inputs) == 1 and len(self.inputs[0].shape) == 2:
            return self.inputs[0].shape[1]
        if self.inputs and all(len(t.shape) == 2 and t.shape[1] == 1 for t in self.inputs):
            return len(self.inputs)
        return None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def matrix(cls, n_features: int | None, dtype: str, label: str, n_classes: int | None = None) -> Signature:
        """One (rows, features) input; a label (or value) output, and class probabilities when n_classes."""
        outputs = [TensorSpec(label, dtype, [None])]
        if n_classes:
            outputs.append(TensorSpec("probabilities", dtype, [None, n_classes]))
        return cls([TensorSpec("input", dtype, [None, n_features])], outputs)


@dataclass
class ModelInfo:
    format: str
    runtime: str
    runtime_version: str
    path: str | None = None
    size_bytes: int | None = None
    sha256: str | None = None
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def file_digest(path: str) -> tuple[int, str]:
    """Size in bytes and sha256 of a file (or of every file under a directory)."""
    h = hashlib.sha256()
    size = 0
    paths = [path]
    if os.path.isdir(path):
        paths = sorted(os.path.join(r, f) for r, _, fs in os.walk(path) for f in fs)
    for p in paths:
        with open(p, "rb") as fh:
            for chunk in iter(lambda fh=fh: fh.read(1 << 20), b""):
                h.update(chunk)
                size += len(chunk)
    return size, h.hexdigest()


class ModelAdapter(ABC):
    """A loaded model of one format.

    Subclasses set `format` and implement `_load`, `predict`, and where the format has
    it `predict_proba`. `options` come from the candidate's `options:` in the suite.
    """

    format: ClassVar[str] = "abstract"
    #: options this adapter accepts (validated by the registry before loading)
    accepted_options: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, source: str, options: dict | None = None):
        self.source = source
        self.options = dict(options or {})
        self._load()

    # -- lifecycle -------------------------------------------------------------------------
    @abstractmethod
    def _load(self) -> None: ...

    def close(self) -> None:
        """Release the runtime's resources. Safe to call twice."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- description -------------------------------------------------------------------------
    @property
    @abstractmethod
    def signature(self) -> Signature: ...

    @property
    @abstractmethod
    def info(self) -> ModelInfo: ...

    @property
    def has_proba(self) -> bool:
        return False

    @property
    def classes(self) -> np.ndarray | None:
        """Class labels in the column order of `predict_proba`, when known."""
        return None

    # -- data path ------------------------------------------------------------------------
    def prepare(self, X: pd.DataFrame | np.ndarray) -> Any:
        """Convert features to the runtime's native input. Called once, never timed."""
        if isinstance(X, pd.DataFrame):
            return X.to_numpy()
        return np.asarray(X)

    def take(self, X_native: Any, start: int, stop: int) -> Any:
        """Rows [start, stop) of a prepared input, as a standalone request."""
        if isinstance(X_native, pd.DataFrame):
            return X_native.iloc[start:stop]
        if isinstance(X_native, dict):
            return {k: v[start:stop] for k, v in X_native.items()}
        return X_native[start:stop]

    def n_rows(self, X_native: Any) -> int:
        if isinstance(X_native, dict):
            return len(next(iter(X_native.values())))
        return len(X_native)

    @abstractmethod
    def predict(self, X_native: Any) -> np.ndarray:
        """Labels (classification) or values (regression), one per row."""

    def predict_proba(self, X_native: Any) -> np.ndarray:
        """Class probabilities, shape (rows, classes), columns ordered as `classes`."""
        raise NotSupportedError(f"{self.format} model {self.source!r} has no predict_proba")

    def predict_fn(self) -> Callable[[Any], Any]:
        """The bare callable the timed loops call: one request in, raw result out.

        Override to return the runtime's own call (e.g. a bound `session.run` wrapper) so
        that nothing of ours sits in the hot path.
        """
        return self.predict
