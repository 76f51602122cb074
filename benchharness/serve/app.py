"""The ASGI app behind `bench serve`: Open Inference Protocol (KServe V2) over any adapter.

Endpoints: GET /v2/health/live, /v2/health/ready, /v2, /v2/models/{name},
/v2/models/{name}/ready; POST /v2/models/{name}/infer. Every error is a JSON body
`{"error": "..."}` with a 4xx/5xx status, never a traceback, and the server keeps serving:
400 malformed JSON / protocol / shape the model cannot take (as Triton and KServe answer),
404 unknown model or route, 413 body over the size limit, 500 a model failure (it raised, or
crashed its process), 503 no model process can answer (it cannot start again).

The model answers one request at a time (what a single-replica model server does), away from
the event loop, so that the health and metadata routes answer while a slow model works.
`bench serve` gives the app a `model_process.ModelProcess`: the model runs in a child process
that the loop awaits over a pipe, so a request whose input crashes the model's native code (a
segfault) gets a 500 naming the signal and a fresh process answers the next one. An adapter
given directly (`server.running_server`) runs in a worker thread of this process. Either
hand-off costs tens of microseconds (`benchmarks/serve_overhead.py` measures `bench serve`
against a bare endpoint; `benchmarks/serve_latency.py` its median latency). Decoding the
request's tensors and encoding the answer run on the loop. A value the client sent that the model cannot
answer in JSON (NaN in, NaN out) is the client's 400, naming the input. The time spent in the
model (input conversion + predict) goes back in the `Server-Timing: model;dur=<ms>` header and
the response's `parameters.model_time_ms`, so a client can tell the model's time from the
network's.
"""

from __future__ import annotations

import json
import logging
import time

import anyio
import anyio.to_thread
import numpy as np
import pandas as pd
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from benchharness import __version__
from benchharness.adapters.base import ModelAdapter
from benchharness.errors import UserError
from benchharness.serve.model_process import (
    ModelCrashed,
    ModelFailed,
    ModelRejected,
    ModelUnavailable,
)
from benchharness.serve.v2 import ProtocolError, decode_tensor, encode_tensor

log = logging.getLogger("benchharness.serve")

DEFAULT_MAX_REQUEST_BYTES = 16 * 1024 * 1024
_NUMPY_TO_V2 = {"float32": "FP32", "float64": "FP64", "int64": "INT64", "int32": "INT32",
                "bool": "BOOL", "string": "BYTES", "str": "BYTES", "object": "BYTES"}


class RequestTooLarge(Exception):
    pass


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class InProcessModel:
    """An adapter called in this process (in a worker thread, one call at a time), with the
    interface of `ModelProcess`."""

    def __init__(self, adapter: ModelAdapter):
        self.adapter = adapter
        self.signature, self.info = adapter.signature, adapter.info
        self.classes, self.has_proba = adapter.classes, adapter.has_proba
        self.one_at_a_time = anyio.CapacityLimiter(1)

    async def call(self, X, label: bool, proba: bool) -> tuple[dict, float]:
        return await anyio.to_thread.run_sync(self.run, X, label, proba, limiter=self.one_at_a_time)

    def run(self, X, label: bool, proba: bool) -> tuple[dict, float]:
        start = time.perf_counter()
        native = self.adapter.prepare(X)
        results = {}
        if label:
            results["label"] = self.adapter.predict(native)
        if proba:
            results["probabilities"] = self.adapter.predict_proba(native)
        return results, (time.perf_counter() - start) * 1000.0


