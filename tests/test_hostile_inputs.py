"""Hostile inputs to every command: one line naming what was wrong, the exit code of the one
table (exit_codes.py), never a traceback, never exit 1 for a broken input or a bug."""

import gzip
import json

import click
import joblib
import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from conftest import write_suite

from benchharness import exit_codes
from benchharness.cli import BenchGroup, main

QUICK = """
realtime: {duration_s: 0.1, warmup_count: 2, warmup_s: 0, open_loop: {enabled: false}}
batch: {batch_sizes: [8], duration_s: 0.1}
"""


def bench(*args, env=None):
    res = CliRunner().invoke(main, [str(a) for a in args], env=env)
    assert "Traceback" not in res.output and "Aborted!" not in res.output, res.output
    if res.exception and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res


@pytest.fixture(scope="module")
def files(tmp_path_factory, cancer):
    d = tmp_path_factory.mktemp("hostile")
    X, y = cancer
    frame = X.iloc[:, :4].set_axis(["a", "b", "c", "d"], axis=1)
    frame["target"] = y
    frame.to_csv(d / "data.csv", index=False)
    (d / "contract.yaml").write_text("columns:\n  a: {dtype: float}\n")
    return d


# -- 4: one meaning per exit code -------------------------------------------------------------
def test_a_bug_is_one_line_and_exit_70_with_the_details_saved(tmp_path):
    @click.group(cls=BenchGroup)
    def cli():
        pass

    @cli.command()
    def broken():
        {}["missing"]  # a real bug in a real command

    res = CliRunner().invoke(cli, ["broken"])
    assert res.exit_code == exit_codes.INTERNAL_ERROR
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("internal error (a bug in benchharness): KeyError")
    details = lines[0].rsplit("details in ", 1)[1]
    from pathlib import Path

    assert "Traceback" in Path(details).read_text()


def test_user_errors_are_exit_2_for_every_command(tmp_path, files):
    (tmp_path / "r").mkdir()
    cases = [
        ("run", tmp_path / "nowhere.yaml"),
        ("report", tmp_path / "r"),
        ("compare", tmp_path / "r", tmp_path / "r"),
        ("validate", "--contract", tmp_path / "none.yaml", files / "data.csv"),
        ("monitor", "--reference", tmp_path / "none.csv", "--current", files / "data.csv",
         "--out", tmp_path / "m"),
        ("serve", tmp_path / "none.onnx"),
        ("env", "--profile", "no-such-profile"),
    ]
    for args in cases:
        res = bench(*args)
        assert res.exit_code == exit_codes.USAGE, (args, res.output)
        assert res.output.startswith("error: ") and res.output.count("\n") == 1, (args, res.output)


