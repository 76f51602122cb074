"""The data contract: learned from training data, saved as YAML, loaded back unchanged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from benchharness.data.contract import Contract, ContractLearner, learn_contract
from benchharness.errors import DataError


@pytest.fixture
def train():
    return pd.DataFrame({
        "age": [20, 30, 40, 50, 60],
        "income": [1.5, 2.5, np.nan, 3.0, 4.0],
        "color": ["red", "green", "blue", "red", "green"],
        "member": [True, False, True, True, False],
        "when": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01", "2024-05-01"]),
    })


def test_learns_dtypes_nulls_ranges_with_tolerance_and_categories(train):
    c = learn_contract(train, range_tolerance=0.1)
    age, income, color, member, when = (c.columns[k] for k in ("age", "income", "color", "member", "when"))
    assert (age.dtype, income.dtype, color.dtype, member.dtype, when.dtype) == (
        "integer", "float", "category", "boolean", "datetime")
    # span 40, 10% each side: [16, 64]; the float one: span 2.5 -> [1.25, 4.25]
    assert (age.min, age.max) == (16.0, 64.0)
    assert (income.min, income.max) == pytest.approx((1.25, 4.25))
    assert income.nullable and income.learned["null_rate"] == 0.2
    assert income.max_null_rate == pytest.approx(0.25)  # + null_rate_tolerance 0.05
    assert not age.nullable
    assert color.categories == ["blue", "green", "red"] and member.categories == ["False", "True"]
    assert when.learned["min"].startswith("2024-01-01")


def test_too_many_distinct_strings_is_free_text():
    frame = pd.DataFrame({"name": [f"n{i}" for i in range(60)]})
    assert learn_contract(frame, max_categories=50).columns["name"].dtype == "string"
    assert learn_contract(frame, max_categories=100).columns["name"].dtype == "category"


def test_learning_in_chunks_equals_learning_at_once(train):
    whole = learn_contract(train)
    chunked = ContractLearner().update(train.iloc[:2]).update(train.iloc[2:]).contract()
    assert chunked.columns == whole.columns


def test_int_then_float_chunks_widen_to_float():
    learner = ContractLearner().update(pd.DataFrame({"x": [1, 2]})).update(pd.DataFrame({"x": [2.5, 3.5]}))
    col = learner.contract().columns["x"]
    assert col.dtype == "float" and col.learned["min"] == 1.0 and col.learned["max"] == 3.5


def test_yaml_round_trip(tmp_path, train):
    c = learn_contract(train, learned_from={"source": "train.csv"})
    path = c.save(tmp_path / "contract.yaml")
    text = path.read_text()
    assert text.startswith("# benchharness data contract")
    assert Contract.load(path) == c
    # a hand edit survives the round trip too
    raw = yaml.safe_load(text)
    raw["columns"]["age"]["max"] = 55
    raw["columns"]["color"]["categories"].append("purple")
    edited = Contract.from_dict(raw)
    assert edited.columns["age"].max == 55 and "purple" in edited.columns["color"].categories
    assert Contract.from_dict(yaml.safe_load(edited.to_yaml())) == edited


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("columns: {}", "non-empty 'columns'"),
        ("columns: {a: {dtype: number}}", "dtype must be one of"),
        ("columns: {a: {dtype: float, maximum: 3}}", "unknown key 'maximum'"),
        ("extra_columns: drop\ncolumns: {a: {dtype: float}}", "extra_columns must be one of"),
        ("columns: [a, b", "cannot read contract"),
    ],
)
def test_bad_contract_files_name_the_problem(tmp_path, text, fragment):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(DataError, match=fragment):
        Contract.load(path)


def test_missing_contract_file():
    with pytest.raises(DataError, match="contract file not found"):
        Contract.load("/nonexistent/contract.yaml")


def test_unknown_learning_option():
    with pytest.raises(DataError, match="unknown contract option 'tolerance'"):
        ContractLearner(tolerance=0.2)
