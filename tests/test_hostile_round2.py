"""Hostile inputs, second round: the newer commands (tune, fleet, worker, history, compare,
MLflow), a model's own processes, memory limits, output paths.

Each case goes through the real CLI where a user would meet it and checks the one-line error,
the exit code of the one table (exit_codes.py), no traceback, and nothing left running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
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


# -- defects 6 and 8: scheduler addresses -------------------------------------------------------
def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def tiny(tmp_path):
    (tmp_path / "d.csv").write_text("a\n1\n")
    (tmp_path / "c.yaml").write_text("columns:\n  a: {dtype: float}\n")
    (tmp_path / "suite.yaml").write_text("name: x\ncandidates:\n  - {name: a, train: sklearn.dummy.DummyClassifier}\n")
    return tmp_path


@pytest.mark.parametrize("address, shown", [
    ("garbage", "--scheduler 'garbage' is not a scheduler address (no port)"),
    ("udp://127.0.0.1:8786", "protocol 'udp' is not supported"),
    ("tcp://127.0.0.1:99999", "port '99999' is not a port number"),
    ("tcp://127.0.0.1:{free}", "cannot reach the Dask scheduler at 'tcp://127.0.0.1:{free}': Connection refused"),
])
@pytest.mark.parametrize("command", ["validate", "fleet", "worker"])
def test_a_scheduler_address_that_cannot_work_is_one_line_and_exit_2(tiny, command, address, shown):
    port = _free_port()
    address, shown = address.replace("{free}", str(port)), shown.replace("{free}", str(port))
    if command == "worker" and "cannot reach" in shown:
        pytest.skip("a worker waits for its scheduler: tested below")
    args = {"validate": ["validate", tiny / "d.csv", "--contract", tiny / "c.yaml", "--out", tiny / "v"],
            "fleet": ["fleet", tiny / "suite.yaml", "--targets", "local", "--out", tiny / "f"],
            "worker": ["worker", "--profile", "local"]}[command]
    res = bench(*args, "--scheduler", address)
    assert res.exit_code == exit_codes.USAGE, res.output
    assert shown in error_line(res), res.output
    assert not (tiny / "v").exists() and not any((tiny / "f").glob("*"))  # nothing written


@pytest.mark.slow
def test_validate_on_an_unreachable_scheduler_ends_at_once_without_dask_noise(tiny):
    import time

    started = time.monotonic()
    proc = bench_process("validate", tiny / "d.csv", "--contract", tiny / "c.yaml", "--scheduler",
                         "garbage", "--out", tiny / "v")
    assert proc.returncode == exit_codes.USAGE
    assert proc.stderr.strip().splitlines() == [
        "error: --scheduler 'garbage' is not a scheduler address (no port); give tcp://HOST:PORT "
        "(or tls://HOST:PORT), e.g. tcp://10.0.0.5:8786"]
    assert "Exception ignored" not in proc.stderr and time.monotonic() - started < 15


@pytest.mark.slow
def test_a_worker_says_it_waits_for_an_unreachable_scheduler_and_stops_on_sigterm(tiny):
    import signal
    import time

    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "benchharness", "worker", "--scheduler",
                             f"127.0.0.1:{port}", "--profile", "local"], stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True, start_new_session=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        line = proc.stderr.readline()  # the first thing it says, within seconds
        assert line.startswith(f"waiting for the scheduler at tcp://127.0.0.1:{port} (0 s): "
                               "Connection refused"), line
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == exit_codes.TERMINATED
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


# -- defect 2: processes a model starts outlive the run -----------------------------------------
def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")




@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and prctl: Linux")
def test_processes_a_model_starts_are_gone_when_the_run_ends_and_the_run_says_so(tmp_path):
    pids = tmp_path / "pids"
    pids.mkdir()
    suite = tmp_path / "suite.yaml"
    suite.write_text("""
