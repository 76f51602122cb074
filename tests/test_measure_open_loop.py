import threading

import numpy as np
import pytest
from measure_models import FixedService, SleepService, Stalling

from benchharness.measure.closed_loop import run_closed_loop
from benchharness.measure.open_loop import (
    OpenLoopRun,
    arrival_offsets_ns,
    run_open_loop,
    summarize_run,
    sweep_rates,
)
from benchharness.measure.stats import percentile
from benchharness.measure.stoprule import StopRule

REQUESTS = [np.zeros((1, 4)) for _ in range(10)]


def test_arrivals_are_seeded_and_at_the_asked_rate():
    a = arrival_offsets_ns(1000, 20_000, "poisson", seed=3)
    assert a[0] == 0 and np.all(np.diff(a) >= 0)
    assert np.array_equal(a, arrival_offsets_ns(1000, 20_000, "poisson", seed=3))
    assert np.mean(np.diff(a)) == pytest.approx(1e6, rel=0.03)  # 1 ms mean gap
    c = arrival_offsets_ns(200, 5, "constant", seed=0)
    assert c.tolist() == [0, 5_000_000, 10_000_000, 15_000_000, 20_000_000]
    with pytest.raises(ValueError):
        arrival_offsets_ns(10, 5, "bursty", seed=0)


def _lindley_latencies(offsets_ns, service_ns):
    """Truth for one worker: finish_i = max(arrival_i, finish_{i-1}) + service_i."""
    finish, out = 0, []
    for a, s in zip(offsets_ns.tolist(), service_ns, strict=True):
        finish = max(a, finish) + s
        out.append(finish - a)
    return np.array(out)


def test_a_periodic_stall_shows_in_the_open_loop_tail_but_not_in_the_closed_loop():
    ms, every, stall_ms, rate = 0.5, 200, 40.0, 400.0
    offsets = arrival_offsets_ns(rate, 1000, "poisson", seed=1)
    run = run_open_loop(Stalling(ms, every, stall_ms).predict, REQUESTS, offsets, workers=1)
    summary = summarize_run(run, rate, late_threshold_ms=1.0)

    service_ns = [int((stall_ms if k % every == 0 else ms) * 1e6) for k in range(1, 1001)]
    truth_p99 = percentile(_lindley_latencies(offsets, service_ns), 99) / 1e6
    assert truth_p99 > 20  # the stall delays every request that arrives behind it
    assert summary["p99_ms"] >= 0.95 * truth_p99
    assert summary["p99_ms"] <= 5 * truth_p99 + 20  # a loaded 2-core machine: noise only adds
    # what a generator that waits for each answer would report: the stall stays hidden
    # (below the truth: preemption on a loaded 2-core machine adds tens of ms at times)
    assert summary["service_p99_ms"] < truth_p99
    assert summary["count"] == 1000 and summary["error_count"] == 0

    stop = StopRule(min_duration_s=0.3, max_duration_s=0.6, min_count=100)
    closed = run_closed_loop(Stalling(ms, every, stall_ms).predict, REQUESTS, stop, 0, 0.0)
    assert percentile(closed.latencies_ns, 99) / 1e6 < truth_p99  # closed loop understates it


def test_late_starts_are_detected_when_the_generator_cannot_keep_up():
    stop_hog = threading.Event()

    def hog():  # a pure-Python thread holding the GIL: the worker wakes up late
        x = 0
        while not stop_hog.is_set():
            x += 1

    t = threading.Thread(target=hog, daemon=True)
    t.start()
    try:
        offsets = arrival_offsets_ns(300, 200, "constant", seed=0)
        run = run_open_loop(FixedService(0.01).predict, REQUESTS, offsets, workers=1)
    finally:
        stop_hog.set()
        t.join()
    summary = summarize_run(run, 300, late_threshold_ms=1.0)
    assert summary["late_start_share"] > 0.01


def test_more_workers_serve_a_rate_one_worker_cannot():
    offsets = arrival_offsets_ns(150, 90, "constant", seed=0)  # 0.6 s at 150/s, 10 ms each
    one = summarize_run(run_open_loop(SleepService(10).predict, REQUESTS, offsets, 1), 150, 1.0)
    two = summarize_run(run_open_loop(SleepService(10).predict, REQUESTS, offsets, 2), 150, 1.0)
    assert one["p99_ms"] > 100  # 1 worker: 100/s capacity, the queue grows all run long
    assert two["p99_ms"] < 50
    assert one["queued_share"] > 0.5


