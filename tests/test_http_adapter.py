"""HTTP candidates: V2 servers and plain JSON REST endpoints, sync and async, end to end."""

from __future__ import annotations

import numpy as np
import psutil
import pytest
from conftest import write_suite

from benchharness.adapters.http import dotted, fill_template
from benchharness.adapters.registry import load_model
from benchharness.adapters.server_timing import server_time_hook
from benchharness.errors import ModelError
from benchharness.serve.server import running_app, running_server


@pytest.fixture(scope="module")
def v2_url(forest_onnx):
    with running_server(forest_onnx, "forest") as url:
        yield f"{url}/v2/models/forest"


@pytest.fixture(scope="module")
def mlflow_like(fitted_forest):
    """A plain JSON endpoint shaped like MLflow's /invocations, on a real uvicorn."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    seen = {}

    async def invocations(request):
        body = await request.json()
        split = body["dataframe_split"]
        seen["columns"] = split["columns"]
        X = np.asarray(split["data"], dtype=float)
        return JSONResponse({"predictions": fitted_forest.predict(X).tolist(),
                             "probabilities": fitted_forest.predict_proba(X).tolist()})

    with running_app(Starlette(routes=[Route("/invocations", invocations, methods=["POST"])])) as url:
        yield f"{url}/invocations", seen


def test_template_and_dotted_path():
    rows = np.array([[1.0, 2.0], [3.0, 4.0]])
    body = fill_template({"a": {"cols": "$columns", "data": "$rows"}, "r": "$records", "k": 7}, rows, ["x", "y"])
    assert body == {"a": {"cols": ["x", "y"], "data": [[1.0, 2.0], [3.0, 4.0]]},
                    "r": [{"x": 1.0, "y": 2.0}, {"x": 3.0, "y": 4.0}], "k": 7}
    assert dotted({"outputs": [{"data": [5]}]}, "outputs.0.data") == [5]
    with pytest.raises(ModelError, match="no 'outputs.1' .*failed at '1'"):
        dotted({"outputs": [{}]}, "outputs.1")


def test_json_rest_endpoint_with_mapping(mlflow_like, fitted_forest, cancer):
    url, seen = mlflow_like
    X, _ = cancer
    model = load_model(url, {"protocol": "json", "request": {"dataframe_split": {"columns": "$columns", "data": "$rows"}},
                             "response": "predictions", "proba_response": "probabilities"})
    try:
        native = model.prepare(X.iloc[:50])
        np.testing.assert_array_equal(model.predict(native), fitted_forest.predict(X.to_numpy()[:50]))
        np.testing.assert_allclose(model.predict_proba(native), fitted_forest.predict_proba(X.to_numpy()[:50]), atol=1e-12)
        assert seen["columns"] == list(X.columns)
        assert model.info.runtime == "http-json" and model.server_time_ms == []  # this server reports none
    finally:
        model.close()


def test_v2_adapter_describes_the_served_model(v2_url, cancer):
    X, _ = cancer
    model = load_model(v2_url)
    try:
        assert model.signature.n_features == X.shape[1]
        assert model.has_proba and [str(c) for c in model.classes] == ["0", "1"]
        info = model.info
        assert info.format == "http" and info.details["server"] == "benchharness"
        assert info.details["url"] == v2_url + "/infer"
    finally:
        model.close()


def test_clear_errors_for_bad_urls_and_refusals(v2_url):
    with pytest.raises(ModelError, match="ends in /v2/models/NAME"):
        load_model(v2_url.split("/v2/")[0])
    with pytest.raises(ModelError, match="answered HTTP 404: .*serves 'forest'"):
        load_model(v2_url.replace("forest", "other"))
    with pytest.raises(ModelError, match=r"cannot reach http://127\.0\.0\.1:9/v2/models/m: ConnectError"):
        load_model("http://127.0.0.1:9/v2/models/m")
    with pytest.raises(ModelError, match="unknown option"):
        load_model(v2_url, {"protcol": "v2"})
    model = load_model(v2_url)
    try:
        with pytest.raises(ModelError, match="answered HTTP 400: .*takes 30"):
            model.predict(np.zeros((1, 3), dtype=np.float32))
    finally:
        model.close()


def test_server_time_hook_collects_what_the_server_reported(v2_url, cancer):
    X, _ = cancer
    model = load_model(v2_url)
    native = model.prepare(X)
    model.predict(model.take(native, 0, 1))  # before the phase: not counted
    with server_time_hook("closed_loop") as record:
        for i in range(3):
            model.predict(model.take(native, i, i + 1))
    assert record["count"] == 3
    assert record["mean_ms"] == pytest.approx(np.mean(model.server_time_ms[-3:]))
    model.close()


@pytest.fixture(scope="module")
def slow_endpoint():
    """A JSON endpoint that takes 50 ms per answer without blocking others (like a remote
    model with a queue in front): an open loop must not wait for it between sends."""
    import asyncio

    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def slow(request):
        await request.body()
        await asyncio.sleep(0.05)
        return JSONResponse({"predictions": [0]})

    with running_app(Starlette(routes=[Route("/predict", slow, methods=["POST"])])) as url:
        yield f"{url}/predict"


def test_async_open_loop_sends_on_schedule_without_waiting_for_answers(slow_endpoint):
    from benchharness.measure.open_loop_async import run_async_open_loop

    model = load_model(slow_endpoint, {"protocol": "json", "pool_size": 32})
    requests = [np.zeros((1, 2))]
    offsets = (np.arange(30) * 10_000_000).astype(np.int64)  # 100 requests/s for 0.3 s
    run = run_async_open_loop(model, requests, offsets)
    assert run["dropped"] == 0 and not run["failed"].any(), run["first_error"]
    latency_ms = (run["end_ns"] - run["scheduled_ns"]) / 1e6
    assert latency_ms.min() >= 50  # the server's own 50 ms: counted from the schedule
    # waiting for each answer would take 30 x 50 ms = 1.5 s to send them all; on schedule, 0.3 s
    assert (run["start_ns"][-1] - run["start_ns"][0]) / 1e9 < 0.9
    overlapping = run["start_ns"][1:] < run["end_ns"][:-1]  # sent while the previous was in flight
    assert overlapping.mean() > 0.8


def test_suite_runs_real_time_modes_against_a_served_model(tmp_path, forest_onnx):
    """`serve: true` puts the model behind `bench serve`; the closed loop measures it over
    HTTP and separates the server's model time from the network's."""
    from benchharness.api import run_suite

    suite = write_suite(tmp_path, f"""