name: strays
data: {source: 'sklearn:breast_cancer', target: target}
candidates:
  - {name: daemon, model: 'hostile_models:daemonizes'}
  - {name: forker, model: 'hostile_models:forks_and_exits'}
realtime: {duration_s: 0.1, trials: 1, warmup_count: 2, warmup_s: 0, open_loop: {enabled: false}}
batch: {batch_sizes: [8], duration_s: 0.1, trials: 1}
""")
    proc = bench_process("run", suite, "--quick", "--out", tmp_path / "out", timeout=180,
                         env={"STRAY_PIDS": str(pids),
                              "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])})
    assert proc.returncode == exit_codes.CANDIDATE_FAILED, proc.stderr  # forker never answers
    assert "[daemon] cleaned up after the model: stopped 1 process(es) it started" in proc.stderr
    assert "[forker] cleaned up after the model" in proc.stderr
    started = [int(p.name) for p in pids.iterdir()]
    assert len(started) >= 2
    assert [p for p in started if _running(p)] == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and prctl: Linux")
@pytest.mark.parametrize("start_method", ["spawn", "forkserver"])
@pytest.mark.parametrize("model", ["daemonizes", "forks_and_exits"])
def test_a_child_takes_what_its_model_started_with_it(tmp_path, monkeypatch, start_method, model):
    import numpy as np

    from benchharness.isolation.isolate import run_in_child

    monkeypatch.setenv("STRAY_PIDS", str(tmp_path))
    heard = []
    out = run_in_child(f"hostile_models:{model}", {"X": np.zeros((3, 2))}, timeout_s=60,
                       label="predict child", start_method=start_method, preload=("numpy",),
                       env={"STRAY_PIDS": str(tmp_path)}, notify=heard.append)
    assert out.status == ("ok" if model == "daemonizes" else "crashed"), out.error
    assert out.record()["strays_stopped"] == 1
    assert heard == ["cleaned up after the model: stopped 1 process(es) it started that outlived "
                     "the predict child"]
    started = [int(p.name) for p in tmp_path.iterdir()]
    assert len(started) == 1 and not _running(started[0])



@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and prctl: Linux")
def test_a_spawned_run_stops_the_strays_its_model_started_without_the_token(tmp_path):
    """Through `bench run` with spawned children: each child's model starts a daemon with a
    cleared environment; none is left when the run ends, and the run says it cleaned up."""
    pids = tmp_path / "pids"
    pids.mkdir()
    suite = tmp_path / "suite.yaml"
    suite.write_text("""
name: clean-env-strays
data: {source: 'sklearn:breast_cancer', target: target}
isolation: {start_method: spawn}
candidates:
  - {name: daemon, model: 'hostile_models:daemonizes_with_a_cleared_environment'}
