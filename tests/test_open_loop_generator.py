"""The open loop's load generator: its wake-up error, its calibration with a model that does
nothing, its delay kept apart from the model's latency, and the one p99 limit of the sweep.

Timing assertions are loose on purpose (a 2-core machine shared with other runs): what is
asserted exactly is what holds whatever the machine did (the model's latency equals its
service time when no queueing was possible); the rest only catches gross errors.
"""

import sys
import threading

import numpy as np
import pytest
from conftest import write_suite
from measure_models import FixedService, Stalling

from benchharness.measure import wakeup
from benchharness.measure.open_loop import (
    OpenLoopRun,
    arrival_offsets_ns,
    calibrate_generator,
    generator_limited,
    late_start_warning,
    run_open_loop,
    summarize_run,
    sweep_p99_limit,
    sweep_rates,
)
from benchharness.measure.stats import percentile

REQUESTS = [np.zeros((1, 4)) for _ in range(10)]


# -- wake-up error and margin ------------------------------------------------------------------
def test_overshoot_percentiles_are_nearest_rank_in_microseconds():
    s = wakeup.overshoot_summary([i * 1000 for i in range(1, 1001)])  # 1 .. 1000 us
    assert s == {"sleeps": 1000, "p50_us": 500.0, "p90_us": 900.0, "p99_us": 990.0,
                 "p999_us": 999.0, "max_us": 1000.0}
    assert wakeup.overshoot_summary([]) == {"sleeps": 0}


def test_the_margin_covers_the_worst_wakeup_unless_the_machine_is_oversubscribed():
    quiet = {"p999_us": 300.0, "max_us": 450.0}
    margin, policy = wakeup.choose_margin(quiet, cpu_share=0.97)
    assert margin == 450_000 + wakeup.MARGIN_FLOOR_NS and "spin" in policy
    huge = {"p999_us": 60_000.0, "max_us": 90_000.0}
    assert wakeup.choose_margin(huge, 1.0)[0] == wakeup.MARGIN_CAP_NS
    # a spinning thread that gets a third of a core would lose it spinning: floor only
    margin, policy = wakeup.choose_margin(quiet, cpu_share=0.33)
    assert margin == wakeup.MARGIN_FLOOR_NS and "oversubscribed" in policy


def test_measured_timing_is_a_distribution_and_a_margin():
    t = wakeup.measure_timing()
    w = t["wakeup"]
    assert w["sleeps"] >= 30
    assert 0 <= w["p50_us"] <= w["p90_us"] <= w["p99_us"] <= w["p999_us"] <= w["max_us"]
    assert 0 < t["cpu_share"] <= 1
    assert wakeup.MARGIN_FLOOR_NS <= t["margin_ns"] <= wakeup.MARGIN_CAP_NS
    if sys.platform.startswith("linux"):
        assert t["timer_slack_ns"] == 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="timer slack is a Linux setting")
def test_timer_slack_is_restored_after_the_block():
    import ctypes

    libc = ctypes.CDLL(None)
    before = libc.prctl(30, 0, 0, 0, 0)
    with wakeup.fine_timer_slack() as slack:
        assert slack == 1 and libc.prctl(30, 0, 0, 0, 0) == 1
    assert libc.prctl(30, 0, 0, 0, 0) == before


def test_calibration_with_a_model_that_does_nothing():
    gen = calibrate_generator(workers=1, null_requests=2000)
    assert 0 < gen["overhead_ns"] < 1_000_000  # between two requests: well under 1 ms
    assert gen["ceiling_per_s"] > 10_000  # a Python loop schedules far more than 10,000/s
    assert gen["max_rate_per_s"] == pytest.approx(gen["ceiling_per_s"] * 0.8)
    assert gen["margin_ns"] >= wakeup.MARGIN_FLOOR_NS and gen["wakeup"]["sleeps"] > 0


# -- the generator's delay kept apart from the model's latency ---------------------------------
def test_ideal_start_pays_the_generator_cost_per_request():
    # 3 requests all due at 0, 100 ns of service each, 10 ns of generator cost between two:
    # a perfect generator starts them at 0, 110, 220
    run = OpenLoopRun(scheduled_ns=np.zeros(3, np.int64), start_ns=np.array([0, 110, 260]),
                      end_ns=np.array([100, 210, 360]), ready_ns=np.zeros(3, np.int64),
                      failed=np.zeros(3, bool), first_error=None, overhead_ns=10)
    assert run.ideal_start_ns().tolist() == [0, 110, 220]
    assert run.generator_delay_ns().tolist() == [0, 0, 40]
    assert run.model_latency_ns().tolist() == [100, 210, 320]


