"""The run stage that loads and splits the data (results["data"], ctx.dataset)."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pandas as pd

from benchharness.context import Dataset, RunContext
from benchharness.data.load import (
    frame_fingerprint,
    is_classification_target,
    read_table,
    split_frame,
)
from benchharness.data.settings import DataSettings
from benchharness.errors import DataError


def build_dataset(data: DataSettings) -> Dataset:
    """Read and split the data as the suite's `data:` section says."""
    target = data.target
    split = data.split
    if data.source:
        frame = read_table(data.source)
        _check_target(frame, target, data.source)
        parts = split_frame(
            frame, target,
            test_size=split.test_size, seed=split.seed,
            stratify=split.stratify, time_column=data.time_column,
            time_ordered=split.time_ordered, validation_size=split.validation_size,
        )
        split_info = {"method": "time_ordered" if split.time_ordered else "random", **dataclasses.asdict(split)}
        # what the split did, not what was asked: a regression target or a time order is never stratified
        split_info["stratify"] = bool(split.stratify and not split.time_ordered
                                      and is_classification_target(frame[target]))
        source_info = {"source": data.source, "sha256": frame_fingerprint(frame), "rows": len(frame)}
    else:
        parts = {"train": read_table(data.train), "test": read_table(data.test)}
        if data.validation:
            parts["validation"] = read_table(data.validation)
        for name, part in parts.items():
            _check_target(part, target, getattr(data, name))
        split_info = {"method": "given"}
        source_info = {k: getattr(data, k) for k in ("train", "test", "validation") if getattr(data, k)}
    features = _feature_columns(parts["train"], data)
    for name, part in parts.items():
        missing = [c for c in features if c not in part.columns]
        if missing:
            raise DataError(f"{name} split lacks feature column(s) {missing[:5]} present in train")
        _check_finite(part[features + [target]], data.source or getattr(data, name))

    def xy(part: pd.DataFrame | None):
        if part is None:
            return None, None, None
        part = part.reset_index(drop=True)
        return part[features], part[target], part

    X_train, y_train, m_train = xy(parts["train"])
    X_test, y_test, m_test = xy(parts["test"])
    X_val, y_val, m_val = xy(parts.get("validation"))
    split_info["fingerprints"] = {name: frame_fingerprint(p) for name, p in parts.items()}
    split_info["rows"] = {name: len(p) for name, p in parts.items()}
    split_info["split_sha256"] = hashlib.sha256(
        "|".join(f"{k}:{v}" for k, v in sorted(split_info["fingerprints"].items())).encode()
    ).hexdigest()
    info = {
        **source_info,
        "target": target,
        "features": features,
        "n_features": len(features),
        "split": split_info,
    }
    return Dataset(
        X_train=X_train, y_train=y_train, X_test=X_test, y_test=y_test,
        X_val=X_val, y_val=y_val, meta_train=m_train, meta_test=m_test, meta_val=m_val,
        target=target, info=info,
    )


def _check_finite(frame: pd.DataFrame, where: str) -> None:
    """±inf is no number a model can learn from or be judged on: name the columns."""
    numeric = frame.select_dtypes(include="number")
    counts = np.isinf(numeric.to_numpy(dtype=float)).sum(axis=0) if len(numeric.columns) else []
    bad = {col: int(n) for col, n in zip(numeric.columns, counts) if n}
    if bad:
        listed = ", ".join(f"{col!r} ({n})" for col, n in list(bad.items())[:5])
        raise DataError(f"{where}: infinite values (inf/-inf) in column(s) {listed}; "
                        "replace them (e.g. with empty cells) or drop those rows")


def _check_target(frame: pd.DataFrame, target: str, where: str) -> None:
    if target not in frame.columns:
        import difflib

        names = [str(c) for c in frame.columns]
        close = difflib.get_close_matches(str(target), names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        shown = ", ".join(names[:6] + ["...", names[-1]] if len(names) > 7 else names)
        raise DataError(f"target column {target!r} not found in {where}{hint}; "
                        + (f"{len(names)} columns" if hint else f"{len(names)} columns: {shown}"))
    if frame[target].isna().all():
        raise DataError(f"target column {target!r} in {where} has no values")
    missing = frame[target].isna().to_numpy()
    if missing.any():
        first = int(missing.argmax()) + 1
        raise DataError(f"target column {target!r} in {where} has {int(missing.sum())} missing value(s) "
                        f"(first at data row {first}); a label cannot be guessed: drop or fill those rows")


def _feature_columns(train: pd.DataFrame, data: DataSettings) -> list[str]:
    if data.features:
        missing = [c for c in data.features if c not in train.columns]
        if missing:
            cols = ", ".join(map(str, list(train.columns)[:12]))
            raise DataError(f"data.features names column(s) not in the data: {missing}; columns: {cols}")
        return list(data.features)
    exclude = {data.target, data.id_column, data.time_column, *data.drop}
    features = [c for c in train.columns if c not in exclude]
    if not features:
        raise DataError("no feature columns left after removing target, id, time and drop columns")
    return features


def load_data_stage(ctx: RunContext) -> None:
    data = ctx.suite.data
    if not (data.source or data.train):
        ctx.progress("no data section: candidates are measured for speed only")
        ctx.results["data"] = {"source": None}
        return
    ctx.progress(f"loading data: {data.source or data.train}")
    ds = build_dataset(data)
    ctx.dataset = ds
    # children read the features from files, never from the parent's memory
    ds.X_train.to_parquet(ctx.work_dir / "X_train.parquet")
    ds.X_test.to_parquet(ctx.work_dir / "X_test.parquet")
    ctx.results["data"].update(ds.info)
    rows = ds.info["split"]["rows"]
    ctx.progress("split: " + ", ".join(f"{k} {v} rows" for k, v in rows.items())
                 + f", {ds.info['n_features']} features")