realtime: {duration_s: 0.1, trials: 1, warmup_count: 2, warmup_s: 0, open_loop: {enabled: false}}
batch: {batch_sizes: [8], duration_s: 0.1, trials: 1}
""")
    proc = bench_process("run", suite, "--quick", "--out", tmp_path / "out", timeout=240,
                         env={"STRAY_PIDS": str(pids),
                              "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])})
    started = [int(p.name) for p in pids.iterdir() if p.name.isdigit()]
    try:
        assert proc.returncode == exit_codes.OK, proc.stderr
        assert "[daemon] cleaned up after the model: stopped 1 process(es) it started" in proc.stderr
        assert started
        assert [p for p in started if not _gone_within(p)] == []
    finally:
        for pid in started:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _gone_within(pid: int, limit_s: float = 10.0) -> bool:
    deadline = time.monotonic() + limit_s
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _running(pid)


def _spawned_daemon(tmp_path: Path, name: str, wait_for: Path | None = None):
    """run_in_child (spawned) of a model whose daemon was started with a cleared environment."""
    from benchharness.isolation.isolate import run_in_child

    heard: list[str] = []
    kwargs = {"pid_file": str(tmp_path / f"{name}.pid"),
              "wait_for": str(wait_for) if wait_for else None}
    out = run_in_child("hostile_models:daemon_with_a_cleared_environment", kwargs, timeout_s=120,
                       label=f"{name} child", start_method="spawn", notify=heard.append)
    return out, heard


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and prctl: Linux")
def test_a_stray_daemon_without_the_token_is_stopped_and_processes_started_here_are_not(tmp_path):
    """The daemon (env={}, double fork, setsid) carries no token: it is stopped all the same.
    Two processes this process starts while that child runs (one in this session, one in a
    session of its own, as other code in a program that embeds the harness might) keep running."""
    import threading

    release = tmp_path / "release"
    result: dict = {}
    child = threading.Thread(target=lambda: result.update(
        zip(("out", "heard"), _spawned_daemon(tmp_path, "x", wait_for=release))))
    child.start()
    legit = []
    try:
        _wait_for(tmp_path / "x.pid")
        legit = [subprocess.Popen(["sleep", "60"]),
                 subprocess.Popen(["sleep", "60"], start_new_session=True)]
        release.touch()
        child.join(120)
        out, heard = result["out"], result["heard"]
        assert out.status == "ok", out.error
        assert out.value["daemon_alive_at_end"]
        assert _gone_within(out.value["daemon"])
        assert out.record()["strays_stopped"] >= 1
        assert heard and heard[-1].startswith("cleaned up after the model: stopped ")
        assert [p.poll() for p in legit] == [None, None]  # neither was taken for a stray
    finally:
        release.touch()
        for p in legit:
            p.kill()
            p.wait()
        if (tmp_path / "x.pid").exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int((tmp_path / "x.pid").read_text()), signal.SIGKILL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and prctl: Linux")
def test_a_stray_of_a_spawned_child_is_stopped_but_a_sibling_and_its_daemon_keep_running(tmp_path):
    """Two spawned children at once (as tune replicas run). B starts its daemon, then A starts
    and starts one too; B ends while A still runs. B's cleanup stops B's daemon only: not A,
    nor the daemon A started after B did and still relies on. Once A ends, its daemon goes."""
    import threading

    results: dict = {}

    def child(name: str) -> threading.Thread:
        def run() -> None:
            results[name] = _spawned_daemon(tmp_path, name, wait_for=tmp_path / f"release-{name}")[0]

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    threads = []
    try:
        threads.append(child("b"))
        _wait_for(tmp_path / "b.pid")
        # start times are clock ticks (10 ms): one tick apart, B's daemon is plainly older
        # than A (in the same tick it might be A's, and would be left to A's cleanup)
        time.sleep(0.1)
        threads.append(child("a"))
        _wait_for(tmp_path / "a.pid")
        (tmp_path / "release-b").touch()
        threads[0].join(120)
        b = results["b"]
        assert b.status == "ok", b.error
        assert _gone_within(b.value["daemon"])
        assert b.record().get("strays_stopped", 0) >= 1
        assert threads[1].is_alive()
        a_daemon = int((tmp_path / "a.pid").read_text())
        assert _running(a_daemon)
        (tmp_path / "release-a").touch()
        threads[1].join(120)
        a = results["a"]
        assert a.status == "ok", a.error  # the sibling was not killed...
        assert a.value["daemon_alive_at_end"]  # ...nor the daemon it started, while it ran
        assert _gone_within(a_daemon)
        assert a.record().get("strays_stopped", 0) >= 1
    finally:
        for name in ("a", "b"):
            (tmp_path / f"release-{name}").touch()
        for thread in threads:
            thread.join(120)
        for name in ("a", "b"):
            if (tmp_path / f"{name}.pid").exists():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int((tmp_path / f"{name}.pid").read_text()), signal.SIGKILL)


def _wait_for(path: Path, limit_s: float = 60.0) -> None:
    deadline = time.monotonic() + limit_s
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} did not appear within {limit_s:g} s"
        time.sleep(0.02)


# -- defect 3: a memory limit that cannot work ---------------------------------------------------
@pytest.mark.slow
def test_a_memory_limit_below_what_a_child_starts_with_is_a_suite_error(tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text("""
name: small-limit
data: {source: 'sklearn:breast_cancer', target: target}
isolation: {memory_limit_mb: 300}
candidates:
  - {name: tree, train: sklearn.tree.DecisionTreeClassifier, params: {max_depth: 2}}
