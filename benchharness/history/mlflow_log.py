"""Log a finished run to MLflow tracking: `bench run --mlflow URI` or a suite `tracking:` section.

One MLflow run per benchmark run, in the experiment `tracking.experiment` (default: the
suite's name):
- parameters: suite name, suite file, profile, quick, the benchmark's run id;
- metrics: every indexed figure of every candidate as `CANDIDATE.FIGURE`, with its interval
  bounds as `CANDIDATE.FIGURE.lo` / `.hi` when the run has them (the rows of the history
  index, so MLflow and `bench history` hold the same numbers);
- tags: the verdict (recommended candidate, sentence, exit code) and each candidate's status;
- artifacts: report.html, report.md and results.json.

`sqlite:///mlflow.db` is MLflow 3's embedded store; a new experiment there keeps its
artifacts in `mlartifacts/` beside the database file (not in the working directory). A
tracking server URL (http://...) works the same way. MlflowClient is used, so nothing global
in MLflow's module state changes.
"""

from __future__ import annotations

import re
from pathlib import Path

from benchharness import schema
from benchharness.adapters.extras import import_extra
from benchharness.errors import UserError
from benchharness.history.store import run_rows
from benchharness.run_folder import RESULTS_FILE

ARTIFACTS = ("report.html", "report.md", RESULTS_FILE)
_BAD_KEY = re.compile(r"[^A-Za-z0-9_\-. /]")


def _key(text: str) -> str:
    return _BAD_KEY.sub("_", str(text))


def _experiment_id(client, name: str, uri: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None
    if uri.startswith("sqlite:///"):
        location = (Path(uri[len("sqlite:///"):]).resolve().parent / "mlartifacts").as_uri()
    return client.create_experiment(name, artifact_location=location)


def metrics_of(results: dict) -> dict[str, float]:
    out = {}
    for row in run_rows(results):
        if row["figure"] is None:
            continue
        base = f"{_key(row['candidate'])}.{row['figure']}"
        out[base] = row["value"]
        if row["lo"] is not None and row["hi"] is not None:
            out[f"{base}.lo"], out[f"{base}.hi"] = row["lo"], row["hi"]
    return out


def tags_of(results: dict) -> dict[str, str]:
    verdict = schema.verdict(results)
    tags = {"bench.run_id": str(results.get("run_id")), "bench.tool": "benchharness"}
    for key in ("recommended", "sentence", "exit_code"):
        if verdict.get(key) is not None:
            tags[f"verdict.{key}"] = str(verdict[key])[:5000]
    for cand in schema.candidates(results):
        tags[f"candidate.{_key(cand.get('name'))}.status"] = str(cand.get("status"))
    return tags


def log_run(results: dict, run_dir: str | Path, uri: str, experiment: str | None = None) -> dict:
    """Log one benchmark run; returns {uri, experiment_id, run_id} of the MLflow run."""
    import_extra("mlflow", package="mlflow", extra="mlflow", what="logging runs to MLflow")
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    suite = results.get("suite") or {}
    try:
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        exp_id = _experiment_id(client, experiment or suite.get("name") or "benchharness", uri)
        run = client.create_run(exp_id, run_name=str(results.get("run_id")))
    except Exception as exc:
        raise UserError(f"cannot log to MLflow at {uri!r}: {type(exc).__name__}: {str(exc)[:200]}") from None
    mlflow_run = run.info.run_id
    params = {"suite": suite.get("name"), "suite_path": suite.get("path"), "quick": suite.get("quick"),
              "profile": (results.get("profile") or {}).get("name"), "bench_run_id": results.get("run_id")}
    params = [Param(k, str(v)[:6000]) for k, v in params.items() if v is not None]
    metrics = [Metric(k, float(v), 0, 0) for k, v in metrics_of(results).items()]
    tags = [RunTag(k, v) for k, v in tags_of(results).items()]
    for start in range(0, max(len(metrics), 1), 900):  # log_batch takes up to 1000 metrics
        client.log_batch(mlflow_run, metrics=metrics[start:start + 900],
                         params=params if start == 0 else [], tags=tags if start == 0 else [])
    for name in ARTIFACTS:
        path = Path(run_dir) / name
        if path.exists():
            client.log_artifact(mlflow_run, str(path))
    client.set_terminated(mlflow_run, "FINISHED")
    return {"uri": uri, "experiment_id": exp_id, "run_id": mlflow_run}


def tracking_stage(ctx) -> None:
    """Log the run when the suite's tracking section (or --mlflow) names a tracking URI."""
    cfg = ctx.suite.get("tracking") or {}
    if not cfg.get("mlflow"):
        return
    try:
        logged = log_run(ctx.results, ctx.run_dir, cfg["mlflow"], cfg.get("experiment"))
    except UserError as exc:  # the run is measured and saved: say so, keep it
        ctx.results.setdefault("stage_errors", []).append({"stage": "tracking_stage", "error": str(exc)})
        ctx.progress(f"MLflow: {exc}")
        return
    ctx.results["tracking"] = {"mlflow": logged}
    ctx.progress(f"MLflow: logged as run {logged['run_id']} in experiment {logged['experiment_id']} at {logged['uri']}")
