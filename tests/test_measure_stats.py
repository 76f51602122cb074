import math

import numpy as np
import pytest
from scipy import stats as sps

from benchharness.measure.stats import (
    nearest_rank,
    percentile,
    percentile_interval,
    percentile_key,
    rank_interval,
    relative_width,
    summarize_ns,
)


def test_nearest_rank_by_hand():
    # n=10: p50 -> rank ceil(5)=5, p90 -> 9, p95 -> ceil(9.5)=10, p99 -> 10, p0 -> 1
    assert [nearest_rank(10, q) for q in (0, 10, 50, 51, 90, 95, 99, 100)] == [1, 1, 5, 6, 9, 10, 10, 10]
    # exact arithmetic where floats would round up: 99.9% of 1000 is rank 999, 7% of 100 is 7
    assert nearest_rank(1000, 99.9) == 999
    assert nearest_rank(100, 7) == 7
    assert nearest_rank(1, 99.9) == 1


def test_percentile_values_by_hand():
    values = np.array([15, 20, 35, 40, 50])  # the textbook nearest-rank example
    assert percentile(values, 5) == 15
    assert percentile(values, 30) == 20
    assert percentile(values, 40) == 20
    assert percentile(values, 50) == 35
    assert percentile(values, 100) == 50
    shuffled = np.array([40, 15, 50, 20, 35])
    assert percentile(shuffled, 50) == 35


def test_percentile_matches_numpy_inverted_cdf():
    rng = np.random.default_rng(1)
    x = rng.exponential(size=997)
    for q in (1, 25, 50, 90, 99, 99.9):
        assert percentile(x, q) == np.percentile(x, q, method="inverted_cdf")


def test_bad_arguments():
    with pytest.raises(ValueError):
        nearest_rank(0, 50)
    with pytest.raises(ValueError):
        nearest_rank(10, 101)


def test_rank_interval_against_binomial_quantiles():
    n, p, conf = 1000, 0.99, 0.95
    lo, hi = rank_interval(n, 99, conf)
    # lower: largest l with P(B <= l-1) <= 2.5%; upper: smallest u with P(B <= u-1) >= 97.5%
    assert sps.binom.cdf(lo - 1, n, p) <= 0.025 < sps.binom.cdf(lo, n, p)
    assert sps.binom.cdf(hi - 2, n, p) < 0.975 <= sps.binom.cdf(hi - 1, n, p)
    assert sps.binom.cdf(hi - 1, n, p) - sps.binom.cdf(lo - 1, n, p) >= conf


def test_rank_interval_unbounded_when_too_few_samples():
    # p99 from 100 samples: even the maximum is below the true p99 with prob 0.99^100 = 37%
    lo, hi = rank_interval(100, 99, 0.95)
    assert hi is None and lo is not None
    assert rank_interval(5, 50, 0.95) == (None, None)  # 1/32 > 2.5% at both ends


def test_interval_coverage_by_simulation():
    """Known truth: the p90 of Exp(1) is ln(10); the 90% interval should cover it ~90%."""
    rng = np.random.default_rng(7)
    truth = math.log(10)
    hits = 0
    trials = 400
    for _ in range(trials):
        x = np.sort(rng.exponential(size=300))
        lo, hi = percentile_interval(x, 90, 0.90)
        hits += lo <= truth <= hi
    assert 0.85 <= hits / trials <= 0.97


def test_relative_width():
    x = np.full(1000, 2.0)
    assert relative_width(x, 99, 0.95) == 0.0
    assert relative_width(np.arange(1.0, 51.0), 99, 0.95) == math.inf


def test_summary_keys_and_units():
    ns = np.array([1_000_000, 2_000_000, 3_000_000, 4_000_000])  # 1..4 ms
    s = summarize_ns(ns)
    assert s["count"] == 4
    assert s["min_ms"] == 1.0 and s["max_ms"] == 4.0
    assert s["p50_ms"] == 2.0  # rank ceil(2) = 2
    assert s["p90_ms"] == 4.0
    assert s["mean_ms"] == 2.5
    assert s["std_ms"] == pytest.approx(np.std([1, 2, 3, 4], ddof=1))
    assert set(s["intervals"]) == {"p50_ms", "p90_ms", "p95_ms", "p99_ms", "p999_ms"}
    assert summarize_ns(np.array([], dtype=np.int64)) == {"count": 0}


def test_percentile_key():
    assert percentile_key(99.9) == "p999_ms"
    assert percentile_key(50) == "p50_ms"
    assert percentile_key(99, unit="") == "p99"