""")
    res = bench("run", suite, "--quick", "--out", tmp_path / "out")
    assert res.exit_code == exit_codes.USAGE, res.output
    line = error_line(res)
    assert "isolation.memory_limit_mb 300 cannot work: a measurement child already has ~" in line
    assert "give at least ~" in line and "predict" not in line
    results = next((tmp_path / "out").iterdir()) / "results.json"
    assert all(c.get("status") != "ok" or "realtime" not in c
               for c in __import__("json").loads(results.read_text())["candidates"])  # nothing measured


@pytest.mark.parametrize("start_method", ["spawn", "forkserver"])
def test_a_child_below_its_memory_limit_at_start_fails_at_once_with_what_it_needs(start_method):
    import time

    from benchharness.isolation.isolate import run_in_child

    started = time.monotonic()
    out = run_in_child("hostile_models:hogs_memory", {"X": None}, timeout_s=120, label="predict child",
                       memory_limit_mb=40, start_method=start_method, preload=("numpy",))
    assert out.status == "error"
    assert out.error.startswith("predict child went past its memory limit (40 MB; this model needs "
                                "at least ~"), out.error
    assert "MB to start)" in out.error and time.monotonic() - started < 20


# -- defect 7: an MLflow tracking URI that cannot work -------------------------------------------
TINY_RUN = """
name: tiny
data: {source: 'sklearn:breast_cancer', target: target}
candidates:
  - {name: tree, train: sklearn.tree.DecisionTreeClassifier, params: {max_depth: 2}}
