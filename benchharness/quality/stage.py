"""The quality stages of a run.

    BEFORE        baselines_stage   task, settings, class balance, automatic baselines scored
    PER_CANDIDATE quality_stage     the candidate's quality section
    AFTER         compare_stage     best baseline (automatic or declared), paired delta, verdict
                  parity_stage      an export against its original

Per-row outcomes travel between them on `ctx.quality_rows` and `ctx.baseline_rows` (never
saved): the paired bootstrap needs the best baseline's rows next to each candidate's.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from benchharness.context import CandidateRun, RunContext
from benchharness.errors import ModelError, SuiteError, UserError
from benchharness.quality.baselines import default_baselines, fit_baseline
from benchharness.quality.bootstrap import BootstrapPlan
from benchharness.quality.compare import pick_best, versus_baseline
from benchharness.quality.evaluate import ResolvedQuality, class_balance, evaluate
from benchharness.quality.metrics import ScoredRows, metric_names
from benchharness.quality.parity import parity
from benchharness.quality.task import DEFAULT_PRIMARY, detect_task, is_classification
from benchharness.suite import Suite


def build_settings(suite: Suite, y_train: pd.Series) -> ResolvedQuality:
    """The suite's quality section resolved against the data: task detected, metric checked."""
    q = suite.quality
    task = detect_task(y_train, q.task)
    metric = q.primary_metric or DEFAULT_PRIMARY[task]
    if metric not in metric_names(task):
        raise SuiteError(f"'quality.primary_metric' must be one of {', '.join(metric_names(task))} "
                         f"for a {task} task, got {metric!r}")
    b = q.bootstrap
    # a time column alone asks for the performance over time: monthly unless told otherwise
    window = q.window or ("month" if suite.data.time_column else None)
    return ResolvedQuality(
        task=task, primary_metric=metric,
        plan=BootstrapPlan(b.resamples, b.seed, b.confidence),
        subgroups=list(q.subgroups), min_group_rows=q.min_group_rows, bins=q.bins,
        window=window, production_window=q.production_window, overfit_gap=q.overfit_gap,
    )


def _settings(ctx: RunContext) -> ResolvedQuality:
    if ctx.quality_settings is None:
        ctx.quality_settings = build_settings(ctx.suite, ctx.dataset.y_train)
    return ctx.quality_settings


def _times(ctx: RunContext, meta: pd.DataFrame | None) -> pd.Series | None:
    col = ctx.suite.data.time_column
    return meta[col] if col and meta is not None and col in meta.columns else None


def align_labels(values, like: np.ndarray) -> np.ndarray:
    """Predicted labels in the target's dtype (ONNX returns int64 or strings for int targets)."""
    values = np.asarray(values)
    if values.dtype.kind == like.dtype.kind:
        return values
    if values.dtype.kind == "f" and not np.all(values == np.round(values)):
        return values  # NaN or fractions are not labels: keep them visible, never truncate
    try:
        return values.astype(like.dtype)
    except (TypeError, ValueError):
        return values.astype(str)


def rows_for(task: str, y_true: pd.Series, pred, proba, classes) -> ScoredRows:
    """Truth and one model's predictions on one split, label types reconciled."""
    y = np.asarray(y_true)
    if is_classification(task):
        pred = align_labels(pred, y)
        classes = None if classes is None else align_labels(classes, y)
        if pred.dtype.kind in "OUS" and y.dtype.kind not in "OUS":
            y = y.astype(str)  # predictions could not take the target's dtype: compare as text
            classes = None if classes is None else classes.astype(str)
    return ScoredRows(task, y, np.asarray(pred), proba, classes)


def baselines_stage(ctx: RunContext) -> None:
    """Fit and score the automatic baselines; record the task, settings and class balance."""
    ds = ctx.dataset
    if ds is None:
        return
    s = _settings(ctx)
    ds.task = s.task  # for the stages after this one
    baselines = ctx.suite.quality.baselines
    ctx.results["quality"] = {
        "task": s.task, "primary_metric": s.primary_metric, "higher_is_better": s.higher_is_better,
        "bootstrap": {"resamples": s.plan.n_resamples, "seed": s.plan.seed, "confidence": s.plan.confidence},
        "best_baseline": None,
    }
    if is_classification(s.task):
        ctx.results["quality"]["class_balance"] = class_balance(ds.y_train, ds.y_test, ctx.suite.data.resampled)
        warning = ctx.results["quality"]["class_balance"]["warning"]
        if warning:
            ctx.progress(f"quality: warning: {warning}")
    times_train, times_test = _times(ctx, ds.meta_train), _times(ctx, ds.meta_test)
    names = baselines if baselines is not None else default_baselines(s.task, times_train is not None)
    period = s.production_window or s.window or "month"
    started = time.perf_counter()
    entries = [_score_baseline(ctx, s, name, times_train, times_test, period) for name in names]
    ctx.results["baselines"] = entries
    ok = sum(e["status"] == "ok" for e in entries)
    ctx.progress(f"quality: {s.task}, primary metric {s.primary_metric}; {ok} baselines scored "
                 f"in {time.perf_counter() - started:.1f} s")
    used = s.plan.resamples_for(len(ds.y_test))
    if used < s.plan.n_resamples:
        ctx.progress(f"quality: {len(ds.y_test)} test rows: {used} bootstrap resamples instead of "
                     f"{s.plan.n_resamples} (bootstrap.CELL_BUDGET)")


