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

import contextlib
import os
import re
import threading
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

    named = schema.run_suite(results)
    try:
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        exp_id = _experiment_id(client, experiment or named.get("name") or "benchharness", uri)
        run = client.create_run(exp_id, run_name=str(results.get("run_id")))
    except Exception as exc:
        said = _unreachable(str(exc), LOG_REQUEST_TIMEOUT_S)
        if said:
            raise UserError(f"no answer from MLflow at {uri!r} ({said}); the run is not logged "
                            "there (it is saved in its folder)") from None
        raise UserError(f"cannot log to MLflow at {uri!r}: {type(exc).__name__}: {str(exc)[:200]}") from None
    mlflow_run = run.info.run_id
    params = {"suite": named.get("name"), "suite_path": named.get("path"), "quick": named.get("quick"),
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


#: how long the check before measuring waits for a tracking server, one request, no retry
CHECK_TIMEOUT_S = 5
#: the longest the logging at the end may take (each request: LOG_REQUEST_TIMEOUT_S, 1 retry)
LOG_DEADLINE_S = 60
LOG_REQUEST_TIMEOUT_S = 10


@contextlib.contextmanager
def _http_limits(timeout_s: float, retries: int):
    """MLflow's REST client reads its timeout and retries from the environment per request."""
    names = {"MLFLOW_HTTP_REQUEST_TIMEOUT": str(int(timeout_s)),
             "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(retries)}
    before = {k: os.environ.get(k) for k in names}
    os.environ.update(names)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def check_uri(uri: str) -> None:
    """Before anything is measured: a tracking URI MLflow cannot use, or a server that does not
    answer, is a suite error (one line, exit 2), not a finding after the whole run."""
    from benchharness.errors import SuiteError

    what = f"--mlflow / tracking.mlflow {uri!r}"
    import_extra("mlflow", package="mlflow", extra="mlflow", what="logging runs to MLflow")
    from mlflow.tracking import MlflowClient

    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if scheme == "sqlite":  # embedded: the database's folder must exist; the file is made later
        folder = Path(uri[len("sqlite:///"):]).expanduser().resolve().parent
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            raise SuiteError(f"{what}: the folder {str(folder)!r} of the database does not exist "
                             "or cannot be written")
        return
    try:
        with _http_limits(CHECK_TIMEOUT_S, 0):
            client = MlflowClient(tracking_uri=uri, registry_uri=uri)
            if scheme in ("http", "https"):
                client.search_experiments(max_results=1)
    except Exception as exc:  # noqa: BLE001 - MLflow's own errors, one line
        text = str(exc)
        said = _unreachable(text, CHECK_TIMEOUT_S)
        if said:
            raise SuiteError(f"{what}: no MLflow tracking server answers there ({said}); "
                             "start it, or give another URI") from None
        first = (text.strip().splitlines() or [type(exc).__name__])[0]
        raise SuiteError(f"{what} cannot be used: {type(exc).__name__}: {first[:240]}") from None


def _unreachable(text: str, timeout_s: float) -> str | None:
    """Why a server did not answer, from the text of MLflow's (urllib3's) error; None if it did."""
    for phrase, said in (("Connection refused", "connection refused"),
                         ("timed out", f"no answer within {timeout_s:g} s"),
                         ("Name or service not known", "unknown host"),
                         ("Failed to resolve", "unknown host")):
        if phrase in text:
            return said
    return None


def tracking_check_stage(ctx) -> None:
    """Check the tracking URI before measuring (see `check_uri`)."""
    if ctx.suite.tracking.mlflow:
        check_uri(ctx.suite.tracking.mlflow)


def _bounded_log(results, run_dir, uri, experiment) -> dict:
    """`log_run` with each request bounded and the whole bounded by LOG_DEADLINE_S."""
    outcome: dict = {}

    def work():
        try:
            with _http_limits(LOG_REQUEST_TIMEOUT_S, 1):
                outcome["logged"] = log_run(results, run_dir, uri, experiment)
        except Exception as exc:  # noqa: BLE001 - said on the run's progress, the run is kept
            outcome["error"] = exc

    thread = threading.Thread(target=work, name="mlflow-log", daemon=True)
    thread.start()
    thread.join(LOG_DEADLINE_S)
    if thread.is_alive():
        raise UserError(f"no answer from MLflow at {uri!r} (nothing within {LOG_DEADLINE_S} s); "
                        "the run is not logged there (it is saved in its folder)")
    if "error" in outcome:
        exc = outcome["error"]
        if isinstance(exc, UserError):
            raise exc
        said = _unreachable(str(exc), LOG_REQUEST_TIMEOUT_S)
        if said:
            raise UserError(f"no answer from MLflow at {uri!r} ({said}); the run is not logged "
                            "there (it is saved in its folder)")
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise UserError(f"cannot log to MLflow at {uri!r}: {type(exc).__name__}: {first}")
    return outcome["logged"]


def tracking_stage(ctx) -> None:
    """Log the run when the suite's tracking section (or --mlflow) names a tracking URI."""
    tracking = ctx.suite.tracking
    if not tracking.mlflow:
        return
    try:
        logged = _bounded_log(ctx.results, ctx.run_dir, tracking.mlflow, tracking.experiment)
    except UserError as exc:  # the run is measured and saved: say so, keep it
        ctx.results.setdefault("stage_errors", []).append({"stage": "tracking_stage", "error": str(exc)})
        ctx.progress(f"MLflow: {exc}")
        return
    ctx.results["tracking"] = {"mlflow": logged}
    ctx.progress(f"MLflow: logged as run {logged['run_id']} in experiment {logged['experiment_id']} at {logged['uri']}")