# -- 5: tracebacks that became one line -------------------------------------------------------
def test_suite_not_utf8(tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_bytes("name: caf\xe9\ncandidates: []\n".encode("latin-1"))
    res = bench("run", path, "--out", tmp_path / "out")
    assert res.exit_code == 2 and "not UTF-8" in res.output and "line 1" in res.output


@pytest.mark.parametrize("field, shown", [("min: abc", "min must be a number"),
                                          ("categories: 5", "categories must be a list"),
                                          ("nullable: maybe", "nullable must be true or false")])
def test_contract_with_wrong_typed_fields(tmp_path, files, field, shown):
    contract = tmp_path / "c.yaml"
    contract.write_text(f"columns:\n  a: {{dtype: float, {field}}}\n")
    res = bench("validate", "--contract", contract, files / "data.csv", "--out", tmp_path / "v")
    assert res.exit_code == 2 and shown in res.output, res.output
    assert not (tmp_path / "v").exists()  # no header-only output files


def test_out_that_is_a_file_or_under_one(tmp_path, files):
    (tmp_path / "afile").write_text("")
    for out in (tmp_path / "afile", tmp_path / "afile" / "sub"):
        for args in (("validate", "--contract", files / "contract.yaml", files / "data.csv"),
                     ("monitor", "--reference", files / "data.csv", "--current", files / "data.csv")):
            res = bench(*args, "--out", out)
            assert res.exit_code == 2 and "--out" in res.output and "afile" in res.output, res.output


def test_monitor_config_with_a_wrong_typed_value(tmp_path, files):
    config = tmp_path / "m.yaml"
    config.write_text(yaml.safe_dump({"monitor": {"max_drop": "abc"}}))
    res = bench("monitor", "--reference", files / "data.csv", "--current", files / "data.csv",
                "--config", config, "--out", tmp_path / "m")
    assert res.exit_code == 2 and "max_drop" in res.output and "'abc'" in res.output, res.output
    res = bench("monitor", "--reference", files / "data.csv", "--current", files / "data.csv",
                "--max-drop", "-5", "--out", tmp_path / "m")
    assert res.exit_code == 2 and "--max-drop" in res.output, res.output


def test_report_and_compare_on_a_json_list(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "results.json").write_text(json.dumps([1, 2]))
    for args in (("report", tmp_path / "r"), ("compare", tmp_path / "r", tmp_path / "r")):
        res = bench(*args)
        assert res.exit_code == 2 and "not a bench results file" in res.output, res.output


def test_corrupt_gzip_as_reference_or_current(tmp_path, files):
    whole = gzip.compress((files / "data.csv").read_bytes())
    (tmp_path / "cut.csv.gz").write_bytes(whole[: len(whole) // 2])
    for ref, cur in ((tmp_path / "cut.csv.gz", files / "data.csv"), (files / "data.csv", tmp_path / "cut.csv.gz")):
        res = bench("monitor", "--reference", ref, "--current", cur, "--out", tmp_path / "m")
        assert res.exit_code == 2 and "cut.csv.gz" in res.output, res.output


# -- 7: smaller ones --------------------------------------------------------------------------
def test_data_without_source_is_a_suite_error(tmp_path):
    suite = write_suite(tmp_path, "name: x\ndata: {target: y}\ncandidates:\n  - {name: a, train: sklearn.dummy.DummyClassifier}\n")
    res = bench("run", suite, "--out", tmp_path / "out")
    assert res.exit_code == 2 and "'source'" in res.output and "needs a data section" not in res.output


def test_infinite_values_are_named(tmp_path, files):
    frame = pd.read_csv(files / "data.csv")
    frame.loc[3, "b"] = np.inf
    frame.loc[7, "b"] = -np.inf
    frame.to_csv(tmp_path / "inf.csv", index=False)
    suite = write_suite(tmp_path, "name: x\ndata: {source: inf.csv, target: target}\n"
                                  "candidates:\n  - {name: a, train: sklearn.dummy.DummyClassifier}\n")
    res = bench("run", suite, "--out", tmp_path / "out")
    assert res.exit_code == 2 and "'b' (2)" in res.output and "inf" in res.output, res.output
    from benchharness.data.contract import learn_contract

    col = learn_contract(frame[["b"]]).columns["b"]
    assert np.isfinite([col.min, col.max]).all() and col.learned["infinite_values"] == 2


def test_limit_with_a_unit_says_to_drop_it(tmp_path):
    suite = write_suite(tmp_path, "name: x\ncandidates:\n  - {name: a, train: sklearn.dummy.DummyClassifier}\n"
                                  "limits: ['p99_ms <= 5ms']\n")
    res = bench("run", suite, "--out", tmp_path / "out")
    assert res.exit_code == 2 and "without a unit (p99_ms <= 5)" in res.output, res.output


@pytest.mark.slow
def test_models_that_answer_wrongly_fail_alone_with_one_line(tmp_path, files):
    (tmp_path / "x.onnx").mkdir()
    suite = write_suite(tmp_path, f"""
name: wrong
data: {{source: {files / 'data.csv'}, target: target}}
candidates:
  - {{name: folder, model: x.onnx}}
  - {{name: short, model: 'hostile_models:one_row_short'}}
  - {{name: words, model: 'hostile_models:strings'}}
  - {{name: good, model: 'models_for_tests:Threshold'}}
""" + QUICK)
    res = bench("run", suite, "--quick", "--out", tmp_path / "out")
    assert res.exit_code == exit_codes.CANDIDATE_FAILED, res.output
    results = json.loads(next((tmp_path / "out").iterdir()).joinpath("results.json").read_text())
    error = {c["name"]: c["error"] for c in results["candidates"]}
    assert "is a folder" in error["folder"]
    assert "returned 142 predictions for the 143 rows" in error["short"]
    assert "none of the target's labels" in error["words"] and "'yes'" in error["words"]
    assert error["good"] is None


# -- 2: pickles -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pickled(tmp_path_factory, cancer):
    from sklearn.linear_model import LogisticRegression

    X, y = cancer
    d = tmp_path_factory.mktemp("pickles")
    est = LogisticRegression(max_iter=5000).fit(X.to_numpy()[:, :4], y)
    joblib.dump(est, d / "model.bin")  # a pickle without a pickle's suffix
    joblib.dump(est, d / "model.pkl")
    return d


def test_every_path_that_unpickles_warns_the_same_way(tmp_path, files, pickled):
    suite = write_suite(tmp_path, f"""
name: p
data: {{source: {files / 'data.csv'}, target: target}}
candidates:
  - {{name: bin, model: {pickled / 'model.bin'}, format: sklearn}}
""" + QUICK)
    from benchharness.config import load_suite
    from benchharness.context import RunContext
    from benchharness.train.training import resolve_candidates_stage

    lines = []
    ctx = RunContext(suite=load_suite(suite), suite_path=suite, run_dir=tmp_path, results={"candidates": []},
                     quick=True, progress=lines.append, work_dir=tmp_path)
    resolve_candidates_stage(ctx)
    assert any("model.bin: pickle/joblib files run code on load" in ln for ln in lines), lines
    res = bench("monitor", "--reference", files / "data.csv", "--current", files / "data.csv",
                "--model", pickled / "model.pkl", "--target", "target", "--out", tmp_path / "m")
    assert "model.pkl: pickle/joblib files run code on load" in res.output, res.output


def test_no_pickle_refuses_every_pickle(tmp_path, files, pickled):
    res = bench("--no-pickle", "serve", pickled / "model.bin", "--format", "sklearn")
    assert res.exit_code == 2 and "refusing to load" in res.output and ".skops" in res.output
    res = bench("monitor", "--reference", files / "data.csv", "--current", files / "data.csv",
                "--model", pickled / "model.pkl", "--out", tmp_path / "m", env={"BENCH_NO_PICKLE": "1"})
    assert res.exit_code == 2 and "refusing to load" in res.output, res.output
    from benchharness.adapters.registry import load_model
    from benchharness.errors import ModelError

    with pytest.MonkeyPatch.context() as mp:  # a child inherits the variable: the adapter refuses too
        mp.setenv("BENCH_NO_PICKLE", "1")
        with pytest.raises(ModelError, match="refusing to load"):
            load_model(str(pickled / "model.pkl"))


@pytest.mark.slow
def test_no_pickle_run_trains_through_skops(tmp_path, files, pickled, monkeypatch):
    monkeypatch.delenv("BENCH_NO_PICKLE", raising=False)
    suite = write_suite(tmp_path, f"""
name: np
data: {{source: {files / 'data.csv'}, target: target}}
candidates:
  - {{name: trained, train: sklearn.linear_model.LogisticRegression, params: {{max_iter: 5000}}}}
  - {{name: pickled, model: {pickled / 'model.pkl'}}}
""" + QUICK)
    res = bench("--no-pickle", "run", suite, "--quick", "--out", tmp_path / "out")
    import os

    os.environ.pop("BENCH_NO_PICKLE", None)  # the flag set it for this process's children
    results = json.loads(next((tmp_path / "out").iterdir()).joinpath("results.json").read_text())
    by = {c["name"]: c for c in results["candidates"]}
    assert by["trained"]["status"] == "ok" and by["trained"]["model"]["format"] == "skops", res.output
    assert by["pickled"]["status"] == "failed" and "refusing to load" in by["pickled"]["error"]


# -- 8 and the 614 s wait: memory limit, "still running" ------------------------------------
@pytest.mark.parametrize("start_method", ["spawn", "forkserver"])
def test_memory_limit_fails_the_child_with_one_line(start_method):
    from benchharness.isolation.isolate import run_in_child

    out = run_in_child("hostile_models:hogs_memory", {"X": None}, timeout_s=120, label="predict child",
                       memory_limit_mb=1024, start_method=start_method, preload=("numpy",))
    assert out.status == "error"
    assert out.error.startswith("predict child went past its memory limit of 1024 MB"), out.error


def test_memory_limit_is_a_suite_key(tmp_path):
    from benchharness.config import load_suite
    from benchharness.errors import SuiteError

    base = "name: x\ncandidates:\n  - {name: a, train: sklearn.dummy.DummyClassifier}\n"
    assert load_suite(write_suite(tmp_path, base + "isolation: {memory_limit_mb: 512}\n")).isolation.memory_limit_mb == 512
    assert load_suite(write_suite(tmp_path, base)).isolation.memory_limit_mb is None  # off by default
    with pytest.raises(SuiteError, match="memory_limit_mb"):
        load_suite(write_suite(tmp_path, base + "isolation: {memory_limit_mb: -1}\n"))


def test_a_long_child_says_it_is_still_running_and_when_it_stops():
    from benchharness.isolation.isolate import run_in_child

    heard = []
    out = run_in_child("hostile_models:hangs", {"X": None}, timeout_s=3, label="predict child",
                       notify=heard.append, notify_every_s=1)
    assert out.status == "timeout"
    assert heard and all("still running" in h and "stopped at 3 s" in h for h in heard), heard
