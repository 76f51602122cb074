"""`bench monitor`: is the live model still fine? Quality, drift, performance, speed.

One batch of current data is compared with a reference (the training data, or the run
folder of the `bench run` that qualified the model):

- data quality: every row checked against the contract (the quarantine of `bench validate`);
- drift: every feature, and the model's predictions, with the tests of `drift.py`;
- performance: when labels arrive (a file joined by id), the metric per time window against
  the reference windows (mean +- 3 std) or a drop the team sets (`performance.py`);
- estimated performance: before labels arrive, the metric per window from the model's
  calibrated probabilities (CBPE) or a model of its error (DLE), with an interval
  (`estimate.py`, built by `monitor_estimate.py`);
- drift shape: each feature's drift score and the metric over the windows read as abrupt,
  gradual or none (`drift_shape.py`);
- speed: with a model, its latency and throughput on the current rows, against the figures of
  the run that qualified it.

Both sides are streamed in chunks (a file, a folder of parts or a glob; with `scheduler`,
the parts run on a Dask cluster). Drift describes the current batch as it arrived: every row,
whether or not it broke the contract (quality is reported apart); categorical and binary
columns are compared on category counts of every row, numeric ones on a uniform sample of at
most `sample_rows` rows (`profile.py`). Outputs go to `out_dir` (see `monitor_output.py`);
`alerts` decide the exit code.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from benchharness import schema
from benchharness.data.analysis import is_classification
from benchharness.data.checks import null_mask
from benchharness.data.contract import Contract, learn_file_contract
from benchharness.data.drift import column_drift, thresholds_with_defaults
from benchharness.data.drift_shape import WindowSamples, feature_shapes, metric_shape
from benchharness.data.monitor_estimate import ReferenceRows, build_estimator, estimated_section
from benchharness.data.parts import part_outputs, resolve_parts
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
    window_name,
)
from benchharness.data.profile import DriftProfile, profile_drift
from benchharness.data.speed import LATENCY_SAMPLE_ROWS, compare_speed, measure_latency, run_figures
from benchharness.data.stream import DEFAULT_CHUNK_ROWS, Reservoir, schema_of
from benchharness.data.validate import PartCheck, check_part, summarise
from benchharness.errors import DataError, ModelError, UserError
from benchharness.results import load_results
from benchharness.run_folder import CONTRACT_FILE, WORK_DIR, has_results

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
    target: str | None = None  # the label column of a reference file; default: the run's, else `target`
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
    scheduler: str | None = None  # a Dask scheduler address: parts are checked and profiled there
    estimate: bool = True  # estimate the metric per window without labels (CBPE / DLE)


@dataclass
class _Pass:
    """What one streamed pass over a dataset leaves behind."""

    profile: DriftProfile  # counts and sample of every row, for drift
    windows: WindowScores | None = None
    predict_s: float = 0.0
    predicted_rows: int = 0
    summary: dict = field(default_factory=dict)
    predicted: pd.DataFrame | None = None  # a sample of the rows the model scored (speed, task)
    samples: WindowSamples | None = None  # each window's features, for the drift shape


def _resolve(opts: MonitorOptions) -> tuple[Path, Contract, Path | None]:
    """Reference data, contract and run folder, from what the user gave."""
    ref = Path(opts.reference)
    run = Path(opts.run) if opts.run else None
    if ref.is_dir() and has_results(ref):
        run = run or ref
        ref = ref / WORK_DIR / "X_train.parquet"
        if not ref.exists():
            raise DataError(f"run folder {opts.reference} has no training split at work/X_train.parquet")
    if opts.target is None:  # a run folder knows its label column
        opts.target = _run_target(run) or "target"
    ref_parts = resolve_parts(ref)
    if opts.contract:
        contract = Contract.load(opts.contract)
    elif run and (run / CONTRACT_FILE).exists():
        contract = Contract.load(run / CONTRACT_FILE)
    else:
        exclude = {opts.target, opts.id_column, opts.time_column, opts.prediction_column}
        contract = learn_file_contract(ref_parts, exclude=exclude, chunk_rows=opts.chunk_rows)
        if opts.target not in schema_of(ref_parts[0]).names:  # the label column is named otherwise
            _check_label_column(contract, opts)
    return ref, contract, run


def _run_target(run: Path | None) -> str | None:
    if run is None or not has_results(run):
        return None
    try:
        return schema.run_section(load_results(run), "data").get("target")
    except (OSError, UserError):
        return None


def _check_label_column(contract: Contract, opts: MonitorOptions) -> None:
    """A reference keeps its label column; a current batch usually has none. When the label
    column was not found in the reference and the batch lacks exactly one column the
    reference has, that column is most likely the label: say so instead of quarantining
    every row for it."""
    current = resolve_parts(opts.current)[0]
    present = set(schema_of(current).names)
    lacking = [c for c in contract.columns if c not in present]
    if len(lacking) == 1:
        raise UserError(f"the current batch {opts.current} lacks the reference column {lacking[0]!r} (and only "
                        f"that one): it looks like the label; name it with --target {lacking[0]} "
                        f"(the label column is now {opts.target!r}), or give --contract to check it as a feature")


def _scan(spec: Path, contract: Contract, opts: MonitorOptions, model, truth: str | None,
          labels: LabelJoin | None, out_dir: Path | None, side: int,
          reference_rows: ReferenceRows | None = None, estimator=None) -> _Pass:
    """Validate every part of `spec` in chunks; profile every row for drift; predict clean
    rows; collect truth where it is known. With `opts.scheduler`, parts run on the cluster.
    The reference pass keeps a sample of its labelled rows (`reference_rows`) to build the
    estimator; the current pass feeds every clean row to it and samples each window's features."""
    features = list(contract.columns)
    if not opts.time_column and opts.window and not str(opts.window).isdigit():
        raise UserError(f"--window {opts.window!r} needs --time-column; without one, give a number of rows")
    parts = resolve_parts(spec)
    single = parts == [Path(str(spec))]
    outputs = [part_outputs(p, out_dir, single) if out_dir is not None else None for p in parts]
    if opts.scheduler:
        from benchharness.data.distributed import map_parts

        jobs = [(contract, p, o, opts.chunk_rows, opts.sample_rows, [side, i])
                for i, (p, o) in enumerate(zip(parts, outputs, strict=True))]
        results = map_parts(opts.scheduler, profile_part, jobs)
        p = _Pass(DriftProfile.empty(contract, opts.sample_rows, [side]))
        merged = PartCheck(columns=[])
        for check, profile in results:
            merged.merge(check)
            p.profile.merge(profile)
        p.summary = _dataset_summary(contract, spec, parts, merged, [c for c, _ in results], out_dir, single)
        return p
    rows_per_window = None if opts.time_column else int(opts.window or 500)
    window = opts.window or ("D" if opts.time_column else rows_per_window)
    p = _Pass(DriftProfile.empty(contract, opts.sample_rows, [side]), WindowScores(opts.min_window_rows, rows_per_window))
    if side == 1:
        p.samples = WindowSamples(features, seed=side)
    predicted = Reservoir(LATENCY_SAMPLE_ROWS, seed=[side])
    position = 0
    checks = []
    for index, (part, out) in enumerate(zip(parts, outputs, strict=True)):
        profile = DriftProfile.empty(contract, opts.sample_rows, [side, index])

        def on_chunk(frame: pd.DataFrame, check, profile=profile, part=part) -> None:
            nonlocal position
            typed = check.typed[features]
            clean = ~check.failed
            keep = typed.copy()  # drift: every row as it arrived
            scored = None  # predictions of the clean rows (the model cannot score the others)
            if model is not None and clean.any():
                native = _guard(model.prepare, typed.loc[clean], part)
                started = time.perf_counter()
                scored = np.asarray(_guard(model.predict, native, part))
                p.predict_s += time.perf_counter() - started
                p.predicted_rows += int(clean.sum())
                predicted.add(typed.loc[clean])
            elif model is None and opts.prediction_column and opts.prediction_column in frame.columns:
                scored = frame.loc[clean, opts.prediction_column].to_numpy()
            if scored is not None:
                keep[PRED] = _spread(scored, clean)
            profile.add(keep)
            raw = frame.loc[clean]
            truth_rows = _truth(raw, labels, truth, opts, part) if scored is not None else None
            keys = None
            if truth_rows is not None or p.samples is not None:
                if opts.time_column and opts.time_column not in raw.columns:
                    raise DataError(f"{part} has no time column {opts.time_column!r}")
                times = raw[opts.time_column] if opts.time_column else None
                keys = window_keys(position, len(raw), times, window)
            if p.samples is not None and len(raw):
                p.samples.add(keys, typed.loc[clean])
            if estimator is not None and scored is not None:
                proba = _guard(model.predict_proba, native, part) if estimator.method == "cbpe" else None
                estimator.observe(keys, typed.loc[clean], proba, scored)
            if truth_rows is not None:
                mask, y = truth_rows
                p.windows.add(keys[mask], y, scored[mask])
                if reference_rows is not None and mask.any():
                    proba = _guard(model.predict_proba, native, part) if model.has_proba else None
                    reference_rows.add(typed.loc[clean][mask], scored[mask], None if proba is None else proba[mask], y)
            position += len(raw)

        checks.append(check_part(contract, part, out, opts.chunk_rows, on_chunk))
        p.profile.merge(profile)
    merged = PartCheck(columns=[])
    for c in checks:
        merged.merge(c)
    p.summary = _dataset_summary(contract, spec, parts, merged, checks, out_dir, single)
    p.predicted = predicted.frame()
    return p


