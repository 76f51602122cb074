"""A real `bench run` process, a real hung candidate, a real signal: no child outlives it,
the exit code says how it ended, and what was measured is saved."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import TESTS_DIR, write_suite

ROOT = Path(__file__).resolve().parents[1]

SUITE = """
name: hang
data: {source: 'sklearn:breast_cancer'}
candidates:
  - {name: good, model: 'models_for_tests:Threshold'}
  - {name: stuck, model: 'hostile_models:hangs'}
isolation: {start_method: %s}
realtime: {duration_s: 0.1, warmup_count: 2, warmup_s: 0, open_loop: {enabled: false}}
batch: {batch_sizes: [8], duration_s: 0.1}
"""


def _descendants(pid: int) -> set[int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _start_and_wait_for_the_hang(tmp_path, start_method):
    suite = write_suite(tmp_path, SUITE % start_method)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(TESTS_DIR)])}
    with open(tmp_path / "stderr.txt", "w") as err:  # the child keeps its own copy of the file
        proc = subprocess.Popen([sys.executable, "-m", "benchharness", "run", str(suite), "--quick",
                                 "--out", str(tmp_path / "out")], stdout=subprocess.DEVNULL, stderr=err,
                                env=env, cwd=tmp_path)
    deadline = time.monotonic() + 240
    while "[stuck] measuring" not in (tmp_path / "stderr.txt").read_text():
        assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "stderr.txt").read_text()
        time.sleep(0.2)
    time.sleep(3)  # the predict child is now inside the endless predict()
    kids = _descendants(proc.pid)
    assert kids, "the hung candidate runs in a child process"
    return proc, kids


def _wait_gone(pids: set[int], seconds: float = 20) -> set[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        left = {p for p in pids if _alive(p)}
        if not left:
            return left
        time.sleep(0.2)
    return {p for p in pids if _alive(p)}


@pytest.mark.slow
@pytest.mark.parametrize("start_method", ["forkserver", "spawn"])
def test_sigterm_kills_children_saves_results_and_exits_143(tmp_path, start_method):
    proc, kids = _start_and_wait_for_the_hang(tmp_path, start_method)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 143
    assert not _wait_gone(kids)
    stderr = (tmp_path / "stderr.txt").read_text()
    assert "terminated (SIGTERM)" in stderr and "Traceback" not in stderr, stderr
    results = json.loads(next((tmp_path / "out").iterdir()).joinpath("results.json").read_text())
    status = {c["name"]: c["status"] for c in results["candidates"]}
    assert status == {"good": "ok", "stuck": "interrupted"}
    good = next(c for c in results["candidates"] if c["name"] == "good")
    # what was measured is kept: good's predictions were scored before stuck's predict hung
    # (the timed trials of all candidates run after every candidate's predictions)
    assert good["quality"]["test"], good.get("quality")


@pytest.mark.slow
@pytest.mark.parametrize("start_method", ["forkserver", "spawn"])
def test_sigkill_leaves_no_orphan(tmp_path, start_method):
    proc, kids = _start_and_wait_for_the_hang(tmp_path, start_method)
    proc.kill()
    assert proc.wait(timeout=30) == -signal.SIGKILL
    assert not _wait_gone(kids), "children outlived a SIGKILLed bench run"


@pytest.mark.slow
def test_ctrl_c_exits_130(tmp_path):
    proc, kids = _start_and_wait_for_the_hang(tmp_path, "forkserver")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    assert not _wait_gone(kids)
    stderr = (tmp_path / "stderr.txt").read_text()
    assert "interrupted (Ctrl-C)" in stderr and "Aborted!" not in stderr, stderr