name: served
data: {{source: "sklearn:breast_cancer", split: {{seed: 0}}}}
candidates:
  - {{name: direct, model: {forest_onnx.source}, options: {{intra_op_num_threads: 1}}}}
  - {{name: served, model: {forest_onnx.source}, options: {{intra_op_num_threads: 1}}, serve: true}}
realtime: {{duration_s: 0.3, warmup_count: 5, warmup_s: 0.05, trials: 2, open_loop: {{trials: 2}}}}
batch: {{batch_sizes: [16], duration_s: 0.1, warmup_count: 1, trials: 2}}
""")
    ctx = run_suite(suite, out_dir=tmp_path / "out", progress=lambda m: None)
    direct, served = ctx.results["candidates"]
    assert served["status"] == "ok", served["error"]
    assert served["model"]["format"] == "http" and served["served"]["url"].startswith("http://127.0.0.1:")
    assert served["quality"]["test"] == direct["quality"]["test"]
    loop = served["realtime"]["closed_loop"]
    model_time = loop["server_model"]
    assert model_time["count"] == loop["count"]
    assert model_time["mean_ms"] + model_time["network_mean_ms"] == pytest.approx(loop["mean_ms"])
    assert model_time["network_mean_ms"] > 0
    from benchharness.report.terminal import summary_text

    assert f"served over HTTP: mean {loop['mean_ms']:.3f} ms per request = model {model_time['mean_ms']:.3f} ms" in summary_text(ctx.results, "x")
    assert not psutil.pid_exists(served["served"]["pid"])  # the server went with the run
