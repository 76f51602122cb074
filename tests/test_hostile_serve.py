"""`bench serve` against hostile requests: the client's bad values are 400s naming the
input, a client that hangs up costs one log line, a request that segfaults the model gets a
500 and the server goes on with a fresh model process, and health answers while the model
works. Real `bench serve` processes, real HTTP."""

import json
import os
import socket
import threading
import time

import httpx
import pytest
from conftest import TESTS_DIR

from benchharness.serve.suite import start_server, stop_server


@pytest.fixture(scope="module")
def logreg_onnx(tmp_path_factory, cancer):
    from sklearn.linear_model import LogisticRegression

    from benchharness.train.training import export_onnx

    X, y = cancer
    est = LogisticRegression(max_iter=5000).fit(X.to_numpy()[:, :4], y)
    path = tmp_path_factory.mktemp("serve") / "logreg.onnx"
    export_onnx(est, 4, path)
    return str(path)


@pytest.fixture
def served(tmp_path):
    started = []

    def start(model: str, name: str = "m"):
        log = tmp_path / f"serve-{len(started)}.log"
        options = {"sys_path": [str(TESTS_DIR)]} if ":" in model else {}
        proc, url = start_server(model, name, None, options, log)
        started.append(proc)
        return url.rsplit("/v2/", 1)[0], log

    yield start
    for proc in started:
        stop_server(proc)


def _infer(base: str, name: str, tensor: dict, timeout: float = 30) -> httpx.Response:
    body = json.dumps({"inputs": [tensor]})  # json.dumps writes NaN as the bare token NaN
    return httpx.post(f"{base}/v2/models/{name}/infer", content=body, timeout=timeout,
                      headers={"content-type": "application/json"})


@pytest.mark.slow
def test_client_values_are_400s_naming_the_input(served, logreg_onnx):
    base, log = served(logreg_onnx)
    row = [14.0, 20.0, 90.0, 600.0]
    ok = _infer(base, "m", {"name": "X", "shape": [1, 4], "datatype": "FP32", "data": row})
    assert ok.status_code == 200, ok.text
    nan = _infer(base, "m", {"name": "X", "shape": [1, 4], "datatype": "FP32",
                            "data": [float("nan"), *row[1:]]})
    assert nan.status_code == 400 and "nan" in nan.text.lower() and "input" in nan.text, nan.text
    for datatype, value in (("INT8", 300), ("INT64", 1e30)):
        r = _infer(base, "m", {"name": "X", "shape": [1, 4], "datatype": datatype, "data": [value, 1, 2, 3]})
        assert r.status_code == 400, (datatype, r.status_code, r.text)
        assert "'X'" in r.json()["error"] and "out of the range" in r.json()["error"], r.text
    # a client that hangs up mid-upload: one line in the log, no traceback, still serving
    host, port = base.removeprefix("http://").split(":")
    for _ in range(3):
        with socket.create_connection((host, int(port))) as s:
            s.sendall(b"POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 100000\r\n\r\n{\"inputs\": [")
    assert _infer(base, "m", {"name": "X", "shape": [1, 4], "datatype": "FP32", "data": row}).status_code == 200
    text = log.read_text()
    assert "Traceback" not in text and "model 'm' failed" not in text, text
    assert text.count("disconnected before sending its whole request") == 3, text


def _model_processes(server_pid: int) -> list[int]:
    """The processes `bench serve` has started (its model process), by pid."""
    import psutil

    return [p.pid for p in psutil.Process(server_pid).children(recursive=True)]