realtime: {duration_s: 0.1, trials: 1, warmup_count: 2, warmup_s: 0, open_loop: {enabled: false}}
batch: {batch_sizes: [8], duration_s: 0.1, trials: 1}
"""


@pytest.mark.parametrize("uri, shown", [
    ("bogus://x", "--mlflow / tracking.mlflow 'bogus://x' cannot be used: Unsupported"),
    ("http://127.0.0.1:{free}", "no MLflow tracking server answers there (connection refused)"),
    ("sqlite:///{tmp}/no/such/folder/m.db", "of the database does not exist or cannot be written"),
])
def test_an_unusable_tracking_uri_is_found_before_measuring(tmp_path, uri, shown):
    import json
    import time

    pytest.importorskip("mlflow")
    uri = uri.replace("{free}", str(_free_port())).replace("{tmp}", str(tmp_path))
    suite = tmp_path / "suite.yaml"
    suite.write_text(TINY_RUN)
    started = time.monotonic()
    res = bench("run", suite, "--quick", "--out", tmp_path / "out", "--mlflow", uri)
    assert res.exit_code == exit_codes.USAGE, res.output
    assert shown in error_line(res)
    assert time.monotonic() - started < 20
    results = json.loads(next((tmp_path / "out").iterdir()).joinpath("results.json").read_text())
    assert results["candidates"] == []  # found before anything was trained or measured


class _StallingTracker:
    """A real HTTP server on loopback that answers the check, then never answers the logging."""

    def __init__(self):
        import http.server
        import threading

        self.release = threading.Event()
        release = self.release

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if "experiments/search" in self.path:
                    body = b'{"experiments": []}'
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                else:
                    release.wait(60)

            do_POST = do_GET

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.uri = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.slow
def test_a_tracking_server_that_stalls_after_the_check_is_given_up_on_in_bounded_time(tmp_path, monkeypatch):
    import json
    import time

    pytest.importorskip("mlflow")
    from benchharness.history import mlflow_log

    monkeypatch.setattr(mlflow_log, "LOG_REQUEST_TIMEOUT_S", 1)
    monkeypatch.setattr(mlflow_log, "LOG_DEADLINE_S", 3)
    tracker = _StallingTracker()
    started = time.monotonic()
    try:
        suite = tmp_path / "suite.yaml"
        suite.write_text(TINY_RUN)
        res = bench("run", suite, "--quick", "--out", tmp_path / "out", "--mlflow", tracker.uri)
        ended = time.monotonic()
    finally:
        tracker.close()
    assert res.exit_code == exit_codes.OK, res.output  # measured, judged and saved all the same
    results = json.loads(next((tmp_path / "out").iterdir()).joinpath("results.json").read_text())
    said = [e["error"] for e in results.get("stage_errors", []) if e["stage"] == "tracking_stage"]
    assert len(said) == 1 and said[0].startswith(f"no answer from MLflow at '{tracker.uri}' (")
    assert said[0].endswith("the run is not logged there (it is saved in its folder)"), said
    assert results["candidates"][0]["status"] == "ok"
    assert results["finished_at"] and ended - started < 40  # the logging gave up within its deadline


# -- poor: trials beyond max_trials -----------------------------------------------------------
@pytest.mark.parametrize("section", ["realtime", "batch"])
def test_more_trials_than_max_trials_is_a_suite_error(tmp_path, section):
    suite = tmp_path / "suite.yaml"
    suite.write_text("name: x\ncandidates:\n  - {name: a, train: sklearn.dummy.DummyClassifier}\n"
                     f"{section}: {{trials: 5, max_trials: 2}}\n")
    res = bench("run", suite, "--out", tmp_path / "out")
    assert res.exit_code == exit_codes.USAGE, res.output
    assert f"{section}.trials 5 is more than {section}.max_trials 2" in error_line(res)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


# -- poor: an empty or truncated joblib file ----------------------------------------------------
def test_an_empty_or_truncated_joblib_file_says_so(tmp_path, fitted_forest):
    import io
    import json

    import joblib

    (tmp_path / "empty.joblib").write_bytes(b"")
    buf = io.BytesIO()
    joblib.dump(fitted_forest, buf)
    (tmp_path / "cut.joblib").write_bytes(buf.getvalue()[:200])
    suite = tmp_path / "suite.yaml"
    suite.write_text("""
name: broken-files
data: {source: 'sklearn:breast_cancer', target: target}
candidates:
  - {name: empty, model: empty.joblib}
  - {name: cut, model: cut.joblib}
