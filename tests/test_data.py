import numpy as np
import pandas as pd
import pytest

from benchharness.config import parse_suite
from benchharness.data.load import frame_fingerprint, read_table, split_frame
from benchharness.data.stage import build_dataset
from benchharness.errors import DataError


def data_cfg(tmp_path, **data):
    raw = {"name": "s", "data": data, "candidates": [{"name": "a", "train": "x.Y"}]}
    return parse_suite(raw, tmp_path).data


def test_split_is_reproducible_and_fingerprinted(tmp_path):
    a = build_dataset(data_cfg(tmp_path, source="sklearn:breast_cancer"))
    b = build_dataset(data_cfg(tmp_path, source="sklearn:breast_cancer"))
    c = build_dataset(data_cfg(tmp_path, source="sklearn:breast_cancer", split={"seed": 1}))
    assert a.info["split"]["split_sha256"] == b.info["split"]["split_sha256"]
    assert a.info["split"]["split_sha256"] != c.info["split"]["split_sha256"]
    assert a.info["sha256"] == c.info["sha256"]  # same source rows
    pd.testing.assert_frame_equal(a.X_test, b.X_test)
    assert len(a.X_test) == 143 and len(a.X_train) == 426


def test_stratified_split_keeps_class_shares():
    y = pd.Series([0] * 90 + [1] * 10)
    frame = pd.DataFrame({"x": np.arange(100), "target": y})
    parts = split_frame(frame, "target", test_size=0.2, seed=3, stratify=True)
    assert parts["test"]["target"].sum() == 2 and len(parts["test"]) == 20


def test_time_ordered_split_puts_latest_rows_in_test():
    frame = pd.DataFrame({"t": pd.date_range("2024-01-01", periods=10, freq="D")[::-1], "x": range(10), "target": range(10)})
    parts = split_frame(frame, "target", 0.3, 0, False, time_column="t", time_ordered=True)
    assert parts["test"]["t"].min() > parts["train"]["t"].max()
    assert len(parts["test"]) == 3


def test_given_train_and_test_files(tmp_path):
    df = pd.DataFrame({"a": range(20), "b": np.linspace(0, 1, 20), "target": [0, 1] * 10})
    df.iloc[:15].to_csv(tmp_path / "train.csv", index=False)
    df.iloc[15:].to_parquet(tmp_path / "test.parquet")
    ds = build_dataset(data_cfg(tmp_path, train="train.csv", test="test.parquet"))
    assert ds.feature_names == ["a", "b"] and len(ds.X_test) == 5
    assert ds.info["split"]["method"] == "given"


def test_missing_target_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="target column 'label' not found"):
        build_dataset(data_cfg(tmp_path, source="sklearn:iris", target="label"))


def test_empty_and_unreadable_files(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty"):
        read_table(str(tmp_path / "empty.csv"))
    (tmp_path / "header.csv").write_text("a,b,target\n")
    with pytest.raises(DataError, match="no rows"):
        read_table(str(tmp_path / "header.csv"))
    with pytest.raises(DataError, match="not found"):
        read_table(str(tmp_path / "absent.csv"))
    with pytest.raises(DataError, match="suffix '.xlsx'"):
        read_table(str(tmp_path / "x.xlsx"))
    with pytest.raises(DataError, match="allowed: sklearn:breast_cancer"):
        read_table("sklearn:mnist")


def test_fingerprint_changes_with_one_value():
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0]})
    df2 = df.copy()
    df2.iloc[1, 0] = 2.5
    assert frame_fingerprint(df) != frame_fingerprint(df2)
    assert frame_fingerprint(df) == frame_fingerprint(df.copy())


def test_recorded_split_says_whether_it_was_stratified(tmp_path):
    """A regression target is never stratified: the record (shown in the report) must not claim it was."""
    regression = build_dataset(data_cfg(tmp_path, source="sklearn:diabetes", split={"stratify": True}))
    classification = build_dataset(data_cfg(tmp_path, source="sklearn:breast_cancer", split={"stratify": True}))
    assert regression.info["split"]["stratify"] is False
    assert classification.info["split"]["stratify"] is True


def test_missing_target_values_are_named_with_count_and_first_row(tmp_path):
    frame = pd.DataFrame({"x": np.arange(20.0), "y": [0, 1] * 10})
    frame.loc[[3, 7], "y"] = np.nan
    frame.to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(DataError, match=r"target column 'y' in .*d.csv has 2 missing value\(s\) \(first at data row 4\)"):
        build_dataset(data_cfg(tmp_path, source=str(tmp_path / "d.csv"), target="y"))


def test_unknown_feature_names_list_the_columns(tmp_path):
    pd.DataFrame({"income": np.arange(20.0), "y": [0, 1] * 10}).to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(DataError, match=r"not in the data: \['incme'\]; columns: income, y"):
        build_dataset(data_cfg(tmp_path, source=str(tmp_path / "d.csv"), target="y", features=["incme"]))


def test_a_split_too_small_for_the_classes_names_the_setting():
    frame = pd.DataFrame({"x": np.arange(150.0), "y": [0, 1, 2] * 50})
    with pytest.raises(DataError, match=r"data.split.test_size 0.001 of 150 rows, stratified by the target\): .*classes = 3"):
        split_frame(frame, "y", test_size=0.001, seed=0, stratify=True)