def test_a_run_past_its_deadline_drops_the_rest():
    offsets = arrival_offsets_ns(1000, 200, "constant", seed=0)  # 10 ms each: far too fast
    run = run_open_loop(SleepService(10).predict, REQUESTS, offsets, 1, max_wall_s=0.1)
    assert 1 <= len(run.end_ns) <= 20  # about 10 fit in 0.1 s; fewer when the machine is busy
    assert run.dropped == 200 - len(run.end_ns)


def _queue_model(capacity):
    """p99 that grows as the rate nears capacity (an M/M/1-like curve)."""
    def measure(rate):
        p99 = 1000.0 if rate >= capacity else 4.6 / (capacity - rate) * 1000
        return {"target_rate_per_s": rate, "p99_ms": p99}
    return measure


def test_sweep_finds_the_highest_rate_under_the_limit():
    # limit 46 ms -> sustainable while capacity - rate >= 100, i.e. rate <= 900
    results, best = sweep_rates(_queue_model(1000), 46.0, capacity_per_s=1000,
                                fractions=(0.5, 0.8, 0.95), refine_steps=3)
    rates = [r["target_rate_per_s"] for r in results]
    assert rates == sorted(rates)
    assert 500 in rates and 800 in rates and 950 in rates
    assert 850 <= best <= 900
    assert all(r["sustainable"] == (r["p99_ms"] <= 46) for r in results)


def test_sweep_with_explicit_rates_and_no_sustainable_rate():
    results, best = sweep_rates(_queue_model(10), 1.0, rates_per_s=[50, 5], refine_steps=0)
    assert best is None
    assert [r["target_rate_per_s"] for r in results] == [5.0]  # stops at the first failure
    with pytest.raises(ValueError):
        sweep_rates(_queue_model(10), 1.0)


def test_a_rate_where_the_model_sheds_load_is_not_sustainable():
    # a server that rejects what it cannot serve answers fast: p99 of what it served stays
    # low at every rate, and only the error rate says it did not keep up above 400/s
    def shedding(rate):
        return {"target_rate_per_s": rate, "p99_ms": 2.0,
                "error_rate": 0.0 if rate <= 400 else 1 - 400 / rate}

    results, best = sweep_rates(shedding, 10.0, capacity_per_s=1000, fractions=(0.3, 0.6, 0.9),
                                refine_steps=0, max_error_rate=0.01)
    assert best == 300
    assert [r["sustainable"] for r in results] == [True, False]
    # without an error limit (the old behaviour) every rate looked sustainable
    _, best = sweep_rates(shedding, 10.0, capacity_per_s=1000, fractions=(0.3, 0.6, 0.9), refine_steps=0)
    assert best == 900


def _run_by_hand(start_delays_ms, service_ms=0.2, gap_ms=1.0):
    """A run on a 1 ms schedule whose generator started some requests late (by hand)."""
    n = len(start_delays_ms)
    sched = np.arange(n, dtype=np.int64) * int(gap_ms * 1e6)
    start, end, ready, free = [], [], [], 0
    for i in range(n):
        s = max(sched[i] + int(start_delays_ms[i] * 1e6), free)
        ready.append(free)
        start.append(s)
        free = s + int(service_ms * 1e6)
        end.append(free)
    arr = lambda v: np.asarray(v, dtype=np.int64)  # noqa: E731
    return OpenLoopRun(scheduled_ns=sched, start_ns=arr(start), end_ns=arr(end), ready_ns=arr(ready),
                       failed=np.zeros(n, bool), first_error=None)


def test_requests_queued_behind_a_generator_stall_count_as_late():
    # request 10 starts 3.7 ms late (the generator stalled); 11, 12 and 13 arrive while it
    # runs and start at 13.9, 14.1, 14.3 ms instead of 11, 12, 13 ms: the generator's delay
    # too, though their worker was busy. A perfect generator would have started all on time.
    delays = [0.0] * 100
    delays[10] = 3.7
    run = _run_by_hand(delays)
    assert run.late_share(1_000_000) == pytest.approx(4 / 100)
    delay = run.generator_delay_ns()
    assert delay[10:15].tolist() == [3_700_000, 2_900_000, 2_100_000, 1_300_000, 500_000]
    assert delay[:10].sum() == 0 and delay[15:].sum() == 0
    # the model's own latency is its 0.2 ms of service for every request: no queue was its own
    assert (run.model_latency_ns() == 200_000).all()
    assert run.latency_ns.max() == 3_900_000  # from the scheduled arrival: the generator's stall
    # queueing the model causes itself is not late: 1.5 ms of service on a 1 ms schedule
    slow = _run_by_hand([0.0] * 100, service_ms=1.5)
    assert slow.late_share(1_000_000) == 0.0
    assert slow.queued_share() == pytest.approx(99 / 100)
