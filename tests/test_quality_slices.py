"""Subgroup and time-window metrics against hand-computed values."""

import numpy as np
import pandas as pd
import pytest

from benchharness.quality import slices
from benchharness.quality.bootstrap import BootstrapPlan
from benchharness.quality.evaluate import ResolvedQuality, evaluate, overfit_check
from benchharness.quality.metrics import ScoredRows

# 12 rows; right/wrong chosen so every group's accuracy is easy to count by hand
Y = np.array([1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0])
RIGHT = np.array([1, 1, 1, 1, 1, 0, 1, 0, 1, 0, 0, 0], dtype=bool)  # 7 of 12 right
ROWS = ScoredRows("binary", Y, np.where(RIGHT, Y, 1 - Y), classes=np.array([0, 1]))
REGION = pd.Series(["n"] * 4 + ["s"] * 6 + ["e"] * 2)  # n: 4/4, s: 3/6, e: 0/2


def test_subgroup_accuracy_by_hand():
    out = slices.subgroups(ROWS, pd.DataFrame({"region": REGION}), ["region"], "accuracy",
                           min_rows=3, bins=4, overall=7 / 12)["region"]
    by = {g["group"]: g for g in out["groups"]}
    assert by["n"]["value"] == 1.0 and by["s"]["value"] == 0.5 and by["e"]["value"] == 0.0
    assert by["s"]["gap"] == pytest.approx(0.5 - 7 / 12)
    assert by["e"]["rows"] == 2 and not by["e"]["reliable"] and "too few" in by["e"]["note"]
    # e is worst by value but has too few rows to judge: s is the worst reliable group
    assert out["worst"] == {"group": "s", "value": 0.5, "rows": 6}


def test_numeric_subgroups_are_cut_into_quantile_bins():
    age = pd.Series([20, 21, 22, 23, 30, 31, 32, 33, 40, 41, 42, 43])
    out = slices.subgroups(ROWS, pd.DataFrame({"age": age}), ["age"], "accuracy",
                           min_rows=1, bins=3, overall=None)["age"]
    assert out["binned"] is True
    values = [g["value"] for g in out["groups"]]
    assert [g["rows"] for g in out["groups"]] == [4, 4, 4]
    # quantiles of the 12 ages at 1/3 and 2/3: 23 + 2/3 * 7 and 33 + 1/3 * 7
    assert [g["group"] for g in out["groups"]] == ["[20, 27.67]", "(27.67, 35.33]", "(35.33, 43]"]
    assert values == [1.0, 0.5, 0.25]  # rows 0-3: 4/4, rows 4-7: 2/4, rows 8-11: 1/4


def test_missing_subgroup_column_is_unavailable_not_a_crash():
    out = slices.subgroups(ROWS, pd.DataFrame({"x": range(12)}), ["region"], "accuracy", 1, 4, None)
    assert "not in the test data" in out["region"]["unavailable"]


def test_monthly_windows_worst_and_trend():
    times = pd.Series(pd.to_datetime(
        ["2024-01-03"] * 4 + ["2024-02-10"] * 4 + ["2024-03-15"] * 4))
    out = slices.windows(ROWS, times, "month", "accuracy", min_rows=2, overall=7 / 12)
    assert [w["group"] for w in out["windows"]] == ["2024-01", "2024-02", "2024-03"]
    assert [w["value"] for w in out["windows"]] == [1.0, 0.5, 0.25]
    assert out["worst"]["group"] == "2024-03"
    # least squares through (0, 1), (1, .5), (2, .25): slope = -0.375
    assert out["trend"]["slope_per_window"] == pytest.approx(-0.375)
    head = slices.production_headline(out, 7 / 12)
    assert head["typical"] == 0.5 and head["last"] == 0.25 and head["windows"] == 3


def test_row_windows_follow_time_order():
    times = pd.Series(pd.date_range("2024-01-01", periods=12, freq="D")[::-1])  # newest first
    out = slices.windows(ROWS, times, 6, "accuracy", min_rows=1, overall=None)
    # in time order the last 6 rows (indices 11..6) come first: 2/6 right, then 5/6
    assert [w["value"] for w in out["windows"]] == pytest.approx([2 / 6, 5 / 6])
    assert [w["group"] for w in out["windows"]] == ["rows 0-5", "rows 6-11"]
    assert slices.windows(ROWS, None, "week", "accuracy", 1, None)["unavailable"].startswith("window 'week'")


def test_evaluate_uses_the_production_window_for_the_headline():
    times = pd.Series(pd.date_range("2024-01-01", periods=12, freq="7D"))
    settings = ResolvedQuality("binary", "accuracy", BootstrapPlan(50), window="week",
                               production_window="month", min_group_rows=1)
    q = evaluate(ROWS, ROWS, settings, None, times)
    assert q["production"]["window"] == "month"
    monthly = slices.windows(ROWS, times, "month", "accuracy", 1, None)
    assert q["production"]["typical"] == np.median([w["value"] for w in monthly["windows"]])
    assert len(q["windows"]["windows"]) == 12  # one row a week


def test_overfit_flag_by_hand():
    assert overfit_check("accuracy", 1.0, 0.8, 0.1)["overfit"] is True  # 20% drop
    assert overfit_check("accuracy", 0.95, 0.93, 0.1)["overfit"] is False
    rmse = overfit_check("rmse", 20.0, 50.0, 0.1)
    assert rmse["drop"] == 30.0 and rmse["relative_drop"] == pytest.approx(0.6) and rmse["overfit"]