""")
    res = bench("run", suite, "--quick", "--out", tmp_path / "out")
    assert res.exit_code == exit_codes.CANDIDATE_FAILED, res.output
    results = json.loads(next((tmp_path / "out").iterdir()).joinpath("results.json").read_text())
    error = {c["name"]: c["error"] for c in results["candidates"]}
    assert error["empty"].endswith("empty.joblib as a joblib/pickle model: the file is empty (0 bytes)")
    assert "cut.joblib as a joblib/pickle model: " in error["cut"]
    assert not error["cut"].rstrip().endswith(":"), error["cut"]  # says what is wrong


# -- poor: a FIFO as the data file; a bundle path that leads outside ---------------------------
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
@pytest.mark.parametrize("command", ["run", "validate", "fleet"])
def test_a_fifo_as_the_data_file_is_one_line_naming_the_users_path(tmp_path, command):
    fifo = tmp_path / "live.csv"
    os.mkfifo(fifo)
    suite = tmp_path / "suite.yaml"
    suite.write_text("name: x\ndata: {source: live.csv, target: target}\n"
                     "candidates:\n  - {name: a, train: sklearn.dummy.DummyClassifier}\n")
    (tmp_path / "c.yaml").write_text("columns:\n  a: {dtype: float}\n")
    args = {"run": ["run", suite, "--out", tmp_path / "out"],
            "validate": ["validate", fifo, "--contract", tmp_path / "c.yaml", "--out", tmp_path / "v"],
            "fleet": ["fleet", suite, "--targets", "local", "--out", tmp_path / "out"]}[command]
    res = bench(*args)
    assert res.exit_code == exit_codes.USAGE, res.output
    line = error_line(res)
    assert "a FIFO (named pipe), not a regular file" in line and "live.csv" in line, line
    assert "/tmp/bench-fleet-" not in line


@pytest.mark.parametrize("rel, shown", [
    ("../escape.txt", "refused: its path leads outside its folder"),
    ("/etc/escape.txt", "refused: its path leads outside its folder"),
    ("files/0/ok.csv", "refused: the bundle carries no sha256 for it"),
])
def test_a_bundle_file_that_cannot_be_trusted_says_what_was_refused(tmp_path, rel, shown):
    from benchharness.errors import SuiteError
    from benchharness.fleet.bundle import unpack_suite

    bundle = {"suite_name": "x", "suite_text": "name: x\n", "files": {rel: b"a\n1\n"}, "sha256": {},
              "kept_as_is": []}
    with pytest.raises(SuiteError, match="refused") as caught:
        unpack_suite(bundle, tmp_path / "root")
    assert shown in str(caught.value) and "damaged" not in str(caught.value)
    assert not (tmp_path / "escape.txt").exists()


# -- poor: history notes after --rebuild -----------------------------------------------------------
def test_history_says_why_a_folder_cannot_be_indexed_instead_of_rebuild_adds_it(tmp_path):
    import json
    import shutil

    fixture = ROOT / "tests" / "fixtures" / "quick_run"
    run_id = json.loads((fixture / "results.json").read_text())["run_id"]
    root = tmp_path / "results"
    shutil.copytree(fixture, root / run_id)
    shutil.copytree(fixture, root / "copy-of-the-run")  # same run id in another folder
    (root / "cut").mkdir()
    (root / "cut" / "results.json").write_text((fixture / "results.json").read_text()[:500])
    for _ in range(2):  # the first rebuild indexes the run; the second must not promise more
        res = bench("history", root, "--rebuild", "--html", tmp_path / "h.html")
        assert res.exit_code == exit_codes.OK, res.output
        assert "--rebuild` adds them" not in res.output, res.output
        assert (f"note: run folder copy-of-the-run cannot be indexed: its results.json is run "
                f"{run_id!r} (a copy or a renamed folder of that run)") in res.output
        assert "note: run folder cut cannot be indexed: " in res.output and "not valid JSON" in res.output


# -- poor: a large tune grid starts with its size, its time, and no threads beyond the cores ---------
@pytest.mark.slow
def test_a_large_tune_grid_says_its_size_and_time_and_skips_threads_beyond_the_cores(tmp_path):
    import json

    from benchharness.tune.build import usable_cores

    cores = usable_cores()
    threads = sorted({1, cores, cores + 1, 64})
    suite = tmp_path / "suite.yaml"
    suite.write_text(f"""
name: big-grid
data: {{source: 'sklearn:breast_cancer', target: target}}
candidates:
  - {{name: tree, train: sklearn.tree.DecisionTreeClassifier, params: {{max_depth: 2}},
     tune: {{export: [onnx], intra_op_num_threads: {threads}}}}}
