"""Drift tests: hand-computed statistics and simulations with a known truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchharness.data import drift


def test_column_kind_by_dtype_and_distinct_values():
    assert drift.column_kind(pd.Series([0, 1, 1, 0, None])) == "binary"
    assert drift.column_kind(pd.Series(["a", "b", "c"])) == "categorical"
    assert drift.column_kind(pd.Series([1, 2, 3, 4, 5, 1])) == "categorical"  # <= 5 distinct
    assert drift.column_kind(pd.Series(np.arange(6.0))) == "numeric"


def test_psi_hand_computed():
    ref = np.array([0.5, 0.5])
    cur = np.array([0.25, 0.75])
    expected = (0.25 - 0.5) * np.log(0.25 / 0.5) + (0.75 - 0.5) * np.log(0.75 / 0.5)
    assert drift.psi_shares(ref, cur) == pytest.approx(expected)
    assert drift.psi_shares(ref, ref) == 0.0


def test_wasserstein_normed_of_a_shifted_copy_is_shift_over_std():
    rng = np.random.default_rng(0)
    ref = rng.normal(10, 2, 5000)
    r = drift.column_drift(pd.Series(ref), pd.Series(ref + 0.5))
    assert r["method"] == "wasserstein_normed"  # > 1000 rows: a distance decides
    assert r["wasserstein"] == pytest.approx(0.5)
    assert r["wasserstein_normed"] == pytest.approx(0.5 / np.std(ref))
    assert r["drift"] is True


def test_small_reference_picks_a_test_by_kind():
    rng = np.random.default_rng(1)
    num = drift.column_drift(pd.Series(rng.normal(size=300)), pd.Series(rng.normal(size=300)))
    binary = drift.column_drift(pd.Series(rng.integers(0, 2, 300)), pd.Series(rng.integers(0, 2, 300)))
    cat = drift.column_drift(pd.Series(rng.choice(list("abc"), 300)), pd.Series(rng.choice(list("abc"), 300)))
    assert (num["method"], binary["method"], cat["method"]) == ("ks", "proportion_z", "chi2")
    assert num["score"] == num["ks_p_value"] and num["threshold"] == 0.05


def test_proportion_test_matches_the_z_test_by_hand():
    # 60/100 vs 45/100 ones: pooled p = 0.525, z = 0.15 / sqrt(p(1-p)(2/100))
    ref = pd.Series([1] * 60 + [0] * 40)
    cur = pd.Series([1] * 45 + [0] * 55)
    r = drift.column_drift(ref, cur)
    p = 0.525
    z = 0.15 / np.sqrt(p * (1 - p) * (2 / 100))
    assert r["chi2_statistic"] == pytest.approx(z**2)
    from scipy.stats import norm

    assert r["chi2_p_value"] == pytest.approx(2 * norm.sf(z))


def test_new_and_missing_categories_and_jensen_shannon_bounds():
    ref = pd.Series(["a"] * 600 + ["b"] * 600)
    cur = pd.Series(["a"] * 500 + ["c"] * 500)
    r = drift.column_drift(ref, cur)
    assert r["new_categories"] == ["c"] and r["missing_categories"] == ["b"]
    assert r["method"] == "jensen_shannon" and 0 < r["jensen_shannon"] <= 1
    assert r["drift"] is True
    same = drift.column_drift(ref, ref.sample(frac=1, random_state=0))
    assert same["jensen_shannon"] == pytest.approx(0.0, abs=1e-9) and same["drift"] is False


def test_int_and_float_forms_of_a_category_are_the_same_category():
    r = drift.column_drift(pd.Series([0, 1, 2] * 50), pd.Series([0.0, 1.0, 2.0] * 50))
    assert r["new_categories"] == [] and r["drift"] is False


def test_nulls_are_left_out_and_reported():
    r = drift.column_drift(pd.Series([1.0, 2, 3, 4, 5, 6, None, None]), pd.Series([1.0, 2, 3, 4, 5, 6]))
    assert r["reference_null_share"] == 0.25 and r["current_null_share"] == 0.0
    empty = drift.column_drift(pd.Series([1.0, 2.0]), pd.Series([None, None], dtype=float))
    assert empty["drift"] is None and "current" in empty["skipped"]


@pytest.mark.parametrize(
    "make",
    [
        lambda rng, n, shift: rng.normal(shift, 1, n),  # KS
        lambda rng, n, shift: rng.binomial(1, 0.3 + shift * 0.3, n),  # proportion test
        lambda rng, n, shift: rng.choice(list("abcd"), n, p=_cat_p(shift)),  # chi-squared
    ],
    ids=["ks", "proportion", "chi2"],
)
def test_false_alarm_rate_is_near_alpha_and_a_shift_is_found(make):
    """Simulation: same distribution -> alarms ~ alpha; shifted -> alarms nearly always."""
    rng = np.random.default_rng(42)
    trials, n = 300, 400
    false_alarms = sum(
        drift.column_drift(pd.Series(make(rng, n, 0.0)), pd.Series(make(rng, n, 0.0)))["drift"]
        for _ in range(trials)
    )
    hits = sum(
        drift.column_drift(pd.Series(make(rng, n, 0.0)), pd.Series(make(rng, n, 0.5)))["drift"]
        for _ in range(100)
    )
    # binomial(300, 0.05): mean 15, sd ~3.8; 4..30 is about +-3 sd
    assert 4 <= false_alarms <= 30, false_alarms
    assert hits >= 90, hits


def _cat_p(shift: float) -> list[float]:
    p = np.array([0.4, 0.3, 0.2, 0.1]) + np.array([-1, 0, 0, 1]) * shift * 0.3
    return list(p / p.sum())


def test_large_reference_distance_flags_a_shift_and_not_noise():
    rng = np.random.default_rng(7)
    ref = pd.DataFrame({"x": rng.normal(0, 1, 5000), "c": rng.choice(list("abc"), 5000)})
    same = pd.DataFrame({"x": rng.normal(0, 1, 5000), "c": rng.choice(list("abc"), 5000)})
    shifted = pd.DataFrame(
        {"x": rng.normal(0.3, 1, 5000), "c": rng.choice(list("abc"), 5000, p=[0.6, 0.2, 0.2])}
    )
    quiet = drift.dataset_drift(ref, same)
    loud = drift.dataset_drift(ref, shifted)
    assert quiet["n_drifted"] == 0 and quiet["dataset_drift"] is False
    assert loud["drifted_columns"] == ["c", "x"] and loud["dataset_drift"] is True
    assert loud["columns"]["x"]["psi_level"] in ("warn", "alert")


def test_dataset_share_and_thresholds_are_configurable():
    rng = np.random.default_rng(3)
    ref = pd.DataFrame({c: rng.normal(0, 1, 2000) for c in "abcd"})
    cur = ref.copy()
    cur["a"] = cur["a"] + 1.0  # one of four columns drifts: 25%
    assert drift.dataset_drift(ref, cur)["dataset_drift"] is False
    assert drift.dataset_drift(ref, cur, thresholds={"dataset_share": 0.25})["dataset_drift"] is True
    # a threshold above the shift (1 std) lets it through
    assert drift.dataset_drift(ref, cur, thresholds={"wasserstein": 2.0})["n_drifted"] == 0


def test_missing_columns_are_reported_not_tested():
    r = drift.dataset_drift(pd.DataFrame({"a": [1, 2], "b": [1, 2]}), pd.DataFrame({"a": [1, 2]}))
    assert r["columns_missing_in_current"] == ["b"] and list(r["columns"]) == ["a"]


def test_numeric_reference_with_non_numeric_current_is_skipped_not_silently_clean():
    r = drift.column_drift(pd.Series(np.arange(10.0)), pd.Series(["a", "b", "c"]))
    assert r["drift"] is None and r["skipped"] == "no numeric values in current"


def _zipf_shares(k: int, boost_top: float = 1.0) -> np.ndarray:
    p = 1 / np.arange(1, k + 1) ** 0.7
    p[:100] *= boost_top  # the 100 commonest categories gain share: a known shift
    return p / p.sum()


def _true_js(p: np.ndarray, q: np.ndarray) -> float:
    m = (p + q) / 2
    return float(np.sqrt((np.sum(p * np.log2(p / m)) + np.sum(q * np.log2(q / m))) / 2))


def test_many_categories_from_one_generator_do_not_drift_and_a_known_shift_reads_its_size():
    """5,000 categories, 100,000 reference and 25,000 current rows: the plain Jensen-Shannon
    distance of two draws of one distribution reads about 0.22 (sampling alone, above the 0.1
    threshold); the score corrected for it reads about 0, and a planted shift reads its true
    distance, computed here from the generating shares."""
    from benchharness.context import Dataset
    from benchharness.data.analysis import analyse_dataset

    rng = np.random.default_rng(11)
    k = 5_000
    cats = np.array([f"c{i}" for i in range(k)], dtype=object)
    p, q = _zipf_shares(k), _zipf_shares(k, boost_top=2.5)
    ref = pd.Series(cats[rng.choice(k, 100_000, p=p)])
    same = pd.Series(cats[rng.choice(k, 25_000, p=p)])
    moved = pd.Series(cats[rng.choice(k, 25_000, p=q)])
    quiet = drift.column_drift(ref, same)
    assert quiet["jensen_shannon"] > 0.15  # the raw distance would have flagged it
    assert quiet["score"] < 0.05 and quiet["drift"] is False
    loud = drift.column_drift(ref, moved)
    truth = _true_js(p, q)
    assert 0.15 < truth < 0.25
    assert loud["score"] == pytest.approx(truth, abs=0.03) and loud["drift"] is True
    # `bench run` compares its splits through the same function
    ds = Dataset(X_train=pd.DataFrame({"c": ref}), y_train=pd.Series(rng.integers(0, 2, len(ref))),
                 X_test=pd.DataFrame({"c": same}), y_test=pd.Series(rng.integers(0, 2, len(same))))
    report = analyse_dataset(ds)["comparisons"]["train_vs_test"]
    assert report["n_drifted"] == 0 and report["columns"]["c"]["score"] == quiet["score"]


def test_category_counts_add_up_over_chunks_and_match_one_pass():
    rng = np.random.default_rng(2)
    values = pd.Series(rng.choice(["1", "1.0", "2", None, "x"], 10_000))
    whole = drift.category_counts(values)
    parts = None
    for start in range(0, len(values), 777):
        parts = drift.add_counts(parts, drift.category_counts(values.iloc[start:start + 777]))
    assert whole.sort_index().to_dict() == parts.sort_index().to_dict()
    assert set(whole.index) == {"1", "2", "x"} and whole.sum() == values.notna().sum()
    assert whole["1"] == values.isin(["1", "1.0"]).sum()
