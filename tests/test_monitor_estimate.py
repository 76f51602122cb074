"""Estimated performance and drift shape in `bench monitor`, against simulations with known truth.

Covariate shift: the concept P(y | x) is fixed, the inputs move window by window; the labels
are kept aside and given with --labels so monitor.json holds the realized metric beside the
estimate. Concept shift: the same inputs, labels flipped in one window: the estimate cannot
see it, the labels do.
"""

from __future__ import annotations

import json

import joblib
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy.special import expit
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.svm import LinearSVC

from benchharness.cli import main
from benchharness.data.calibration import Calibration, calibration_error, fit_calibration
from benchharness.data.drift_shape import read_shape
from benchharness.errors import DataError

WEIGHTS = np.array([1.8, -1.2, 0.6])
FEATURES = ["x1", "x2", "x3"]
ROWS = 1500  # per window
#: (shift along the weights, scale): small scale = near the decision boundary = lower accuracy
WINDOWS = [(0.0, 1.0), (0.0, 0.6), (0.1, 0.4), (0.0, 0.3), (1.2, 1.0), (0.0, 1.0)]


def class_rows(rng, n, shift=0.0, scale=1.0):
    X = rng.normal(0, 1, (n, 3)) * scale + shift * WEIGHTS / np.linalg.norm(WEIGHTS)
    return pd.DataFrame(X, columns=FEATURES), (rng.random(n) < expit(X @ WEIGHTS)).astype(int)


def reg_rows(rng, n, centre=None):
    x1 = rng.uniform(-3, 3, n) if centre is None else np.clip(rng.normal(centre, 0.35, n), -3, 3)
    X = pd.DataFrame({"x1": x1, "x2": rng.normal(0, 1, n), "x3": rng.normal(0, 1, n)})
    return X, (0.6 * x1**2 + 0.8 * X["x2"] + rng.normal(0, 0.3, n)).to_numpy()


def write(d, model, ref, cur_parts):
    joblib.dump(model, d / "model.joblib")
    ref[0].assign(y=ref[1]).to_csv(d / "ref.csv", index=False)
    cur = pd.concat([p[0] for p in cur_parts], ignore_index=True)
    cur.insert(0, "id", np.arange(len(cur)))
    cur.to_csv(d / "cur.csv", index=False)
    pd.DataFrame({"id": cur["id"], "y": np.concatenate([p[1] for p in cur_parts])}).to_csv(d / "labels.csv", index=False)


@pytest.fixture(scope="module")
def classification(tmp_path_factory):
    d = tmp_path_factory.mktemp("cbpe")
    rng = np.random.default_rng(3)
    model = LogisticRegression().fit(*class_rows(rng, 4000))
    write(d, model, class_rows(rng, 10_000), [class_rows(rng, ROWS, *w) for w in WINDOWS])
    labels = pd.read_csv(d / "labels.csv")  # a concept shift in window 5: 40% of its labels flipped
    flip = labels.index[(labels.index >= 5 * ROWS) & (rng.random(len(labels)) < 0.4)]
    labels.loc[flip, "y"] = 1 - labels.loc[flip, "y"]
    labels.to_csv(d / "labels_flipped.csv", index=False)
    return d


@pytest.fixture(scope="module")
def regression(tmp_path_factory):
    d = tmp_path_factory.mktemp("dle")
    rng = np.random.default_rng(4)
    model = LinearRegression().fit(*reg_rows(rng, 4000))
    write(d, model, reg_rows(rng, 6_000), [reg_rows(rng, ROWS, c) for c in (0.0, 1.0, 1.7, 2.5, -2.0, 0.5)])
    return d