class ModelEndpoint:
    """One model served under one model name: an adapter (called in this process) or a
    `ModelProcess` (the model in a child process)."""

    def __init__(self, model, name: str, max_request_bytes: int):
        self.model = InProcessModel(model) if isinstance(model, ModelAdapter) else model
        self.name = name
        self.max_request_bytes = max_request_bytes
        sig = self.model.signature
        self.input_names = [t.name for t in sig.inputs]
        self.n_features = sig.n_features
        self.label_output = "value" if self.model.classes is None and not self.model.has_proba else "label"
        self.outputs = [self.label_output] + (["probabilities"] if self.model.has_proba else [])
        self.metadata = self._metadata()

    def _metadata(self) -> dict:
        sig, info = self.model.signature, self.model.info
        width = self.n_features if self.n_features is not None else -1
        if len(sig.inputs) == 1:
            inputs = [{"name": sig.inputs[0].name, "datatype": _NUMPY_TO_V2.get(sig.inputs[0].dtype, "FP32"), "shape": [-1, width]}]
        else:
            inputs = [{"name": t.name, "datatype": _NUMPY_TO_V2.get(t.dtype, "BYTES"), "shape": [-1, 1]} for t in sig.inputs]
        outputs = [{"name": self.label_output, "datatype": "BYTES" if self._string_labels() else "FP64", "shape": [-1]}]
        if self.model.has_proba:
            classes = self.model.classes  # an ONNX file may carry no class list
            n_classes = len(classes) if classes is not None else -1
            outputs.append({"name": "probabilities", "datatype": "FP64", "shape": [-1, n_classes]})
        meta = {"name": self.name, "versions": ["1"], "platform": f"{info.runtime}_{info.format}",
                "inputs": inputs, "outputs": outputs}
        if self.model.classes is not None:
            meta["parameters"] = {"classes": np.asarray(self.model.classes).tolist()}
        return meta

    def _string_labels(self) -> bool:
        classes = self.model.classes
        return classes is not None and np.asarray(classes).dtype.kind in "OUS"

    # -- request -> model input ------------------------------------------------------------
    def features(self, body: dict):
        """The model's input from a decoded V2 request: a matrix, or a frame of named columns."""
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not inputs:
            raise ProtocolError("request needs a non-empty 'inputs' list of tensors")
        tensors = [decode_tensor(t, f"inputs[{i}]") for i, t in enumerate(inputs)]
        if len(tensors) == 1:
            name, arr = tensors[0]
            if arr.ndim != 2 or arr.shape[0] == 0:
                raise ProtocolError(f"input {name!r} must have shape [rows, features] with rows > 0, got {list(arr.shape)}")
            if self.n_features is not None and arr.shape[1] != self.n_features:
                raise ProtocolError(
                    f"input {name!r} has {arr.shape[1]} features, model {self.name!r} takes {self.n_features} (shape [rows, {self.n_features}])"
                )
            if len(self.input_names) > 1:  # a per-column model fed one matrix: name the columns
                return pd.DataFrame(arr, columns=self.input_names)
            return arr
        columns = {}
        for name, arr in tensors:
            if arr.ndim == 2 and arr.shape[1] == 1:
                arr = arr[:, 0]
            if arr.ndim != 1:
                raise ProtocolError(f"with one tensor per column, input {name!r} must be [rows] or [rows, 1], got {list(arr.shape)}")
            columns[name] = arr
        rows = {len(a) for a in columns.values()}
        if rows == {0}:
            raise ProtocolError("inputs have no rows")
        if len(rows) != 1:
            raise ProtocolError(f"inputs have different row counts: { {k: len(v) for k, v in columns.items()} }")
        missing = [n for n in self.input_names if n not in columns] if len(self.input_names) > 1 else []
        if missing:
            raise ProtocolError(f"model {self.name!r} needs inputs {self.input_names}; missing {missing}")
        return pd.DataFrame(columns)

    def requested_outputs(self, body: dict) -> list[str]:
        wanted = body.get("outputs")
        if wanted is None:
            return self.outputs  # V2: no 'outputs' means all of them
        if not isinstance(wanted, list) or not all(isinstance(o, dict) and "name" in o for o in wanted):
            raise ProtocolError(f"'outputs' must be a list of {{\"name\": ...}} objects, got {str(wanted)[:100]}")
        names = [o["name"] for o in wanted]
        unknown = [n for n in names if n not in self.outputs]
        if unknown:
            raise ProtocolError(f"unknown output(s) {unknown}; model {self.name!r} has {self.outputs}")
        return names

    async def infer(self, body: dict) -> tuple[dict, float]:
        X = self.features(body)
        outputs = self.requested_outputs(body)
        results, model_ms = await self.model.call(X, self.label_output in outputs, "probabilities" in outputs)
        if "label" in results:
            results[self.label_output] = results.pop("label")
        inputs = body.get("inputs") or [{}]
        tensor = inputs[0].get("name") if len(inputs) == 1 and isinstance(inputs[0], dict) else None
        _check_finite_outputs(results, X, self.name, tensor or "inputs[0]")
        response = {
            "model_name": self.name, "model_version": "1",
            "parameters": {"model_time_ms": model_ms},
            "outputs": [encode_tensor(n, results[n]) for n in outputs],
        }
        if "id" in body:
            response["id"] = body["id"]
        return response, model_ms


def _check_finite_outputs(results: dict, X, name: str, tensor: str = "inputs[0]") -> None:
    """JSON has no NaN/inf: an answer holding them cannot be sent. Blame the input when the
    input held them (a 400 naming the tensor the client sent, and where), else the model (500)."""
    for out_name, arr in results.items():
        arr = np.asarray(arr)
        if arr.dtype.kind != "f" or np.isfinite(arr).all():
            continue
        for col, values in _numeric_columns(X, tensor):
            bad = ~np.isfinite(values)
            if bad.any():
                where = np.argwhere(bad)[0]
                at = f"row {int(where[0])}" + (f", column {int(where[1])}" if len(where) > 1 else "")
                raise ProtocolError(f"input {col!r} holds {_show(values[tuple(where)])} ({at}); model "
                                    f"{name!r} answers {out_name} that JSON cannot carry; send finite numbers")
        raise ModelOutputError(f"model {name!r} answered non-finite {out_name} (NaN/inf) for finite input")


