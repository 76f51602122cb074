import numpy as np
from measure_models import FailsOnNegative, FixedService, LognormalService

from benchharness.measure.closed_loop import run_closed_loop
from benchharness.measure.stoprule import StopRule

REQUESTS = [np.zeros((1, 4)) for _ in range(10)]


def test_percentiles_match_a_known_service_time():
    model = FixedService(ms=1.0)
    stop = StopRule(min_duration_s=0.4, max_duration_s=0.8, min_count=50, percentile=50)
    loop = run_closed_loop(model.predict, REQUESTS, stop, warmup_count=5, warmup_s=0.05)
    ms = loop.latencies_ns / 1e6
    assert ms.min() >= 1.0  # a busy-wait never finishes early
    # generous upper bound: this machine is shared by several agents right now
    assert np.median(ms) < 1.5
    assert loop.stop_reason in ("stable", "max_duration")
    assert loop.loop_s >= 0.4
    assert loop.qps == len(ms) / loop.loop_s
    # back to back: the rate is the inverse of the mean latency, bar the loop's own cost
    assert 0.9 < loop.qps * ms.mean() / 1000 <= 1.0


def test_stop_rule_stops_early_on_a_steady_model():
    model = FixedService(ms=0.2)
    # p80, not p99: a shared machine's preemptions live in the far tail, not in the steady part
    stop = StopRule(min_duration_s=0.2, max_duration_s=5.0, min_count=100, percentile=80, rel_width=0.25)
    loop = run_closed_loop(model.predict, REQUESTS, stop, warmup_count=5, warmup_s=0.05)
    assert loop.stop_reason == "stable"
    assert loop.stable is True
    assert loop.loop_s < 2.0


def test_stop_rule_reports_unstable_when_the_limit_comes_first():
    model = LognormalService(ms=0.05, sigma=1.5)
    stop = StopRule(min_duration_s=0.1, max_duration_s=0.4, min_count=10, percentile=99.9, rel_width=0.01)
    loop = run_closed_loop(model.predict, REQUESTS, stop, warmup_count=5, warmup_s=0.0)
    assert loop.stop_reason == "max_duration"
    assert loop.stable is False
    assert 0.4 <= loop.loop_s < 1.0


def test_errors_are_counted_with_the_first_one_and_left_out_of_latency():
    reqs = [np.array([[1.0]]), np.array([[-1.0]]), np.array([[2.0]]), np.array([[3.0]])]
    stop = StopRule(min_duration_s=0.1, max_duration_s=0.2, min_count=10, percentile=50)
    loop = run_closed_loop(FailsOnNegative().predict, reqs, stop, warmup_count=4, warmup_s=0.0)
    section = loop.error_section()
    assert section["error_rate"] == loop.errors / loop.attempts
    assert 0.2 < section["error_rate"] < 0.3  # one request in four, cycling
    assert section["first_error"] == "ValueError: negative input -1.000"
    assert len(loop.latencies_ns) == loop.attempts - loop.errors


def test_failed_requests_are_not_throughput():
    # half the requests fail at once, the other half take 2 ms: the model answers about 500
    # requests/s, and counting the instant failures would report about 1000
    served = FixedService(ms=2.0)

    def half_fail(X):
        if X[0, 0] < 0:
            raise ValueError("rejected")
        return served.predict(X)

    reqs = [np.array([[1.0]]), np.array([[-1.0]])]
    stop = StopRule(min_duration_s=0.1, max_duration_s=0.2, min_count=10, percentile=50)
    loop = run_closed_loop(half_fail, reqs, stop, warmup_count=4, warmup_s=0.0)
    assert 0.4 < loop.error_section()["error_rate"] < 0.6
    # answered requests x their mean time can never exceed the loop's own time
    busy_share = loop.qps * (loop.latencies_ns.mean() / 1e9)
    assert 0.5 < busy_share <= 1.0