isolation: {{memory_limit_mb: 1}}   # a suite error right after the grid is announced: nothing measured
""")
    proc = bench_process("run", suite, "--quick", "--out", tmp_path / "out", timeout=240)
    assert proc.returncode == exit_codes.USAGE and "memory_limit_mb 1 cannot work" in proc.stderr
    said = [ln for ln in proc.stderr.splitlines() if "tune:" in ln]
    wanted = len([t for t in threads if t <= cores])
    assert any(f"tune: {wanted} variants to measure, 1 skipped; measuring them all takes about" in ln
               for ln in said), said
    assert any(f"more intra-op threads than the {cores} usable cores" in ln for ln in said), said
    results = json.loads(next((tmp_path / "out").iterdir()).joinpath("results.json").read_text())
    skipped = results["tune"]["tree"]["skipped"]
    assert skipped and skipped[0]["combinations"] == len(threads) - wanted


# -- poor: bench serve and a NaN input -------------------------------------------------------------
def test_serve_names_the_tensor_the_client_sent_and_writes_nan_as_a_person_does(tmp_path, cancer):
    import json

    import httpx
    from sklearn.linear_model import LogisticRegression

    from benchharness.adapters.registry import load_model
    from benchharness.serve.server import running_server
    from benchharness.train.training import export_onnx

    X, y = cancer
    est = LogisticRegression(max_iter=5000).fit(X.to_numpy()[:, :4], y)
    export_onnx(est, 4, tmp_path / "logreg.onnx")
    adapter = load_model(str(tmp_path / "logreg.onnx"), {"intra_op_num_threads": 1})
    with running_server(adapter, "m") as base:
        body = json.dumps({"inputs": [{"name": "features", "shape": [2, 4], "datatype": "FP32",
                                       "data": [14.0, 20.0, 90.0, 600.0, 14.0, float("nan"), 90.0, 600.0]}]})
        r = httpx.post(f"{base}/v2/models/m/infer", content=body, timeout=30,
                       headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["error"].startswith("input 'features' holds NaN (row 1, column 1); model 'm' answers")
    assert "np.float" not in r.text


@pytest.mark.slow
@pytest.mark.parametrize("command", ["validate", "fleet"])
def test_a_scheduler_address_where_something_else_listens_is_one_line_not_a_hang(tiny, command):
    import time

    tracker = _StallingTracker()  # a real HTTP server on loopback: accepts, never speaks Dask
    address = tracker.uri.replace("http://", "tcp://")
    try:
        args = {"validate": ["validate", tiny / "d.csv", "--contract", tiny / "c.yaml", "--out", tiny / "v"],
                "fleet": ["fleet", tiny / "suite.yaml", "--targets", "local", "--out", tiny / "f"]}[command]
        started = time.monotonic()
        res = bench(*args, "--scheduler", address)
    finally:
        tracker.close()
    assert res.exit_code == exit_codes.USAGE, res.output
    assert f"--scheduler '{address}' is not a Dask scheduler: it accepts connections but" in error_line(res)
    assert time.monotonic() - started < 20


@pytest.mark.slow
def test_a_fleet_targets_error_names_the_users_file_not_the_workers_temp_folder(tmp_path):
    from benchharness.fleet.bundle import pack_suite
    from benchharness.fleet.task import run_target

    (tmp_path / "data.csv").write_text("a,b\n1,2\n3,4\n")  # no 'target' column
    suite = tmp_path / "suite.yaml"
    suite.write_text("name: x\ndata: {source: data.csv, target: target}\n"
                     "candidates:\n  - {name: a, train: sklearn.dummy.DummyClassifier}\n")
    out = run_target(pack_suite(suite), "local", quick=True)
    assert out["status"] == "failed" and out["exit_code"] == exit_codes.USAGE, out
    assert "target column 'target' not found" in out["error"], out["error"]
    assert "data.csv" in out["error"] and "bench-fleet-" not in out["error"] and "files/0" not in out["error"]


@pytest.mark.slow  # the charts are drawn before the report is written: ~9 s
def test_report_into_a_run_folder_that_cannot_be_written_is_one_line(tmp_path):
    """A run folder on a read-only mount: simulated by a folder whose report.html is a folder
    (even root cannot replace a folder with a file)."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(ROOT / "tests" / "fixtures" / "quick_run", run)
    (run / "report.html").mkdir()
    (run / "report.html" / "x").write_text("")
    res = bench("report", run)
    assert res.exit_code == exit_codes.USAGE, res.output
    assert f"cannot write into the run folder '{run}'" in error_line(res)
