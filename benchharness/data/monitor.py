"""`bench monitor`: is the live model still fine? Quality, drift, performance, speed.

One batch of current data is compared with a reference (the training data, or the run
folder of the `bench run` that qualified the model):

- data quality: every row checked against the contract (the quarantine of `bench validate`);
- drift: every feature, and the model's predictions, with the tests of `drift.py`;
- performance: when labels arrive (a file joined by id), the metric per time window against
  the reference windows (mean +- 3 std) or a drop the team sets (`performance.py`);
- speed: with a model, its latency and throughput on the current rows, against the figures of
  the run that qualified it.

Both files are streamed in chunks; drift uses a uniform sample of at most `sample_rows` rows
of each. Outputs go to `out_dir` (see `monitor_output.py`); `alerts` decide the exit code.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from benchharness.data.analysis import is_classification
from benchharness.data.checks import null_mask
from benchharness.data.contract import Contract, learn_file_contract
from benchharness.data.drift import column_drift, dataset_drift, thresholds_with_defaults
from benchharness.data.performance import (
    METRICS,
    LabelJoin,
    WindowScores,
    alert_bounds,
    apply_alerts,
    check_metric,
    default_metric,
    load_labels,
    window_keys,
)
from benchharness.data.speed import compare_speed, measure_latency, run_figures
from benchharness.data.stream import DEFAULT_CHUNK_ROWS, Reservoir, file_format
from benchharness.data.validate import validate_file
from benchharness.errors import DataError, ModelError, UserError

PRED = "_prediction"


@dataclass
class MonitorOptions:
    reference: str  # a data file, or a `bench run` folder (its contract, training split, figures)
    current: str
    out_dir: str
    model: str | None = None
    model_format: str | None = None
    labels: str | None = None
    id_column: str = "id"
    label_column: str | None = None  # in the labels file; default: `target`
    target: str = "target"  # the label column of a reference file
    time_column: str | None = None
    prediction_column: str | None = None  # logged predictions, when no model is given
    contract: str | None = None
    run: str | None = None  # a `bench run` folder for latency/throughput and the reference metric
    candidate: str | None = None  # its candidate; default: the one whose model file matches
    window: str | None = None  # a period (D, h, W) with a time column, else rows per window
    metric: str | None = None
    task: str = "auto"
    max_drop: float | None = None
    min_window_rows: int = 30
    max_quarantined_share: float = 0.01
    latency_tolerance: float = 1.0  # alert when more than (1 + this) times slower
    sample_rows: int = 200_000
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    drift: dict = field(default_factory=dict)
    name: str = "model"  # the `model` label of the Prometheus gauges


@dataclass
class _Pass:
    """What one streamed pass over a file leaves behind."""

    sample: Reservoir
    windows: WindowScores | None = None
    predict_s: float = 0.0
    predicted_rows: int = 0
    summary: dict = field(default_factory=dict)


def _resolve(opts: MonitorOptions) -> tuple[Path, Contract, Path | None]:
    """Reference data file, contract and run folder, from what the user gave."""
    ref = Path(opts.reference)
    run = Path(opts.run) if opts.run else None
    if ref.is_dir():
        run = run or ref
        ref = ref / "work" / "X_train.parquet"
        if not ref.exists():
            raise DataError(f"run folder {opts.reference} has no training split at work/X_train.parquet")
    file_format(ref)
    if opts.contract:
        contract = Contract.load(opts.contract)
    elif run and (run / "contract.yaml").exists():
        contract = Contract.load(run / "contract.yaml")
    else:
        contract = learn_file_contract(ref, exclude={opts.target, opts.id_column, opts.time_column,
                                                     opts.prediction_column}, chunk_rows=opts.chunk_rows)
    return ref, contract, run


def _scan(path: Path, contract: Contract, opts: MonitorOptions, model, truth: str | None,
          labels: LabelJoin | None, out_dir: Path | None) -> _Pass:
    """Validate `path` in chunks; predict clean rows; sample; collect truth where it is known."""
    features = list(contract.columns)
    if not opts.time_column and opts.window and not str(opts.window).isdigit():
        raise UserError(f"--window {opts.window!r} needs --time-column; without one, give a number of rows")
    rows_per_window = None if opts.time_column else int(opts.window or 500)
    window = opts.window or ("D" if opts.time_column else rows_per_window)
    p = _Pass(Reservoir(opts.sample_rows, seed=1 if labels else 0),
              WindowScores(opts.min_window_rows, rows_per_window))
    position = 0

    def on_chunk(frame: pd.DataFrame, check) -> None:
        nonlocal position
        clean = ~check.failed
        typed = check.typed.loc[clean, features]
        raw = frame.loc[clean]
        keep = typed.copy()
        if model is not None and len(typed):
            native = _guard(model.prepare, typed, path)
            started = time.perf_counter()
            keep[PRED] = _guard(model.predict, native, path)
            p.predict_s += time.perf_counter() - started
            p.predicted_rows += len(typed)
        elif opts.prediction_column and opts.prediction_column in raw.columns:
            keep[PRED] = raw[opts.prediction_column].to_numpy()
        p.sample.add(keep)
        truth_rows = _truth(raw, labels, truth, opts, path) if PRED in keep else None
        if truth_rows is not None:
            mask, y = truth_rows
            if opts.time_column and opts.time_column not in raw.columns:
                raise DataError(f"{path} has no time column {opts.time_column!r}")
            times = raw[opts.time_column] if opts.time_column else None
            keys = window_keys(position, len(raw), times, window)
            p.windows.add(keys[mask], y, keep[PRED].to_numpy()[mask])
        position += len(raw)

    p.summary = validate_file(contract, path, out_dir, chunk_rows=opts.chunk_rows, on_chunk=on_chunk)
    return p


def _truth(raw: pd.DataFrame, labels: LabelJoin | None, truth: str | None, opts: MonitorOptions, path: Path):
    """(mask of rows with a known label, their labels): from the late labels, else the file's own column."""
    if labels is not None:
        if opts.id_column not in raw.columns:
            raise DataError(f"{path} has no id column {opts.id_column!r} to join the labels on")
        return labels.join(raw[opts.id_column])
    if truth and truth in raw.columns:
        mask = ~null_mask(raw[truth]).to_numpy()
        return mask, raw[truth].to_numpy()[mask]
    return None