def _score_baseline(ctx: RunContext, s: ResolvedQuality, name: str, times_train, times_test, period) -> dict:
    """Fit one automatic baseline and score it like a candidate; a failure is recorded."""
    ds = ctx.dataset
    entry = {"name": name, "role": "baseline", "kind": "automatic", "status": "ok", "error": None}
    try:
        fitted = fit_baseline(name, s.task, ds.X_train, ds.y_train, times_train, period, s.plan.seed)
        entry["description"] = fitted.description
        model, classes = fitted.model, np.unique(ds.y_train.dropna())
        has_proba = is_classification(s.task) and hasattr(model, "predict_proba")
        train, test = (
            rows_for(s.task, y, model.predict(X), model.predict_proba(X) if has_proba else None, classes)
            for X, y in ((ds.X_train, ds.y_train), (ds.X_test, ds.y_test))
        )
        # a baseline's interval matters on the metric it is compared on: the others would
        # cost ten times the time for figures nobody reads
        entry["quality"] = evaluate(test, train, s, ds.meta_test, times_test, interval_metrics=[s.primary_metric])
        ctx.baseline_rows[name] = test
    except UserError as exc:
        entry.update(status="failed", error=str(exc))
    except Exception as exc:  # a baseline that cannot fit this data must not stop the run
        entry.update(status="failed", error=f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
    if entry["error"]:
        ctx.progress(f"quality: baseline {name} unavailable: {entry['error']}")
    return entry


def quality_stage(ctx: RunContext, cand: CandidateRun) -> None:
    """The candidate's quality section: metrics on test and train, intervals, slices."""
    ds = ctx.dataset
    if ds is None or "test" not in cand.predictions:
        return
    s = _settings(ctx)
    p = cand.predictions
    check_predictions(s.task, {"test": ds.y_test, "train": ds.y_train}, p)
    classes = p.get("classes")
    if classes is None and is_classification(s.task):
        # sklearn's convention: proba columns in sorted order; the greater class is positive
        classes = np.unique(ds.y_train.dropna())
    test = rows_for(s.task, ds.y_test, p["test"], p.get("proba_test"), classes)
    train = rows_for(s.task, ds.y_train, p["train"], p.get("proba_train"), classes) if "train" in p else None
    cand.result["quality"] = evaluate(test, train, s, ds.meta_test, _times(ctx, ds.meta_test))
    if is_classification(s.task):
        cand.result["quality"]["calibration"] = keep_calibration(ctx.run_dir, cand.name, test)
    ctx.quality_rows[cand.name] = test


def keep_calibration(run_dir, name: str, test: ScoredRows) -> dict:
    """The candidate's scores calibrated on its test split, kept for `bench monitor --run`
    (estimated performance without the reference's labels): `calibration/<candidate>.json`,
    and what the quality section says of it. A model without probabilities gets the reason."""
    from benchharness.data.calibration import fit_calibration
    from benchharness.measure.samples import safe_name

    if test.proba is None:
        return {"file": None, "reason": test.proba_missing}
    try:
        cal = fit_calibration(test.proba, test.y_true, test.classes, source="test split")
    except UserError as exc:
        return {"file": None, "reason": str(exc)}
    rel = f"calibration/{safe_name(name)}.json"
    cal.save(run_dir / rel)
    return {"file": rel, "method": cal.method, "rows": cal.rows, "cv_calibration_error": cal.cv_error}


def check_predictions(task: str, targets: dict, predictions: dict) -> None:
    """One prediction per row, in the target's labels: anything else cannot be scored."""
    for split, y in targets.items():
        if split not in predictions:
            continue
        got = np.asarray(predictions[split])
        if got.ndim != 1 and not (got.ndim == 2 and got.shape[1] == 1):
            raise ModelError(f"the model returned predictions of shape {got.shape} for the {split} "
                             f"split; it must return one value per row ({len(y)} rows)")
        if len(got) != len(y):
            raise ModelError(f"the model returned {len(got)} predictions for the {len(y)} rows of the "
                             f"{split} split; it must return one per row")
    test = np.asarray(predictions["test"]).ravel()
    if not is_classification(task):
        if test.dtype.kind not in "biuf":
            raise ModelError(f"the model returned non-numbers (e.g. {test[:3].tolist()}) for a "
                             "regression target; it must return numbers")
        return
    labels = pd.concat(list(targets.values())).dropna().unique().tolist()
    predicted = pd.unique(pd.Series(test))
    if len(predicted) and not set(predicted) & set(labels):
        raise ModelError(f"the model predicts {sorted(map(str, predicted))[:5]}, none of the target's labels "
                         f"{sorted(map(str, labels))[:5]}; it must predict the target's labels")


def _declared(ctx: RunContext) -> list[CandidateRun]:
    return [c for c in ctx.candidates if c.spec.baseline and c.ok and c.result.get("quality")]


def compare_stage(ctx: RunContext) -> None:
    """Pick the best baseline (automatic or declared) and judge every candidate against it."""
    if "quality" not in ctx.results or ctx.dataset is None:
        return
    s = _settings(ctx)
    metric = s.primary_metric
    pool: dict[str, tuple[str, dict, ScoredRows]] = {}
    for e in ctx.results.get("baselines", []):
        rows = ctx.baseline_rows.get(e["name"])
        if e["status"] == "ok" and rows is not None:
            pool[e["name"]] = ("automatic", e["quality"], rows)
    for c in _declared(ctx):
        rows = ctx.quality_rows.get(c.name)
        if rows is not None:
            pool[c.name] = ("declared", c.result["quality"], rows)
    best = pick_best({k: v[1]["test"].get(metric) for k, v in pool.items()}, metric)
    if best is None:
        ctx.progress(f"quality: no baseline has a {metric} value: candidates cannot be judged against one")
        return
    kind, best_q, best_rows = pool[best]
    ctx.results["quality"]["best_baseline"] = {"name": best, "kind": kind, "metric": metric,
                                               "value": best_q["test"][metric], "ci": best_q["ci"].get(metric)}
    for cand in ctx.candidates:
        rows = ctx.quality_rows.get(cand.name)
        if cand.spec.baseline or not cand.ok or rows is None:
            continue
        q = cand.result["quality"]
        vs = versus_baseline(cand.name, rows, q["test"].get(metric), best, best_rows,
                             best_q["test"][metric], metric, s.plan)
        q["delta_vs_best_baseline"] = {k: vs.get(k) for k in ("baseline", "metric", "delta", "ci", "reason")
                                       if k in vs}
        q["delta_vs_best_baseline"].update(baseline_value=best_q["test"][metric],
                                           baseline_ci=best_q["ci"].get(metric))
        q["normalised_gain"] = vs["normalised_gain"]
        q["beats_baseline"] = vs["beats_baseline"]
        q["baseline_statement"] = vs["statement"]
        ctx.progress(f"quality: {vs['statement']}")


def _original_predictions(ctx: RunContext, cand: CandidateRun) -> tuple[str, dict] | None:
    if cand.original_of == cand.name:
        est = cand.trained_model  # our own estimator, trained in this run: safe to call here
        if est is None:
            return None
        # as it was fitted: with column names when it knows them (no "feature names" warning)
        X = ctx.dataset.X_test if hasattr(est, "feature_names_in_") else ctx.dataset.X_test.to_numpy()
        preds = {"test": est.predict(X)}
        if hasattr(est, "predict_proba"):
            preds["proba_test"] = est.predict_proba(X)
        return f"{type(est).__name__} trained in this run, before export", preds
    other = next((c for c in ctx.candidates if c.name == cand.original_of and c.ok), None)
    return None if other is None else (other.name, other.predictions)


def parity_stage(ctx: RunContext) -> None:
    """Label agreement and the largest probability difference between an export and its original."""
    if ctx.dataset is None:
        return
    task = _settings(ctx).task
    for cand in ctx.candidates:
        if not cand.original_of or not cand.ok or "test" not in cand.predictions:
            continue
        original = _original_predictions(ctx, cand)
        if original is None:
            cand.result["parity"] = {"unavailable": f"the original {cand.original_of!r} has no predictions"}
            continue
        cand.result["parity"] = {"original": original[0], **parity(task, original[1], cand.predictions)}