def _show(value) -> str:
    """NaN, inf or -inf as a person writes them (not `np.float32(nan)`)."""
    v = float(value)
    return "NaN" if np.isnan(v) else ("inf" if v > 0 else "-inf")


def _numeric_columns(X, tensor: str):
    """(what the client called it, values): a frame's columns are the tensors it sent; a matrix
    is the one tensor."""
    if isinstance(X, pd.DataFrame):
        return [(str(c), X[c].to_numpy()) for c in X.columns if X[c].dtype.kind in "fc"]
    arr = np.asarray(X)
    return [(tensor, arr)] if arr.dtype.kind in "fc" else []


class ModelOutputError(RuntimeError):
    """The model's answer cannot be sent (a model fault: 500)."""


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (before reading it all) anything over `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(int(declared))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge(size)
        chunks.append(chunk)
    return b"".join(chunks)


def build_app(model, name: str, max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES) -> Starlette:
    """A Starlette app serving `model` (an adapter, or a `ModelProcess`) as model `name` (see
    the module docstring)."""
    endpoint = ModelEndpoint(model, name, max_request_bytes)

    def model_or_404(request: Request) -> JSONResponse | None:
        asked = request.path_params["name"]
        if asked != name:
            return error(404, f"unknown model {asked!r}; this server serves {name!r}")
        return None

    async def live(request: Request) -> Response:
        return JSONResponse({"live": True})

    async def ready(request: Request) -> Response:
        return JSONResponse({"ready": True})

    async def server_metadata(request: Request) -> Response:
        return JSONResponse({"name": "benchharness", "version": __version__, "extensions": []})

    async def model_metadata(request: Request) -> Response:
        return model_or_404(request) or JSONResponse(endpoint.metadata)

    async def model_ready(request: Request) -> Response:
        return model_or_404(request) or JSONResponse({"name": name, "ready": True})

    async def infer(request: Request) -> Response:
        not_found = model_or_404(request)
        if not_found:
            return not_found
        try:
            raw = await read_body(request, max_request_bytes)
        except ClientDisconnect:  # the client left mid-upload: nobody to answer, not a model fault
            client = request.client
            log.warning("client %s disconnected before sending its whole request",
                        f"{client.host}:{client.port}" if client else "?")
            return Response(status_code=400)
        except RequestTooLarge as exc:
            return error(413, f"request body of {exc.args[0]} bytes is over the limit of {max_request_bytes} bytes")
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            return error(400, f"request body is not valid JSON: {exc}")
        except RecursionError:
            return error(400, "request body is nested too deeply to be a V2 request")
        if not isinstance(body, dict):
            return error(400, f"request body must be a JSON object, got {type(body).__name__}")
        try:
            response, model_ms = await endpoint.infer(body)
        except ProtocolError as exc:
            return error(400, str(exc))
        except ModelRejected as exc:
            return error(400, f"model {name!r} rejected the input: {exc}")
        except ModelFailed as exc:  # raised in the model's process: its traceback goes to the log
            log.error("model %r failed: %s\n%s", name, exc.args[0], exc.args[1].rstrip())
            return error(500, f"model {name!r} failed: {exc.args[0]}")
        except ModelCrashed as exc:
            log.warning("model %r: %s (the request got a 500)", name, exc)
            return error(500, f"model {name!r}: {exc}")
        except ModelUnavailable as exc:
            log.warning("model %r: %s (the request got a 503)", name, exc)
            return error(503, f"model {name!r}: {exc}")
        except (UserError, ValueError, TypeError, KeyError) as exc:  # the model rejected this input
            return error(400, f"model {name!r} rejected the input: {type(exc).__name__}: {str(exc)[:300]}")
        except Exception as exc:  # answered here: past this point uvicorn would drop the connection
            log.exception("model %r failed", name)
            return error(500, f"model {name!r} failed: {type(exc).__name__}: {str(exc)[:300]}")
        return JSONResponse(response, headers={"server-timing": f"model;dur={model_ms:.4f}"})

    async def http_error(request: Request, exc: HTTPException) -> Response:
        return error(exc.status_code, f"{exc.detail}: {request.method} {request.url.path}")

    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("model %r failed on %s", name, request.url.path)
        return error(500, f"model {name!r} failed: {type(exc).__name__}: {str(exc)[:300]}")

    routes = [
        Route("/v2/health/live", live),
        Route("/v2/health/ready", ready),
        Route("/v2", server_metadata),
        Route("/v2/models/{name}", model_metadata),
        Route("/v2/models/{name}/ready", model_ready),
        Route("/v2/models/{name}/infer", infer, methods=["POST"]),
    ]
    return Starlette(routes=routes, exception_handlers={HTTPException: http_error, Exception: server_error})
