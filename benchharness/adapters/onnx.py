"""ONNX models through onnxruntime.

Session options come from the candidate's `options:`. onnxruntime silently falls back to the
CPU when an asked-for provider cannot load; we record the providers the session actually
has, and say so in `info.details`, so a "GPU" figure measured on the CPU is never reported
as a GPU figure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchharness.adapters.base import ModelAdapter, ModelInfo, Signature, TensorSpec, file_digest
from benchharness.errors import ModelError

_ORT_TYPES = {
    "tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int64)": np.int64,
    "tensor(int32)": np.int32, "tensor(string)": np.object_, "tensor(bool)": np.bool_,
    "tensor(float16)": np.float16, "tensor(uint8)": np.uint8, "tensor(int8)": np.int8,
}
_OPT_LEVELS = ("disable", "basic", "extended", "all")


def _shape(shape) -> list[int | None]:
    return [d if isinstance(d, int) else None for d in shape]


class OnnxAdapter(ModelAdapter):
    format = "onnx"
    accepted_options = frozenset({
        "intra_op_num_threads", "inter_op_num_threads", "graph_optimization_level",
        "execution_mode", "providers", "provider_options", "enable_profiling",
    })

    def _load(self) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        opts = self.options
        if "intra_op_num_threads" in opts:
            so.intra_op_num_threads = int(opts["intra_op_num_threads"])
        if "inter_op_num_threads" in opts:
            so.inter_op_num_threads = int(opts["inter_op_num_threads"])
        level = opts.get("graph_optimization_level", "all")
        if level not in _OPT_LEVELS:
            raise ModelError(f"options.graph_optimization_level must be one of {', '.join(_OPT_LEVELS)}, got {level!r}")
        so.graph_optimization_level = {
            "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }[level]
        mode = opts.get("execution_mode", "sequential")
        if mode not in ("sequential", "parallel"):
            raise ModelError(f"options.execution_mode must be sequential or parallel, got {mode!r}")
        so.execution_mode = (ort.ExecutionMode.ORT_PARALLEL if mode == "parallel"
                             else ort.ExecutionMode.ORT_SEQUENTIAL)
        requested = list(opts.get("providers") or ["CPUExecutionProvider"])
        available = ort.get_available_providers()
        unknown = [p for p in requested if p not in available]
        providers = [p for p in requested if p in available]
        if "CPUExecutionProvider" not in providers:
            providers.append("CPUExecutionProvider")  # explicit fallback, recorded below
        provider_options = opts.get("provider_options")
        try:
            if provider_options:
                po = [provider_options.get(p, {}) for p in providers]
                self.session = ort.InferenceSession(self.source, so, providers=providers, provider_options=po)
            else:
                self.session = ort.InferenceSession(self.source, so, providers=providers)
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"cannot load {self.source} with onnxruntime: {first}") from None
        self._requested = requested
        self._unavailable = unknown
        self._inputs = self.session.get_inputs()
        self._outputs = self.session.get_outputs()
        self._label_out, self._proba_out = self._classify_outputs()

    def _classify_outputs(self) -> tuple[str, str | None]:
        """Find the label and probability outputs (skl2onnx: 'label' and 'probabilities')."""
        names = [o.name for o in self._outputs]
        proba = None
        for o in self._outputs:
            if o.type.startswith("seq(map") or "prob" in o.name.lower():
                proba = o.name
                break
        label = next((n for n in names if n != proba), names[0])
        if proba is None and len(self._outputs) >= 2:
            proba = names[1]
        return label, proba

    def close(self) -> None:
        self.session = None

    # -- data path ------------------------------------------------------------------
    def prepare(self, X):
        frame = X if isinstance(X, pd.DataFrame) else None
        arr = X.to_numpy() if frame is not None else np.asarray(X)
        if len(self._inputs) == 1:
            inp = self._inputs[0]
            dtype = _ORT_TYPES.get(inp.type, np.float32)
            width = inp.shape[1] if len(inp.shape) == 2 else None
            if arr.ndim == 2 and isinstance(width, int) and arr.shape[1] != width:
                raise ModelError(
                    f"model input {inp.name!r} expects {width} features, the data has {arr.shape[1]}"
                )
            try:
                return np.ascontiguousarray(arr.astype(dtype, copy=False))
            except ValueError as exc:  # text in a numeric input: name the columns, not just a value
                from benchharness.train.preprocess import non_numeric_columns

                text = non_numeric_columns(frame) if frame is not None else []
                where = f"text columns {', '.join(map(str, text))}" if text else "non-numeric values"
                raise ModelError(f"model input {inp.name!r} takes {np.dtype(dtype).name} numbers; the data has "
                                 f"{where} ({exc}): encode them as the model was trained") from None
        # one input per column (skl2onnx with named columns)
        if frame is None:
            raise ModelError(f"model has {len(self._inputs)} named inputs; give a data frame with those columns")
        missing = [i.name for i in self._inputs if i.name not in frame.columns]
        if missing:
            raise ModelError(f"model inputs {missing} are not columns of the data")
        return {
            i.name: frame[i.name].to_numpy().astype(_ORT_TYPES.get(i.type, np.float32)).reshape(-1, 1)
            for i in self._inputs
        }

    def _feed(self, X):
        return X if isinstance(X, dict) else {self._inputs[0].name: X}

    def predict(self, X):
        out = self.session.run([self._label_out], self._feed(X))[0]
        out = np.asarray(out)
        return out.ravel() if out.ndim == 2 and out.shape[1] == 1 else out

    @property
    def has_proba(self) -> bool:
        return self._proba_out is not None

    def predict_proba(self, X):
        if self._proba_out is None:
            return super().predict_proba(X)
        out = self.session.run([self._proba_out], self._feed(X))[0]
        if isinstance(out, list):  # ZipMap: a list of {class: probability}
            keys = list(out[0].keys()) if out else []
            self._zipmap_classes = np.array(keys)
            return np.array([[row[k] for k in keys] for row in out], dtype=np.float64)
        return np.asarray(out, dtype=np.float64)

    @property
    def classes(self):
        cached = getattr(self, "_zipmap_classes", None)
        if cached is not None:
            return cached
        meta = self.session.get_modelmeta().custom_metadata_map
        if "classes" in meta:
            return np.array(meta["classes"].split(","))
        return None

    def predict_fn(self):
        run = self.session.run
        outputs = [self._label_out]
        if len(self._inputs) == 1:
            name = self._inputs[0].name
            return lambda x: run(outputs, {name: x})
        return lambda x: run(outputs, x)

    # -- description ------------------------------------------------------------------
    @property
    def signature(self) -> Signature:
        return Signature(
            inputs=[TensorSpec(i.name, i.type, _shape(i.shape)) for i in self._inputs],
            outputs=[TensorSpec(o.name, o.type, _shape(getattr(o, "shape", []) or [])) for o in self._outputs],
        )

    @property
    def info(self) -> ModelInfo:
        import onnxruntime as ort

        size, sha = file_digest(self.source)
        active = self.session.get_providers()
        details = {
            "providers_requested": self._requested,
            "providers_active": active,
            "provider": active[0] if active else None,
            "providers_unavailable": self._unavailable,
            "options": self.options,
        }
        if self._unavailable:
            details["fallback"] = f"requested {self._unavailable} not available here; ran on {active[0]}"
        elif [p for p in self._requested if p not in active]:
            # in this build, but it failed to start (e.g. CUDA/cuDNN libraries missing):
            # onnxruntime logs it and runs on the CPU without raising
            failed = [p for p in self._requested if p not in active]
            details["fallback"] = f"requested {failed} failed to start; ran on {active[0]}"
        return ModelInfo(
            format=self.format, runtime="onnxruntime", runtime_version=ort.__version__,
            path=self.source, size_bytes=size, sha256=sha, details=details,
        )
