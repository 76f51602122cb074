"""The run folder: one writer, one rule for file modes, one name for the results file.

Every file a run or a command writes is created as `open()` creates one: mode 0666 less the
umask (0644 under umask 022), so another user of a shared results folder reads the runs as
well as the index. Checked on a real `bench run --quick` folder and on what `bench validate`,
`bench monitor`, `bench history`, `bench compare` and `bench report --profile` write.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from benchharness import run_folder
from benchharness.cli import main

PACKAGE = Path(run_folder.__file__).parent


def bench(*args):
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in res.output, res.output
    if res.exception and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res


@pytest.fixture
def umask_022():
    before = os.umask(0o022)
    yield
    os.umask(before)


def modes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): stat.S_IMODE(p.stat().st_mode)
            for p in folder.rglob("*") if p.is_file()}


def test_one_module_names_the_results_file_and_one_replace_writes_every_file():
    spelled, replaced = [], []
    for path in PACKAGE.rglob("*.py"):
        code = [line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")]
        text = "\n".join(code)
        if '"results.json"' in text or "'results.json'" in text:
            spelled.append(path.name)
        if "os.replace(" in text:
            replaced.append(path.name)
    assert spelled == ["run_folder.py"]
    assert replaced == ["run_folder.py"]


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_atomic_write_gives_what_the_umask_allows_for_text_bytes_json_and_writers(tmp_path, umask, mode):
    before = os.umask(umask)
    try:
        run_folder.atomic_write(tmp_path / "a.txt", "é\n")
        run_folder.atomic_write(tmp_path / "b.bin", b"\x00\x01")
        run_folder.write_json(tmp_path / "c.json", {"x": np.float64("nan"), "y": np.arange(2)})
        run_folder.atomic_write(tmp_path / "d.npz", lambda fh: np.savez_compressed(fh, a=np.arange(3)))
    finally:
        os.umask(before)
    assert modes(tmp_path) == {"a.txt": mode, "b.bin": mode, "c.json": mode, "d.npz": mode}
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "é\n"
    assert json.loads((tmp_path / "c.json").read_text()) == {"x": None, "y": [0, 1]}
    assert np.load(tmp_path / "d.npz")["a"].tolist() == [0, 1, 2]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "results.json"
    target.write_text("old")

    def broken(fh):
        fh.write(b"half")
        raise RuntimeError("disk gone")

    with pytest.raises(RuntimeError):
        run_folder.atomic_write(target, broken)
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["results.json"]


def test_results_json_is_written_byte_for_byte_as_before(tmp_path):
    """indent 2, numpy made plain, NaN as null, UTF-8 as given: the file readers already parse."""
    from benchharness.results import save_results

    doc = {"schema_version": 2, "run_id": "r", "candidates": [], "x": np.float32(0.5),
           "nan": float("nan"), "name": "café"}
    save_results(doc, tmp_path)
    assert (tmp_path / "results.json").read_bytes() == (
        b'{\n  "schema_version": 2,\n  "run_id": "r",\n  "candidates": [],\n  "x": 0.5,\n'
        b'  "nan": null,\n  "name": "caf\\u00e9"\n}')


@pytest.mark.slow
def test_every_file_of_a_real_run_and_of_each_command_is_readable_by_others(tmp_path, umask_022):
    suite = tmp_path / "suite.yaml"
    suite.write_text("""
name: modes
data: {source: 'sklearn:breast_cancer', target: target}
candidates:
  - {name: tree, train: sklearn.tree.DecisionTreeClassifier, params: {max_depth: 3}}
realtime: {duration_s: 0.1, warmup_count: 2, warmup_s: 0, open_loop: {enabled: false}}
batch: {duration_s: 0.1, batch_sizes: [8]}
""")
    runs = tmp_path / "runs"
    res = bench("run", suite, "--quick", "--out", runs)
    assert res.exit_code == 0, res.output
    run_dir = next(runs.iterdir())
    written = modes(run_dir)
    for name in ("results.json", "results.csv", "contract.yaml", "history.parquet", "report.html",
                 "report.md"):
        assert name in written, sorted(written)
    assert any(n.startswith("samples/") for n in written) and any(n.startswith("charts/") for n in written)
    assert {n: m for n, m in written.items() if m != 0o644} == {}

    res = bench("report", run_dir, "--profile", "aws-c7i-large")
    assert res.exit_code == 0, res.output
    res = bench("validate", run_dir / "work" / "X_test.parquet", "--contract", run_dir / "contract.yaml",
                "--out", tmp_path / "validated")
    assert res.exit_code in (0, 1), res.output
    res = bench("monitor", "--reference", run_dir, "--current", run_dir / "work" / "X_test.parquet",
                "--model", run_dir / "work" / "tree.joblib", "--out", tmp_path / "monitor")
    assert res.exit_code in (0, 1), res.output
    res = bench("history", runs, "--json", tmp_path / "history.json")
    assert res.exit_code == 0, res.output
    res = bench("compare", run_dir, run_dir, "--json", tmp_path / "compare.json")
    assert res.exit_code in (0, 4), res.output  # a run against itself: no regression (4: a tail can't tell)

    everything = modes(tmp_path)
    for name in ("validated/summary.json", "monitor/monitor.json", "monitor/report.html",
                 "monitor/report.md", "runs/history.html", "history.json", "compare.json"):
        assert name in everything, sorted(everything)
    assert any(n.startswith("runs/") and "whatif-" in n for n in everything)
    private = {n: oct(m) for n, m in everything.items() if m != 0o644 and n != "suite.yaml"}
    assert private == {}
