"""`bench serve` against hostile requests: the client's bad values are 400s naming the
input, a client that hangs up costs one log line, a segfaulting request does not end the
server, and health answers while the model works. Real `bench serve` processes, real HTTP."""

import json
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


@pytest.mark.slow
def test_a_segfaulting_request_does_not_end_the_server(served):
    base, log = served("hostile_models:segfaults_on_negative")
    good = {"name": "X", "shape": [1, 2], "datatype": "FP64", "data": [1.0, 2.0]}
    assert _infer(base, "m", good).status_code == 200
    with pytest.raises(httpx.HTTPError):
        _infer(base, "m", {**good, "data": [-1.0, 2.0]})
    r = _infer(base, "m", good)  # waits in the socket's backlog while a fresh worker starts
    assert r.status_code == 200 and r.json()["outputs"][0]["data"] == [1], r.text
    assert "SIGSEGV" in log.read_text()


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
