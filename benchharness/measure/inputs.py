"""Inputs generated from a model's signature, for perf-only candidates (no dataset).

Like onnxruntime's perf tool: each declared input gets random values of its dtype and
shape; the first dimension is the row (batch) dimension, any other unknown (symbolic)
dimension is `free_dim` (1 by default, as onnxruntime_perf_test does) unless `dims` names
the whole shape of that input. Values are seeded, so two runs time the same inputs.
"""

from __future__ import annotations

import numpy as np

from benchharness.adapters.base import Signature
from benchharness.errors import ModelError

# ONNX type strings ("tensor(float)") and numpy names ("float32") to numpy dtypes
_DTYPES = {
    "float": np.float32, "float32": np.float32, "double": np.float64, "float64": np.float64,
    "float16": np.float16, "int64": np.int64, "int32": np.int32, "int16": np.int16,
    "int8": np.int8, "uint8": np.uint8, "bool": np.bool_, "string": np.str_, "object": np.str_,
}


def numpy_dtype(declared: str) -> np.dtype:
    name = declared.strip()
    if name.startswith("tensor(") and name.endswith(")"):
        name = name[len("tensor("):-1]
    if name not in _DTYPES:
        raise ModelError(
            f"cannot generate inputs of type {declared!r}; supported: {', '.join(sorted(_DTYPES))}"
        )
    return np.dtype(_DTYPES[name])


def synthetic_inputs(
    signature: Signature,
    rows: int,
    seed: int = 0,
    free_dim: int = 1,
    dims: dict[str, list[int]] | None = None,
) -> dict[str, np.ndarray]:
    """One array per declared input, `rows` along the first dimension."""
    if not signature.inputs:
        raise ModelError("the model declares no inputs: cannot generate perf-only inputs")
    rng = np.random.default_rng(seed)
    out = {}
    for spec in signature.inputs:
        dtype = numpy_dtype(spec.dtype)
        if dims and spec.name in dims:
            shape = [rows, *dims[spec.name]]
        else:
            tail = [d if isinstance(d, int) and d > 0 else free_dim for d in spec.shape[1:]]
            shape = [rows, *tail]
        out[spec.name] = _random(rng, dtype, shape)
    return out


def _random(rng: np.random.Generator, dtype: np.dtype, shape: list[int]) -> np.ndarray:
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    if dtype.kind in "iu":
        return rng.integers(0, 10, size=shape).astype(dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, size=shape).astype(bool)
    return rng.integers(0, 10, size=shape).astype(str).astype(object)


def as_model_input(arrays: dict[str, np.ndarray]):
    """A single-input model takes its array directly; several inputs go as a dict."""
    return next(iter(arrays.values())) if len(arrays) == 1 else arrays
