"""Datasets in parts (a folder or a glob), on one machine and on a real Dask LocalCluster."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from benchharness.data.contract import learn_contract
from benchharness.data.monitor import MonitorOptions, run_monitor
from benchharness.data.parts import resolve_parts
from benchharness.data.validate import validate_dataset, validate_file
from benchharness.errors import DataError, UserError

HEADER = "x,n,kind\n"


def _rows(rng, n):
    """CSV lines: a numeric, a small integer and a text column; some rows out of range."""
    x = rng.normal(0, 1, n).round(4)
    x[rng.random(n) < 0.02] = 99.0  # above the contract's max
    kinds = rng.choice([f"k{i}" for i in range(40)], n)
    return [f"{a},{b},{c}" for a, b, c in zip(x, rng.integers(0, 3, n), kinds, strict=True)]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Three CSV parts (malformed lines in two of them) and the same lines as one file."""
    d = tmp_path_factory.mktemp("parts")
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"x": rng.normal(0, 1, 2000), "n": rng.integers(0, 3, 2000),
                          "kind": rng.choice([f"k{i}" for i in range(40)], 2000)})
    contract = learn_contract(train)
    (d / "ref.csv").write_text(HEADER + "\n".join(_rows(rng, 3000)) + "\n")
    (d / "day").mkdir()
    everything = []
    for i, n in enumerate((2500, 4000, 3500)):
        lines = _rows(rng, n)
        if i:
            lines[7] = lines[n // 2] = "1,2,3,4"  # malformed: too many fields
        (d / "day" / f"part-{i}.csv").write_text(HEADER + "\n".join(lines) + "\n")
        everything += lines
    (d / "day" / "_SUCCESS").write_text("")  # a marker file a writer leaves: not a part
    (d / "whole.csv").write_text(HEADER + "\n".join(everything) + "\n")
    return d, contract


@pytest.fixture(scope="module")
def scheduler():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp",
                                  host="127.0.0.1", dashboard_address=":0") as cluster:
        yield cluster.scheduler_address


def _same(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k not in ("seconds", "scheduler", "data_path", "clean_path",
                                                           "quarantine_path", "parts", "chunks")}


def test_parts_resolve_from_a_folder_or_a_glob(dataset):
    d, _ = dataset
    names = [p.name for p in resolve_parts(d / "day")]
    assert names == ["part-0.csv", "part-1.csv", "part-2.csv"]
    assert resolve_parts(str(d / "day" / "part-*.csv")) == resolve_parts(d / "day")
    with pytest.raises(DataError, match="no file matches"):
        resolve_parts(str(d / "day" / "*.parquet"))


def test_folder_of_parts_counts_like_one_file_and_writes_per_part(dataset, tmp_path):
    d, contract = dataset
    whole = validate_file(contract, d / "whole.csv", tmp_path / "whole", chunk_rows=500)
    parts = validate_dataset(contract, d / "day", tmp_path / "parts", chunk_rows=500)
    assert _same(parts) == _same(whole)
    assert parts["rows_read"] == 10_000 and parts["malformed_rows"] == 4
    assert [p["rows_read"] for p in parts["parts"]] == [2500, 4000, 3500]
    q = pd.read_csv(tmp_path / "parts" / "quarantine" / "part-1.csv")
    assert {4000 // 2 + 1, 8} <= set(q["_row"])  # malformed records: their data rows within the part
    clean_rows = sum(len(pd.read_csv(p)) for p in sorted((tmp_path / "parts" / "clean").iterdir()))
    assert clean_rows == whole["rows_clean"] == len(pd.read_csv(whole["clean_path"]))


def test_validation_through_a_scheduler_gives_the_local_counts_and_files(dataset, tmp_path, scheduler):
    d, contract = dataset
    local = validate_dataset(contract, d / "day", tmp_path / "local", chunk_rows=500)
    remote = validate_dataset(contract, str(d / "day" / "*.csv"), tmp_path / "remote", chunk_rows=500,
                              scheduler=scheduler)
    assert _same(remote) == _same(local) and remote["parts"] == local["parts"]
    assert remote["scheduler"] == scheduler
    for kind in ("clean", "quarantine"):
        for part in (tmp_path / "local" / kind).iterdir():
            assert (tmp_path / "remote" / kind / part.name).read_bytes() == part.read_bytes()
    assert json.loads((tmp_path / "remote" / "summary.json").read_text())["rows_read"] == 10_000


def test_monitor_through_a_scheduler_matches_the_local_path(dataset, tmp_path, scheduler):
    d, _ = dataset
    common = {"reference": str(d / "ref.csv"), "chunk_rows": 500, "sample_rows": 2_000}
    local = run_monitor(MonitorOptions(current=str(d / "day"), out_dir=str(tmp_path / "a"), **common))
    remote = run_monitor(MonitorOptions(current=str(d / "day"), out_dir=str(tmp_path / "b"),
                                        scheduler=scheduler, **common))
    whole = run_monitor(MonitorOptions(current=str(d / "whole.csv"), out_dir=str(tmp_path / "c"), **common))
    assert _same(remote["quality"]) == _same(local["quality"]) == _same(whole["quality"])
    cols = {name: (local, remote, whole) for name in ("x", "n", "kind")}
    for name, (a, b, c) in cols.items():
        sa, sb, sc = (r["drift"]["features"]["columns"][name] for r in (a, b, c))
        assert sb["score"] == sa["score"]  # same parts, same seeds: the same sample and counts
        if sa["on"].startswith("all rows"):
            assert sc["score"] == sa["score"]  # counts of every row do not depend on the parts
        else:  # a sample of other rows: within the sampling tolerance of the sample size
            assert abs(sc["score"] - sa["score"]) < 0.05
    assert remote["drift"]["features"]["columns"]["kind"]["on"] == "all rows (category counts)"
    with pytest.raises(UserError, match="--scheduler runs the data checks"):
        run_monitor(MonitorOptions(current=str(d / "day"), out_dir=str(tmp_path / "d"), scheduler=scheduler,
                                   model="m.joblib", **common))


def test_an_unreachable_scheduler_is_a_one_line_error():
    pytest.importorskip("distributed")
    from benchharness.data.distributed import connect

    with pytest.raises(UserError, match=r"cannot reach the Dask scheduler at 'tcp://127.0.0.1:9': Connection refused"):
        connect("tcp://127.0.0.1:9", timeout_s=1)


def test_cli_validates_a_glob_through_a_scheduler(dataset, tmp_path, scheduler):
    from click.testing import CliRunner

    from benchharness.cli import main

    d, contract = dataset
    contract.save(tmp_path / "contract.yaml")
    res = CliRunner().invoke(main, ["validate", "--contract", str(tmp_path / "contract.yaml"),
                                    str(d / "day" / "part-*.csv"), "--scheduler", scheduler,
                                    "--out", str(tmp_path / "out"), "--chunk-rows", "500"])
    assert res.exit_code == 1, res.output  # rows were quarantined
    assert "read 10000 rows" in res.output and f"3 parts checked on {scheduler}" in res.output
    assert sorted(p.name for p in (tmp_path / "out" / "clean").iterdir()) == [f"part-{i}.csv" for i in range(3)]