def _guard(fn, arg, path: Path):
    """The model's own exception, as one line a user can act on."""
    try:
        return fn(arg)
    except UserError:
        raise
    except Exception as exc:
        raise ModelError(f"the model failed on the rows of {path} (features: contract columns): "
                         f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None


def run_monitor(opts: MonitorOptions) -> dict:
    """Run every check the inputs allow; write the outputs; return the results document."""
    from benchharness.data.monitor_output import write_outputs

    started = time.perf_counter()
    if opts.metric:
        check_metric(opts.metric)
    if opts.labels and not (opts.model or opts.prediction_column):
        raise UserError("--labels needs predictions to score: give --model or --prediction-column")
    out_dir = Path(opts.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ref_path, contract, run = _resolve(opts)
    model = _load_model(opts)
    try:
        labels = None
        if opts.labels:
            labels = LabelJoin(load_labels(opts.labels, opts.id_column, opts.label_column or opts.target),
                               opts.labels, opts.id_column)
        reference = _scan(ref_path, contract, opts, model, opts.target, None, None)
        current = _scan(Path(opts.current), contract, opts, model, opts.target, labels, out_dir / "validation")
        ref_sample, cur_sample = reference.sample.frame(), current.sample.frame()
        results = {
            "schema_version": 1,
            "name": opts.name,
            "reference": str(ref_path), "current": opts.current,
            "run": str(run) if run else None,
            "quality": current.summary,
            "drift": _drift(ref_sample, cur_sample, contract, opts.drift),
            "performance": _performance(reference, current, labels, opts, run),
            "speed": _speed(model, cur_sample, current, opts, run),
        }
    finally:
        if model is not None:
            model.close()
    results["alerts"], results["warnings"] = alerts(results, opts)
    results["seconds"] = round(time.perf_counter() - started, 3)
    write_outputs(results, out_dir)
    return results


def _load_model(opts: MonitorOptions):
    if not opts.model:
        return None
    from benchharness.adapters.pickles import guard_pickle
    from benchharness.adapters.registry import load_model

    guard_pickle(opts.model, opts.model_format)  # warns on stderr, or refuses
    return load_model(opts.model, {}, opts.model_format)


def _drift(ref: pd.DataFrame, cur: pd.DataFrame, contract: Contract, overrides: dict) -> dict:
    t = thresholds_with_defaults(overrides)
    features = [c for c in contract.columns if c in ref.columns and c in cur.columns]
    out = {"features": dataset_drift(ref[features], cur[features], thresholds=t) if len(cur) else None,
           "reference_sample_rows": len(ref), "current_sample_rows": len(cur)}
    if PRED in ref.columns and PRED in cur.columns and len(cur):
        out["predictions"] = column_drift(ref[PRED], cur[PRED], t)
    return out


def _performance(reference: _Pass, current: _Pass, labels: LabelJoin | None,
                 opts: MonitorOptions, run: Path | None) -> dict | None:
    if labels is None and not current.windows.rows:
        return None
    predictions = current.sample.frame()[PRED]
    metric = opts.metric or default_metric(is_classification(predictions, opts.task))
    check_metric(metric)
    ref_windows = [w["value"] for w in reference.windows.windows(metric) if w["enough_rows"]]
    ref_value = reference.windows.overall(metric)
    source = "reference file"
    if ref_value is None and run is not None:
        ref_value = run_figures(run, opts.model, opts.candidate).get("quality", {}).get(metric)
        source = "qualifying run's test score"
    bounds = alert_bounds(metric, ref_windows, ref_value, opts.max_drop)
    windows = apply_alerts(current.windows.windows(metric), bounds)
    return {
        "metric": metric,
        "higher_is_better": METRICS[metric][1],
        "labels": labels.summary() if labels else None,
        "reference": {"value": ref_value, "source": source, "windows": len(ref_windows)},
        "bounds": bounds,
        "current_value": current.windows.overall(metric),
        "windows": windows,
        "alert_windows": [w["window"] for w in windows if w["alert"]],
    }


def _speed(model, cur_sample: pd.DataFrame, current: _Pass, opts: MonitorOptions, run: Path | None) -> dict | None:
    if model is None or not current.predicted_rows:
        return None
    features = [c for c in cur_sample.columns if c != PRED]
    now = measure_latency(model, cur_sample[features])
    now["rows_per_s"] = current.predicted_rows / current.predict_s if current.predict_s else None
    figures = run_figures(run, opts.model, opts.candidate) if run else {}
    return compare_speed(now, figures, opts.latency_tolerance)


def alerts(results: dict, opts: MonitorOptions) -> tuple[list[dict], list[str]]:
    """Alerts (exit code 1) and warnings (reported only)."""
    out, warn = [], []
    q = results["quality"]
    if q["quarantined_share"] > opts.max_quarantined_share:
        out.append({"kind": "quality", "message": f"{q['rows_quarantined']} of {q['rows_read']} rows "
                    f"({q['quarantined_share']:.1%}) broke the contract (max {opts.max_quarantined_share:.1%})"})
    for f in q["batch_failures"]:
        out.append({"kind": "quality", "message": f"{f['column']}: null rate {f['value']:.1%} > max {f['max']:.1%}"})
    feats = results["drift"]["features"]
    if feats and feats["dataset_drift"]:
        out.append({"kind": "drift", "message": f"dataset drift: {feats['n_drifted']} of {feats['n_tested']} "
                    f"features drifted ({', '.join(feats['drifted_columns'][:8])})"})
    elif feats and feats["n_drifted"]:
        warn.append(f"{feats['n_drifted']} of {feats['n_tested']} features drifted: {', '.join(feats['drifted_columns'][:8])}")
    if feats and feats["psi_alert_columns"]:
        warn.append(f"PSI above {feats['thresholds']['psi_alert']}: {', '.join(feats['psi_alert_columns'][:8])}")
    pred = results["drift"].get("predictions")
    if pred and pred.get("drift"):
        out.append({"kind": "prediction_drift", "message": f"predictions drifted ({pred['method']} {pred['score']:.3g})"})
    perf = results["performance"]
    if perf and perf["alert_windows"]:
        out.append({"kind": "performance", "message": f"{perf['metric']} below the limit "
                    f"{perf['bounds']['limit']:.4g} in window(s) {', '.join(perf['alert_windows'][:5])}"})
    if perf and perf["bounds"]["limit"] is None:
        warn.append("performance has no limit: give a reference with labels (two windows or more) or --max-drop")
    speed = results["speed"]
    for problem in (speed or {}).get("regressions", []):
        out.append({"kind": "latency", "message": problem})
    return out, warn


def save_json(results: dict, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=2, default=_json_default))
    tmp.replace(path)


def _json_default(x):
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")

