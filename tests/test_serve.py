"""`bench serve`: a real uvicorn server on an ephemeral loopback port, real HTTP requests."""

from __future__ import annotations

import json
import socket

import httpx
import numpy as np
import pytest

from benchharness.adapters.registry import load_model
from benchharness.serve.server import running_server
from benchharness.serve.suite import start_server, stop_server


@pytest.fixture(scope="module")
def server(forest_onnx):
    with running_server(forest_onnx, "forest", max_request_bytes=512 * 1024) as url:
        yield url


@pytest.fixture
def client():
    with httpx.Client(timeout=10) as c:
        yield c


def v2_request(rows: np.ndarray, **extra) -> dict:
    rows = np.asarray(rows, dtype=np.float32)
    return {"inputs": [{"name": "input", "shape": list(rows.shape), "datatype": "FP32",
                        "data": rows.ravel().tolist()}], **extra}


def assert_still_serving(client, server, X):
    r = client.post(f"{server}/v2/models/forest/infer", json=v2_request(X[:2]))
    assert r.status_code == 200, r.text


def test_http_predictions_equal_in_process_predictions(server, forest_onnx, cancer):
    X, _ = cancer
    remote = load_model(f"{server}/v2/models/forest")
    try:
        local_X, remote_X = forest_onnx.prepare(X), remote.prepare(X)
        np.testing.assert_array_equal(remote.predict(remote_X), forest_onnx.predict(local_X))
        np.testing.assert_allclose(remote.predict_proba(remote_X), forest_onnx.predict_proba(local_X), rtol=0, atol=1e-7)
        assert [str(c) for c in remote.classes] == ["0", "1"]
        assert remote.signature.n_features == X.shape[1]
        # every answer reported the model's own time, and it is below the whole round trip
        assert len(remote.server_time_ms) == 2 and all(t > 0 for t in remote.server_time_ms)
    finally:
        remote.close()


def test_health_and_metadata_endpoints(server, client, cancer):
    X, _ = cancer
    assert client.get(f"{server}/v2/health/live").json() == {"live": True}
    assert client.get(f"{server}/v2/health/ready").json() == {"ready": True}
    assert client.get(f"{server}/v2/models/forest/ready").json()["ready"] is True
    meta = client.get(f"{server}/v2/models/forest").json()
    assert meta["name"] == "forest"
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, X.shape[1]]}]
    assert [o["name"] for o in meta["outputs"]] == ["label", "probabilities"]


def test_response_follows_v2_and_reports_model_time(server, client, cancer, forest_onnx):
    X, _ = cancer
    r = client.post(f"{server}/v2/models/forest/infer", json=v2_request(X.to_numpy()[:3], id="req-7",
                                                                          outputs=[{"name": "probabilities"}]))
    assert r.status_code == 200
    body = r.json()
    assert body["id"] == "req-7" and body["model_name"] == "forest"
    [out] = body["outputs"]
    assert out["name"] == "probabilities" and out["shape"] == [3, 2]
    expected = forest_onnx.predict_proba(forest_onnx.prepare(X.iloc[:3]))
    np.testing.assert_allclose(np.reshape(out["data"], (3, 2)), expected, atol=1e-7)
    dur = float(r.headers["server-timing"].split("dur=")[1])
    assert dur == pytest.approx(body["parameters"]["model_time_ms"], abs=1e-3)