def _spread(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`values` of the rows where `mask` is set, missing (NaN / None) elsewhere."""
    values = np.asarray(values)
    numeric = values.dtype.kind in "biuf"
    out = np.full(len(mask), np.nan if numeric else None, dtype=float if numeric else object)
    out[mask] = values
    return out


def profile_part(contract: Contract, part: Path, outputs, chunk_rows: int, sample_rows: int,
                 seed: list[int]) -> tuple[PartCheck, DriftProfile]:
    """One part checked and profiled (what a cluster worker runs): its counts, its outputs
    written, its category counts and its sample of every row."""
    profile = DriftProfile.empty(contract, sample_rows, seed)
    features = list(contract.columns)
    check = check_part(contract, part, outputs, chunk_rows, lambda frame, c: profile.add(c.typed[features]))
    return check, profile


def _dataset_summary(contract, spec, parts, merged: PartCheck, checks, out_dir, single) -> dict:
    if merged.rows_read == 0:
        raise DataError(f"data {spec} has a header but no rows")
    summary = summarise(contract, str(spec), merged)
    if not single:
        summary["parts"] = [{"path": str(p), "rows_read": c.rows_read, "rows_quarantined": c.rows_read - c.rows_clean}
                            for p, c in zip(parts, checks, strict=True)]
    if out_dir is not None:
        clean, quarantine = part_outputs(parts[0], out_dir, True) if single else (out_dir / "clean", out_dir / "quarantine")
        summary["clean_path"], summary["quarantine_path"] = str(clean), str(quarantine)
    return summary


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
    if opts.scheduler and (opts.model or opts.labels or opts.prediction_column):
        raise UserError("--scheduler runs the data checks (quality and drift) on the cluster; --model, --labels "
                        "and --prediction-column run on one machine: drop --scheduler or them")
    out_dir = Path(opts.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ref_path, contract, run = _resolve(opts)
    model = _load_model(opts)
    try:
        labels = None
        if opts.labels:
            labels = LabelJoin(load_labels(opts.labels, opts.id_column, opts.label_column or opts.target),
                               opts.labels, opts.id_column)
        reference_rows = ReferenceRows() if model is not None and opts.estimate else None
        reference = _scan(ref_path, contract, opts, model, opts.target, None, None, side=0, reference_rows=reference_rows)
        namer = _namer(opts)
        estimator, no_estimate = build_estimator(opts, model, reference_rows, _predictions(reference),
                                                 list(contract.columns), run, namer)
        current = _scan(Path(opts.current), contract, opts, model, opts.target, labels, out_dir / "validation",
                        side=1, estimator=estimator)
        results = {
            "schema_version": 1,
            "name": opts.name,
            "reference": str(ref_path), "current": opts.current,
            "run": str(run) if run else None,
            "scheduler": opts.scheduler,
            "quality": current.summary,
            "drift": _drift(reference.profile, current.profile, contract, opts.drift),
            "performance": _performance(reference, current, labels, opts, run),
            "speed": _speed(model, current, opts, run),
        }
        if model is not None:  # estimated beside realized (the realized keys only once labels arrived)
            results["performance"] = {**(results["performance"] or {}), "estimated": estimated_section(
                estimator, no_estimate, reference, results["performance"], opts, run)}
        results["drift"]["shape"] = _shapes(reference, current, results, namer)
    finally:
        if model is not None:
            model.close()
    results["alerts"], results["warnings"] = alerts(results, opts)
    results["seconds"] = round(time.perf_counter() - started, 3)
    write_outputs(results, out_dir)
    return results


def _namer(opts: MonitorOptions):
    """Window key -> its name in the outputs (the naming of the realized windows)."""
    rows_per_window = None if opts.time_column else int(opts.window or 500)
    return lambda key: window_name(key, rows_per_window)


def _predictions(p: _Pass) -> pd.Series:
    sample = p.profile.sample.frame()
    return sample[PRED].dropna() if PRED in sample.columns else pd.Series(dtype=float)


def _shapes(reference: _Pass, current: _Pass, results: dict, namer) -> dict:
    """Abrupt, gradual or none: each feature's drift score over the windows, and the metric
    (estimated when there is an estimate, else realized)."""
    if current.samples is None or not current.samples.window_keys():
        return {"features": None, "performance": None}
    columns = (results["drift"]["features"] or {}).get("columns", {})
    kinds = {name: c.get("kind") for name, c in columns.items()}
    names = {k: namer(k) for k in current.samples.window_keys()}
    ref = reference.profile.sample.frame()
    out = {"features": feature_shapes(ref, current.samples, names, kinds), "performance": None}
    perf = results["performance"] or {}
    est = perf.get("estimated") or {}
    if est.get("windows"):
        out["performance"] = {"source": "estimated", "metric": est["metric"],
                              **metric_shape(est["windows"], "estimate", "interval")}
    elif perf.get("windows"):
        enough = [w for w in perf["windows"] if w["enough_rows"]]
        out["performance"] = {"source": "realized", "metric": perf["metric"], **metric_shape(enough, "value")}
    return out


def _load_model(opts: MonitorOptions):
    if not opts.model:
        return None
    from benchharness.adapters.pickles import guard_pickle
    from benchharness.adapters.registry import load_model

    guard_pickle(opts.model, opts.model_format)  # warns on stderr, or refuses
    return load_model(opts.model, {}, opts.model_format)


def _drift(reference: DriftProfile, current: DriftProfile, contract: Contract, overrides: dict) -> dict:
    """Drift of every feature over every row of the current batch as it arrived (nulls and
    unparseable values left out per column; rows that broke the contract included: quality
    is reported apart), and of the predictions of the rows the model scored."""
    t = thresholds_with_defaults(overrides)
    ref, cur = reference.sample.frame(), current.sample.frame()
    out = {"features": profile_drift(reference, current, contract, t) if current.rows else None,
           "rows": "every row of the current batch", "reference_rows": reference.rows, "current_rows": current.rows,
           "reference_sample_rows": len(ref), "current_sample_rows": len(cur)}
    if PRED in ref.columns and PRED in cur.columns and cur[PRED].notna().any():
        out["predictions"] = column_drift(ref[PRED], cur[PRED].dropna(), t)
    return out


def _performance(reference: _Pass, current: _Pass, labels: LabelJoin | None,
                 opts: MonitorOptions, run: Path | None) -> dict | None:
    if labels is None and (current.windows is None or not current.windows.rows):
        return None
    predictions = current.profile.sample.frame()[PRED].dropna()
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


def _speed(model, current: _Pass, opts: MonitorOptions, run: Path | None) -> dict | None:
    if model is None or not current.predicted_rows:
        return None
    now = measure_latency(model, current.predicted)
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
    perf = results["performance"] or {}
    if perf.get("alert_windows"):
        out.append({"kind": "performance", "message": f"{perf['metric']} below the limit "
                    f"{perf['bounds']['limit']:.4g} in window(s) {', '.join(perf['alert_windows'][:5])}"})
    if "bounds" in perf and perf["bounds"]["limit"] is None:
        warn.append("performance has no limit: give a reference with labels (two windows or more) or --max-drop")
    _estimate_alerts(perf.get("estimated"), out, warn)
    speed = results["speed"]
    for problem in (speed or {}).get("regressions", []):
        out.append({"kind": "latency", "message": problem})
    return out, warn




def _estimate_alerts(est: dict | None, out: list[dict], warn: list[str]) -> None:
    """An estimated window wholly beyond the limit alerts; an estimate that missed the labels warns."""
    if not est:
        return
    if est["method"] is None:
        warn.append(f"performance not estimated: {est['reason']}")
        return
    if est["alert_windows"]:
        worse = "below" if est["higher_is_better"] else "above"
        out.append({"kind": "estimated_performance", "message": f"estimated {est['metric']} ({est['method']}) "
                    f"wholly {worse} the limit {est['bounds']['limit']:.4g} in window(s) "
                    f"{', '.join(est['alert_windows'][:5])}"})
    if est["bounds"]["limit"] is None:
        warn.append("estimated performance has no limit: give a reference with labels (two windows or more) or --max-drop")
    track = est.get("tracking")
    if track and track["missed_windows"]:
        warn.append(f"the estimated {est['metric']} missed the realized one (outside its interval) in "
                    f"{len(track['missed_windows'])} of {track['windows']} window(s) "
                    f"({', '.join(track['missed_windows'][:5])}): P(y|x) changed (concept shift) or the "
                    "calibration no longer holds; trust the labels")
