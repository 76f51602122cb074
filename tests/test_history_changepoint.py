"""Step detection: hand-checked fits, planted steps found, flat noisy sequences left alone."""

import numpy as np
import pytest

from benchharness.history.changepoint import detect_steps, fit_segments, noise_sigma


def test_fit_segments_by_hand():
    # two plateaus: cost without a cut = sum |y - 1| = 4 x 9 = 36 > penalty 5; with a cut: 0 + 5
    y = [1, 1, 1, 1, 10, 10, 10, 10]
    assert fit_segments(y, penalty=5.0) == [0, 4]
    # a penalty above the cost of not cutting (36) keeps one segment
    assert fit_segments(y, penalty=40.0) == [0]


def test_planted_step_found_at_its_run():
    y = [1.00, 1.02, 0.99, 1.01, 3.0, 3.05, 2.98]
    steps = detect_steps(y)
    assert len(steps) == 1
    s = steps[0]
    assert s.index == 4 and s.before == pytest.approx(1.005, abs=0.01) and s.after == pytest.approx(3.0)
    assert s.rel_change == pytest.approx(3.0 / 1.005 - 1, rel=0.01)


def test_step_at_the_newest_run_is_found():
    steps = detect_steps([2.0, 2.02, 1.98, 2.01, 1.99, 2.0, 4.1])
    assert [s.index for s in steps] == [6]


def test_two_steps():
    y = [1.0] * 5 + [2.0] * 5 + [1.0] * 5
    assert [s.index for s in detect_steps(y)] == [5, 10]


def test_constant_and_tiny_steps_give_none():
    assert detect_steps([0.95] * 6) == []
    assert detect_steps([1.0, 1.0, 1.0, 1.05, 1.05, 1.05]) == []  # 5% < the 10% minimum
    assert detect_steps([1.0, 1.0, 1.0, 1.05, 1.05, 1.05], min_rel_change=0.02)[0].index == 3


def test_flat_noisy_sequences_rarely_flagged_and_planted_steps_usually_found():
    """Simulation with known truth: lognormal run-to-run noise of 5%."""
    rng = np.random.default_rng(7)
    false_alarms = sum(bool(detect_steps(rng.lognormal(0, 0.05, 12))) for _ in range(200))
    assert false_alarms <= 10  # measured 0 of 200
    found = 0
    for _ in range(200):
        y = rng.lognormal(0, 0.05, 12)
        y[8:] *= 1.5
        steps = detect_steps(y)
        found += len(steps) == 1 and steps[0].index == 8
    assert found >= 180  # measured 199 of 200


def test_noise_scale_uses_intervals_and_a_relative_floor():
    assert noise_sigma(np.array([5.0, 5.0, 5.0])) == pytest.approx(0.05)  # 1% of the median
    wide = [[4.0, 6.0]] * 3  # half-width 1 = 1.96 sigma
    assert noise_sigma(np.array([5.0, 5.0, 5.0]), wide) == pytest.approx(1 / 1.959964, rel=1e-4)
    # steps inside the runs' own intervals are noise: a jump of 0.5 with sigma ~0.5 is not a step
    y = [5.0, 5.0, 5.0, 5.5, 5.5, 5.5]
    assert detect_steps(y, [[4.0, 6.0]] * 6) == []
    assert len(detect_steps(y)) == 1
