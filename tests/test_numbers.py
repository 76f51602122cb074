"""The product's one number rule (benchharness/numbers.py), against hand-written strings."""

from __future__ import annotations

import pytest

from benchharness import numbers
from benchharness.decide.figures import fmt


@pytest.mark.parametrize("value, sig, text", [
    (None, 3, "-"),
    (float("nan"), 3, "-"),
    (0.0, 3, "0"),
    (1129438.4, 3, "1,129,438"),
    (1129438, 3, "1,129,438"),
    (4.749, 3, "4.75"),
    (0.5, 3, "0.5"),          # trailing zeros dropped
    (0.07324, 3, "0.0732"),
    (0.0000254, 3, "0.0000254"),   # no exponent for money-sized fractions
    (7.64e-05, 3, "0.0000764"),
    (6.557e-07, 3, "6.56e-07"),    # below 1e-6 the exponent reads better
    (999.96, 3, "1,000"),          # rounding carries into a new digit
    (0.93706, 4, "0.9371"),
    (-0.02098, 3, "-0.021"),
])
def test_number(value, sig, text):
    assert numbers.number(value, sig) == text


@pytest.mark.parametrize("value, text", [
    (65.154, "$65.15"), (1234.5, "$1,234"), (292.4, "$292"), (7.64e-05, "$0.0000764"), (0.25, "$0.25"),
    (-0.5, "-$0.50"), (None, "-"), (9.83e-07, "$0.000000983"), (-3e-07, "-$0.0000003"),
])
def test_usd(value, text):
    assert numbers.usd(value) == text


def test_verdict_figures_use_the_same_rule():
    assert fmt(7.64e-05, "USD") == "$0.0000764"
    assert fmt(0.07324, "ms") == "0.0732 ms"
    assert fmt(0.02006, "s") == "0.0201 s"
    assert fmt(0.125, "share") == "12.5%"
    assert fmt(0.93706) == "0.9371"
    assert fmt(None, "ms") == "not measured"


def test_exponent_only_below_a_millionth():
    assert numbers.number(7.0e-07) == "7e-07"
    assert numbers.usd(1.29e-06) == "$0.00000129"
