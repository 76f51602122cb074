"""A model already deployed behind HTTP: any Open Inference Protocol (KServe V2) server, or
a plain JSON REST endpoint (MLflow `/invocations`, TF-Serving-like `instances`, your own).

`model: http://host:port/v2/models/NAME` speaks V2 (Triton, KServe, MLServer, Seldon,
`bench serve`). `options: {protocol: json}` posts a JSON body built from a template and reads
predictions at a dotted path of the response:

    options:
      protocol: json
      request: {dataframe_split: {columns: $columns, data: $rows}}   # MLflow
      response: predictions            # dotted path; integers index lists ("outputs.0")
      proba_response: null             # path to probabilities, when the endpoint has them

Placeholders: `$rows` (list of row lists), `$records` (list of {column: value}), `$columns`.

The timed call is the whole client path: encode the request, send it on a kept-alive
connection (httpx.Client), decode the answer. `async_predict_fn()` gives the same call on an
asyncio connection pool for the open loop, so it can keep its arrival schedule while earlier
requests are still in flight. When the server reports its model time (`Server-Timing:
model;dur=<ms>` or V2 `parameters.model_time_ms`), each call's value is kept in
`server_time_ms` so a report can separate the model's time from the network's.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import pandas as pd

from benchharness.adapters.base import ModelAdapter, ModelInfo, Signature, TensorSpec
from benchharness.adapters.extras import import_extra
from benchharness.adapters.scores import labels_from_proba
from benchharness.adapters.server_timing import LIVE_ADAPTERS, server_time_ms
from benchharness.errors import ModelError

_V2_PATH = re.compile(r"^(?P<prefix>.*?)/v2/models/(?P<name>[^/]+)(?:/versions/[^/]+)?(?:/infer)?/?$")
_V2_DTYPES = {"FP32": "float32", "FP64": "float64", "FP16": "float16", "INT64": "int64",
              "INT32": "int32", "INT16": "int16", "INT8": "int8", "UINT8": "uint8", "BOOL": "bool", "BYTES": "object"}
LABEL_NAMES = ("label", "value", "output_label", "predict", "prediction", "predictions", "variable")
PROBA_NAMES = ("probabilities", "output_probability", "proba", "probability", "probas")


def httpx_module():
    return import_extra("httpx", package="httpx", extra="serve", what="HTTP model candidates")


def dotted(doc: Any, path: str) -> Any:
    """`doc["a"]["b"][0]` for path "a.b.0"; a ModelError naming the missing step."""
    for step in path.split("."):
        try:
            doc = doc[int(step)] if isinstance(doc, list) and step.lstrip("-").isdigit() else doc[step]
        except (KeyError, IndexError, TypeError):
            raise ModelError(f"response has no {path!r} (failed at {step!r}): {str(doc)[:200]}") from None
    return doc


def fill_template(template: Any, rows: np.ndarray, columns: list[str]) -> Any:
    """The request body: `template` with $rows / $records / $columns replaced."""
    if isinstance(template, dict):
        return {k: fill_template(v, rows, columns) for k, v in template.items()}
    if isinstance(template, list):
        return [fill_template(v, rows, columns) for v in template]
    if template == "$rows":
        return rows.tolist()
    if template == "$records":
        return [dict(zip(columns, r, strict=True)) for r in rows.tolist()]
    if template == "$columns":
        return columns
    return template


class HttpAdapter(ModelAdapter):
    format = "http"
    accepted_options = frozenset({
        "protocol", "model_name", "timeout_s", "headers", "input_name", "label_output",
        "proba_output", "request", "proba_request", "response", "proba_response", "classes",
        "columns", "pool_size",
    })

    # -- load ---------------------------------------------------------------------------------
    def _load(self) -> None:
        httpx = httpx_module()
        self.httpx = httpx
        self.protocol = self.options.get("protocol", "v2")
        if self.protocol not in ("v2", "json"):
            raise ModelError(f"option 'protocol' must be v2 or json, got {self.protocol!r}")
        self.timeout_s = float(self.options.get("timeout_s", 30.0))
        self.headers = {"content-type": "application/json", **self.options.get("headers", {})}
        # httpx for the metadata calls (the timed calls use the lean clients in http_clients).
        # TCP_NODELAY: httpx writes headers and body separately; with Nagle on, the body
        # waits for the server's delayed ACK (~40 ms on Linux) on every request
        transport = httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
        self.client = httpx.Client(timeout=self.timeout_s, headers=self.headers, transport=transport)
        self.server_time_ms: list[float] = []
        LIVE_ADAPTERS.add(self)
        self._async_client = None
        self._server_info: dict = {}
        self.columns: list[str] | None = self.options.get("columns")
        if self.protocol == "v2":
            self._load_v2()
        else:
            self._load_json()
        from benchharness.adapters.http_clients import SyncPool

        self.poster = SyncPool(self.infer_url, self.headers, self.timeout_s)  # the timed calls

    def _load_v2(self) -> None:
        m = _V2_PATH.match(self.source)
        name = self.options.get("model_name") or (m and m.group("name"))
        if not name:
            raise ModelError(
                f"{self.source!r}: a V2 model URL ends in /v2/models/NAME (or set option model_name)"
            )
        base = m.group("prefix") if m else self.source.rstrip("/")
        self.model_name = name
        self.infer_url = f"{base}/v2/models/{name}/infer"
        meta = self._get(f"{base}/v2/models/{name}")
        with_server = self._get(f"{base}/v2", required=False)
        self._server_info = {"server": with_server.get("name"), "server_version": with_server.get("version"),
                             "platform": meta.get("platform")}
        self.inputs = meta.get("inputs") or [{"name": self.options.get("input_name", "input"), "datatype": "FP32", "shape": [-1, -1]}]
        outputs = [o.get("name") for o in meta.get("outputs", [])]
        self.label_output = self.options.get("label_output") or _pick(outputs, LABEL_NAMES) or (outputs[0] if outputs else None)
        self.proba_output = self.options.get("proba_output") or _pick(outputs, PROBA_NAMES)
        classes = self.options.get("classes") or (meta.get("parameters") or {}).get("classes")
        self._setup_classes(classes, next((o for o in meta.get("outputs", []) if o.get("name") == self.proba_output), None))
        self._meta = meta

    def _load_json(self) -> None:
        self.infer_url = self.source
        self.model_name = self.source
        self.request_template = self.options.get("request", {"inputs": "$rows"})
        self.proba_template = self.options.get("proba_request", self.request_template)
        self.response_path = self.options.get("response", "predictions")
        self.proba_output = self.options.get("proba_response")
        self.label_output = self.response_path
        self.inputs = [{"name": "input", "datatype": "FP64", "shape": [-1, len(self.columns) if self.columns else -1]}]
        self._setup_classes(self.options.get("classes"), None)
        self._meta = {}

    def _setup_classes(self, classes, proba_meta) -> None:
        self._classes = np.asarray(classes) if classes is not None else None
        if self._classes is None and proba_meta and len(proba_meta.get("shape", [])) == 2 and proba_meta["shape"][1] > 0:
            self._classes = np.arange(proba_meta["shape"][1])

    def _get(self, url: str, required: bool = True) -> dict:
        try:
            r = self.client.get(url)
        except self.httpx.HTTPError as exc:
            if not required:
                return {}
            raise ModelError(f"cannot reach {url}: {type(exc).__name__}: {exc}") from None
        if r.status_code != 200:
            if not required:
                return {}
            raise ModelError(f"{url} answered HTTP {r.status_code}: {r.text[:200]}")
        return _json(r, url)

    def close(self) -> None:
        self.client.close()
        if hasattr(self, "poster"):
            self.poster.close()

    # -- description ------------------------------------------------------------------------
    @property
    def has_proba(self) -> bool:
        return self.proba_output is not None

    @property
    def classes(self) -> np.ndarray | None:
        return self._classes

    @property
    def signature(self) -> Signature:
        def spec(t):
            shape = [None if d is None or d < 0 else d for d in t.get("shape", [])]
            return TensorSpec(t.get("name", "?"), _V2_DTYPES.get(t.get("datatype"), "float32"), shape)

        return Signature([spec(t) for t in self.inputs], [spec(o) for o in self._meta.get("outputs", [])])

    @property
    def info(self) -> ModelInfo:
        details = {"protocol": self.protocol, "url": self.infer_url, **{k: v for k, v in self._server_info.items() if v}}
        return ModelInfo(format=self.format, runtime=f"http-{self.protocol}",
                         runtime_version=str(self._server_info.get("server_version") or "unknown"),
                         path=self.source, details=details)

    # -- data path ----------------------------------------------------------------------------
    def prepare(self, X) -> Any:
        if isinstance(X, pd.DataFrame):
            self.columns = self.columns or [str(c) for c in X.columns]
            if len(self.inputs) > 1:  # one V2 tensor per column
                return {t["name"]: X[t["name"]].to_numpy() for t in self.inputs}
            X = X.to_numpy()
        dtype = _V2_DTYPES.get(self.inputs[0].get("datatype"), "float32")
        try:
            return np.ascontiguousarray(np.asarray(X, dtype=object if dtype == "object" else dtype))
        except (TypeError, ValueError) as exc:
            raise ModelError(f"{self.source}: the features cannot be sent as {self.inputs[0].get('datatype')}: {exc}") from None

    def _body(self, X_native, output: str | None, proba: bool = False) -> bytes:
        if self.protocol == "json":
            rows = X_native if not isinstance(X_native, dict) else np.column_stack(list(X_native.values()))
            body = fill_template(self.proba_template if proba else self.request_template, rows, self.columns or [])
        else:
            tensors = X_native.items() if isinstance(X_native, dict) else [(self.inputs[0]["name"], X_native)]
            body = {"inputs": [_encode(n, a if a.ndim == 2 or len(self.inputs) == 1 else a.reshape(-1, 1)) for n, a in tensors]}
            if output:
                body["outputs"] = [{"name": output}]
        return json.dumps(body, separators=(",", ":")).encode()

    def _answer(self, response, output: str | None) -> np.ndarray:
        if response.status_code != 200:
            raise ModelError(f"{self.infer_url} answered HTTP {response.status_code}: {response.text[:200]}")
        doc = _json(response, self.infer_url)
        t = server_time_ms(response)
        if t is None and isinstance(doc, dict):
            t = (doc.get("parameters") or {}).get("model_time_ms")
        if t is not None:
            self.server_time_ms.append(float(t))
        if self.protocol == "json":
            return np.asarray(dotted(doc, output))
        from benchharness.serve.v2 import ProtocolError, output_array

        try:
            return output_array(doc, output)
        except ProtocolError as exc:
            raise ModelError(f"{self.infer_url}: {exc}") from None

    def _call(self, X_native, output: str | None, proba: bool = False) -> np.ndarray:
        try:
            r = self.poster.post(self.infer_url, content=self._body(X_native, output, proba))
        except (self.httpx.HTTPError, OSError, http.client.HTTPException) as exc:
            raise ModelError(f"{self.infer_url}: {type(exc).__name__}: {exc}") from None
        return self._answer(r, output)

    def predict_fn(self) -> Callable[[Any], Any]:
        output = self.label_output

        def call(X_native):
            return self._call(X_native, output)

        return call

    def async_predict_fn(self) -> Callable[[Any], Awaitable[Any]]:
        """An awaitable predict on a pool of kept-alive connections, for the open loop.

        Plain http:// goes through a lean asyncio HTTP/1.1 client (about a tenth of httpx's
        CPU per request, so the load generator keeps its schedule); https through httpx.
        The pool is made on first use, inside the caller's event loop; close it with
        `await adapter.aclose()` before the loop ends.
        """
        output = self.label_output
        pool = int(self.options.get("pool_size", 64))

        async def call(X_native):
            if self._async_client is None:
                self._async_client = self._make_async_client(pool)
            try:
                r = await self._async_client.post(self.infer_url, content=self._body(X_native, output))
            except (self.httpx.HTTPError, OSError, asyncio.TimeoutError) as exc:
                raise ModelError(f"{self.infer_url}: {type(exc).__name__}: {exc}") from None
            return self._answer(r, output)

        return call

    def _make_async_client(self, pool: int):
        if self.infer_url.startswith("http://"):
            from benchharness.adapters.http_clients import AsyncHttp1Pool

            return AsyncHttp1Pool(self.infer_url, self.headers, pool, self.timeout_s)
        limits = self.httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
        return self.httpx.AsyncClient(timeout=self.timeout_s, headers=self.headers, limits=limits)

    async def aclose(self) -> None:
        if self._async_client is not None:
            await self._async_client.aclose()
            self._async_client = None

    def predict(self, X_native) -> np.ndarray:
        if self.label_output is None and self.has_proba:
            return labels_from_proba(self.predict_proba(X_native), self._classes)
        out = self._call(X_native, self.label_output)
        return out.reshape(-1) if out.ndim == 2 and out.shape[1] == 1 else out

    def predict_proba(self, X_native) -> np.ndarray:
        if not self.has_proba:
            return super().predict_proba(X_native)
        proba = np.asarray(self._call(X_native, self.proba_output, proba=True), dtype=float)
        if self._classes is None:
            self._classes = np.arange(proba.shape[1])
        return proba


def _json(response, url: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise ModelError(f"{url} answered with something that is not JSON: {response.text[:120]!r}") from None


def _pick(names: list[str], preferred: tuple[str, ...]) -> str | None:
    lower = {str(n).lower(): n for n in names}
    return next((lower[p] for p in preferred if p in lower), None)


def _encode(name: str, arr: np.ndarray) -> dict:
    from benchharness.serve.v2 import encode_tensor

    return encode_tensor(name, arr)