def monitor(d, out, *extra, labels="labels.csv", model="model.joblib"):
    args = ["monitor", "--reference", str(d / "ref.csv"), "--current", str(d / "cur.csv"), "--model",
            str(d / model), "--target", "y", "--window", str(ROWS), "--out", str(out), *extra]
    if labels:
        args += ["--labels", str(d / labels), "--id-column", "id"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code in (0, 1), res.output
    return res, json.loads((out / "monitor.json").read_text())


def test_cbpe_tracks_accuracy_under_covariate_shift(classification, tmp_path):
    res, r = monitor(classification, tmp_path / "out")
    est = r["performance"]["estimated"]
    assert est["method"] == "cbpe" and est["metric"] == "accuracy" and est["calibration"]["method"] in ("isotonic", "platt")
    windows = est["windows"]
    assert len(windows) == len(WINDOWS)
    realized = np.array([w["realized"] for w in windows])
    estimate = np.array([w["estimate"] for w in windows])
    assert realized.max() - realized.min() > 0.15  # the shift moved accuracy a lot: a test that can fail
    assert (np.abs(estimate - realized) <= 0.03).sum() >= 5
    assert sum(w["interval"][0] <= w["realized"] <= w["interval"][1] for w in windows) >= 5
    assert np.argmin(estimate) == np.argmin(realized) and np.argmax(estimate) == np.argmax(realized)
    assert est["tracking"]["windows"] == len(WINDOWS) and est["tracking"]["mean_abs_error"] < 0.03
    for w in windows:  # every CBPE metric is estimated, each a share
        assert set(w["metrics"]) == {"accuracy", "balanced_accuracy", "f1_macro", "precision_macro",
                                     "recall_macro", "roc_auc"}
        assert all(0 <= v <= 1 for v in w["metrics"].values())
    html = (tmp_path / "out" / "report.html").read_text()
    assert "<svg" in html and "<polygon" in html and "http" not in html  # the band, no external file
    prom = (tmp_path / "out" / "metrics.prom").read_text()
    for gauge in ("estimated_metric{", "estimated_metric_lower{", "estimated_metric_upper{"):
        assert f"benchharness_monitor_{gauge}" in prom
    # the near-boundary window loses ~0.2: its whole interval is below the reference's limit
    assert windows[3]["window"] in est["alert_windows"] and windows[0]["window"] not in est["alert_windows"]
    assert "ALERT estimated_performance" in res.output


def test_concept_shift_is_invisible_to_the_estimate_and_caught_by_labels(classification, tmp_path):
    _, plain = monitor(classification, tmp_path / "a")
    res, r = monitor(classification, tmp_path / "b", labels="labels_flipped.csv")
    est, last = r["performance"]["estimated"], r["performance"]["estimated"]["windows"][-1]
    # the inputs did not change, so neither did the estimate; the labels say accuracy fell
    assert last["estimate"] == pytest.approx(plain["performance"]["estimated"]["windows"][-1]["estimate"])
    assert last["window"] not in est["alert_windows"]
    assert last["realized"] < last["interval"][0] - 0.1
    assert last["window"] in r["performance"]["alert_windows"]
    assert last["window"] in est["tracking"]["missed_windows"]
    assert "concept shift" in res.output


def test_dle_tracks_mae_of_a_regressor(regression, tmp_path):
    _, r = monitor(regression, tmp_path / "out")
    est = r["performance"]["estimated"]
    assert est["method"] == "dle" and est["metric"] == "mae"
    assert est["calibration"]["model"] == "HistGradientBoostingRegressor"
    realized = np.array([w["realized"] for w in est["windows"]])
    estimate = np.array([w["estimate"] for w in est["windows"]])
    assert realized.max() / realized.min() > 2  # the inputs moved the error a lot
    assert (np.abs(estimate - realized) <= 0.15 * realized).sum() >= 5
    assert sum(w["interval"][0] <= w["realized"] <= w["interval"][1] for w in est["windows"]) >= 5
    assert all(w["metrics"]["rmse"] >= w["metrics"]["mae"] for w in est["windows"])


def test_no_estimate_without_probabilities(classification, tmp_path):
    ref = pd.read_csv(classification / "ref.csv")
    joblib.dump(LinearSVC().fit(ref[FEATURES], ref["y"]), classification / "svc.joblib")
    res, r = monitor(classification, tmp_path / "svc", labels=None, model="svc.joblib")
    est = r["performance"]["estimated"]
    assert est["method"] is None and "no probabilities" in est["reason"]
    assert "warning: performance not estimated: the model gives no probabilities" in res.output


def test_no_estimate_for_r2_or_when_off(regression, tmp_path):
    res, r = monitor(regression, tmp_path / "r2", "--metric", "r2", labels=None)
    assert "r2 cannot be estimated" in r["performance"]["estimated"]["reason"]
    _, r = monitor(regression, tmp_path / "off", "--no-estimate", labels=None)
    assert r["performance"]["estimated"] == {"method": None, "reason": "not asked (--no-estimate)"}


def test_drift_shape_tells_a_step_from_a_trend(tmp_path):
    rng = np.random.default_rng(5)
    n, windows = 1000, 10
    ref = pd.DataFrame({"step": rng.normal(0, 1, 20_000), "ramp": rng.normal(0, 1, 20_000),
                        "calm": rng.normal(0, 1, 20_000)})
    t = np.repeat(np.arange(windows), n)
    cur = pd.DataFrame({"step": rng.normal(0, 1, n * windows) + 1.0 * (t >= 6),  # a jump at window 6
                        "ramp": rng.normal(0, 1, n * windows) + 0.15 * np.maximum(0, t - 3),  # a trend from 3
                        "calm": rng.normal(0, 1, n * windows)})
    ref.to_csv(tmp_path / "ref.csv", index=False)
    cur.to_csv(tmp_path / "cur.csv", index=False)
    res = CliRunner().invoke(main, ["monitor", "--reference", str(tmp_path / "ref.csv"), "--current",
                                    str(tmp_path / "cur.csv"), "--window", str(n), "--out", str(tmp_path / "out")])
    assert res.exit_code in (0, 1), res.output
    shape = json.loads((tmp_path / "out" / "monitor.json").read_text())["drift"]["shape"]["features"]["features"]
    assert shape["step"]["kind"] == "abrupt" and shape["step"]["start_window"] == "rows 6000-6999"
    assert shape["ramp"]["kind"] == "gradual" and 2 <= shape["ramp"]["start_index"] <= 5
    assert shape["calm"]["kind"] == "none"
    assert "Drift shape" in (tmp_path / "out" / "report.md").read_text()


def test_a_short_last_window_is_left_out_of_the_shape_not_read_as_a_step(tmp_path):
    """A batch of 5 windows of 500 rows and 20 rows more: nothing drifts. The 20-row window's
    scores are mostly noise (JS of 20 rows of 5 categories ~0.2 where 500 rows give ~0.04): it
    is left out, said in the report, and no feature reads as abrupt or gradual."""
    rng = np.random.default_rng(11)
    ref = pd.DataFrame({"x": rng.normal(0, 1, 5000), "k": rng.integers(0, 5, 5000)})
    cur = pd.DataFrame({"x": rng.normal(0, 1, 2520), "k": rng.integers(0, 5, 2520)})
    ref.to_csv(tmp_path / "ref.csv", index=False)
    cur.to_csv(tmp_path / "cur.csv", index=False)
    res = CliRunner().invoke(main, ["monitor", "--reference", str(tmp_path / "ref.csv"), "--current",
                                    str(tmp_path / "cur.csv"), "--window", "500", "--out", str(tmp_path / "out")])
    assert res.exit_code in (0, 1), res.output
    shape = json.loads((tmp_path / "out" / "monitor.json").read_text())["drift"]["shape"]["features"]
    assert shape["left_out"] == [{"window": "rows 2500-2999", "rows": 20}]
    assert len(shape["windows"]) == 5
    assert {f["kind"] for f in shape["features"].values()} == {"none"}, shape["features"]
    assert all(len(f["values"]) == 5 for f in shape["features"].values())
    assert "rows 2500-2999 (20 rows)" in (tmp_path / "out" / "report.md").read_text()


def test_read_shape_on_simulated_sequences():
    """Known shapes under noise: each read right in >= 90% of 50 draws."""
    rng = np.random.default_rng(0)
    names = [f"w{i}" for i in range(10)]
    t = np.arange(10)
    right = {"none": 0, "abrupt": 0, "gradual": 0}
    for _ in range(50):
        for kind, y in (("none", 0.8 + rng.normal(0, 0.01, 10)),
                        ("abrupt", 0.8 - 0.06 * (t >= 4) + rng.normal(0, 0.01, 10)),
                        ("gradual", 0.8 - 0.012 * np.maximum(0, t - 2) + rng.normal(0, 0.01, 10))):
            got = read_shape(y, names, sigma=0.01)
            right[kind] += got["kind"] == kind and (kind != "abrupt" or got["start_window"] == "w4")
    assert all(count >= 45 for count in right.values()), right
    assert read_shape([1, 2, 3], names[:3])["kind"] == "none"  # too few windows to tell


def test_calibration_fixes_overconfident_scores_and_round_trips(tmp_path):
    rng = np.random.default_rng(1)
    p_true = rng.uniform(0.02, 0.98, 6000)
    y = (rng.random(6000) < p_true).astype(int)
    raw = expit(3 * np.log(p_true / (1 - p_true)))  # overconfident: right order, wrong sizes
    proba = np.column_stack([1 - raw, raw])
    cal = fit_calibration(proba[:4000], y[:4000], [0, 1])
    assert cal.cv_error[cal.method] < cal.cv_error["uncalibrated"] / 3
    held = cal.apply(proba[4000:])[:, 1]
    assert calibration_error(held, y[4000:]) < calibration_error(raw[4000:], y[4000:]) / 3
    cal.save(tmp_path / "c.json")
    again = Calibration.load(tmp_path / "c.json")
    assert np.allclose(again.apply(proba[:50]), cal.apply(proba[:50]))
    assert np.allclose(again.apply(proba[:50], 3), cal.apply(proba[:50], 3))
    with pytest.raises(DataError, match="at least 100 labelled rows"):
        fit_calibration(proba[:50], y[:50], [0, 1])
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(DataError, match="cannot be read"):
        Calibration.load(tmp_path / "bad.json")


def test_multiclass_calibration_sums_to_one():
    rng = np.random.default_rng(2)
    logits = rng.normal(0, 1.5, (3000, 3))
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(3, p=row) for row in p])
    cal = fit_calibration(p, y, [0, 1, 2])
    out = cal.apply(p)
    assert out.shape == (3000, 3) and np.allclose(out.sum(axis=1), 1)
    assert len(cal.maps) == 3 and cal.classes == ["0", "1", "2"]


