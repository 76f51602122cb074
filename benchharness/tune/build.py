"""Turn each tuned candidate into its variants before anything is measured.

Runs right after the candidates are resolved (trained, exported): every measurable variant
becomes a derived candidate of its own (a model file, session options, `variant_of`,
`variant`), put in the tuned candidate's place, so it gets everything a candidate gets:
quality, trials, open loop, batch, resources, cost, limits. Conversions use the project's
own export (train/training.py), onnxruntime's quantize_dynamic and, for int8_static,
quantize_static calibrated on a sample of the train split.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

from benchharness.context import CandidateRun, RunContext
from benchharness.errors import ModelError, SuiteError
from benchharness.run_folder import safe_name
from benchharness.suite import CandidateSettings
from benchharness.train.training import export_onnx, new_result
from benchharness.tune.space import Variant, expand

#: the operators onnxruntime's dynamic quantization writes; a graph quantized into none of
#: them had nothing to quantize (a tree ensemble, for one)
QUANTIZED_OPS = frozenset(
    {
        "DynamicQuantizeLinear",
        "MatMulInteger",
        "ConvInteger",
        "DynamicQuantizeMatMul",
        "QAttention",
        "DynamicQuantizeLSTM",
        "QLinearMatMul",
        "QGemm",
    }
)


def quantize_int8(fp32_path: Path, out_path: Path) -> Path:
    """Dynamic int8 quantization of the weights (onnxruntime.quantization.quantize_dynamic).

    Raises ModelError when the graph has no operator that quantizes."""
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.registry import IntegerOpsRegistry

    ops = sorted({n.op_type for n in onnx.load(str(fp32_path)).graph.node})
    if not set(ops) & set(IntegerOpsRegistry):
        raise ModelError(
            f"quantize int8: the graph has no quantizable operator (it has {', '.join(ops)})"
        )
    # it logs advice (run its pre-processing first) on the root logger for every model
    logging.disable(logging.WARNING)
    try:
        quantize_dynamic(str(fp32_path), str(out_path), weight_type=QuantType.QInt8)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"quantize int8 failed: {first}") from None
    finally:
        logging.disable(logging.NOTSET)
    if not {n.op_type for n in onnx.load(str(out_path)).graph.node} & QUANTIZED_OPS:
        out_path.unlink(missing_ok=True)
        raise ModelError(f"quantize int8 left the graph unchanged (it has {', '.join(ops)})")
    return out_path


#: the operators with weights that static quantization turns into int8 (QDQ around them); a
#: graph without one (a tree ensemble: TreeEnsembleClassifier, Reshape, ArgMax) has nothing to
#: gain, even if onnxruntime would wrap its Reshape in quantize/dequantize pairs
STATIC_WEIGHT_OPS = frozenset({"MatMul", "Gemm", "Conv", "ConvTranspose", "Gather", "Attention",
                               "LSTM"})
CALIBRATION_ROWS = 256  # train rows the activation ranges are calibrated on
CALIBRATION_BATCH = 32


def calibration_sample(X_train, seed: int = 0):
    """A seeded sample of the TRAIN split (never the test rows the variant is judged on), as
    float32: what the exported graph's one input takes."""
    import numpy as np

    X = np.asarray(X_train, dtype=np.float32)
    rows = np.random.default_rng(seed).permutation(len(X))[:CALIBRATION_ROWS]
    return X[np.sort(rows)]


def quantize_int8_static(fp32_path: Path, out_path: Path, sample) -> Path:
    """Static int8 (onnxruntime.quantization.quantize_static, QDQ format): weights AND
    activations int8, the activations' ranges calibrated (min/max) on `sample`.

    Raises ModelError when the graph has no operator with weights to quantize, or an input
    that is not one float tensor (the sample is a table of numbers)."""
    import logging

    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    graph = onnx.load(str(fp32_path)).graph
    ops = sorted({n.op_type for n in graph.node})
    if not set(ops) & STATIC_WEIGHT_OPS:
        raise ModelError(
            f"quantize int8_static: the graph has no quantizable operator (it has {', '.join(ops)})"
        )
    if len(graph.input) != 1 or graph.input[0].type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
        raise ModelError("quantize int8_static needs a graph with one float input to calibrate; "
                         f"it has {', '.join(i.name for i in graph.input)}")
    name = graph.input[0].name

    class TrainSample(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{name: sample[i:i + CALIBRATION_BATCH]}
                                 for i in range(0, len(sample), CALIBRATION_BATCH)])

        def get_next(self):
            return next(self.batches, None)

    logging.disable(logging.WARNING)  # its advice to pre-process, on the root logger
    try:
        quantize_static(str(fp32_path), str(out_path), TrainSample(),
                        quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"quantize int8_static failed: {first}") from None
    finally:
        logging.disable(logging.NOTSET)
    if "DequantizeLinear" not in {n.op_type for n in onnx.load(str(out_path)).graph.node}:
        out_path.unlink(missing_ok=True)
        raise ModelError(f"quantize int8_static left the graph unchanged (it has {', '.join(ops)})")
    return out_path


