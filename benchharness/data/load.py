"""Load a dataset, split it reproducibly, and fingerprint both.

Sources: `sklearn:NAME` (a dataset bundled with scikit-learn, no download), a .csv or
.parquet file, or separate train/test (and validation) files the team already has. The
fingerprint is a sha256 over the rows' content, so two runs with the same fingerprint used
the same rows in the same splits.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from benchharness.errors import DataError

SKLEARN_DATASETS = {
    "breast_cancer": "load_breast_cancer",
    "iris": "load_iris",
    "wine": "load_wine",
    "digits": "load_digits",
    "diabetes": "load_diabetes",
}
READABLE = (".csv", ".parquet", ".pq")


def read_table(source: str) -> pd.DataFrame:
    """Read a source into a frame, with a one-line error for anything unusable."""
    if source.startswith("sklearn:"):
        name = source.split(":", 1)[1]
        if name not in SKLEARN_DATASETS:
            raise DataError(
                f"unknown bundled dataset {source!r}; allowed: "
                + ", ".join(f"sklearn:{n}" for n in SKLEARN_DATASETS)
            )
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, SKLEARN_DATASETS[name])(as_frame=True)
        frame = bunch.frame.copy()
        frame.columns = [str(c) for c in frame.columns]
        return frame
    path = Path(source)
    if path.suffix.lower() not in READABLE:
        raise DataError(f"cannot read data file {source!r}: suffix {path.suffix!r} not in {list(READABLE)}")
    if not path.exists():
        raise DataError(f"data file not found: {source}")
    from benchharness.data.parts import require_regular

    require_regular(path, "data file")
    try:
        if path.suffix.lower() == ".csv":
            frame = pd.read_csv(path)
        else:
            frame = pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        raise DataError(f"data file is empty: {source}") from None
    except Exception as exc:
        raise DataError(f"cannot read data file {source}: {type(exc).__name__}: {exc}") from None
    if frame.empty:
        raise DataError(f"data file has no rows: {source}")
    return frame


def frame_fingerprint(frame: pd.DataFrame) -> str:
    """sha256 of column names and row content (order-sensitive)."""
    h = hashlib.sha256()
    h.update("\x1f".join(map(str, frame.columns)).encode())
    h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return h.hexdigest()


def split_frame(
    frame: pd.DataFrame,
    target: str,
    test_size: float,
    seed: int,
    stratify: bool,
    time_column: str | None = None,
    time_ordered: bool = False,
    validation_size: float = 0.0,
) -> dict[str, pd.DataFrame]:
    """Split rows into train/test (and validation). Time-ordered: the latest rows are test."""
    n = len(frame)
    if n < 4:
        raise DataError(f"dataset has {n} rows; at least 4 are needed to split train and test")
    if time_ordered:
        if not time_column:
            raise DataError("split.time_ordered needs data.time_column, got none")
        ordered = frame.sort_values(time_column, kind="stable")
        n_test = max(1, int(round(n * test_size)))
        n_val = int(round(n * validation_size))
        parts = {
            "train": ordered.iloc[: n - n_test - n_val],
            "validation": ordered.iloc[n - n_test - n_val : n - n_test],
            "test": ordered.iloc[n - n_test :],
        }
    else:
        strat = frame[target] if stratify and is_classification_target(frame[target]) else None
        try:
            rest, test = train_test_split(frame, test_size=test_size, random_state=seed, stratify=strat)
            parts = {"train": rest, "test": test}
            if validation_size > 0:
                strat_rest = rest[target] if strat is not None else None
                rel = validation_size / (1 - test_size)
                train, val = train_test_split(rest, test_size=rel, random_state=seed, stratify=strat_rest)
                parts = {"train": train, "validation": val, "test": test}
        except ValueError as exc:
            how = f"data.split.test_size {test_size} of {n} rows" + (", stratified by the target" if strat is not None else "")
            raise DataError(f"cannot split the data ({how}): {exc}") from None
    return {k: v for k, v in parts.items() if len(v)}


def is_classification_target(y: pd.Series) -> bool:
    if y.dtype.kind in "ObUS" or isinstance(y.dtype, pd.CategoricalDtype):
        return True
    if y.dtype.kind in "iu":
        return y.nunique() <= max(20, int(0.05 * len(y)))
    if y.dtype.kind == "f":
        vals = y.dropna().to_numpy()
        return bool(np.all(vals == np.round(vals))) and y.nunique() <= 20
    return False
