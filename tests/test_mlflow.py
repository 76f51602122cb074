"""MLflow both ways: a registered model benchmarked through models:/, a run logged to MLflow.

Everything lives in tmp_path: an SQLite tracking/registry store (MLflow's embedded default)
and its artifact folder. No server, no network.
"""

import json
from dataclasses import asdict

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import write_suite

from benchharness.adapters.registry import find_format
from benchharness.cli import main
from benchharness.config import parse_suite


def test_models_uri_selects_the_mlflow_adapter_and_stays_unresolved(tmp_path):
    assert find_format("models:/fraud/3").format == "mlflow"
    assert find_format("models:/fraud@champion").format == "mlflow"
    suite = parse_suite({"name": "s", "data": {"source": "sklearn:iris"},
                         "candidates": [{"name": "a", "model": "models:/fraud@champion"}],
                         "tracking": {"mlflow": "sqlite:///mlflow.db"}}, tmp_path)
    assert suite.candidates[0].model == "models:/fraud@champion"
    assert asdict(suite.tracking) == {"mlflow": "sqlite:///mlflow.db", "experiment": None}


@pytest.fixture(scope="module")
def registry(tmp_path_factory, cancer):
    """A tracking + registry store with a logistic regression registered twice:
    version 1 saved as skops (MLflow 3's default), version 2 as cloudpickle."""
    mlflow = pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient
    from sklearn.linear_model import LogisticRegression

    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'registry.db'}"
    X, y = cancer
    model = LogisticRegression(max_iter=5000).fit(X.to_numpy(), y)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    exp = client.create_experiment("models", artifact_location=(root / "artifacts").as_uri())
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        for fmt in ("skops", "cloudpickle"):
            with mlflow.start_run(experiment_id=exp):
                mlflow.sklearn.log_model(model, name="model", registered_model_name="cancer-logreg",
                                         serialization_format=fmt, pip_requirements=["scikit-learn"])
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
    client.set_registered_model_alias("cancer-logreg", "champion", "1")
    return {"uri": uri, "root": root, "model": model}


@pytest.mark.slow
def test_registered_versions_load_with_their_flavour(registry, cancer):
    from benchharness.adapters.registry import load_model
    from benchharness.errors import ModelError

    X, _ = cancer
    with load_model("models:/cancer-logreg/1", {"tracking_uri": registry["uri"]}) as m:
        info = m.info
        assert info.format == "mlflow" and info.details["flavour"] == "sklearn"
        assert "no code runs on load" in info.details["security"] and len(info.sha256) == 64
        np.testing.assert_array_equal(m.predict(m.prepare(X)), registry["model"].predict(X.to_numpy()))
        np.testing.assert_allclose(m.predict_proba(m.prepare(X)), registry["model"].predict_proba(X.to_numpy()))
    with pytest.raises(ModelError, match="refusing to load models:/cancer-logreg/2: saved as cloudpickle"):
        load_model("models:/cancer-logreg/2", {"tracking_uri": registry["uri"], "trust_pickle": False})
    with load_model("models:/cancer-logreg/2", {"tracking_uri": registry["uri"]}) as m:
        assert "runs code" in m.info.details["security"]
        np.testing.assert_array_equal(m.predict(m.prepare(X)), registry["model"].predict(X.to_numpy()))
    with pytest.raises(ModelError, match="cannot fetch models:/cancer-logreg/9"):
        load_model("models:/cancer-logreg/9", {"tracking_uri": registry["uri"]})


@pytest.mark.slow
def test_registered_model_benchmarked_and_run_logged_to_mlflow(registry, tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)  # whatever MLflow writes by default stays in tmp_path
    suite = write_suite(tmp_path, f"""
name: registered
data: {{source: 'sklearn:breast_cancer', target: target}}
candidates:
  - {{name: champion, model: 'models:/cancer-logreg@champion', options: {{tracking_uri: '{registry["uri"]}'}}}}
realtime: {{duration_s: 0.5, open_loop: {{enabled: false}}}}
batch: {{batch_sizes: [1], duration_s: 0.2, full_split: false}}
quality: {{bootstrap: {{resamples: 50}}}}
""")
    track = tmp_path / "track" / "mlflow.db"
    track.parent.mkdir()
    res = CliRunner().invoke(main, ["run", str(suite), "--quick", "--out", str(tmp_path / "results"),
                                    "--mlflow", f"sqlite:///{track}"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    run_dir = next((tmp_path / "results").iterdir())
    results = json.loads((run_dir / "results.json").read_text())
    cand = results["candidates"][0]
    assert cand["status"] == "ok" and cand["model"]["format"] == "mlflow"
    assert cand["model"]["details"]["model_uri"] == "models:/cancer-logreg@champion"
    assert cand["quality"]["test"]["accuracy"] > 0.85

    logged = results["tracking"]["mlflow"]
    client = MlflowClient(tracking_uri=f"sqlite:///{track}")
    run = client.get_run(logged["run_id"])
    metrics, params, tags = run.data.metrics, run.data.params, run.data.tags
    assert metrics["champion.p99_ms"] == pytest.approx(cand["realtime"]["closed_loop"]["p99_ms"])
    assert metrics["champion.usd_per_million"] == pytest.approx(cand["cost"]["batch"]["usd_per_1m"])
    assert metrics["champion.accuracy.lo"] <= metrics["champion.accuracy"] <= metrics["champion.accuracy.hi"]
    assert params["suite"] == "registered" and params["quick"] == "True" and params["profile"]
    assert tags["verdict.recommended"] == "champion" and tags["verdict.exit_code"] == "0"
    assert tags["candidate.champion.status"] == "ok"
    artifacts = {a.path for a in client.list_artifacts(logged["run_id"])}
    assert {"report.html", "results.json", "report.md"} <= artifacts
    # artifacts sit beside the database, not in the working directory
    assert list((track.parent / "mlartifacts").rglob("report.html"))
    assert not (tmp_path / "mlruns").exists()


@pytest.mark.slow
def test_unusable_tracking_uri_is_one_line_and_keeps_the_run(tmp_path):
    pytest.importorskip("mlflow")
    from sample_run import sample_results

    from benchharness.errors import UserError
    from benchharness.history.mlflow_log import log_run, metrics_of

    with pytest.raises(UserError, match="cannot log to MLflow at 'nosuch://x'"):
        log_run(sample_results(), tmp_path, "nosuch://x")
    metrics = metrics_of(sample_results())
    assert metrics["forest.p99_ms"] == 2.5 and metrics["logreg.batch_usd_per_million"] == 0.02
    assert metrics["logreg.usd_per_million"] == 0.08  # the plan says integration: realtime
    assert (metrics["forest.accuracy.lo"], metrics["forest.accuracy.hi"]) == (0.94, 0.985)
    assert not any(k.startswith("broken.") for k in metrics)  # a failed candidate has no figures