@pytest.mark.parametrize("body, status, words", [
    (b"{not json", 400, "not valid JSON"),
    (b"[1, 2]", 400, "JSON object"),
    (b"{}", 400, "'inputs'"),
    (json.dumps({"inputs": [{"name": "input", "shape": [1, 30], "datatype": "FP32", "data": [0.0] * 29}]}).encode(), 400, "29 values"),
    (json.dumps({"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP32", "data": [0.0] * 3}]}).encode(), 400, "takes 30"),
    (json.dumps({"inputs": [{"name": "input", "shape": [30], "datatype": "FP32", "data": [0.0] * 30}]}).encode(), 400, "[rows, features]"),
    (json.dumps({"inputs": [{"name": "input", "shape": [1, 30], "datatype": "FP99", "data": [0.0] * 30}]}).encode(), 400, "datatype"),
    (json.dumps({"inputs": [{"name": "input", "shape": [0, 30], "datatype": "FP32", "data": []}]}).encode(), 400, "rows > 0"),
    (b"[" * 50_000 + b"]" * 50_000, 400, "nested too deeply"),
    (json.dumps({"inputs": [{"name": "input", "shape": [1, 30], "datatype": "FP32", "data": ["x"] * 30}]}).encode(), 400, "not FP32"),
    (json.dumps({"inputs": [{"name": "input", "shape": [1, 30], "datatype": "FP32", "data": [0.0] * 30}],
                 "outputs": [{"name": "nope"}]}).encode(), 400, "unknown output"),
])
def test_bad_requests_get_json_errors_and_the_server_keeps_serving(server, client, cancer, body, status, words):
    X, _ = cancer
    r = client.post(f"{server}/v2/models/forest/infer", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status
    assert words in r.json()["error"]
    assert_still_serving(client, server, X.to_numpy())


def test_oversized_requests_get_413_declared_or_streamed(server, client, cancer):
    X, _ = cancer
    big = b"[" + b"0," * 300_000 + b"0]"  # 600 kB > the 512 kB limit of this server
    r = client.post(f"{server}/v2/models/forest/infer", content=big)
    assert r.status_code == 413 and "over the limit of 524288 bytes" in r.json()["error"]

    def chunks():  # no Content-Length: the limit must hold while reading
        for _ in range(60):
            yield b" " * 10_000

    r = client.post(f"{server}/v2/models/forest/infer", content=chunks())
    assert r.status_code == 413
    assert_still_serving(client, server, X.to_numpy())


def test_unknown_model_and_route_are_json_404s(server, client):
    r = client.get(f"{server}/v2/models/other")
    assert r.status_code == 404 and "serves 'forest'" in r.json()["error"]
    r = client.post(f"{server}/v2/models/other/infer", json={})
    assert r.status_code == 404
    r = client.get(f"{server}/nowhere")
    assert r.status_code == 404 and "error" in r.json()


def test_a_model_that_raises_gives_500_json_not_a_traceback(client, cancer):
    X, _ = cancer
    model = load_model("models_for_tests:raises", {"n_features": X.shape[1]})
    with running_server(model, "boom") as url:
        r = client.post(f"{url}/v2/models/boom/infer", json=v2_request(X.to_numpy()[:1]))
        assert r.status_code == 500
        assert r.json() == {"error": "model 'boom' failed: RuntimeError: model exploded on purpose"}
        assert "Traceback" not in r.text
        assert client.get(f"{url}/v2/health/live").status_code == 200


def test_bench_serve_process_announces_its_port_and_exits_with_its_parent(tmp_path, forest_onnx, client):
    proc, url = start_server(forest_onnx.source, "forest", None, {"intra_op_num_threads": 1}, tmp_path / "serve.log")
    try:
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v2/models/forest")
        assert client.get(url).json()["name"] == "forest"
        proc.stdin.close()  # what the run's death looks like from the server
        assert proc.wait(15) == 0
    finally:
        stop_server(proc)


def test_bench_serve_refuses_a_busy_port_with_a_clear_error(tmp_path, forest_onnx):
    from click.testing import CliRunner

    from benchharness.cli import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(main, ["serve", forest_onnx.source, "--port", str(port)])
    assert result.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
    result = CliRunner().invoke(main, ["serve", forest_onnx.source, "--options", "[1]"])
    assert result.exit_code == 2 and "--options must be a JSON object" in result.output


def test_start_server_reports_why_it_failed(tmp_path):
    with pytest.raises(Exception, match="did not start: .*model file not found"):
        start_server(str(tmp_path / "missing.onnx"), "m", None, {}, tmp_path / "serve.log")


def test_string_labels_and_named_columns_survive_the_wire(tmp_path, cancer):
    """A model fitted on a named frame takes one tensor per column; string labels travel
    as V2 BYTES. Over HTTP both come back exactly as in process."""
    import joblib
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = cancer
    labels = np.where(y == 1, "benign", "malignant")
    joblib.dump(make_pipeline(StandardScaler(), LogisticRegression()).fit(X, labels), tmp_path / "named.joblib")
    local = load_model(str(tmp_path / "named.joblib"))
    with running_server(local, "named") as url:
        remote = load_model(f"{url}/v2/models/named")
        try:
            assert [t.name for t in remote.signature.inputs] == list(X.columns)
            np.testing.assert_array_equal(remote.predict(remote.prepare(X)), local.predict(local.prepare(X)))
            np.testing.assert_allclose(remote.predict_proba(remote.prepare(X)), local.predict_proba(local.prepare(X)), atol=1e-12)
            assert list(remote.classes) == ["benign", "malignant"]
        finally:
            remote.close()


def test_onnx_without_class_metadata_still_serves(tmp_path, fitted_forest, cancer, client):
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    X, _ = cancer
    onx = convert_sklearn(fitted_forest, initial_types=[("input", FloatTensorType([None, X.shape[1]]))],
                          options={id(fitted_forest): {"zipmap": False}})
    path = tmp_path / "bare.onnx"
    path.write_bytes(onx.SerializeToString())
    model = load_model(str(path))
    assert model.classes is None
    with running_server(model, "bare") as url:
        meta = client.get(f"{url}/v2/models/bare").json()
        assert meta["outputs"][1] == {"name": "probabilities", "datatype": "FP64", "shape": [-1, -1]}
        rows = np.asarray(X.iloc[:3], dtype=np.float32)
        r = client.post(f"{url}/v2/models/bare/infer", json=v2_request(rows))
        assert r.status_code == 200, r.text