def test_soft_auc_per_window_matches_scikit_learn_with_weights():
    from sklearn.metrics import roc_auc_score

    from benchharness.data.estimate import soft_auc

    rng = np.random.default_rng(6)
    n = 3000
    window = rng.integers(0, 3, n)
    scores = np.round(rng.random(n), 2)  # ties, counted half
    p = np.clip(scores + rng.normal(0, 0.2, n), 0, 1)
    got = soft_auc(np.column_stack([1 - p, p]), np.column_stack([1 - scores, scores]), window, 3)
    for w in range(3):
        s, q = scores[window == w], p[window == w]
        want = roc_auc_score(np.r_[np.ones(len(s)), np.zeros(len(s))], np.r_[s, s], sample_weight=np.r_[q, 1 - q])
        assert got[w] == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize("metric", ["accuracy", "balanced_accuracy", "f1_macro"])
def test_sampling_sd_matches_labels_drawn_from_the_probabilities(metric):
    """The delta-method sd of a window's realized metric against 1,000 simulated windows."""
    from benchharness.data.estimate import confusion_metrics, expected_confusion, sampling_sd

    rng = np.random.default_rng(7)
    n, k = 600, 3
    p = rng.dirichlet(np.ones(k), n)
    pred = np.where(rng.random(n) < 0.7, p.argmax(axis=1), rng.integers(0, k, n))
    window = np.zeros(n, dtype=int)
    sd = sampling_sd(metric, p, pred, window, expected_confusion(p, pred, window, 1))[0]
    drawn = (rng.random((1000, n, 1)) > np.cumsum(p, axis=1)[None, :, :-1]).sum(axis=2)
    cells = np.arange(1000)[:, None] * k * k + drawn * k + pred[None, :]
    c = np.bincount(cells.ravel(), minlength=1000 * k * k).reshape(1000, k, k).astype(float)
    assert sd == pytest.approx(np.std(confusion_metrics(c)[metric]), rel=0.12)


