"""Monitoring scenarios with known truth, for the estimation benchmarks (`estimate_accuracy.py`,
`monitor_estimate.py`): a fixed concept P(y | x), inputs that move window by window.

- classification: P(y = 1 | x) = expit(1.8 x1 - 1.2 x2 + 0.6 x3), a logistic regression
  trained on 5,000 rows and exported to ONNX; the reference is 20,000 labelled rows from the
  training distribution; the current batch is 10 windows whose inputs move toward the
  decision boundary (accuracy falls) and away from it (accuracy rises), then back.
- regression: y = 0.6 x1^2 + 0.8 x2 + noise, a linear model (it cannot bend: its error grows
  with |x1|); x1 of the reference spans [-3, 3], the windows' x1 gathers around moving centres
  inside that span, so the MAE moves from about 0.4 to about 2.

`flip` turns a classification batch into a concept shift: the labels of the given windows
are flipped for a share of rows (P(y | x) changed, the inputs did not).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit

FEATURES = ["x1", "x2", "x3"]
WEIGHTS = np.array([1.8, -1.2, 0.6])
#: per window: (shift of x1 along the weights, scale of the inputs): near the boundary = small scale
CLASS_WINDOWS = [(0.0, 1.0), (0.3, 1.0), (0.0, 0.8), (0.2, 0.55), (0.1, 0.45), (0.0, 0.35),
                 (0.2, 0.5), (1.2, 1.0), (0.0, 1.0), (1.6, 1.1)]
REG_CENTRES = [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 2.0, 1.0, 0.0, -2.0]


def _class_rows(rng, n: int, shift: float = 0.0, scale: float = 1.0) -> tuple[pd.DataFrame, np.ndarray]:
    X = rng.normal(0, 1, (n, 3)) * scale
    X += shift * WEIGHTS / np.linalg.norm(WEIGHTS)
    y = (rng.random(n) < expit(X @ WEIGHTS)).astype(int)
    return pd.DataFrame(X, columns=FEATURES), y


def _reg_rows(rng, n: int, centre: float | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    x1 = rng.uniform(-3, 3, n) if centre is None else np.clip(rng.normal(centre, 0.35, n), -3, 3)
    X = pd.DataFrame({"x1": x1, "x2": rng.normal(0, 1, n), "x3": rng.normal(0, 1, n)})
    y = 0.6 * X["x1"] ** 2 + 0.8 * X["x2"] + rng.normal(0, 0.3, n)
    return X, y.to_numpy()


def _onnx(model, n_features: int, path: Path) -> Path:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    options = {id(model): {"zipmap": False}} if hasattr(model, "predict_proba") else None
    onx = convert_sklearn(model, initial_types=[("input", FloatTensorType([None, n_features]))], options=options)
    path.write_bytes(onx.SerializeToString())
    return path


def write_scenario(task: str, out: Path, seed: int = 0, window_rows: int = 2000, reference_rows: int = 20_000,
                   windows: int = 10) -> dict:
    """Reference (labelled), model (ONNX), current batch (no labels) and its labels in `out`;
    returns the paths and the realized truth per window."""
    from sklearn.linear_model import LinearRegression, LogisticRegression

    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    if task == "classification":
        X, y = _class_rows(rng, 5000)
        model = LogisticRegression().fit(X.to_numpy(np.float32), y)
        ref_X, ref_y = _class_rows(rng, reference_rows)
        plan = [_class_rows(rng, window_rows, *CLASS_WINDOWS[w % len(CLASS_WINDOWS)]) for w in range(windows)]
    else:
        X, y = _reg_rows(rng, 5000)
        model = LinearRegression().fit(X.to_numpy(np.float32), y)
        ref_X, ref_y = _reg_rows(rng, reference_rows)
        plan = [_reg_rows(rng, window_rows, REG_CENTRES[w % len(REG_CENTRES)]) for w in range(windows)]
    ref_X.assign(y=ref_y).to_csv(out / "ref.csv", index=False)
    cur = pd.concat([p[0] for p in plan], ignore_index=True)
    cur.insert(0, "id", np.arange(len(cur)))
    cur.to_csv(out / "cur.csv", index=False)
    labels = np.concatenate([p[1] for p in plan])
    pd.DataFrame({"id": cur["id"], "y": labels}).to_csv(out / "labels.csv", index=False)
    return {"reference": out / "ref.csv", "current": out / "cur.csv", "labels": out / "labels.csv",
            "model": _onnx(model, len(FEATURES), out / "model.onnx"), "rows": len(cur)}


def flip(labels_csv: Path, out_csv: Path, windows: list[int], share: float, window_rows: int = 2000,
         seed: int = 0) -> Path:
    """A concept shift: in `windows`, the label of `share` of the rows flipped (inputs unchanged)."""
    rng = np.random.default_rng(seed)
    labels = pd.read_csv(labels_csv)
    for w in windows:
        rows = np.arange(w * window_rows, min((w + 1) * window_rows, len(labels)))
        chosen = rows[rng.random(len(rows)) < share]
        labels.loc[chosen, "y"] = 1 - labels.loc[chosen, "y"]
    labels.to_csv(out_csv, index=False)
    return out_csv
