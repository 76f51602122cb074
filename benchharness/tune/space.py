"""A candidate's `tune:` search space: validation and expansion into named variants.

    tune: {export: [none, onnx], intra_op_num_threads: [1, 2], quantize: [none, int8]}

Each combination is one variant, named so a person reads it: `forest[onnx,t2,int8]`. A
combination that cannot exist (threads or int8 of a scikit-learn model, which has neither)
is listed once as skipped with the reason, never measured; combinations that collapse onto
the same deployment (every thread count of a scikit-learn model) become one variant.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from benchharness.errors import SuiteError

EXPORTS = ("none", "onnx")
QUANTIZE = ("none", "int8", "int8_static")
OPT_LEVELS = ("disable", "basic", "extended", "all")
#: the largest loss of the primary metric (original minus variant, in the metric's own units)
#: a converted or quantized variant may show before it is marked and cannot be recommended
DEFAULT_MAX_QUALITY_LOSS = 0.01
#: the smallest share of test rows on which a converted classifier must predict the original's label
DEFAULT_MIN_LABEL_AGREEMENT = 0.98
KEYS = (
    "export",
    "intra_op_num_threads",
    "graph_optimization_level",
    "quantize",
    "max_quality_loss",
    "min_label_agreement",
    "budget_s",
    "replicas",
)


def _list_of(
    where: str, key: str, value, allowed: tuple | None, positive_int: bool = False
) -> list:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise SuiteError(f"{where}.{key} must be a non-empty list, got []")
    for v in items:
        ok = (
            (isinstance(v, int) and not isinstance(v, bool) and v > 0)
            if positive_int
            else v in allowed
        )
        if not ok:
            what = "positive integers" if positive_int else "values from " + ", ".join(allowed)
            raise SuiteError(f"{where}.{key} must be a list of {what}, got {v!r}")
    return list(dict.fromkeys(items))  # keep order, drop repeats


def validate(raw, where: str) -> dict | None:
    """The checked `tune:` mapping (None when the candidate has none)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise SuiteError(f"{where} must be a mapping like {{export: [none, onnx]}}, got {raw!r}")
    unknown = [k for k in raw if k not in KEYS]
    if unknown:
        raise SuiteError(f"unknown key {where}.{unknown[0]!r}; allowed: {', '.join(KEYS)}")
    out = {
        "export": _list_of(where, "export", raw.get("export", ["none"]), EXPORTS),
        "intra_op_num_threads": (
            _list_of(where, "intra_op_num_threads", raw["intra_op_num_threads"], None, True)
            if raw.get("intra_op_num_threads") is not None
            else [None]
        ),
        "graph_optimization_level": (
            _list_of(where, "graph_optimization_level", raw["graph_optimization_level"], OPT_LEVELS)
            if raw.get("graph_optimization_level") is not None
            else [None]
        ),
        "quantize": _list_of(where, "quantize", raw.get("quantize", ["none"]), QUANTIZE),
    }
    out["replicas"] = _replicas(where, raw.get("replicas"))
    for key, default, top in (
        ("max_quality_loss", DEFAULT_MAX_QUALITY_LOSS, None),
        ("min_label_agreement", DEFAULT_MIN_LABEL_AGREEMENT, 1),
        ("budget_s", None, None),
    ):
        v = raw.get(key, default)
        if v is not None and (
            isinstance(v, bool)
            or not isinstance(v, (int, float))
            or v < 0
            or (top is not None and v > top)
        ):
            raise SuiteError(
                f"{where}.{key} must be a number >= 0{f' and <= {top}' if top else ''}, got {v!r}"
            )
        out[key] = v
    return out


def _replicas(where: str, value):
    """`auto`, a positive integer or a list of them (replica counts to measure), or None."""
    if value is None or value == "auto":
        return value
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in items):
        raise SuiteError(
            f"{where}.replicas must be auto or a list of positive integers, got {value!r}"
        )
    return sorted(set(items))


@dataclass
class Variant:
    """One point of the search space."""

    base: str  # the tuned candidate's name
    export: str  # none | onnx
    threads: int | None
    opt_level: str | None
    quantize: str  # none | int8 (dynamic) | int8_static (calibrated on the train split)
    skipped: str | None = None  # why this combination is not measured
    merged: list[str] = field(
        default_factory=list
    )  # other combinations that are the same deployment

    @property
    def runs_onnx(self) -> bool:
        return self.export == "onnx"

    @property
    def name(self) -> str:
        tokens = ["onnx" if self.runs_onnx else "native"]
        if self.threads is not None and self.runs_onnx:
            tokens.append(f"t{self.threads}")
        if self.opt_level is not None and self.runs_onnx:
            tokens.append(f"opt-{self.opt_level}")
        if self.quantize != "none":
            tokens.append(self.quantize)
        return f"{self.base}[{','.join(tokens)}]"

    @property
    def settings(self) -> dict:
        """What this variant sets, as recorded in its results section (`variant`)."""
        out = {"export": self.export, "quantize": self.quantize}
        if self.runs_onnx:
            out["intra_op_num_threads"] = self.threads
            out["graph_optimization_level"] = self.opt_level or "all"
        return out

    @property
    def session_options(self) -> dict:
        opts = {}
        if self.runs_onnx and self.threads is not None:
            opts["intra_op_num_threads"] = self.threads
        if self.runs_onnx and self.opt_level is not None:
            opts["graph_optimization_level"] = self.opt_level
        return opts


def expand(base: str, tune: dict, model_is_onnx: bool) -> list[Variant]:
    """Every combination, in grid order; impossible ones carry `skipped`, duplicates merge.

    `model_is_onnx`: the candidate already is an ONNX graph, so it runs in onnxruntime as it
    is (export `none` means "as given") and `export: onnx` has nothing to convert."""
    out: dict[str, Variant] = {}
    skipped: list[Variant] = []
    for export, threads, level, quant in itertools.product(
        tune["export"],
        tune["intra_op_num_threads"],
        tune["graph_optimization_level"],
        tune["quantize"],
    ):
        if model_is_onnx:
            if export == "onnx":
                skipped.append(
                    Variant(
                        base,
                        export,
                        threads,
                        level,
                        quant,
                        skipped="export onnx: the model already is an ONNX graph",
                    )
                )
                continue
            export = "onnx"  # runs in onnxruntime as given
        v = Variant(base, export, threads, level, quant)
        if quant != "none" and not v.runs_onnx:
            v.skipped = (
                f"quantize {quant} needs an ONNX graph (export: none keeps the native model)"
            )
            skipped.append(v)
            continue
        if v.name in out:  # threads / opt level of a native model: the same deployment
            out[v.name].merged.append(_combo(export, threads, level, quant))
            continue
        out[v.name] = v
    # one line per reason, not one per combination
    reasons: dict[str, Variant] = {}
    for v in skipped:
        if v.skipped not in reasons:
            reasons[v.skipped] = v
        else:
            reasons[v.skipped].merged.append(_combo(v.export, v.threads, v.opt_level, v.quantize))
    return list(out.values()) + list(reasons.values())


def _combo(export, threads, level, quant) -> str:
    parts = [f"export={export}"]
    if threads is not None:
        parts.append(f"threads={threads}")
    if level is not None:
        parts.append(f"opt={level}")
    parts.append(f"quantize={quant}")
    return " ".join(parts)