def test_with_no_queueing_possible_the_models_latency_is_its_service_time():
    # 0.1 ms of work every 5 ms: whatever the generator and the machine did to the start
    # times, the model's latency is exactly its measured service time, request by request
    offsets = arrival_offsets_ns(200, 60, "constant", seed=0)
    run = run_open_loop(FixedService(0.1).predict, REQUESTS, offsets, 1)
    if (run.service_ns < 4_000_000).all():  # a service preempted past the gap would queue
        assert np.array_equal(run.model_latency_ns(), run.service_ns)
    assert (run.model_latency_ns() <= run.latency_ns).all()


def test_a_generator_starved_of_the_gil_is_not_the_models_tail():
    stop = threading.Event()

    def hog():  # a pure-Python thread holding the GIL: the generator wakes up late
        x = 0
        while not stop.is_set():
            x += 1

    t = threading.Thread(target=hog, daemon=True)
    t.start()
    try:
        offsets = arrival_offsets_ns(300, 150, "constant", seed=0)
        run = run_open_loop(FixedService(0.05).predict, REQUESTS, offsets, 1)
    finally:
        stop.set()
        t.join()
    s = summarize_run(run, 300, late_threshold_ms=1.0)
    assert s["late_start_share"] > 0.01  # the switch interval (5 ms) makes starts late
    assert s["generator_delay_p99_ms"] > 1.0
    assert s["model_p99_ms"] < s["p99_ms"]  # the delay is taken out of the model's figure
    assert generator_limited(s)


