"""`bench monitor`'s estimated performance: which estimator, from what, and its section.

Before the current batch is read, the estimator is built from the labelled reference rows
(a uniform sample of at most `REFERENCE_ROWS`): CBPE (calibrated probabilities) for a
classifier with `predict_proba`, DLE (nanny models of the error) for a regressor. Without a
labelled reference, a classifier's calibration comes from the `bench run` that qualified
it (`calibration/<candidate>.json`, fitted on its test split). When neither is possible,
the section says why in one line instead of estimating.

After the batch: `performance.estimated` = {method, metric, calibration, reference, bounds,
windows [{window, rows, estimate, interval, sd, metrics, realized, alert}], alert_windows,
tracking (once labels arrived)}.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from benchharness import schema
from benchharness.data.analysis import is_classification
from benchharness.data.calibration import MIN_ROWS, Calibration, fit_calibration
from benchharness.data.estimate import CBPEWindows, DLEWindows, Nanny
from benchharness.data.performance import METRICS, alert_bounds, default_metric
from benchharness.data.stream import Reservoir
from benchharness.errors import DataError
from benchharness.results import load_results
from benchharness.run_folder import has_results

REFERENCE_ROWS = 50_000
#: the metrics a window can be estimated on (the others of METRICS need labels)
ESTIMABLE = {"cbpe": ("accuracy", "balanced_accuracy", "f1_macro"), "dle": ("mae", "rmse")}
TRUTH, PRED, PROBA = "_truth", "_prediction", "_proba_"


class ReferenceRows:
    """A uniform sample of the labelled reference rows: features, prediction, probabilities, truth."""

    def __init__(self, seed: int = 0):
        self.sample = Reservoir(REFERENCE_ROWS, seed=[seed, 7])

    def add(self, features: pd.DataFrame, predicted: np.ndarray, proba: np.ndarray | None, truth: np.ndarray) -> None:
        frame = features.reset_index(drop=True).assign(**{PRED: predicted, TRUTH: truth})
        if proba is not None:
            frame = frame.assign(**{f"{PROBA}{k}": proba[:, k] for k in range(proba.shape[1])})
        self.sample.add(frame)

    def frame(self) -> pd.DataFrame:
        return self.sample.frame()


def build_estimator(opts, model, rows: ReferenceRows | None, predictions: pd.Series, features: list[str],
                    run: Path | None, namer):
    """(estimator, None) or (None, one line saying why there is no estimate)."""
    if not getattr(opts, "estimate", True):
        return None, "not asked (--no-estimate)"
    if model is None:
        return None, "needs --model: the model scores the reference and the current rows"
    if predictions.empty:
        return None, "the model scored no reference row"
    classification = is_classification(predictions, opts.task)
    method = "cbpe" if classification else "dle"
    metric = opts.metric or default_metric(classification)
    if metric not in ESTIMABLE[method]:
        return None, f"{metric} cannot be estimated without labels ({method}); estimable: {', '.join(ESTIMABLE[method])}"
    ref = rows.frame() if rows is not None else pd.DataFrame()
    labelled = len(ref) >= MIN_ROWS
    if method == "dle":
        if not labelled:
            return None, (f"direct loss estimation needs at least {MIN_ROWS} labelled reference rows "
                          f"(column {opts.target!r}); the reference has {len(ref)}")
        nanny = Nanny(features, metric).fit(ref[features], ref[PRED].to_numpy(float), ref[TRUTH].to_numpy(float))
        return DLEWindows(nanny, metric, namer), None
    if not model.has_proba:
        return None, "the model gives no probabilities (no predict_proba): confidence-based estimation needs them"
    if labelled:
        proba = ref[[c for c in ref.columns if c.startswith(PROBA)]].to_numpy(float)
        classes = model.classes if model.classes is not None else np.unique(ref[TRUTH])
        if len(classes) != proba.shape[1]:
            return None, f"the model's {proba.shape[1]} probability columns do not match its {len(classes)} classes"
        try:
            calibration = fit_calibration(proba, ref[TRUTH].to_numpy(), classes)
        except DataError as exc:  # too few rows of a class, columns that do not match: say so
            return None, str(exc)
        return CBPEWindows(calibration, metric, namer), None
    calibration = run_calibration(run, opts)
    if calibration is None:
        return None, (f"no labelled reference rows (column {opts.target!r}) to calibrate the model's scores on, "
                      "and no calibration in a run folder (--run)")
    return CBPEWindows(calibration, metric, namer), None


def run_calibration(run: Path | None, opts) -> Calibration | None:
    """The calibration `bench run` kept for the candidate (its test split), if any."""
    if run is None or not has_results(run):
        return None
    from benchharness.data.speed import run_figures

    name = run_figures(run, opts.model, opts.candidate).get("candidate")
    cand = next((c for c in schema.candidates(load_results(run)) if c.get("name") == name), None)
    ref = schema.quality(cand).get("calibration") if cand else None
    if not ref or not ref.get("file"):
        return None
    return Calibration.load(run / ref["file"])


def estimated_section(estimator, reason: str | None, reference, realized: dict | None, opts, run: Path | None) -> dict:
    """`performance.estimated`: the windows' estimates, their alerts, how they tracked the labels."""
    if estimator is None:
        return {"method": None, "reason": reason}
    metric = estimator.metric
    higher = METRICS[metric][1]
    ref_windows = [w["value"] for w in reference.windows.windows(metric) if w["enough_rows"]] if reference.windows else []
    ref_value = reference.windows.overall(metric) if reference.windows else None
    source = "reference file"
    if ref_value is None and run is not None:
        from benchharness.data.speed import run_figures

        ref_value = run_figures(run, opts.model, opts.candidate).get("quality", {}).get(metric)
        source = "qualifying run's test score"
    bounds = alert_bounds(metric, ref_windows, ref_value, opts.max_drop)
    limit = bounds["limit"]
    truth = {w["window"]: w["value"] for w in (realized or {}).get("windows", [])} if realized and realized["metric"] == metric else {}
    windows = estimator.windows()
    for w in windows:
        lo, hi = w["interval"]
        w["realized"] = truth.get(w["window"])
        # the whole interval on the bad side of the limit: worse beyond the estimate's doubt
        w["alert"] = bool(limit is not None and w["rows"] >= opts.min_window_rows and (hi < limit if higher else lo > limit))
    return {"method": estimator.method, "metric": metric, "higher_is_better": higher,
            "calibration": estimator.summary(),
            "reference": {"value": ref_value, "source": source, "windows": len(ref_windows)},
            "bounds": bounds, "windows": windows,
            "alert_windows": [w["window"] for w in windows if w["alert"]],
            "tracking": tracking(windows)}


def tracking(windows: list[dict]) -> dict | None:
    """How well the estimate followed the realized metric, over the windows that have both."""
    both = [w for w in windows if w.get("realized") is not None]
    if not both:
        return None
    errors = [abs(w["estimate"] - w["realized"]) for w in both]
    inside = [w for w in both if w["interval"][0] <= w["realized"] <= w["interval"][1]]
    return {"windows": len(both), "mean_abs_error": float(np.mean(errors)), "max_abs_error": float(np.max(errors)),
            "within_interval": len(inside), "share_within_interval": len(inside) / len(both),
            "missed_windows": [w["window"] for w in both if w not in inside]}

