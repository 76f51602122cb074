"""Cost formulas against numbers worked out by hand (benchharness.cost.formulas)."""

from __future__ import annotations

import pytest

from benchharness.cost import formulas as cost


def test_replicas_per_instance():
    assert cost.replicas_per_instance(8, 2) == 4
    assert cost.replicas_per_instance(4, 3) == 1  # 4 // 3
    assert cost.replicas_per_instance(2, 4) == 1  # fewer vCPUs than one replica's threads: still one
    with pytest.raises(ValueError, match="must be >= 1, got 0, 1"):
        cost.replicas_per_instance(0, 1)


def test_batch_usd_per_million_by_hand():
    # 4 replicas x 10,000 rows/s = 40,000 rows/s = 144,000,000 rows/hour
    # 0.36 USD/hour / 144 M rows = 0.0025 USD per 1M rows
    assert cost.batch_usd_per_million(10_000, 0.36, 4) == pytest.approx(0.0025)
    # one replica of 100 rows/s on a 1 USD/hour machine: 360,000 rows/hour -> 1e6/360000 USD
    assert cost.batch_usd_per_million(100, 1.0, 1) == pytest.approx(2.777777, rel=1e-6)
    with pytest.raises(ValueError, match="rows_per_s must be > 0"):
        cost.batch_usd_per_million(0, 1.0, 1)


def test_batch_daily_cost_by_hand():
    # 36 M rows/day at 2 x 1,000 rows/s = 18,000 s = 5 h; x 0.2 USD/h = 1 USD/day
    out = cost.batch_daily_cost_usd(36_000_000, 1_000, 0.2, 2)
    assert out["hours_per_day"] == pytest.approx(5.0)
    assert out["usd_per_day"] == pytest.approx(1.0)
    assert out["usd_per_month"] == pytest.approx(365 / 12)


def test_instances_needed_by_hand():
    # capacity 40 x 2 = 80 requests/s per instance; 250 / 80 = 3.125 -> 4
    assert cost.instances_needed(250, 40, 2) == 4
    assert cost.instances_needed(240, 40, 2) == 3  # exactly at capacity: no extra instance
    assert cost.instances_needed(100, 100 / 3, 3) == 1  # float error must not add one
    assert cost.instances_needed(0.5, 40, 2) == 1  # never fewer than one
    assert cost.instances_needed(1, 40, 2, min_instances=2) == 2
    with pytest.raises(ValueError, match="sustainable rate must be > 0"):
        cost.instances_needed(10, 0, 1)


def test_realtime_cost_by_hand():
    out = cost.realtime_cost(peak_rps=250, daily_volume=1_000_000, sustainable_rps_per_replica=40,
                             replicas=2, price_per_hour_usd=0.1)
    assert out["instances"] == 4
    assert out["capacity_per_s"] == 320
    assert out["usd_per_month"] == pytest.approx(4 * 0.1 * 730)  # 292 USD
    # 292 USD / (1 M x 30.4167 days) x 1 M = 9.6 USD per 1M
    assert out["usd_per_million"] == pytest.approx(9.6)
    # mean rate 1e6 / 86400 = 11.574/s over 320/s of capacity
    assert out["utilisation"] == pytest.approx(11.574074 / 320, rel=1e-5)
    assert cost.realtime_cost(10, 0, 40, 1, 0.1)["usd_per_million"] is None


def test_cold_start_by_hand():
    assert cost.cold_start_usd(7.2, 0.5) == pytest.approx(0.001)  # 7.2 s of a 0.5 USD/h machine
    assert cost.cold_start_usd(7.2, 0.5, instance_boot_s=28.8) == pytest.approx(0.005)
