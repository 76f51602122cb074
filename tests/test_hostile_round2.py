"""Hostile inputs, second round: the newer commands (tune, fleet, worker, history, compare,
MLflow), a model's own processes, memory limits, output paths.

Each case goes through the real CLI where a user would meet it and checks the one-line error,
the exit code of the one table (exit_codes.py), no traceback, and nothing left running.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchharness import exit_codes
from benchharness.cli import main

ROOT = Path(__file__).resolve().parents[1]


def bench(*args):
    """In-process, as a user's shell would call it; never a traceback, never an internal error."""
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in res.output and "internal error" not in res.output, res.output
    if res.exception and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res


def bench_process(*args, timeout=60, env=None):
    """`python -m benchharness ...` in its own process: what a shell sees, stderr included."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "benchharness", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=full_env)
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out and "internal error" not in out, out
    return proc


def error_line(res) -> str:
    lines = [ln for ln in res.output.strip().splitlines() if ln.lower().startswith("error:")]
    assert len(lines) == 1, res.output
    return lines[0]


# -- defect 4: output paths that cannot be written ----------------------------------------------
@pytest.mark.parametrize("args, shown", [
    (["history", "{tmp}", "--json", "/proc/nope.json"], "--json '/proc/nope.json'"),
    (["history", "{tmp}", "--html", "{tmp}/no/such/folder/h.html"], "does not exist"),
    (["history", "{tmp}", "--json", "{tmp}"], "is a directory"),  # click says it
    (["compare", "{tmp}/a", "{tmp}/b", "--json", "/proc/nope.json"], "--json '/proc/nope.json'"),
    (["compare", "{tmp}/a", "{tmp}/b", "--html", ""], "--html is empty"),
    (["run", "--out", ""], "--out is empty"),
    (["run", "--out", "/proc/nope"], "cannot write results under --out '/proc/nope'"),
    (["validate", "{tmp}/data.csv", "--contract", "{tmp}/c.yaml", "--out", "/proc/nope"], "'/proc/nope'"),
    (["monitor", "--reference", "{tmp}/data.csv", "--current", "{tmp}/data.csv", "--out", "/proc/nope"],
     "'/proc/nope'"),
    (["fleet", "{tmp}/suite.yaml", "--targets", "a", "--out", "/proc/nope"], "'/proc/nope'"),
])
def test_an_output_path_that_cannot_be_written_is_one_line_and_exit_2(tmp_path, args, shown):
    (tmp_path / "data.csv").write_text("a,target\n1,0\n")
    (tmp_path / "c.yaml").write_text("columns:\n  a: {dtype: float}\n")
    (tmp_path / "suite.yaml").write_text("name: x\ncandidates:\n  - {name: a, train: sklearn.dummy.DummyClassifier}\n")
    res = bench(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert res.exit_code == exit_codes.USAGE, res.output
    assert shown in error_line(res), res.output
    assert not (Path.cwd() / "results.json").exists()


# -- defect 1: a tune block whose every combination is impossible -------------------------------
def test_a_tune_block_with_nothing_possible_is_a_suite_error_naming_why(tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text("""
name: impossible
data: {source: 'sklearn:breast_cancer', target: target}
candidates:
  - {name: tree, train: sklearn.tree.DecisionTreeClassifier, params: {max_depth: 2},
     tune: {export: [none], quantize: [int8]}}
""")
    res = bench("run", suite, "--quick", "--out", tmp_path / "out")
    assert res.exit_code == exit_codes.USAGE, res.output
    line = error_line(res)
    assert "candidates.tree.tune leaves nothing to measure" in line
    assert "quantize int8 needs an ONNX graph" in line
    assert "stage" not in line and "TypeError" not in line