def _is_onnx(path: str | None, fmt: str | None) -> bool:
    return fmt == "onnx" or bool(path and path.lower().endswith(".onnx"))


class _Sources:
    """The tuned candidate's model in each form a variant needs, made once and reused."""

    def __init__(self, ctx: RunContext, cand: CandidateRun):
        self.ctx, self.cand = ctx, cand
        self.stem = Path(ctx.work_dir) / safe_name(cand.name)
        self._fp32: Path | None = None
        self._quantized: dict[str, Path] = {}
        self._errors: dict[str, str] = {}

    def estimator(self):
        """The fitted scikit-learn model (trained in this run, or loaded from the model file)."""
        if self.cand.trained_model is not None:
            return self.cand.trained_model
        path = self.cand.model_path or ""
        if path.lower().endswith((".pkl", ".pickle", ".joblib")):
            import joblib

            # a pickle runs code on load: the run already warned about this file; the safe
            # path is to give the ONNX (or skops) file instead
            self.cand.trained_model = joblib.load(path)
            return self.cand.trained_model
        raise ModelError(
            f"export onnx needs a scikit-learn model (train: or a .joblib file), got {path!r}"
        )

    def native_path(self) -> str:
        path = self.cand.model_path or ""
        if not _is_onnx(path, self.cand.model_format):
            return path
        import joblib  # the candidate was exported: keep the native model beside it

        out = self.stem.with_suffix(".joblib")
        if not out.exists():
            joblib.dump(self.estimator(), out)  # our own object, read back by this run only
        return str(out)

    def fp32(self) -> Path:
        if self._fp32 is None:
            if _is_onnx(self.cand.model_path, self.cand.model_format):
                self._fp32 = Path(self.cand.model_path)
            else:
                n_features = self.ctx.dataset.X_train.shape[1]
                self._fp32 = export_onnx(
                    self.estimator(), n_features, self.stem.with_suffix(".onnx")
                )
        return self._fp32

    def quantized(self, kind: str) -> Path:
        """The float graph quantized by `kind` (int8: dynamic; int8_static: calibrated)."""
        if kind in self._errors:
            raise ModelError(self._errors[kind])
        if kind not in self._quantized:
            out = Path(f"{self.stem}-{kind.replace('_', '-')}.onnx")
            try:
                if kind == "int8_static":
                    if self.ctx.dataset is None:
                        raise ModelError("quantize int8_static calibrates on the train split; "
                                         "this suite has no data")
                    try:
                        sample = calibration_sample(self.ctx.dataset.X_train)
                    except (TypeError, ValueError) as exc:
                        raise ModelError("quantize int8_static: the train split is not all "
                                         f"numbers ({str(exc).splitlines()[0]})") from None
                    self._quantized[kind] = quantize_int8_static(self.fp32(), out, sample)
                else:
                    self._quantized[kind] = quantize_int8(self.fp32(), out)
            except ModelError as exc:
                self._errors[kind] = str(exc)
                raise
        return self._quantized[kind]


def _variant_spec(base: CandidateSettings, v: Variant, model_path: str, fmt: str | None) -> CandidateSettings:
    """The variant's entry: the tuned candidate's, pointing at the variant's model file with
    its session options (its own limits kept: they are looked up by the variant's name)."""
    return dataclasses.replace(
        copy.deepcopy(base),
        name=v.name,
        model=model_path,
        format=fmt,
        train=None,
        export=None,
        params={},
        preprocess=None,
        tune=None,
        options={**base.options, **v.session_options},
    )