def _running(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


CRASHED = "model 'm': the model's process crashed (SIGSEGV) while predicting; restarted"
#: a one-row request the hostile models below answer with 1
ONE_ROW = {"name": "X", "shape": [1, 2], "datatype": "FP64", "data": [1.0, 2.0]}


def _serve_joblib(model, tmp_path, monkeypatch):
    """`bench serve` of `model` saved with joblib (its class from tests/hostile_models.py, which
    the server's model process imports): (the server process, its base URL)."""
    import joblib

    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    monkeypatch.setenv("PYTHONPATH", f"{TESTS_DIR}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    proc, url = start_server(str(path), "m", None, {}, tmp_path / "serve.log")
    return proc, url.rsplit("/v2/", 1)[0]


@pytest.mark.slow
def test_a_segfaulting_request_gets_a_500_and_the_server_goes_on(served):
    base, log = served("hostile_models:segfaults_on_negative")  # ctypes reads address 0
    good = ONE_ROW
    assert _infer(base, "m", good).status_code == 200
    crashed = _infer(base, "m", {**good, "data": [-1.0, 2.0]})
    assert crashed.status_code == 500 and crashed.json() == {"error": CRASHED}, crashed.text
    r = _infer(base, "m", good)  # waits while the fresh model process loads
    assert r.status_code == 200 and r.json()["outputs"][0]["data"] == [1], r.text
    text = log.read_text()
    assert text.count("SIGSEGV") == 1 and "Traceback" not in text, text


@pytest.mark.slow
def test_a_model_file_that_segfaults_on_an_input_costs_that_request_only(tmp_path, monkeypatch):
    """A joblib'd model whose predict kills its process with SIGSEGV when the first feature is
    666: that client gets a one-line 500 JSON, the others are answered by a fresh model
    process, and stopping the server leaves no process behind."""
    from hostile_models import SegfaultsOn666

    proc, base = _serve_joblib(SegfaultsOn666(), tmp_path, monkeypatch)
    good = ONE_ROW
    try:
        assert _infer(base, "m", good).status_code == 200
        first = _model_processes(proc.pid)
        assert len(first) == 1, first
        with httpx.Client(timeout=30) as client:  # a kept-alive connection of another client
            assert client.get(f"{base}/v2/health/ready").status_code == 200
            crashed = _infer(base, "m", {**good, "data": [666.0, 2.0]})
            assert crashed.status_code == 500, crashed.text
            assert crashed.headers["content-type"] == "application/json"
            assert crashed.json() == {"error": CRASHED}
            assert "\n" not in crashed.json()["error"] and "Traceback" not in crashed.text
            again = _infer(base, "m", good)
            assert again.status_code == 200 and again.json()["outputs"][0]["data"] == [1], again.text
            # the other client's connection outlived the crash
            assert client.get(f"{base}/v2/health/ready").json() == {"ready": True}
        second = _model_processes(proc.pid)
        assert len(second) == 1 and second != first, (first, second)
        assert not _running(first[0])
    finally:
        stop_server(proc)
    assert proc.returncode is not None
    left = [pid for pid in first + second if _running(pid)]
    assert not left, f"model processes still running after the server stopped: {left}"
    text = (tmp_path / "serve.log").read_text()
    assert text.count("crashed (SIGSEGV)") == 1 and "Traceback" not in text, text


@pytest.mark.slow
def test_a_model_that_cannot_load_again_gets_503s_until_it_can(tmp_path, monkeypatch):
    """After a crash the fresh model process crashes while loading: each request meanwhile
    gets a one-line 503 saying the model could not start again (never a dropped connection or
    a hang), the server keeps trying, and once loading works again requests are answered."""
    from hostile_models import CannotComeBack

    marker = tmp_path / "broken"
    proc, base = _serve_joblib(CannotComeBack(str(marker)), tmp_path, monkeypatch)
    good = ONE_ROW
    try:
        assert _infer(base, "m", good).status_code == 200
        crashed = _infer(base, "m", {**good, "data": [666.0, 2.0]})
        assert crashed.status_code == 500 and crashed.json() == {"error": CRASHED}
        assert marker.exists()
        for _ in range(2):  # the fresh process and the one after it die loading
            refused = _infer(base, "m", good)
            assert refused.status_code == 503, refused.text
            error = refused.json()["error"]
            assert error.startswith("model 'm': the model's process could not start again (SIGSEGV")
            assert "\n" not in error and "Traceback" not in refused.text
        marker.unlink()  # mended: a process started from now on loads
        answers = [_infer(base, "m", good) for _ in range(3)]
        assert [a.status_code for a in answers][-1] == 200, [a.text for a in answers]
        assert {a.status_code for a in answers} <= {200, 503}
        children = _model_processes(proc.pid)
        assert len(children) == 1, children
    finally:
        stop_server(proc)
    left = [pid for pid in children if _running(pid)]
    assert not left, f"model processes still running after the server stopped: {left}"
    assert "Traceback" not in (tmp_path / "serve.log").read_text()


@pytest.mark.slow
def test_health_answers_while_the_model_works(served):
    base, _ = served("hostile_models:slow")
    done = {}

    def slow_request():
        _infer(base, "m", {"name": "X", "shape": [1, 2], "datatype": "FP64", "data": [1.0, 2.0]})
        done["infer"] = time.monotonic()

    t = threading.Thread(target=slow_request)
    t.start()
    time.sleep(0.5)  # the model is now inside its 4 s predict
    ready = httpx.get(f"{base}/v2/health/ready", timeout=30)
    answered = time.monotonic()
    t.join()
    assert ready.json() == {"ready": True}
    assert answered < done["infer"], "health waited for the model"


@pytest.mark.slow
def test_stopping_while_the_model_is_stuck_leaves_no_process(tmp_path):
    proc, url = start_server("hostile_models:hangs", "m", None, {"sys_path": [str(TESTS_DIR)]},
                             tmp_path / "serve.log")
    base = url.rsplit("/v2/", 1)[0]
    try:
        stuck = threading.Thread(target=lambda: _infer(base, "m", {"name": "X", "shape": [1, 2],
                                                                   "datatype": "FP64", "data": [1.0, 2.0]}),
                                 daemon=True)
        stuck.start()
        time.sleep(0.5)  # the request is now in the model, which never returns
        model = _model_processes(proc.pid)
        assert len(model) == 1, model
        t0 = time.monotonic()
        proc.terminate()
        proc.wait(30)
        took = time.monotonic() - t0
    finally:
        stop_server(proc)
    assert not _running(model[0]), "the stuck model process outlived the server"
    assert took < 20, f"stopping took {took:.1f} s"  # graceful shutdown gives in-flight work 5 s
    assert "Traceback" not in (tmp_path / "serve.log").read_text()


def test_the_model_process_answers_like_the_model_and_names_load_failures(tmp_path):
    """Without HTTP: a model in its own process returns what it returns, its exceptions come
    back as one line, and a model that cannot load is a ModelError naming why."""
    import asyncio

    import numpy as np

    from benchharness.errors import ModelError
    from benchharness.serve.model_process import ModelFailed, ModelProcess, ModelRejected

    with pytest.raises(ModelError, match="model file not found"):
        ModelProcess({"model": str(tmp_path / "missing.onnx")})

    async def calls(mp):
        ok = await mp.call(np.array([[1.0, 2.0], [-0.5, 3.0]]), True, False)
        with pytest.raises(ModelRejected, match="ValueError"):
            await mp.call(np.array([["a", "b"]], dtype=object), True, False)
        return ok

    mp = ModelProcess({"model": "hostile_models:segfaults_on_negative",
                       "options": {"sys_path": [str(TESTS_DIR)]}})
    try:
        (results, model_ms) = asyncio.run(calls(mp))
    finally:
        mp.close()
    assert results["label"].tolist() == [1, 0] and model_ms >= 0
    assert mp.proc.returncode is not None  # closed: the child has ended
    raising = ModelProcess({"model": "models_for_tests:raises", "options": {"n_features": 2,
                                                                          "sys_path": [str(TESTS_DIR)]}})
    try:
        with pytest.raises(ModelFailed, match="RuntimeError: model exploded on purpose"):
            asyncio.run(raising.call(np.ones((1, 2)), True, False))
    finally:
        raising.close()