def test_dle_sample_caps_rows_per_window_and_counts_them_all(monkeypatch):
    from benchharness.data import estimate

    rng = np.random.default_rng(8)
    X, y = reg_rows(rng, 3000)
    pred = LinearRegression().fit(X, y).predict(X)
    nanny = estimate.Nanny(FEATURES, "mae").fit(X, pred, y)
    cur, _ = reg_rows(rng, 4000, 1.5)
    cur_pred = LinearRegression().fit(X, y).predict(cur)
    keys = np.repeat([0, 1], 2000)

    def fed():
        windows = estimate.DLEWindows(nanny, "mae", str)
        for part in np.array_split(np.arange(4000), 7):  # chunks across the window boundary
            windows.observe(keys[part], cur.iloc[part], None, cur_pred[part])
        return windows

    a = fed().windows()  # every row
    monkeypatch.setattr(estimate, "DLE_ROWS", 200)
    thin = fed()
    thin.sample.prune()
    assert np.bincount(thin.sample.code).tolist() == [200, 200]
    b = thin.windows()
    assert [w["rows"] for w in b] == [2000, 2000]
    for w_full, w_thin in zip(a, b, strict=True):  # a sample of 200 rows: the same estimate, a wider interval
        assert w_thin["estimate"] == pytest.approx(w_full["estimate"], rel=0.1)
        assert w_thin["sd"]["sampling"] > w_full["sd"]["sampling"]


