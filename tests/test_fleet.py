"""`bench fleet` end to end: a real Dask scheduler and real `bench worker`s on loopback, each
advertising another hardware profile, running a small suite whose model file, data file and
`module:attr` module travel with it. Every process a test starts, it stops."""

from __future__ import annotations

import json
import math
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from benchharness import exit_codes
from benchharness.cost import formulas
from benchharness.cost.hardware import load_profile, usable_cores

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
BENCH = [sys.executable, "-m", "benchharness"]
TARGETS = ("aws-c7i-large", "gcp-n2-standard-4")  # 2 and 4 vCPUs, two prices


def _start(cmd: list[str], log: Path) -> subprocess.Popen:
    fh = open(log, "wb")  # noqa: SIM115 - the process writes it until the fixture stops it
    return subprocess.Popen(cmd, stdout=fh, stderr=fh, env=ENV, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def _start_worker(address: str, profile: str, logs: Path) -> subprocess.Popen:
    log = logs / f"worker-{profile}.log"
    proc = _start(BENCH + ["worker", "--scheduler", address, "--profile", profile], log)
    _wait_for(lambda: "serves profile" in log.read_text() or proc.poll() is not None, 60, f"worker {profile}")
    assert proc.poll() is None, log.read_text()
    return proc


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    """A Dask scheduler on loopback and one `bench worker` per profile in TARGETS."""
    logs = tmp_path_factory.mktemp("fleet-logs")
    sched_file = logs / "scheduler.json"
    procs = [_start([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                     "--port", "0", "--no-dashboard", "--scheduler-file", str(sched_file)],
                    logs / "scheduler.log")]
    try:
        address = _wait_for(lambda: sched_file.is_file() and json.loads(sched_file.read_text() or "{}").get("address"),
                            60, "the scheduler")
        procs += [_start_worker(address, t, logs) for t in TARGETS]
        yield address, logs
    finally:
        for p in reversed(procs):
            _stop(p)


@pytest.fixture(scope="module")
def suite_dir(tmp_path_factory):
    """A suite naming a CSV file, an ONNX model file and a module beside it."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    from benchharness.train.training import export_onnx

    d = tmp_path_factory.mktemp("suite")
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:, :6]
    X.assign(target=y).to_csv(d / "cancer.csv", index=False)
    (d / "models").mkdir()
    export_onnx(LogisticRegression(max_iter=500).fit(X.to_numpy(), y), X.shape[1], d / "models" / "logreg.onnx")
    (d / "radius_rule.py").write_text(
        "import numpy as np\n\n\nclass RadiusRule:\n"
        "    def predict(self, X):\n        return (np.asarray(X)[:, 0] < 15.0).astype(int)\n")
    (d / "suite.yaml").write_text(yaml.safe_dump({
        "name": "fleet-test",
        "data": {"source": "cancer.csv", "target": "target", "split": {"test_size": 0.3, "seed": 0}},
        "candidates": [{"name": "logreg", "model": "models/logreg.onnx"},
                       {"name": "rule", "model": "radius_rule:RadiusRule"}],
        "quality": {"bootstrap": {"resamples": 50}, "baselines": ["most_frequent"]},
        "realtime": {"duration_s": 0.3, "min_duration_s": 0.1, "warmup_s": 0.05, "trials": 2,
                     "open_loop": {"enabled": False}},
        "batch": {"batch_sizes": [64], "duration_s": 0.2, "min_duration_s": 0.1, "full_split": False},
        "objective": ["min usd_per_million"],
    }))
    return d


def _fleet(args: list[str], out: Path, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(BENCH + ["fleet", *args, "--out", str(out), "--quick"], env=ENV,
                          capture_output=True, text=True, timeout=400, **kw)


def _fleet_dir(out: Path) -> Path:
    [d] = [p for p in out.iterdir() if (p / "fleet.json").is_file()]
    return d


def test_a_fleet_runs_each_target_on_its_worker_and_answers_which_pair(scheduler, suite_dir, tmp_path):
    address, _ = scheduler
    res = _fleet([str(suite_dir / "suite.yaml"), "--scheduler", address, "--worker-wait", "3",
                  "--targets", ",".join([*TARGETS, "aws-g5-xlarge"])], tmp_path)
    # a missing target is reported after the wait and fails the fleet's exit code, not the others
    assert res.returncode == exit_codes.CANDIDATE_FAILED, res.stderr[-3000:]
    fleet_dir = _fleet_dir(tmp_path)
    doc = json.loads((fleet_dir / "fleet.json").read_text())
    runs = {r["target"]: r for r in doc["runs"]}
    assert [runs[t]["status"] for t in TARGETS] == ["ok", "ok"], doc["runs"]
    assert runs["aws-g5-xlarge"]["status"] == "failed" and runs["aws-g5-xlarge"]["run_dir"] is None
    assert "no worker advertises profile-aws-g5-xlarge (waited 3 s)" in runs["aws-g5-xlarge"]["error"]
    best, spans = {}, {}
    for t in TARGETS:
        run_dir = fleet_dir / runs[t]["run_dir"]
        assert (run_dir / "report.html").is_file() and list((run_dir / "samples").rglob("*.npz"))
        assert not (run_dir / "work").exists()  # the run's inputs stay on the worker
        results = json.loads((run_dir / "results.json").read_text())
        profile = load_profile(t)
        # priced with its own target's profile; the machine it ran on recorded and checked
        assert results["profile"]["name"] == t and runs[t]["priced_with"] == t
        assert results["profile"]["machine"]["usable_cores"] == usable_cores()
        vcpu_note = f"measured on {usable_cores()} usable cores, priced as {profile.vcpus} vCPUs"
        assert (vcpu_note in runs[t]["profile_mismatch"]) == (usable_cores() != profile.vcpus)
        cands = {c["name"]: c for c in results["candidates"]}
        assert all(c["status"] == "ok" for c in cands.values()), [c.get("error") for c in cands.values()]
        # the model and module came in the bundle, not from the test's folder
        assert not cands["logreg"]["model"]["path"].startswith(str(suite_dir))
        for c in cands.values():
            cost = c["cost"]
            rows = cost["batch"]["rows_per_s_per_replica"]
            assert cost["profile"] == t and cost["price_per_hour_usd"] == profile.price_per_hour_usd
            assert cost["replicas_per_instance"] == formulas.replicas_per_instance(profile.vcpus, cost["threads_per_replica"])
            assert cost["batch"]["usd_per_1m"] == pytest.approx(
                profile.price_per_hour_usd / (rows * cost["replicas_per_instance"] * 3600) * 1e6)
            best[(c["name"], t)] = cost["batch"]["usd_per_1m"]
            lo, hi = cost["batch"]["intervals"]["usd_per_1m"]
            spans[(c["name"], t)] = (-math.inf if lo is None else lo, math.inf if hi is None else hi)
    # objective: min usd_per_million over every (candidate, machine) pair (all qualify: no limits);
    # pairs whose cost intervals overlap the cheapest one's tie (noise must not pick), so the
    # recommendation is the cheapest pair or one that cannot be told apart from it
    rec = doc["verdict"]["recommendation"]
    cheapest, pick = min(best, key=best.get), (rec["candidate"], rec["target"])
    lo_c, hi_c = spans[cheapest]
    lo_p, hi_p = spans[pick]
    assert pick == cheapest or (lo_p <= hi_c and lo_c <= hi_p), (pick, cheapest, spans)
    assert rec["sentence"].startswith(f"Ship {rec['candidate']} on {rec['target']}, because")
    assert "Not measured: aws-g5-xlarge (failed)" in rec["sentence"]
    assert {(p["candidate"], p["target"]) for p in doc["verdict"]["pairs"]} == set(best)
    html = (fleet_dir / "report.html").read_text()
    assert "data:image/svg+xml;base64" in html and "<script src" not in html and "Candidate × machine" in html
    assert f"Ship {rec['candidate']} on {rec['target']}" in res.stdout
    # one file-mode rule (run_folder.atomic_write): fleet.json, the report and every copied run
    # file are as readable as the umask allows, none private
    mask = os.umask(0)
    os.umask(mask)
    modes = {p.relative_to(fleet_dir).as_posix(): stat.S_IMODE(p.stat().st_mode)
             for p in fleet_dir.rglob("*") if p.is_file()}
    assert "fleet.json" in modes and "report.html" in modes
    assert {n: oct(m) for n, m in modes.items() if m != 0o666 & ~mask} == {}


def _runners(profile: str) -> list[psutil.Process]:
    out = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = p.info["cmdline"] or []
        if "benchharness.fleet.runner" in cmd and profile in cmd:
            out.append(p)
    return out


def _started_run_dir(profile: str) -> bool:
    """True once the run on `profile` has written its first results.json (on the worker side)."""
    for p in _runners(profile):
        try:
            cmd = p.cmdline()
        except psutil.Error:
            continue
        out = Path(cmd[cmd.index("benchharness.fleet.runner") + 2])
        if list(out.glob("*/results.json")):
            return True
    return False


def test_a_worker_killed_mid_run_fails_its_target_and_keeps_the_others(scheduler, suite_dir, tmp_path):
    address, logs = scheduler
    victim = _start_worker(address, "aws-m7i-xlarge", logs)
    err = tmp_path / "fleet.err"
    with open(err, "w") as fh:
        proc = subprocess.Popen(BENCH + ["fleet", str(suite_dir / "suite.yaml"), "--scheduler", address,
                                         "--worker-wait", "2", "--targets", f"aws-m7i-xlarge,{TARGETS[0]}",
                                         "--out", str(tmp_path / "out"), "--quick"],
                                env=ENV, stdout=subprocess.PIPE, stderr=fh, text=True)
        try:
            _wait_for(lambda: _runners("aws-m7i-xlarge"), 120, "the run on aws-m7i-xlarge to start")
            os.killpg(victim.pid, signal.SIGKILL)  # the worker process and anything in its group
            victim.wait()
            out, _ = proc.communicate(timeout=300)
        finally:
            _stop(victim)
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == exit_codes.CANDIDATE_FAILED, err.read_text()[-3000:]
    doc = json.loads((_fleet_dir(tmp_path / "out") / "fleet.json").read_text())
    runs = {r["target"]: r for r in doc["runs"]}
    assert runs["aws-m7i-xlarge"]["status"] == "failed"
    assert "left mid-run" in runs["aws-m7i-xlarge"]["error"]
    assert runs[TARGETS[0]]["status"] == "ok" and doc["verdict"]["recommendation"]["target"] == TARGETS[0]
    # the orphaned run noticed its worker was gone and stopped: nothing left behind
    _wait_for(lambda: not _runners("aws-m7i-xlarge"), 60, "the orphaned run to stop")


def test_embedded_cluster_says_same_hardware_and_ctrl_c_keeps_what_came_back(suite_dir, tmp_path):
    err = tmp_path / "fleet.err"
    with open(err, "w") as fh:
        proc = subprocess.Popen(BENCH + ["fleet", str(suite_dir / "suite.yaml"), "--targets",
                                         "aws-c7i-2xlarge,azure-d4s-v5", "--out", str(tmp_path / "out"), "--quick"],
                                env=ENV, stdout=subprocess.PIPE, stderr=fh, text=True, start_new_session=True)
        try:
            _wait_for(lambda: _started_run_dir("aws-c7i-2xlarge"), 120, "the first embedded run to start")
            os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the embedded workers get it too
            out, _ = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
    log = err.read_text()
    assert proc.returncode == exit_codes.INTERRUPTED, log[-3000:]
    assert "every target ran on THIS machine" in log
    doc = json.loads((_fleet_dir(tmp_path / "out") / "fleet.json").read_text())
    assert doc["embedded"] and doc["interrupted"] and doc["exit_code"] == exit_codes.INTERRUPTED
    first, second = doc["runs"]
    assert first["status"] == "cancelled" and (_fleet_dir(tmp_path / "out") / first["run_dir"] / "results.json").is_file()
    assert second["status"] == "cancelled" and second["run_dir"] is None  # never started: never on the same CPU
    _wait_for(lambda: not _runners("aws-c7i-2xlarge"), 60, "the cancelled run to stop")
    assert "interrupted (Ctrl-C)" in out and (_fleet_dir(tmp_path / "out") / "report.html").is_file()
