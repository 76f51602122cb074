"""What estimated performance adds to `bench monitor`'s time on a large current batch.

    python benchmarks/monitor_estimate.py [--rows 1000000] [--window 100000] [--repeats 2]
                                          [--tasks classification regression] [--out DIR]

For each task (scenarios in `estimation_scenarios.py`: an ONNX model, 20,000 labelled
reference rows, `--rows` current rows without labels), runs the real CLI with --no-estimate
and with estimation, alternating, `--repeats` times each, and prints the median wall time
and CPU time (user + system of the child: steadier than wall time on a shared machine) of
each side by side with the share estimation adds (the target: at most 20%). The drift
shape is read in both (it is not part of estimation).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from estimation_scenarios import write_scenario  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def timed(paths: dict, out: Path, window: int, estimate: bool) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one `bench monitor` run."""
    cmd = [sys.executable, "-m", "benchharness", "monitor", "--reference", str(paths["reference"]),
           "--current", str(paths["current"]), "--model", str(paths["model"]), "--target", "y",
           "--window", str(window), "--latency-tolerance", "1000", "--out", str(out),
           "--estimate" if estimate else "--no-estimate"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        raise SystemExit(f"bench monitor failed ({done.returncode}): {done.stderr or done.stdout}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--window", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--tasks", nargs="+", default=["classification", "regression"])
    ap.add_argument("--out", default="/tmp/monitor-estimate")
    args = ap.parse_args()
    out = Path(args.out)
    print(f"{'task':<15}{'rows':>10}{'window':>9}{'wall without':>14}{'with':>7}{'added':>7}"
          f"{'CPU without':>13}{'with':>7}{'added':>7}")
    for task in args.tasks:
        windows = -(-args.rows // args.window)
        paths = write_scenario(task, out / task, window_rows=args.window, windows=windows)
        without, with_ = [], []
        for _ in range(args.repeats):  # alternating: a load change hits both sides alike
            without.append(timed(paths, out / task / "without", args.window, False))
            with_.append(timed(paths, out / task / "with", args.window, True))
        wall = [statistics.median(t[0] for t in side) for side in (without, with_)]
        cpu = [statistics.median(t[1] for t in side) for side in (without, with_)]
        print(f"{task:<15}{paths['rows']:>10,}{args.window:>9,}{wall[0]:>14.1f}{wall[1]:>7.1f}"
              f"{(wall[1] - wall[0]) / wall[0]:>7.0%}{cpu[0]:>13.1f}{cpu[1]:>7.1f}{(cpu[1] - cpu[0]) / cpu[0]:>7.0%}")
        print(f"{'':<15}wall runs: without {', '.join(f'{t[0]:.1f}' for t in without)}; "
              f"with {', '.join(f'{t[0]:.1f}' for t in with_)}")


if __name__ == "__main__":
    main()
