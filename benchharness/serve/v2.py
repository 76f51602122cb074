"""The Open Inference Protocol (KServe V2) tensor codec, shared by server and client.

A V2 tensor is `{"name", "shape", "datatype", "data"}` with `data` flat (row-major) or
nested. These helpers turn one into a NumPy array and back, and raise `ProtocolError` (a
400 for the server) with a message that names the tensor and what was wrong.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: V2 datatype -> numpy dtype (BYTES: strings, kept as object arrays)
V2_TO_NUMPY: dict[str, Any] = {
    "BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32,
    "UINT64": np.uint64, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32,
    "INT64": np.int64, "FP16": np.float16, "FP32": np.float32, "FP64": np.float64,
    "BYTES": object,
}
_NUMPY_TO_V2 = {np.dtype(v): k for k, v in V2_TO_NUMPY.items() if v is not object}


class ProtocolError(ValueError):
    """A request that does not follow the protocol (HTTP 400)."""


def v2_datatype(arr: np.ndarray) -> str:
    if arr.dtype.kind in "OUS":
        return "BYTES"
    return _NUMPY_TO_V2.get(arr.dtype, "FP64")  # keyed by dtype: .name costs microseconds


def decode_tensor(t: Any, where: str = "inputs") -> tuple[str, np.ndarray]:
    """(name, array) from one V2 tensor dict, checked against its declared shape."""
    if not isinstance(t, dict):
        raise ProtocolError(f"{where}: each tensor must be an object with name, shape, datatype, data; got {type(t).__name__}")
    missing = [k for k in ("name", "shape", "datatype", "data") if k not in t]
    if missing:
        raise ProtocolError(f"{where}: tensor {t.get('name', '?')!r} is missing {missing}")
    name, shape, datatype = t["name"], t["shape"], t["datatype"]
    if not (isinstance(shape, list) and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
        raise ProtocolError(f"{where}: tensor {name!r} shape must be a list of non-negative integers, got {shape!r}")
    if datatype not in V2_TO_NUMPY:
        raise ProtocolError(f"{where}: tensor {name!r} datatype {datatype!r} is not one of {', '.join(V2_TO_NUMPY)}")
    try:
        arr = np.asarray(t["data"], dtype=V2_TO_NUMPY[datatype])
    except (TypeError, ValueError) as exc:
        raise ProtocolError(f"{where}: tensor {name!r} data is not {datatype}: {str(exc)[:120]}") from None
    except OverflowError:
        raise ProtocolError(f"{where}: tensor {name!r} holds a value out of the range of {datatype}"
                            f"{_range(datatype)}") from None
    if arr.dtype.kind in "iu" and _has_out_of_range(t["data"], arr.dtype):
        raise ProtocolError(f"{where}: tensor {name!r} holds a value out of the range of {datatype}"
                            f"{_range(datatype)}")
    if arr.size != math.prod(shape):
        raise ProtocolError(
            f"{where}: tensor {name!r} has {arr.size} values but shape {shape} needs {math.prod(shape)}"
        )
    return str(name), arr.reshape(shape)


def _range(datatype: str) -> str:
    info = np.iinfo(V2_TO_NUMPY[datatype]) if datatype[0] in "IU" else None
    return f" ({info.min} to {info.max})" if info else ""


def _has_out_of_range(data, dtype: np.dtype) -> bool:
    """Floats such as 1e30 become integers silently; compare them with the type's range."""
    try:
        values = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    info = np.iinfo(dtype)
    return bool(values.size) and bool((values < info.min).any() or (values > info.max).any())


def encode_tensor(name: str, arr: np.ndarray) -> dict:
    arr = np.asarray(arr)
    data = arr.reshape(-1)
    data = [str(x) for x in data] if arr.dtype.kind in "OUS" else data.tolist()
    return {"name": name, "shape": list(arr.shape), "datatype": v2_datatype(arr), "data": data}


def output_array(response: dict, name: str | None) -> np.ndarray:
    """The output tensor called `name` (or the only/first one) of a V2 inference response."""
    outputs = response.get("outputs") if isinstance(response, dict) else None
    if not outputs:
        raise ProtocolError(f"V2 response has no outputs: {str(response)[:200]}")
    if name is None:
        return decode_tensor(outputs[0], "outputs")[1]
    for t in outputs:
        if isinstance(t, dict) and t.get("name") == name:
            return decode_tensor(t, "outputs")[1]
    names = [t.get("name") for t in outputs if isinstance(t, dict)]
    raise ProtocolError(f"V2 response has no output {name!r}; it has {names}")
