"""Distribution analysis of the splits: drift per pair, labels, sizes, leakage, the stages."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchharness.config import parse_suite
from benchharness.context import Dataset, RunContext
from benchharness.data.analysis import (
    analyse_dataset,
    data_analysis_stage,
    data_contract_stage,
    distribution_lines,
)
from benchharness.data.contract import Contract


def make_dataset(n=600, shift=0.0, leak=0, val=True, seed=0) -> Dataset:
    rng = np.random.default_rng(seed)

    def part(rows, s):
        X = pd.DataFrame({"x": rng.normal(s, 1, rows), "z": rng.normal(0, 1, rows),
                          "c": rng.choice(list("abc"), rows)})
        return X, pd.Series((X["x"] + rng.normal(0, 1, rows) > 0).astype(int), name="target")

    X_train, y_train = part(n, 0.0)
    X_test, y_test = part(n // 3, shift)
    if leak:
        X_test.iloc[:leak] = X_train.iloc[:leak].to_numpy()
    X_val, y_val = part(n // 3, 0.0) if val else (None, None)
    return Dataset(X_train=X_train, y_train=y_train, X_test=X_test, y_test=y_test, X_val=X_val, y_val=y_val)


def test_same_distribution_no_warnings():
    section = analyse_dataset(make_dataset())
    assert set(section["comparisons"]) == {"train_vs_test", "train_vs_validation", "validation_vs_test"}
    assert section["sizes"]["train"]["rows"] == 600
    assert sum(s["share"] for s in section["sizes"].values()) == pytest.approx(1.0)
    assert section["labels"]["task"] == "classification"
    assert sum(section["labels"]["test"]["shares"].values()) == pytest.approx(1.0)
    assert section["leakage"]["train_test"]["rows"] == 0
    # three pairs x three columns at alpha 0.05: a false alarm is possible but rare with this seed
    assert section["warnings"] == []


def test_shifted_test_split_is_flagged_with_its_label():
    section = analyse_dataset(make_dataset(shift=1.5))
    rep = section["comparisons"]["train_vs_test"]
    assert rep["drifted_columns"] == ["x"] and rep["columns"]["x"]["method"] == "ks"
    assert rep["label"]["drift"] is True  # the label depends on x
    assert not section["comparisons"]["train_vs_validation"]["drifted_columns"]
    assert any(w.startswith("train vs test: some columns differ: 1 of 3") for w in section["warnings"])
    assert any("label distribution differs" in w for w in section["warnings"])


def test_rows_shared_between_splits_are_leakage():
    section = analyse_dataset(make_dataset(leak=7, val=False))
    assert "train_vs_validation" not in section["comparisons"]
    assert section["leakage"]["train_test"] == {"rows": 7, "share_of_test": 7 / 200}
    assert "leakage: 7 test rows (3.5%) also appear in train" in section["warnings"]


def test_regression_labels_are_summarised():
    ds = make_dataset()
    ds.y_train = ds.X_train["x"] * 2.0
    ds.y_test = ds.X_test["x"] * 2.0
    ds.y_val = ds.X_val["x"] * 2.0
    labels = analyse_dataset(ds)["labels"]
    assert labels["task"] == "regression"
    assert labels["train"]["mean"] == pytest.approx(2 * ds.X_train["x"].mean())


def test_thresholds_from_the_suite_are_used():
    # an absurd alpha: everything drifts
    section = analyse_dataset(make_dataset(), thresholds={"p_value": 0.999999})
    assert section["comparisons"]["train_vs_test"]["n_drifted"] == 3


def _suite(tmp_path, **sections):
    return parse_suite({"name": "t", "candidates": [{"name": "a", "model": "m.onnx"}], **sections}, tmp_path)


def test_stages_add_to_the_data_section_and_save_the_contract(tmp_path):
    results = {"run_id": "r1", "data": {"source": "x.csv", "split": {"method": "random"}}}
    ctx = RunContext(suite=_suite(tmp_path, contract={"range_tolerance": 0.0}), suite_path=tmp_path / "s.yaml",
                     run_dir=tmp_path, results=results, progress=lambda m: None, dataset=make_dataset(shift=1.5))
    data_analysis_stage(ctx)
    data_contract_stage(ctx)
    data = ctx.results["data"]
    assert data["source"] == "x.csv" and data["split"] == {"method": "random"}  # kept
    assert data["distribution"]["comparisons"]["train_vs_test"]["drifted_columns"] == ["x"]
    assert data["contract"]["path"] == "contract.yaml" and data["contract"]["columns"] == 3
    contract = Contract.load(tmp_path / "contract.yaml")
    assert contract.columns["x"].max == pytest.approx(ctx.dataset.X_train["x"].max())  # tolerance 0
    assert any("columns drifted" in line for line in distribution_lines(ctx.results))


def test_a_failing_analysis_is_recorded_and_the_run_goes_on(tmp_path):
    ds = make_dataset()
    ds.X_test = ds.X_test.drop(columns="z")  # a split without a column breaks hashing across splits
    ds.X_test["z"] = [{"not": "hashable"}] * len(ds.X_test)
    ctx = RunContext(suite=_suite(tmp_path), suite_path=tmp_path / "s.yaml", run_dir=tmp_path, results={"data": {}},
                     progress=lambda m: None, dataset=ds)
    data_analysis_stage(ctx)
    assert "error" in ctx.results["data"]["distribution"]  # the hashing of dicts fails
    assert distribution_lines(ctx.results)[0].startswith("data: distribution analysis failed")


def test_progress_names_only_the_splits_there_are(tmp_path):
    messages: list[str] = []
    ds = make_dataset()
    ds.X_val = None
    ctx = RunContext(suite=_suite(tmp_path), suite_path=tmp_path / "s.yaml", run_dir=tmp_path, results={"data": {}},
                     progress=messages.append, dataset=ds)
    data_analysis_stage(ctx)
    assert "analysing the distribution of train / test" in messages
