"""Parity between a model and its export (e.g. scikit-learn -> ONNX).

An export should predict what the original predicts; float32 conversion and operator
differences can move probabilities and, near a threshold, flip labels. The report shows
label agreement and the largest probability difference on the same test rows.
"""

from __future__ import annotations

import numpy as np

from benchharness.quality.task import is_classification


def parity(task: str, original: dict[str, np.ndarray], export: dict[str, np.ndarray]) -> dict:
    """Compare two `predictions` dicts ("test", "proba_test", "classes") row by row."""
    a, b = original.get("test"), export.get("test")
    if a is None or b is None:
        return {"unavailable": "test predictions missing for " + ("the original" if a is None else "the export")}
    a, b = np.asarray(a), np.asarray(b)
    if a.shape[0] != b.shape[0]:
        return {"unavailable": f"row counts differ: original {a.shape[0]}, export {b.shape[0]}"}
    out: dict = {"rows": int(a.shape[0])}
    if is_classification(task):
        same = (a == b) if a.dtype == b.dtype else (a.astype(str) == b.astype(str))
        out["label_agreement"] = float(np.mean(same))
        out["labels_differing"] = int((~same).sum())
        pa, pb = original.get("proba_test"), export.get("proba_test")
        if pa is None or pb is None:
            out["max_abs_proba_diff"] = None
            out["proba_unavailable"] = "probabilities missing for " + ("the original" if pa is None else "the export")
        elif np.shape(pa) != np.shape(pb):
            out["max_abs_proba_diff"] = None
            out["proba_unavailable"] = f"probability shapes differ: {np.shape(pa)} vs {np.shape(pb)}"
        else:
            out["max_abs_proba_diff"] = float(np.nanmax(np.abs(np.asarray(pa, float) - np.asarray(pb, float))))
    else:
        diff = np.abs(a.astype(float) - b.astype(float))
        out["max_abs_diff"] = float(np.nanmax(diff))
        out["mean_abs_diff"] = float(np.nanmean(diff))
    return out