def _make(
    ctx: RunContext, base: CandidateRun, v: Variant, src: _Sources, names: set[str]
) -> CandidateRun:
    if v.runs_onnx:
        path = str(src.quantized(v.quantize) if v.quantize != "none" else src.fp32())
        spec = _variant_spec(base.spec, v, path, "onnx")
    else:
        spec = _variant_spec(base.spec, v, src.native_path(), base.model_format)
    run = CandidateRun(
        spec=spec, result=new_result(spec), model_path=spec.model, model_format=spec.format
    )
    run.result.update(source=base.result.get("source"), variant_of=base.name, variant=v.settings)
    if "training" in base.result:
        run.result["training"] = base.result["training"]
    sibling = Variant(v.base, v.export, v.threads, v.opt_level, "none").name
    if v.quantize != "none" and sibling in names:
        run.original_of = sibling  # int8 against the float graph it was quantized from
    elif v.runs_onnx and base.trained_model is not None:
        run.original_of, run.trained_model = (
            run.name,
            base.trained_model,
        )  # against the scikit-learn model
    elif v.runs_onnx and not _is_onnx(base.model_path, base.model_format):
        run.original_of, run.trained_model = run.name, src.estimator()
    return run


def usable_cores() -> int:
    """The cores this process may run on (its affinity), else the machine's count."""
    import os

    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def tune_candidates_stage(ctx: RunContext) -> None:
    """Replace every resolved candidate that has `tune:` by its measurable variants."""
    tuned = [c for c in ctx.candidates if c.spec.tune and c.ok]
    if not tuned:
        return
    section = ctx.results.setdefault("tune", {})
    for base in tuned:
        variants = expand(
            base.name, base.spec.tune, _is_onnx(base.model_path, base.model_format)
        )
        cores = usable_cores()
        if any(v.threads is None or v.threads <= cores for v in variants if not v.skipped):
            for v in variants:  # more threads than cores only contend: not worth a measurement
                if not v.skipped and v.runs_onnx and v.threads is not None and v.threads > cores:
                    v.skipped = (f"more intra-op threads than the {cores} usable cores of "
                                 "this machine: threads beyond the cores only contend")
        measurable = [v for v in variants if not v.skipped]
        names = {v.name for v in measurable}
        src = _Sources(ctx, base)
        made, skipped = [], []
        for v in variants:
            if v.skipped is None:
                try:
                    made.append(_make(ctx, base, v, src, names))
                    continue
                except ModelError as exc:
                    v.skipped = str(exc)
            same = next((s for s in skipped if s["reason"] == v.skipped), None)
            if same is None:
                skipped.append(
                    {"variant": v.name, "combinations": 1 + len(v.merged), "reason": v.skipped}
                )
            else:  # one line per reason
                same["combinations"] += 1 + len(v.merged)
        for s in skipped:
            more = s["combinations"] - 1
            ctx.progress(
                f"[{base.name}] tune: skipped {s['variant']}"
                + (f" and {more} like it" if more else "")
                + f": {s['reason']}"
            )
        if not made:  # a search space with no possible point is a suite error, before measuring
            why = "; ".join(f"{s['variant']}"
                            + (f" and {s['combinations'] - 1} like it" if s["combinations"] > 1 else "")
                            + f": {s['reason']}" for s in skipped)
            raise SuiteError(f"candidates.{base.name}.tune leaves nothing to measure: every combination "
                             f"is impossible ({why})")
        for v in measurable:
            if v.merged and not v.skipped:
                ctx.progress(
                    f"[{base.name}] tune: {v.name} stands for {1 + len(v.merged)} combinations "
                    "(session options do not apply to a native model): measured once"
                )
        # the variants take the tuned candidate's place: in the run, the results and the suite
        # (per-candidate limits are looked up by name there)
        i = ctx.candidates.index(base)
        ctx.candidates[i : i + 1] = made
        j = ctx.results["candidates"].index(base.result)
        ctx.results["candidates"][j : j + 1] = [m.result for m in made]
        k = next(n for n, s in enumerate(ctx.suite.candidates) if s.name == base.name)
        ctx.suite.candidates[k : k + 1] = [m.spec for m in made]
        section[base.name] = {
            "space": base.spec.tune,
            "source": base.result.get("source"),
            "variants": [m.name for m in made],
            "skipped": skipped,
        }
        from benchharness.tune.halving import full_seconds

        estimate = full_seconds(ctx.suite) * len(made)
        budget = (base.spec.tune or {}).get("budget_s")
        ctx.progress(f"[{base.name}] tune: {len(made)} variants to measure, {len(skipped)} skipped; "
                     f"measuring them all takes about {_duration(estimate)}"
                     + (f" (tune.budget_s {budget:g} s screens them first)" if budget else ""))