@pytest.mark.parametrize("rate", [100, 200, 500])
def test_a_fast_model_at_low_rates_reports_its_service_time(rate):
    offsets = arrival_offsets_ns(rate, max(rate // 2, 60), "constant", seed=0)
    s = summarize_run(run_open_loop(FixedService(0.05).predict, REQUESTS, offsets, 1), rate, 1.0)
    assert s["count"] == len(offsets) and s["error_count"] == 0
    assert s["model_p50_ms"] < 1.0  # 0.05 ms of work; a loaded machine may stretch it
    assert s["model_p99_ms"] < 5.0  # generous: a preempted busy-wait is the model's time
    assert s["p50_ms"] < 1.0  # the median request starts on time, even on a busy machine
    assert s["model_p99_ms"] <= s["p99_ms"]
    gen = s["generator"]
    assert gen["margin_us"] >= wakeup.MARGIN_FLOOR_NS / 1e3 and 0 <= gen["spin_share"] <= 1.5


def test_the_planted_stall_keeps_its_whole_tail_in_the_models_figure():
    # 0.2 ms per call, every 200th stalls 20 ms, 1,000/s at constant gaps: each stall delays
    # the next requests by 19.2, 18.4 ... ms; the true p99 from the scheduled arrival is 18.4
    offsets = arrival_offsets_ns(1000, 1000, "constant", seed=0)
    run = run_open_loop(Stalling(0.2, 200, 20.0).predict, REQUESTS, offsets, 1)
    s = summarize_run(run, 1000, late_threshold_ms=1.0)
    truth = 18.4
    assert s["p99_ms"] >= 0.9 * truth
    assert s["model_p99_ms"] >= 0.9 * truth  # the queue behind the stall is the model's
    assert s["model_p99_ms"] <= 5 * truth + 20  # a loaded machine only adds
    assert s["service_p99_ms"] < truth  # a generator that waits for answers hides it


# -- the sweep ---------------------------------------------------------------------------------
def test_the_sweep_judges_the_models_figure_and_says_so():
    def measure(rate):  # the generator added 8 ms everywhere; the model's own p99 is 0.1 ms
        return {"target_rate_per_s": rate, "p99_ms": 8.1, "model_p99_ms": 0.1}

    results, best = sweep_rates(measure, 1.0, rates_per_s=[100, 200], refine_steps=0)
    assert best == 200 and all(r["judged_on"] == "model_p99_ms" for r in results)
    # without the split (an older summary) the raw figure is judged
    results, best = sweep_rates(lambda r: {"target_rate_per_s": r, "p99_ms": 8.1}, 1.0,
                                rates_per_s=[100], refine_steps=0)
    assert best is None and results[0]["judged_on"] == "p99_ms"


def test_rates_above_the_generators_ceiling_are_lowered_to_it():
    seen = []

    def measure(rate):
        seen.append(rate)
        return {"target_rate_per_s": rate, "p99_ms": 0.1}

    results, best = sweep_rates(measure, 1.0, rates_per_s=[1000, 500_000, 900_000],
                                refine_steps=0, max_rate_per_s=200_000)
    assert seen == [1000, 200_000] and best == 200_000
    assert results[1]["capped_from_per_s"] == 500_000
    assert "capped_from_per_s" not in results[0]


def test_the_late_warning_fires_only_where_the_generator_limited_the_measurement():
    at_low_rate = {"target_rate_per_s": 200, "late_start_share": 0.03, "p99_ms": 3.0,
                   "generator_delay_p99_ms": 2.9}
    overloaded = {"target_rate_per_s": 48_944, "late_start_share": 0.98, "p99_ms": 400.0,
                  "generator_delay_p99_ms": 2.5}  # a 400 ms queue: the generator's 2.5 ms is noise
    on_time = {"target_rate_per_s": 100, "late_start_share": 0.0, "p99_ms": 0.1,
               "generator_delay_p99_ms": 0.0}
    assert generator_limited(at_low_rate) and not generator_limited(overloaded)
    assert not generator_limited(on_time)
    assert late_start_warning([on_time, overloaded], 1.0) is None
    warning = late_start_warning([on_time, at_low_rate, overloaded], 1.0)
    assert warning.startswith("3.0% of requests at 200/s started more than 1 ms late")
    assert "1 rate(s)" in warning


def test_one_p99_limit_for_sweep_chart_and_verdict(tmp_path):
    from benchharness.config import parse_suite
    from benchharness.decide.limits import open_loop_limit

    def limit(raw, cand_limits=None):
        suite = parse_suite({"name": "s", "candidates": [{"name": "a", "model": "m.onnx"}], **raw}, tmp_path)
        return sweep_p99_limit(open_loop_limit(suite, cand_limits), closed)

    closed = {"p99_ms": 0.4}
    base = {"realtime": {"open_loop": {"p99_limit_ms": None}}}
    assert limit(base) == (2.0, "default: max(5 x closed-loop p99, 1 ms)")
    own = {"realtime": {"open_loop": {"p99_limit_ms": 7}}}
    assert limit(own) == (7.0, "suite: realtime.open_loop.p99_limit_ms")
    hard = {**own, "limits": {"fail": ["p99_ms <= 10"], "warn": ["open_p99_ms <= 1"]}}
    assert limit(hard) == (10.0, "limit: p99_ms <= 10")  # warn limits don't bind
    both = {**own, "limits": ["p99_ms <= 10", "open_p99_ms <= 25", "accuracy >= 0.9"]}
    assert limit(both) == (25.0, "limit: open_p99_ms <= 25")
    # a candidate's own limit on the figure replaces the suite's
    assert limit(hard, ["p99_ms <= 3"]) == (3.0, "limit: p99_ms <= 3")


@pytest.mark.slow  # a whole suite in child processes
def test_through_a_run_the_section_records_the_generator_and_the_limit(tmp_path):
    import json

    from benchharness.api import run_suite

    suite = write_suite(tmp_path, """
name: generator
data: {source: 'sklearn:breast_cancer', target: target}
candidates:
  - {name: fast, model: 'measure_models:FixedService', options: {kwargs: {ms: 0.05}}}
limits: ['p99_ms <= 40']
realtime:
  duration_s: 0.3
  min_duration_s: 0.1
  warmup_count: 5
  warmup_s: 0
  open_loop: {rates_per_s: [100, 300], arrival: constant, duration_s: 0.3, min_count: 20,
              refine_steps: 0}
batch: {batch_sizes: [1], duration_s: 0.1, min_duration_s: 0.05}
""")
    ctx = run_suite(suite, out_dir=tmp_path / "out", progress=lambda m: None)
    cand = json.loads((ctx.run_dir / "results.json").read_text())["candidates"][0]
    ol = cand["realtime"]["open_loop"]
    assert (ol["p99_limit_ms"], ol["p99_limit_source"]) == (40.0, "limit: p99_ms <= 40")
    gen = ol["settings"]["generator"]
    assert gen["margin_ns"] >= wakeup.MARGIN_FLOOR_NS and gen["ceiling_per_s"] > 10_000
    assert {"p50_us", "p99_us", "p999_us", "max_us"} <= set(gen["wakeup"])
    for r in ol["rates"]:
        assert r["judged_on"] == "model_p99_ms"
        assert r["model_p99_ms"] <= r["p99_ms"]
        assert r["generator_delay_p99_ms"] >= 0 and "margin_us" in r["generator"]
        assert "model_p99_ms" in r["intervals"]
    arrays = np.load(ctx.run_dir / ol["samples_file"])
    assert percentile(arrays["end_ns"] - arrays["start_ns"], 50) > 40_000  # 0.05 ms busy-wait
