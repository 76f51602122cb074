"""How accurate is the open loop's load generator? Before and after, side by side.

Part 1 offers a model that does nothing at several rates and prints, for each, the latency
from the scheduled arrival (p50, p99) and the share of requests started more than 1 ms late:
"before" is the earlier generator (sleep until 1 ms before each arrival, then spin; no
calibration; late counted against a generator with no cost per request), "after" the
current one (wake-up error and the CPU share a spinning thread gets measured, the margin
they give, finer timer slack, the calibrated cost per request). With a model that does nothing, every microsecond of latency
is the generator's: the figures are its error.

Part 2 runs `bench run` on a model that busy-waits 50 us per call, offered 200/s and 1,000/s
at constant gaps (no queueing possible: its true latency is 0.05 ms at every percentile),
and prints what the open loop reported: p99 from the scheduled arrival, the model's p99
(the generator's delay removed: what the verdict judges) and the late share.

    python benchmarks/open_loop_generator.py                 # both parts
    python benchmarks/open_loop_generator.py --skip-bench    # part 1 only
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import benchharness.measure.open_loop as ol
from benchharness.measure.stats import percentile
from benchharness.measure.wakeup import Waiter

HERE = Path(__file__).resolve().parent


class BusyWait:
    """predict(X) busy-waits `us` microseconds (the model of part 2)."""

    def __init__(self, us: float = 50.0):
        self.seconds = us / 1e6

    def predict(self, X):
        end = time.perf_counter() + self.seconds
        while time.perf_counter() < end:
            pass
        return np.zeros(len(X))


class _EarlierWaiter(Waiter):
    """The generator as it was: sleep until 1 ms before the arrival (when more than 2 ms
    away), then spin; the margin never changes and the timer slack is the system's."""

    def wait_until(self, t_ns: int) -> None:
        pc = time.perf_counter_ns
        remaining = t_ns - pc()
        if remaining > 2_000_000:
            time.sleep((remaining - 1_000_000) / 1e9)
        if self.yield_gil:
            while pc() < t_ns:
                time.sleep(0)
        else:
            while pc() < t_ns:
                pass


@contextlib.contextmanager
def _earlier_generator():
    saved = ol.Waiter, ol.fine_timer_slack
    ol.Waiter, ol.fine_timer_slack = _EarlierWaiter, lambda: contextlib.nullcontext(None)
    try:
        yield
    finally:
        ol.Waiter, ol.fine_timer_slack = saved


def _noop(_request):
    return None


def _figures(run: ol.OpenLoopRun) -> dict:
    lat = run.latency_ns
    return {"p50_us": percentile(lat, 50) / 1e3, "p99_us": percentile(lat, 99) / 1e3,
            "late": run.late_share(1_000_000),
            "model_p99_us": percentile(run.model_latency_ns(), 99) / 1e3}


def part1(rates: list[float], duration_s: float, arrival: str) -> None:
    gen = ol.calibrate_generator(1)
    w = gen["wakeup"]
    print(f"sleep wake-up error measured here ({w['sleeps']} sleeps, us): p50 {w['p50_us']:g}, "
          f"p90 {w['p90_us']:g}, p99 {w['p99_us']:g}, p99.9 {w['p999_us']:g}, max {w['max_us']:g}")
    print(f"a spinning thread got {gen['cpu_share']:.0%} of a core; margin {gen['margin_ns'] / 1e3:,.0f} us "
          f"({gen['policy']})")
    print(f"cost per request {gen['overhead_ns']} ns; "
          f"ceiling {gen['ceiling_per_s']:,.0f}/s (sweeps capped at {gen['max_rate_per_s']:,.0f}/s)")
    print(f"\nno-op model, {arrival} arrivals, {duration_s:g} s per rate; latency from the scheduled "
          "arrival; late: started > 1 ms after a perfect generator would have")
    head = (f"{'rate/s':>9} | {'before p50':>10} {'p99':>9} {'late':>7} | {'after p50':>10} {'p99':>9} "
            f"{'late':>7} {'model p99':>10} {'spin':>5}")
    print(head)
    print("-" * len(head))
    for rate in rates:
        count = max(int(rate * duration_s), 1000)
        offsets = ol.arrival_offsets_ns(rate, count, arrival, seed=0)
        with _earlier_generator():
            before = _figures(ol.run_open_loop(_noop, [None], offsets, 1, margin_ns=1_000_000))
        run = ol.run_open_loop(_noop, [None], offsets, 1, margin_ns=gen["margin_ns"],
                               overhead_ns=gen["overhead_ns"])
        after = _figures(run)
        print(f"{rate:>9,.0f} | {before['p50_us']:>7.2f} us {before['p99_us']:>6,.0f} us "
              f"{before['late']:>7.2%} | {after['p50_us']:>7.2f} us {after['p99_us']:>6,.0f} us "
              f"{after['late']:>7.2%} {after['model_p99_us']:>7.2f} us {run.generator['spin_share']:>5.2f}")
    print("spin: share of the run the measuring thread spent spinning (1.00 = one core)")


SUITE = """
name: open-loop-generator
data: {{source: 'sklearn:breast_cancer', target: target}}
candidates:
  - name: busy50us
    model: 'open_loop_generator:BusyWait'
    options: {{kwargs: {{us: 50}}, sys_path: ['{here}']}}
realtime:
  duration_s: 2
  open_loop: {{rates_per_s: [200, 1000], arrival: constant, duration_s: {duration}, refine_steps: 0}}
batch: {{batch_sizes: [1], duration_s: 0.3}}
"""


def part2(duration_s: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        suite = Path(tmp) / "suite.yaml"
        suite.write_text(SUITE.format(here=HERE, duration=duration_s))
        cmd = [sys.executable, "-m", "benchharness", "run", str(suite), "--out", str(Path(tmp) / "out")]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        found = sorted(Path(tmp, "out").glob("*/results.json"))
        if not found:
            print(f"bench run failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
            return
        results = json.loads(found[-1].read_text())
    cand = results["candidates"][0]
    open_loop = (cand.get("realtime") or {}).get("open_loop") or {}
    print(f"\n`bench run`: a model busy-waiting 50 us per call, constant gaps ({duration_s:g} s per rate)")
    print(f"{'rate/s':>7} {'p99 from schedule':>18} {'model p99':>10} {'generator delay p99':>20} "
          f"{'late':>7} {'margin':>9}")
    for r in open_loop.get("rates") or []:
        margin = (r.get("generator") or {}).get("margin_us")
        print(f"{r['target_rate_per_s']:>7,.0f} {r['p99_ms']:>15.3f} ms {r['model_p99_ms']:>7.3f} ms "
              f"{r['generator_delay_p99_ms']:>17.3f} ms {r['late_start_share']:>7.2%} {margin:>6,.0f} us")
    print(f"p99 limit {open_loop.get('p99_limit_ms'):g} ms ({open_loop.get('p99_limit_source')}); "
          f"warning: {open_loop.get('late_start_warning')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="1000,10000,50000,200000,400000")
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per rate (part 1)")
    parser.add_argument("--arrival", default="poisson", choices=("poisson", "constant"))
    parser.add_argument("--bench-duration", type=float, default=5.0, help="seconds per rate (part 2)")
    parser.add_argument("--skip-bench", action="store_true", help="part 1 only")
    args = parser.parse_args()
    part1([float(r) for r in args.rates.split(",")], args.duration, args.arrival)
    if not args.skip_bench:
        part2(args.bench_duration)


if __name__ == "__main__":
    main()
