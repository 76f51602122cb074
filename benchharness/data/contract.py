"""A data contract learned from training data, saved as YAML a team can commit and tighten.

What incoming rows must look like for the model to score them: the columns, each one's
dtype, whether it may be null (and the batch null rate allowed), the numeric range (the
training range widened by `range_tolerance` of its span on each side) and the allowed
categories. Learning is mergeable chunk by chunk (`ContractLearner`), so a contract can be
learned from a file larger than memory. `bench validate` and `bench monitor` check rows
against it (see `checks.py`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from benchharness.config import CONTRACT
from benchharness.data.drift import category_labels
from benchharness.errors import DataError
from benchharness.run_folder import atomic_write

DTYPES = ("integer", "float", "boolean", "category", "string", "datetime")
EXTRA_COLUMNS = ("ignore", "warn", "quarantine")

#: defaults: the suite's `contract:` section (config.CONTRACT) is the one place they are written
CONTRACT_DEFAULTS: dict[str, Any] = {key: f.default for key, f in CONTRACT.items()}

_HEADER = """\
# benchharness data contract: what incoming rows must look like.
# Learned from training data; edit it to tighten or loosen, then commit it.
#   dtype: integer | float | boolean | category | string | datetime
#   nullable: false -> a null in this column sends the row to quarantine
#   max_null_rate: a batch with more nulls than this fails the batch check
#   min / max: allowed range (learned range widened by range_tolerance of its span)
#   categories: allowed values of a category column (compared as text)
#   extra_columns: ignore | warn | quarantine (columns not listed here)
"""


@dataclass
class ColumnContract:
    dtype: str
    nullable: bool = False
    max_null_rate: float = 0.0
    min: float | None = None
    max: float | None = None
    categories: list[str] | None = None
    learned: dict = field(default_factory=dict)  # what training showed: information only

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None and v != {}}


@dataclass
class Contract:
    columns: dict[str, ColumnContract]
    extra_columns: str = "warn"
    learned_from: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "version": 1,
            "learned_from": self.learned_from,
            "extra_columns": self.extra_columns,
            "columns": {name: col.to_dict() for name, col in self.columns.items()},
        }

    def to_yaml(self) -> str:
        return _HEADER + yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        atomic_write(path, self.to_yaml())
        return path

    @classmethod
    def from_dict(cls, raw: Any, where: str = "contract") -> Contract:
        if not isinstance(raw, dict) or not isinstance(raw.get("columns"), dict) or not raw["columns"]:
            raise DataError(f"{where}: must be a mapping with a non-empty 'columns' mapping")
        unknown = sorted(set(raw) - {"version", "learned_from", "extra_columns", "columns"})
        if unknown:
            raise DataError(f"{where}: unknown key {unknown[0]!r}; allowed: version, learned_from, extra_columns, columns")
        extra = raw.get("extra_columns", "warn")
        if extra not in EXTRA_COLUMNS:
            raise DataError(f"{where}: extra_columns must be one of {', '.join(EXTRA_COLUMNS)}, got {extra!r}")
        columns = {str(name): _column_from_dict(spec, f"{where}: column {name!r}") for name, spec in raw["columns"].items()}
        return cls(columns=columns, extra_columns=extra, learned_from=raw.get("learned_from") or {})

    @classmethod
    def load(cls, path: str | Path) -> Contract:
        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text())
        except FileNotFoundError:
            raise DataError(f"contract file not found: {path}") from None
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise DataError(f"cannot read contract {path}: {str(exc).splitlines()[0]}") from None
        return cls.from_dict(raw, where=str(path))


def _column_from_dict(spec: Any, where: str) -> ColumnContract:
    if not isinstance(spec, dict):
        raise DataError(f"{where} must be a mapping, got {spec!r}")
    allowed = set(ColumnContract.__dataclass_fields__)
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise DataError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}")
    if spec.get("dtype") not in DTYPES:
        raise DataError(f"{where}: dtype must be one of {', '.join(DTYPES)}, got {spec.get('dtype')!r}")
    _check_field_types(spec, where)
    col = ColumnContract(**spec)
    if col.categories is not None:
        col.categories = [str(c) for c in col.categories]
    return col


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


#: what each field of a column may hold, and how a message says it
_FIELD_TYPES = {
    "nullable": (lambda v: isinstance(v, bool), "true or false"),
    "max_null_rate": (lambda v: _is_number(v) and 0 <= v <= 1, "a number between 0 and 1"),
    "min": (lambda v: v is None or _is_number(v) or isinstance(v, str) and _is_time(v),
            "a number (or a date for a datetime column)"),
    "max": (lambda v: v is None or _is_number(v) or isinstance(v, str) and _is_time(v),
            "a number (or a date for a datetime column)"),
    "categories": (lambda v: v is None or isinstance(v, list), "a list of values"),
    "learned": (lambda v: isinstance(v, dict), "a mapping"),
}


def _is_time(text: str) -> bool:
    try:
        pd.Timestamp(text)
    except (ValueError, TypeError):
        return False
    return True


def _check_field_types(spec: dict, where: str) -> None:
    """Wrong-typed fields are named here, before any row is read or any file written."""
    for key, (ok, allowed) in _FIELD_TYPES.items():
        if key in spec and not ok(spec[key]):
            raise DataError(f"{where}: {key} must be {allowed}, got {spec[key]!r}")
    for key in ("min", "max"):
        if spec.get("dtype") in ("integer", "float") and isinstance(spec.get(key), str):
            raise DataError(f"{where}: {key} must be a number for a {spec['dtype']} column, got {spec[key]!r}")


# -- learning ---------------------------------------------------------------------------------
def _dtype_of(values: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(values):
        return "boolean"
    if pd.api.types.is_integer_dtype(values):
        return "integer"
    if pd.api.types.is_numeric_dtype(values):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(values):
        return "datetime"
    return "category"  # text; becomes "string" when it has too many distinct values


def _merge_dtype(a: str | None, b: str) -> str:
    if a is None or a == b:
        return b
    if {a, b} == {"integer", "float"}:
        return "float"
    return "category"  # mixed kinds across chunks: compare as text


@dataclass
class _ColumnStats:
    dtype: str | None = None
    rows: int = 0
    nulls: int = 0
    min: Any = None
    max: Any = None
    categories: set | None = field(default_factory=set)  # None once over max_categories
    infinite: int = 0  # ±inf values seen (outside any range the contract allows)


class ContractLearner:
    """Learn a contract from one frame or many chunks: `update(chunk)`, then `contract()`."""

    def __init__(self, **options: Any):
        unknown = sorted(set(options) - set(CONTRACT_DEFAULTS))
        if unknown:
            raise DataError(f"unknown contract option {unknown[0]!r}; allowed: {', '.join(CONTRACT_DEFAULTS)}")
        self.options = {**CONTRACT_DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
        self.stats: dict[str, _ColumnStats] = {}
        self.rows = 0

    def update(self, frame: pd.DataFrame) -> ContractLearner:
        self.rows += len(frame)
        for name in frame.columns:
            st = self.stats.setdefault(str(name), _ColumnStats())
            values = frame[name]
            st.rows += len(values)
            present = values.dropna()
            st.nulls += len(values) - len(present)
            if present.empty:
                continue
            kind = _dtype_of(present)
            st.dtype = _merge_dtype(st.dtype, kind)
            numeric = {st.dtype, kind} <= {"integer", "float"}
            if numeric and kind == "float":  # ±inf is not a range end: counted, then left out
                finite = np.isfinite(present.to_numpy(dtype=float))
                if not finite.all():
                    st.infinite += int((~finite).sum())
                    present = present[finite]
                    if present.empty:
                        continue
            if numeric or st.dtype == kind == "datetime":
                lo, hi = present.min(), present.max()
                st.min = lo if st.min is None else min(st.min, lo)
                st.max = hi if st.max is None else max(st.max, hi)
            if st.categories is not None:
                st.categories |= set(category_labels(present).unique())
                if len(st.categories) > self.options["max_categories"]:
                    st.categories = None
        return self

    def contract(self, learned_from: dict | None = None) -> Contract:
        tol = float(self.options["range_tolerance"])
        columns = {name: self._column(st, tol) for name, st in self.stats.items()}
        info = {"rows": self.rows, **(learned_from or {}), "options": dict(self.options)}
        return Contract(columns=columns, extra_columns=self.options["extra_columns"], learned_from=info)

    def _column(self, st: _ColumnStats, tol: float) -> ColumnContract:
        null_rate = st.nulls / st.rows if st.rows else 0.0
        dtype = st.dtype or "string"  # all null in training: nothing to check but presence
        col = ColumnContract(
            dtype=dtype,
            nullable=null_rate > 0 or st.dtype is None,
            max_null_rate=round(min(1.0, null_rate + self.options["null_rate_tolerance"]), 6),
            learned={"null_rate": round(null_rate, 6)},
        )
        if st.infinite:
            col.learned["infinite_values"] = st.infinite
        if dtype in ("integer", "float") and st.min is not None:
            lo, hi = float(st.min), float(st.max)
            pad = tol * (hi - lo) if hi > lo else tol * max(abs(lo), 1.0)
            col.min, col.max = lo - pad, hi + pad
            if dtype == "integer":
                col.min, col.max = float(math.floor(col.min)), float(math.ceil(col.max))
            col.learned.update(min=lo, max=hi)
        elif dtype == "datetime" and st.min is not None:
            col.learned.update(min=pd.Timestamp(st.min).isoformat(), max=pd.Timestamp(st.max).isoformat())
        elif dtype in ("category", "boolean"):
            if st.categories is None:
                col.dtype = "string"
            else:
                col.categories = sorted(str(c) for c in st.categories)
        col.learned = {k: _plain(v) for k, v in col.learned.items()}
        return col


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def learn_contract(frame: pd.DataFrame, learned_from: dict | None = None, **options: Any) -> Contract:
    """The contract of one in-memory frame (the training features)."""
    return ContractLearner(**options).update(frame).contract(learned_from)


def learn_file_contract(path: Path | list[Path], exclude: set, chunk_rows: int = 100_000) -> Contract:
    """A contract learned from a file (or every part of a dataset) in chunks, with pandas'
    type inference for CSV."""
    from benchharness.data.stream import file_format, iter_chunks

    parts = path if isinstance(path, list) else [path]
    path = parts[0] if len(parts) == 1 else Path(parts[0]).parent

    def frames():
        for part in parts:
            if file_format(part) == "csv":
                yield from pd.read_csv(part, chunksize=chunk_rows)
            else:
                yield from (c.batch.to_pandas() for c in iter_chunks(part, chunk_rows))

    learner = ContractLearner()
    try:
        for frame in frames():
            learner.update(frame.drop(columns=[c for c in frame.columns if c in exclude]))
    except (OSError, ValueError, EOFError) as exc:  # parser errors are ValueErrors; a cut gzip EOFError
        raise DataError(f"cannot read {path}: {str(exc).splitlines()[0]}") from None
    if not learner.rows:
        raise DataError(f"reference {path} has no rows")
    return learner.contract({"source": str(path)})