def test_window_sample_keeps_a_uniform_capped_sample_of_every_window(monkeypatch):
    from benchharness.data import window_sample

    monkeypatch.setattr(window_sample, "PRUNE_ROWS", 500)  # prune many times on the way
    sample = window_sample.WindowSample(100, seed=0)
    values = np.arange(20_000)
    codes = np.repeat(np.arange(4), 5000)
    for part in np.array_split(np.arange(20_000), 37):
        sample.add(codes[part], [values[part].astype(float)])
    sample.prune()
    assert sample.seen.tolist() == [5000] * 4 and np.bincount(sample.code).tolist() == [100] * 4
    kept = sample.columns[0]
    for w in range(4):  # uniform within its window: the mean near the window's middle
        mine = kept[sample.code == w]
        assert set(mine) <= set(range(w * 5000, (w + 1) * 5000))
        assert abs(mine.mean() - (w * 5000 + 2500)) < 4 * 1443 / np.sqrt(100)


def test_window_sample_cap_shrinks_with_the_number_of_windows():
    from benchharness.data.window_sample import WindowSample

    sample = WindowSample(1000, seed=1, total=400, min_size=50)
    codes = np.repeat(np.arange(8), 3000)  # 8 windows: 400 / 8 = 50 rows each
    for part in np.array_split(np.arange(len(codes)), 9):
        sample.add(codes[part], [part.astype(float)])
    sample.prune()
    assert np.bincount(sample.code).tolist() == [50] * 8 and sample.seen.tolist() == [3000] * 8


def test_estimate_in_a_config_file_must_be_true_or_false(classification, tmp_path):
    (tmp_path / "monitor.yaml").write_text("monitor: {estimate: 'no'}\n")
    res = CliRunner().invoke(main, ["monitor", "--reference", str(classification / "ref.csv"), "--current",
                                    str(classification / "cur.csv"), "--config", str(tmp_path / "monitor.yaml"),
                                    "--out", str(tmp_path / "out")])
    assert res.exit_code == 2
    assert "'monitor.estimate' must be true/false, got 'no'" in res.output


def test_cbpe_on_a_three_class_model(tmp_path):
    """Per-class calibration, one class against the rest, under covariate shift: a fixed
    softmax concept, inputs moving toward where the classes overlap."""
    rng = np.random.default_rng(9)
    weights = np.array([[-2.0, -1.0], [2.0, -1.0], [0.0, 2.0]])

    def rows(n, centre=(0.0, 0.0), scale=1.5):
        X = rng.normal(0, scale, (n, 2)) + np.array(centre)
        logits = X @ weights.T
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        y = (rng.random((n, 1)) > np.cumsum(p, axis=1)[:, :-1]).sum(axis=1)
        return pd.DataFrame(X, columns=["x1", "x2"]), y

    model = LogisticRegression().fit(*rows(3000))
    write(tmp_path, model, rows(8000), [rows(ROWS, c, s) for c, s in (((0, 0), 1.5), ((0, 0.2), 0.5),
                                                                      ((0, 0.3), 0.25), ((1.5, 1.0), 1.5))])
    _, r = monitor(tmp_path, tmp_path / "out", "--metric", "f1_macro")
    est = r["performance"]["estimated"]
    assert est["calibration"]["classes"] == ["0", "1", "2"] and est["metric"] == "f1_macro"
    windows = est["windows"]
    realized = np.array([w["realized"] for w in windows])
    estimate = np.array([w["estimate"] for w in windows])
    assert realized.max() - realized.min() > 0.1  # the inputs moved F1 a lot
    assert np.abs(estimate - realized).max() < 0.05
    assert sum(w["interval"][0] <= w["realized"] <= w["interval"][1] for w in windows) >= 3
