"""Pick the adapter for a model source by URI scheme, `module:attr` form or file suffix.

Adapters are imported lazily, so a missing optional package only matters when its format
is used, and the error then says which extra to install.
"""

from __future__ import annotations

import importlib
import os
import re
from dataclasses import dataclass

from benchharness import schema
from benchharness.adapters.base import ModelAdapter
from benchharness.errors import ModelError


@dataclass(frozen=True)
class FormatEntry:
    format: str
    module: str  # benchharness.adapters.<module>
    cls: str
    suffixes: tuple[str, ...] = ()
    schemes: tuple[str, ...] = ()
    note: str = ""
    preload: tuple[str, ...] = ()  # libraries the fork server imports once for this format


# The one table of supported formats. Add a row to support a new format.
FORMATS: list[FormatEntry] = [
    FormatEntry("onnx", "onnx", "OnnxAdapter", suffixes=(".onnx",),
                preload=("onnxruntime", "benchharness.adapters.onnx")),
    FormatEntry(
        "sklearn", "sklearn", "SklearnAdapter", suffixes=(".joblib", ".pkl", ".pickle"),
        note="pickle/joblib: loading runs code from the file; prefer .skops",
        preload=("sklearn", "sklearn.ensemble", "sklearn.linear_model", "joblib",
                 "benchharness.adapters.sklearn"),
    ),
    FormatEntry("skops", "sklearn", "SkopsAdapter", suffixes=(".skops",), note="safe: no code runs on load",
                preload=("sklearn", "skops.io", "benchharness.adapters.sklearn")),
    FormatEntry("callable", "callable", "CallableAdapter", note="module:attr",
                preload=("benchharness.adapters.callable",)),
    FormatEntry("xgboost", "xgboost", "XGBoostAdapter", suffixes=(".ubj", ".json", ".xgb.json"),
                note="XGBoost native; extra: xgboost"),
    FormatEntry("lightgbm", "lightgbm", "LightGBMAdapter", suffixes=(".lgb.txt", ".lgb"),
                note="LightGBM native text; or format: lightgbm; extra: lightgbm"),
    FormatEntry("torchscript", "torch", "TorchScriptAdapter", suffixes=(".pt", ".torchscript"),
                note="torch.jit.save archive; extra: torch"),
    FormatEntry("torch_export", "torch", "TorchExportAdapter", suffixes=(".pt2",),
                note="torch.export.save program; extra: torch"),
    FormatEntry("http", "http", "HttpAdapter", schemes=("http", "https"),
                note="V2 /v2/models/NAME, or options.protocol: json; extra: serve",
                preload=("benchharness.adapters.http",)),
    FormatEntry("mlflow", "mlflow", "MlflowAdapter", schemes=("models",),
                note="MLflow registry models:/NAME/VERSION or models:/NAME@ALIAS; extra: mlflow",
                preload=("benchharness.adapters.mlflow",)),
]

# Execution providers (ONNX Runtime) and torch devices that mean the model ran on an
# accelerator; the prefix match covers e.g. "CUDAExecutionProvider" and "DmlExecutionProvider".
ACCELERATOR_PROVIDERS = ("CUDA", "TensorRT", "ROCM", "MIGraphX", "Dml", "OpenVINO")
ACCELERATOR_DEVICES = ("cuda", "mps", "xpu")


def ran_on_accelerator(result: dict) -> str | None:
    """The accelerator the model actually ran on (provider or device, not the one asked
    for), or None for the CPU. The one answer to "did this run on a GPU", used by the
    resources and cost stages."""
    details = schema.model(result).get("details") or {}
    provider = str(details.get("provider") or "")
    device = str(details.get("device") or "")
    if provider.startswith(ACCELERATOR_PROVIDERS):
        return provider
    if device.startswith(ACCELERATOR_DEVICES):
        return device
    return None

_CALLABLE_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def supported_formats() -> str:
    parts = []
    for e in FORMATS:
        keys = list(e.suffixes) + [f"{s}:/" if s == "models" else f"{s}://" for s in e.schemes]
        if e.format == "callable":
            keys = ["module:attr"]
        parts.append(f"{e.format} ({', '.join(keys)})")
    return "; ".join(parts)


def find_format(source: str, fmt: str | None = None) -> FormatEntry:
    """The format entry for `source` (or the one named `fmt`), else a ModelError listing all."""
    if fmt:
        for e in FORMATS:
            if e.format == fmt:
                return e
        raise ModelError(
            f"unknown model format {fmt!r}; supported: {', '.join(e.format for e in FORMATS)}"
        )
    scheme = source.split("://", 1)[0].lower() if "://" in source else None
    if source.startswith("models:/"):  # MLflow's registry URIs have one slash
        scheme = "models"
    if scheme:
        for e in FORMATS:
            if scheme in e.schemes:
                return e
    elif _CALLABLE_RE.match(source) and not os.path.exists(source):
        return next(e for e in FORMATS if e.format == "callable")
    else:
        lower = source.lower()
        # longest suffix first so that '.lgb.txt' wins over '.txt'
        matches = [(s, e) for e in FORMATS for s in e.suffixes if lower.endswith(s)]
        if matches:
            return max(matches, key=lambda m: len(m[0]))[1]
    raise ModelError(f"unknown model format for {source!r}; supported: {supported_formats()}")


def adapter_class(entry: FormatEntry) -> type[ModelAdapter]:
    module = importlib.import_module(f"benchharness.adapters.{entry.module}")
    return getattr(module, entry.cls)


def load_model(source: str, options: dict | None = None, fmt: str | None = None) -> ModelAdapter:
    """Load `source` with the adapter its scheme/suffix (or `fmt`) selects."""
    cls, options = check_model_source(source, options, fmt)
    return cls(source, options)


def check_model_source(source: str, options: dict | None = None, fmt: str | None = None):
    """(adapter class, options) for `source`, after the checks that need no loading (format,
    options, the file is there): ModelError otherwise."""
    entry = find_format(source, fmt)
    cls = adapter_class(entry)
    options = dict(options or {})
    unknown = sorted(set(options) - set(cls.accepted_options))
    if unknown:
        allowed = ", ".join(sorted(cls.accepted_options)) or "none"
        raise ModelError(f"unknown option(s) {unknown} for {entry.format} models; allowed: {allowed}")
    needs_file = not entry.schemes and entry.format != "callable"
    if needs_file and not os.path.exists(source):
        raise ModelError(f"model file not found: {source}")
    if needs_file and os.path.isdir(source):
        raise ModelError(f"model path {source} is a folder, not a {entry.format} model file")
    return cls, options
