"""`bench validate` and `bench monitor`: thin click commands over validate.py and monitor.py.

Exit codes (for pipelines and alerting jobs): 0 all clear; 1 something needs attention
(validate: rows quarantined or a batch check failed; monitor: an alert fired); 2 the inputs
were unusable (a clear one-line error says which and why).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import click
import yaml

from benchharness.config import Field, non_negative, positive
from benchharness.errors import UserError
from benchharness.exit_codes import NO as EXIT_ATTENTION
from benchharness.exit_codes import OK as EXIT_OK
from benchharness.run_folder import ensure_out_dir


@click.command()
@click.option("--contract", "contract_path", required=True, type=click.Path(dir_okay=False),
              help="The contract YAML (a run folder's contract.yaml, maybe edited).")
@click.argument("data", type=click.Path())
@click.option("--out", "out_dir", default=None, help="Folder for clean, quarantine and summary.json "
              "[default: <data name>-validated next to DATA].")
@click.option("--chunk-rows", default=100_000, show_default=True, type=click.IntRange(min=1),
              help="Rows read at a time (memory stays bounded whatever the file size).")
@click.option("--scheduler", default=None, help="Dask scheduler address (tcp://HOST:PORT): check the parts "
              "of DATA on that cluster (outputs must be on a file system every worker sees).")
def validate(contract_path: str, data: str, out_dir: str | None, chunk_rows: int, scheduler: str | None) -> None:
    """Check DATA against a contract; split it into clean and quarantined rows.

    DATA is a CSV or Parquet file, a folder of such parts, or a glob ('day/*.parquet').
    Exit code 0: every row is clean; 1: rows were quarantined or a batch check failed; 2: error.
    """
    from benchharness.data.contract import Contract
    from benchharness.data.validate import format_summary, validate_dataset

    if scheduler is not None:  # before reading anything: one line for an address that cannot work
        from benchharness.scheduler_address import require_listening

        scheduler = require_listening(scheduler)
    out = Path(out_dir) if out_dir else _default_out(data)
    summary = validate_dataset(Contract.load(contract_path), data, ensure_out_dir(out),
                               chunk_rows=chunk_rows, scheduler=scheduler)
    click.echo(format_summary(summary))
    sys.exit(EXIT_OK if summary["ok"] else EXIT_ATTENTION)


def _default_out(data: str) -> Path:
    """<data name>-validated next to DATA (a glob: next to the folder its pattern starts in)."""
    path = Path(data)
    while any(ch in path.name for ch in "*?[") and path != path.parent:
        path = path.parent
    return path.with_name(path.name.split(".")[0] + "-validated")


def _options_from_config(path: str | None) -> tuple[dict, dict]:
    """(monitor options, drift thresholds) from a monitoring config YAML."""
    if not path:
        return {}, {}
    from benchharness.config import DRIFT, validate_section
    from benchharness.data.monitor import MonitorOptions

    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise UserError(f"cannot read monitor config {path}: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict) or set(raw) - {"monitor", "drift"}:
        raise UserError(f"monitor config {path}: top-level keys must be among monitor, drift; got {list(raw)}")
    allowed = {f.name for f in dataclasses.fields(MonitorOptions)} - {"drift", "out_dir"}
    monitor = raw.get("monitor") or {}
    if not isinstance(monitor, dict):
        raise UserError(f"monitor config {path}: 'monitor' must be a mapping, got {monitor!r}")
    unknown = sorted(set(monitor) - allowed)
    if unknown:
        raise UserError(f"monitor config {path}: unknown key monitor.{unknown[0]}; allowed: {', '.join(sorted(allowed))}")
    try:
        checked = validate_section({k: v for k, v in monitor.items() if k in MONITOR_VALUES},
                                   MONITOR_VALUES, "monitor")
        return ({k: checked[k] if k in MONITOR_VALUES else v for k, v in monitor.items()},
                validate_section(raw.get("drift"), DRIFT, "drift"))
    except UserError as exc:
        raise UserError(f"monitor config {path}: {exc}") from None


def _share(v) -> str | None:
    return None if 0 <= v <= 1 else "a share between 0 and 1"


#: the monitor options that are numbers, checked as the command line checks its flags
MONITOR_VALUES = {
    "max_drop": Field(float, None, non_negative),
    "max_quarantined_share": Field(float, None, _share),
    "latency_tolerance": Field(float, None, non_negative),
    "min_window_rows": Field(int, None, positive),
    "sample_rows": Field(int, None, positive),
    "chunk_rows": Field(int, None, positive),
    "estimate": Field(bool, None),
}


@click.command()
@click.option("--reference", help="Reference data (CSV/Parquet, with the label column for performance), "
              "or a `bench run` folder.")
@click.option("--current", help="The current batch: a CSV/Parquet file, a folder of parts or a glob.")
@click.option("--model", help="The model to score the current batch with (any format `bench run` loads).")
@click.option("--model-format", help="Force the model's format when its suffix is ambiguous.")
@click.option("--labels", help="Late ground truth: a file with the id column and the label column.")
@click.option("--id-column", help="Column joining current rows to labels.  [default: id]")
@click.option("--label-column", help="Label column in the labels file.  [default: --target]")
@click.option("--target", help="Label column in the reference file.  [default: a run folder's, else target]")
@click.option("--time-column", help="Timestamp column: performance per time window.")
@click.option("--prediction-column", help="Logged predictions in the files, when no --model is given.")
@click.option("--contract", help="Contract YAML [default: the run folder's, else learned from the reference].")
@click.option("--run", help="`bench run` folder whose latency, throughput and test score to compare with.")
@click.option("--candidate", help="That run's candidate [default: the one whose model file matches].")
@click.option("--window", help="Window: a period (D, h, W, M) with --time-column, else rows.  [default: D or 500]")
@click.option("--metric", help="accuracy, balanced_accuracy, f1_macro, mae, rmse or r2.")
@click.option("--max-drop", type=click.FloatRange(min=0), help="Alert when a window is worse than the reference by more than this.")
@click.option("--max-quarantined-share", type=click.FloatRange(0, 1), help="Alert above this share of quarantined rows.  [default: 0.01]")
@click.option("--latency-tolerance", type=click.FloatRange(min=0),
              help="Alert when median latency (or 1/throughput) is more than 1 + this times the run's.  [default: 1.0]")
@click.option("--estimate/--no-estimate", default=None,
              help="Estimate the metric per window without labels (CBPE from calibrated probabilities, DLE "
              "from a model of the error), fitted on the labelled reference or the run's calibration.  [default: on]")
@click.option("--name", help="The `model` label of the Prometheus gauges.  [default: model]")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="YAML with `monitor:` (these options) and `drift:` (thresholds); flags win.")
@click.option("--scheduler", help="Dask scheduler address (tcp://HOST:PORT): quality and drift of the parts "
              "run on that cluster (not with --model, --labels or --prediction-column).")
@click.option("--out", "out_dir", default="monitoring", show_default=True, help="Output folder.")
def monitor(config_path: str | None, out_dir: str, **flags) -> None:
    """Monitor a live model: data quality, drift (and its shape), performance per window
    (estimated before labels arrive, realized after), speed.

    Writes report.md, report.html, monitor.json, metrics.prom (Prometheus textfile) and the
    quarantine of the current batch under --out. Exit code 0: no alert; 1: an alert fired; 2: error.
    """
    from benchharness.data.monitor import MonitorOptions, run_monitor

    from_config, drift = _options_from_config(config_path)
    values = {**from_config, **{k: v for k, v in flags.items() if v is not None}}
    for required in ("reference", "current"):
        if not values.get(required):
            raise UserError(f"--{required} is required (on the command line or in monitor: of --config)")
    ensure_out_dir(out_dir)
    results = run_monitor(MonitorOptions(out_dir=out_dir, drift=drift, **values))
    for a in results["alerts"]:
        click.echo(f"ALERT {a['kind']}: {a['message']}")
    for w in results["warnings"]:
        click.echo(f"warning: {w}")
    if not results["alerts"]:
        click.echo("no alerts")
    click.echo(f"report: {results['outputs']['html']} (and report.md, monitor.json, metrics.prom)")
    sys.exit(EXIT_ATTENTION if results["alerts"] else EXIT_OK)
