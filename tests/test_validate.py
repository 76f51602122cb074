"""`validate_file`: quarantine invariants on hand-made rows, streaming, bad files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchharness.data.contract import learn_contract
from benchharness.data.validate import validate_file
from benchharness.errors import DataError

HEADER = "age,income,color,member\n"
# each row with the reasons it must get (empty: clean)
ROWS = [
    ("25,2.0,red,true", []),
    ("40,3.5,blue,False", []),
    ("41,,green,1", []),  # income may be null: training had nulls
    ("abc,2.0,red,true", ["age: wrong_type"]),
    ("200,2.0,red,true", ["age: above_max"]),
    ("30.5,2.0,red,true", ["age: wrong_type"]),  # not an integer
    ("NaN,2.0,red,true", ["age: null"]),
    (",0.1,purple,maybe", ["age: null", "income: below_min", "color: unseen_category", "member: wrong_type"]),
    ("33,1e9,red,no", ["income: above_max"]),
    ("35,2.5,NA,yes", ["color: null"]),
]


@pytest.fixture
def contract():
    train = pd.DataFrame({
        "age": [20, 30, 40, 50, 60],
        "income": [1.5, 2.5, np.nan, 3.0, 4.0],
        "color": ["red", "green", "blue", "red", "green"],
        "member": [True, False, True, True, False],
    })
    return learn_contract(train)


def write_rows(path, rows=ROWS, header=HEADER):
    path.write_text(header + "".join(r + "\n" for r, _ in rows))
    return path


def _reasons_by_row(quarantine: pd.DataFrame) -> dict[int, list[str]]:
    return {
        int(r): [part.split(" (")[0] for part in str(text).split("; ")]
        for r, text in zip(quarantine["_row"], quarantine["_reasons"], strict=True)
    }


def test_each_row_gets_exactly_its_reasons_and_counts_add_up(tmp_path, contract):
    data = write_rows(tmp_path / "in.csv")
    s = validate_file(contract, data, tmp_path / "out")
    expected = {i + 1: reasons for i, (_, reasons) in enumerate(ROWS) if reasons}
    clean = pd.read_csv(s["clean_path"], dtype=str, keep_default_na=False)
    quarantine = pd.read_csv(s["quarantine_path"], dtype=str, keep_default_na=False)
    assert _reasons_by_row(quarantine) == expected
    assert s["rows_read"] == len(ROWS) == s["rows_clean"] + s["rows_quarantined"]
    assert len(clean) == s["rows_clean"] == 3 and len(quarantine) == s["rows_quarantined"]
    # same columns plus the two added; values exactly as they came
    assert list(clean.columns) == ["age", "income", "color", "member"]
    assert list(quarantine.columns) == ["age", "income", "color", "member", "_row", "_reasons"]
    assert quarantine.loc[quarantine["_row"] == "6", "age"].item() == "30.5"
    # the summary counts every failed check
    assert s["failed_checks"]["age: wrong_type"] == 2 and s["failed_by_check"]["null"] == 3
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["rows_read"] == len(ROWS)
    assert s["ok"] is False


def test_reason_details_name_the_value_and_the_limit(tmp_path, contract):
    s = validate_file(contract, write_rows(tmp_path / "in.csv"), tmp_path / "out")
    text = " ".join(pd.read_csv(s["quarantine_path"])["_reasons"])
    assert "age: above_max (200.0 > max 64)" in text
    assert "color: unseen_category ('purple' not in the 3 allowed)" in text
    assert "age: wrong_type ('abc' is not an integer)" in text


def test_parquet_gives_the_same_reasons_as_csv(tmp_path, contract):
    csv_summary = validate_file(contract, write_rows(tmp_path / "in.csv"), tmp_path / "csv")
    frame = pd.read_csv(tmp_path / "in.csv", dtype=str, keep_default_na=False)
    frame.to_parquet(tmp_path / "in.parquet")
    pq_summary = validate_file(contract, tmp_path / "in.parquet", tmp_path / "pq")
    assert pq_summary["failed_checks"] == csv_summary["failed_checks"]
    assert pd.read_parquet(pq_summary["quarantine_path"])["_reasons"].tolist() == \
        pd.read_csv(csv_summary["quarantine_path"])["_reasons"].tolist()


def test_typed_parquet_out_of_range_and_nan(tmp_path, contract):
    frame = pd.DataFrame({"age": [25.0, np.nan, 99.0], "income": [2.0, 2.0, np.inf],
                          "color": ["red", "red", "red"], "member": [True, False, True]})
    frame.to_parquet(tmp_path / "typed.parquet")
    s = validate_file(contract, tmp_path / "typed.parquet", tmp_path / "out")
    q = pd.read_parquet(s["quarantine_path"])
    assert _reasons_by_row(q) == {2: ["age: null"], 3: ["age: above_max", "income: above_max"]}


def test_missing_column_quarantines_every_row_and_extra_is_reported(tmp_path, contract):
    data = tmp_path / "in.csv"
    data.write_text("age,income,member,shoe_size\n25,2.0,true,42\n30,2.0,false,40\n")
    s = validate_file(contract, data, tmp_path / "out")
    assert s["missing_columns"] == ["color"] and s["extra_columns"] == ["shoe_size"]
    assert s["rows_quarantined"] == 2 and s["failed_checks"] == {"color: missing_column": 2}
    contract.extra_columns = "quarantine"
    s = validate_file(contract, data, tmp_path / "out2")
    assert s["failed_checks"]["shoe_size: extra_column"] == 2


def test_malformed_line_is_quarantined_not_dropped(tmp_path, contract):
    data = tmp_path / "in.csv"
    data.write_text(HEADER + "25,2.0,red,true\n1,2,3,4,5,6\n30,2.0,red,true\n")
    s = validate_file(contract, data, tmp_path / "out")
    assert (s["rows_read"], s["rows_clean"], s["rows_quarantined"], s["malformed_rows"]) == (3, 2, 1, 1)
    assert "malformed_row" in pd.read_csv(s["quarantine_path"])["_reasons"].item()


def test_streams_a_file_larger_than_one_chunk(tmp_path, contract):
    rng = np.random.default_rng(0)
    n = 50_000
    frame = pd.DataFrame({
        "age": rng.integers(20, 61, n).astype(str),
        "income": rng.uniform(1.5, 4.0, n).round(3).astype(str),
        "color": rng.choice(["red", "green", "blue"], n),
        "member": rng.choice(["true", "false"], n),
    })
    bad = rng.random(n) < 0.01
    frame.loc[bad, "age"] = "999"
    frame.to_csv(tmp_path / "big.csv", index=False)
    with gzip.open(tmp_path / "big.csv.gz", "wt") as fh:
        frame.to_csv(fh, index=False)
    for name in ("big.csv", "big.csv.gz"):
        seen = []
        s = validate_file(contract, tmp_path / name, tmp_path / f"out-{name}", chunk_rows=4_000,
                          on_chunk=lambda frame, check: seen.append(len(frame)))  # noqa: B023
        assert s["chunks"] > 5 and len(seen) == s["chunks"] and max(seen) < 20_000
        assert s["rows_read"] == n and s["rows_quarantined"] == int(bad.sum())
        q = pd.read_csv(s["quarantine_path"])
        assert sorted(q["_row"]) == list(np.flatnonzero(bad) + 1)
        assert len(pd.read_csv(s["clean_path"])) == n - bad.sum()


def test_quoted_newlines_survive_chunk_cuts(tmp_path):
    contract = learn_contract(pd.DataFrame({"id": [0, 9999], "note": ["a", "b"]}), max_categories=0)
    lines = [f'{i},"line one\nline two {i}"' for i in range(10_000)]
    (tmp_path / "notes.csv").write_text("id,note\n" + "\n".join(lines) + "\n")
    s = validate_file(contract, tmp_path / "notes.csv", tmp_path / "out", chunk_rows=100)
    assert s["chunks"] > 3 and s["rows_read"] == 10_000 and s["malformed_rows"] == 0
    assert pd.read_csv(s["clean_path"])["note"].iloc[-1] == "line one\nline two 9999"


def test_batch_null_rate_check(tmp_path, contract):
    data = tmp_path / "in.csv"
    data.write_text(HEADER + "".join(f"30,{'' if i % 2 else '2.0'},red,true\n" for i in range(10)))
    s = validate_file(contract, data)
    assert s["rows_quarantined"] == 0  # income may be null row by row...
    assert s["batch_failures"] == [{"column": "income", "check": "null_rate", "value": 0.5, "max": 0.25}]
    assert s["ok"] is False


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"", "empty.csv", "is empty"),
        (HEADER.encode(), "header.csv", "has a header but no rows"),
        (b"PAR1 not really parquet", "bad.parquet", "cannot read"),
        (b"a,b\n1,2\n", "data.xlsx", "unsupported data file"),
    ],
)
def test_unusable_files_raise_a_clear_error(tmp_path, contract, content, name, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        validate_file(contract, path, tmp_path / "out")


def test_missing_file(tmp_path, contract):
    with pytest.raises(DataError, match="not found"):
        validate_file(contract, tmp_path / "nope.csv")


def test_cli_exit_codes(tmp_path, contract):
    from click.testing import CliRunner

    from benchharness.cli import main

    contract_path = contract.save(tmp_path / "contract.yaml")
    clean = write_rows(tmp_path / "clean.csv", ROWS[:2])
    res = CliRunner().invoke(main, ["validate", "--contract", str(contract_path), str(clean)])
    assert res.exit_code == 0, res.output
    assert "read 2 rows: 2 clean, 0 quarantined" in res.output
    assert (tmp_path / "clean-validated" / "summary.json").exists()  # default --out next to DATA
    dirty = write_rows(tmp_path / "dirty.csv")
    res = CliRunner().invoke(main, ["validate", "--contract", str(contract_path), str(dirty),
                                    "--out", str(tmp_path / "o")])
    assert res.exit_code == 1 and "7 quarantined" in res.output and "age: wrong_type" in res.output
    res = CliRunner().invoke(main, ["validate", "--contract", str(tmp_path / "none.yaml"), str(dirty)])
    assert res.exit_code == 2 and "contract file not found" in res.output


def test_row_points_at_the_data_row_after_malformed_lines_in_every_chunk(tmp_path, contract):
    """Malformed records early, mid-chunk and in later chunks: `_row` of every quarantined row,
    the malformed ones included, is its data row in the file (1 = first line after the header)."""
    n = 20_000  # about 4,000 rows per chunk at the smallest read
    malformed = {2, 15, 2_001, 9_999, 15_000, 19_999}  # data rows holding a line with too many fields
    out_of_range = {1, 3, 16, 2_000, 2_002, 10_000, 14_999, 15_001, 20_000}
    lines = []
    for row in range(1, n + 1):
        if row in malformed:
            lines.append("1,2,3,4,5,6")
        elif row in out_of_range:
            lines.append("999,2.0,red,true")
        else:
            lines.append("30,2.0,red,true")
    data = tmp_path / "in.csv"
    data.write_text(HEADER + "\n".join(lines) + "\n")
    s = validate_file(contract, data, tmp_path / "out", chunk_rows=100)
    assert s["chunks"] > 3 and s["rows_read"] == n and s["malformed_rows"] == len(malformed)
    q = pd.read_csv(s["quarantine_path"])
    assert q["_row"].tolist() == sorted(malformed | out_of_range)  # in file order, every row numbered
    by_row = dict(zip(q["_row"], q["_reasons"], strict=True))
    assert all(by_row[r].startswith("malformed_row") for r in malformed)
    assert all(by_row[r].startswith("age: above_max") for r in out_of_range)
    # and the number points at the line: data row r is line r + 1 of the file
    file_lines = data.read_text().splitlines()
    assert all(file_lines[r] == "1,2,3,4,5,6" for r in malformed)


def test_clean_csv_is_written_like_the_input(tmp_path, contract):
    rows = [("25,2.0,red,true", []), ('30,2.5,"green",false', []), ("40,3.0,blue,true", [])]
    data = write_rows(tmp_path / "in.csv", rows)
    s = validate_file(contract, data, tmp_path / "out")
    assert Path(s["clean_path"]).read_text() == HEADER + "25,2.0,red,true\n30,2.5,green,false\n40,3.0,blue,true\n"
    contract.columns["color"].categories = None
    contract.columns["color"].dtype = "string"
    data = write_rows(tmp_path / "in2.csv", [('25,2.0,"red, dark",true', []), ('26,2.0,"say ""hi""",true', [])])
    s = validate_file(contract, data, tmp_path / "out2")
    assert Path(s["clean_path"]).read_text() == HEADER + '25,2.0,"red, dark",true\n26,2.0,"say ""hi""",true\n'
