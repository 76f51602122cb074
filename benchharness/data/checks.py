"""Row checks of one chunk against a contract: which rows fail, why, and the typed values.

Every failed check on a row gives one reason, `"<column>: <check> (<detail>)"`. The checks:
`missing_column`, `extra_column` (when the contract says `extra_columns: quarantine`), `null`
(in a column that is not nullable), `wrong_type` (a value that does not parse as the
column's dtype), `below_min` / `above_max`, `unseen_category`. Values arrive either as raw
text (CSV, read as strings so nothing is lost) or typed (Parquet); both go through the same
parsing, so the same row gets the same reasons from either format.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from benchharness.data.contract import ColumnContract, Contract
from benchharness.data.drift import category_labels

#: text a CSV uses for "no value"
NULL_TOKENS = ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "none"]
_TRUE = {"true", "1", "1.0", "yes", "t", "y"}
_FALSE = {"false", "0", "0.0", "no", "f", "n"}


@dataclass
class FrameCheck:
    """The outcome of checking one chunk."""

    typed: pd.DataFrame  # the contract's columns parsed to their dtype (NaN where unusable)
    reasons: pd.Series  # row label -> "; "-joined reasons, only for rows that failed
    counts: Counter  # "<column>: <check>" -> rows that failed it
    nulls: Counter  # column -> null values in this chunk

    @property
    def failed(self) -> np.ndarray:
        """Boolean mask over the chunk's rows: True where the row goes to quarantine."""
        return self.typed.index.isin(self.reasons.index)


def _is_text(values: pd.Series) -> bool:
    return pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)


def null_mask(values: pd.Series) -> pd.Series:
    mask = values.isna()
    if _is_text(values):
        mask |= values.isin(NULL_TOKENS)
    return mask


def _quote(values: pd.Series) -> pd.Series:
    return "'" + values.astype(str).str.slice(0, 40) + "'"


def _text_to_float(values: pd.Series, null: pd.Series) -> pd.Series:
    """Parse text as float; unparseable -> NaN. Arrow's cast first (fast), pandas when it fails."""
    try:
        arrow = pc.if_else(pa.array(null.to_numpy()), pa.scalar(None, pa.string()), pa.array(values, pa.string()))
        return pd.Series(pc.cast(arrow, pa.float64()).to_numpy(zero_copy_only=False), index=values.index)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pd.to_numeric(values.where(~null), errors="coerce").astype(float)


def _parse_numeric(values: pd.Series, null: pd.Series, col: ColumnContract):
    if pd.api.types.is_bool_dtype(values):
        numbers = pd.Series(np.nan, index=values.index)  # True is not a number here
    elif pd.api.types.is_numeric_dtype(values):
        numbers = values.astype(float)
    else:
        numbers = _text_to_float(values, null)
    wrong = ~null & numbers.isna()
    if col.dtype == "integer":
        wrong |= ~null & numbers.notna() & (numbers != np.floor(numbers))
    return numbers.where(~wrong), wrong


def _parse_boolean(values: pd.Series, null: pd.Series):
    text = values.astype(str).str.strip().str.lower()
    parsed = pd.Series(np.where(text.isin(_TRUE), "True", np.where(text.isin(_FALSE), "False", None)),
                       index=values.index, dtype=object)
    wrong = ~null & parsed.isna()
    return parsed.where(~null), wrong


def _parse_datetime(values: pd.Series, null: pd.Series):
    parsed = pd.to_datetime(values.where(~null), errors="coerce", format="mixed")
    return parsed, ~null & parsed.isna()


def _unseen(typed: pd.Series, present: pd.Series, categories: list[str]) -> tuple[pd.Series, pd.Series]:
    """Rows whose value is not an allowed category (1, 1.0 and "1" are the same category)."""
    unseen = present & ~typed.isin(categories)  # the fast path: text as learned
    labels = typed.astype(object)
    if unseen.any():  # compare the rest in normalised form
        labels = labels.copy()
        labels[unseen] = category_labels(typed[unseen]).to_numpy()
        unseen &= ~labels.isin(categories)
    return unseen, labels


def check_column(name: str, values: pd.Series, col: ColumnContract, out: list, counts: Counter):
    """Append one Series of reasons per failed check to `out`; return (typed values, nulls).

    `detail` is a function of the failing rows only: formatting every row would cost more
    than all the checks together.
    """

    def fail(check: str, mask: pd.Series, detail=None):
        n = int(mask.sum())
        if not n:
            return
        counts[f"{name}: {check}"] += n
        msg = f"{name}: {check}"
        rows = mask.to_numpy()
        if detail is None:
            out.append(pd.Series(msg, index=values.index[rows]))
        else:
            out.append((msg + " (" + detail(rows) + ")").astype(object))

    null = null_mask(values)
    if not col.nullable:
        fail("null", null)
    if col.dtype in ("integer", "float"):
        typed, wrong = _parse_numeric(values, null, col)
        article = "an" if col.dtype == "integer" else "a"
        fail("wrong_type", wrong, lambda r: _quote(values[r]) + f" is not {article} {col.dtype}")
        if col.min is not None:
            fail("below_min", typed < col.min, lambda r: typed[r].astype(str) + f" < min {col.min:g}")
        if col.max is not None:
            fail("above_max", typed > col.max, lambda r: typed[r].astype(str) + f" > max {col.max:g}")
    elif col.dtype == "datetime":
        typed, wrong = _parse_datetime(values, null)
        fail("wrong_type", wrong, lambda r: _quote(values[r]) + " is not a date/time")
    elif col.dtype == "boolean":
        typed, wrong = _parse_boolean(values, null)
        fail("wrong_type", wrong, lambda r: _quote(values[r]) + " is not true/false")
    else:
        typed = values.where(~null)
    if col.categories is not None and col.dtype in ("category", "boolean"):
        unseen, labels = _unseen(typed, ~null & typed.notna(), col.categories)
        fail("unseen_category", unseen, lambda r: _quote(labels[r]) + f" not in the {len(col.categories)} allowed")
    return typed, int(null.sum())


def check_frame(frame: pd.DataFrame, contract: Contract) -> FrameCheck:
    """Check every row of `frame` against `contract` (vectorised, column by column)."""
    parts: list[pd.Series] = []
    counts: Counter = Counter()
    nulls: Counter = Counter()
    typed = {}
    for name, col in contract.columns.items():
        if name not in frame.columns:
            counts[f"{name}: missing_column"] += len(frame)
            parts.append(pd.Series(f"{name}: missing_column", index=frame.index))
            typed[name] = pd.Series(np.nan, index=frame.index)
            nulls[name] += len(frame)
            continue
        typed[name], nulls[name] = check_column(name, frame[name], col, parts, counts)
    if contract.extra_columns == "quarantine":
        for name in extra_columns(frame.columns, contract):
            counts[f"{name}: extra_column"] += len(frame)
            parts.append(pd.Series(f"{name}: extra_column", index=frame.index))
    if parts:
        reasons = pd.concat(parts).groupby(level=0, sort=True).agg("; ".join)
    else:
        reasons = pd.Series(dtype=object)
    return FrameCheck(typed=pd.DataFrame(typed, index=frame.index), reasons=reasons, counts=counts, nulls=nulls)


def extra_columns(columns, contract: Contract) -> list[str]:
    return [str(c) for c in columns if str(c) not in contract.columns]


def missing_columns(columns, contract: Contract) -> list[str]:
    present = {str(c) for c in columns}
    return [c for c in contract.columns if c not in present]
