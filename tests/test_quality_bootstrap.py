"""Bootstrap intervals: nominal coverage against known truth, pairing, determinism."""

import numpy as np
import pytest
from sklearn.metrics import accuracy_score

from benchharness.quality import bootstrap
from benchharness.quality.bootstrap import BootstrapPlan, confidence_intervals, paired_difference
from benchharness.quality.metrics import ScoredRows


def _rows_with_accuracy(p: float, n: int, rng) -> ScoredRows:
    """A binary model whose rows are right with probability p, independently: true accuracy p."""
    y = rng.integers(0, 2, n)
    right = rng.random(n) < p
    return ScoredRows("binary", y, np.where(right, y, 1 - y), classes=np.array([0, 1]))


def test_accuracy_interval_covers_the_truth_at_about_the_nominal_rate():
    rng = np.random.default_rng(42)
    plan = BootstrapPlan(n_resamples=400, seed=0, confidence=0.95)
    covered = []
    for i in range(200):
        rows = _rows_with_accuracy(0.8, 200, rng)
        ci, _ = confidence_intervals(rows, ["accuracy"], BootstrapPlan(400, seed=i))
        covered.append(ci["accuracy"][0] <= 0.8 <= ci["accuracy"][1])
    assert plan.confidence == 0.95
    assert 0.90 <= np.mean(covered) <= 0.99


def test_mae_interval_covers_the_truth_at_about_the_nominal_rate():
    sigma = 3.0
    truth = sigma * np.sqrt(2 / np.pi)  # E|e| for e ~ N(0, sigma)
    rng = np.random.default_rng(7)
    covered = []
    for i in range(200):
        y = rng.normal(50, 10, 150)
        rows = ScoredRows("regression", y, y + rng.normal(0, sigma, 150))
        ci, _ = confidence_intervals(rows, ["mae"], BootstrapPlan(400, seed=i))
        covered.append(ci["mae"][0] <= truth <= ci["mae"][1])
    assert 0.90 <= np.mean(covered) <= 0.99


def test_paired_difference_covers_the_true_gap():
    """Candidate right w.p. 0.85, baseline w.p. 0.75, on the same rows: true delta 0.10."""
    rng = np.random.default_rng(3)
    covered = []
    for i in range(150):
        n = 300
        y = rng.integers(0, 2, n)
        u = rng.random(n)  # shared noise: the two models err on overlapping rows (paired)
        cand = ScoredRows("binary", y, np.where(u < 0.85, y, 1 - y), classes=np.array([0, 1]))
        base = ScoredRows("binary", y, np.where(u < 0.75, y, 1 - y), classes=np.array([0, 1]))
        d = paired_difference(cand, base, "accuracy", BootstrapPlan(400, seed=i))
        assert d["delta"] == pytest.approx(accuracy_score(y, cand.y_pred) - accuracy_score(y, base.y_pred))
        covered.append(d["ci"][0] <= 0.10 <= d["ci"][1])
    assert 0.90 <= np.mean(covered) <= 0.99


def test_pairing_makes_the_difference_interval_tighter_than_separate_intervals():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 400)
    u = rng.random(400)
    cand = ScoredRows("binary", y, np.where(u < 0.9, y, 1 - y), classes=np.array([0, 1]))
    base = ScoredRows("binary", y, np.where(u < 0.85, y, 1 - y), classes=np.array([0, 1]))
    plan = BootstrapPlan(1000, seed=0)
    paired = paired_difference(cand, base, "accuracy", plan)["ci"]
    ci_c = confidence_intervals(cand, ["accuracy"], plan)[0]["accuracy"]
    ci_b = confidence_intervals(base, ["accuracy"], plan)[0]["accuracy"]
    assert paired[1] - paired[0] < 0.6 * ((ci_c[1] - ci_c[0]) + (ci_b[1] - ci_b[0]))
    assert paired[0] > 0  # every resample keeps the candidate ahead: u<0.85 implies u<0.9


def test_same_seed_same_interval_and_chunking_does_not_change_it(monkeypatch):
    rows = _rows_with_accuracy(0.7, 500, np.random.default_rng(0))
    plan = BootstrapPlan(300, seed=11)
    first = confidence_intervals(rows, ["accuracy", "f1"], plan)[0]
    monkeypatch.setattr(bootstrap, "CHUNK_CELLS", 1000)  # two resamples per chunk
    assert confidence_intervals(rows, ["accuracy", "f1"], plan)[0] == first
    other = confidence_intervals(rows, ["accuracy", "f1"], BootstrapPlan(300, seed=12))[0]
    assert other != first


def test_undefined_resamples_are_skipped_not_fatal():
    """ROC AUC on 6 rows: some resamples hold one class only and are left out of the interval."""
    rows = ScoredRows("binary", np.array([0, 0, 0, 0, 0, 1]), np.array([0, 0, 0, 1, 0, 1]),
                      np.array([[.9, .1], [.8, .2], [.7, .3], [.4, .6], [.6, .4], [.2, .8]]), np.array([0, 1]))
    ci, missing = confidence_intervals(rows, ["roc_auc"], BootstrapPlan(200, seed=0))
    assert missing == {}
    assert 0.0 <= ci["roc_auc"][0] <= ci["roc_auc"][1] <= 1.0


def test_large_splits_get_fewer_resamples_never_under_the_floor(monkeypatch):
    plan = BootstrapPlan(1000)
    assert plan.resamples_for(1000) == 1000
    assert plan.resamples_for(100_000) == 500  # CELL_BUDGET 50M cells / 100k rows
    assert plan.resamples_for(10_000_000) == bootstrap.MIN_RESAMPLES
    monkeypatch.setattr(bootstrap, "CELL_BUDGET", 300 * 50)
    assert sum(len(W) for W in plan.counts(50)) == 300
