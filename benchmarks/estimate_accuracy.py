"""How close `bench monitor`'s estimated metric comes to the realized one, window by window.

    python benchmarks/estimate_accuracy.py [--seeds 0 1 2] [--out /tmp/estimate-accuracy]

For each seed and task (scenarios in `estimation_scenarios.py`: covariate shift with a fixed
concept), runs the real CLI with the late labels, so that monitor.json holds the estimate,
its interval and the realized value of every window, and prints them with the "done when"
counts: classification, |estimated - realized accuracy| <= 0.03 and realized inside the
interval, each in >= 8 of 10 windows; regression, estimated MAE within 15% of the realized
and inside the interval, each in >= 8 of 10. Then the concept shift: labels flipped for 40%
of the rows of windows 1 and 8, inputs unchanged; the estimate cannot see it (it reads only
inputs and scores), the labels do.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from estimation_scenarios import flip, write_scenario  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def monitor(paths: dict, out: Path, labels: Path, metric: str) -> dict:
    cmd = [sys.executable, "-m", "benchharness", "monitor", "--reference", str(paths["reference"]),
           "--current", str(paths["current"]), "--model", str(paths["model"]), "--target", "y",
           "--window", "2000", "--metric", metric, "--labels", str(labels), "--label-column", "y",
           "--id-column", "id", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode not in (0, 1):
        raise SystemExit(f"bench monitor failed ({done.returncode}): {done.stderr or done.stdout}")
    return json.loads((out / "monitor.json").read_text())


def table(r: dict, within) -> tuple[int, int]:
    est = r["performance"]["estimated"]
    close = covered = 0
    print(f"  {'window':<16}{'estimate':>10}{'interval':>20}{'realized':>10}  close covered")
    for w in est["windows"]:
        ok_close, ok_cover = within(w["estimate"], w["realized"]), w["interval"][0] <= w["realized"] <= w["interval"][1]
        close, covered = close + ok_close, covered + ok_cover
        print(f"  {w['window']:<16}{w['estimate']:>10.3f}   [{w['interval'][0]:.3f}, {w['interval'][1]:.3f}]"
              f"{w['realized']:>10.3f}  {'yes' if ok_close else 'NO':>5} {'yes' if ok_cover else 'NO':>7}")
    return close, covered


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", default="/tmp/estimate-accuracy")
    args = ap.parse_args()
    out = Path(args.out)
    summary = []
    for seed in args.seeds:
        for task, metric, within, rule in (
            ("classification", "accuracy", lambda e, r: abs(e - r) <= 0.03, "|est - realized| <= 0.03"),
            ("regression", "mae", lambda e, r: abs(e - r) <= 0.15 * r, "within 15% of realized"),
        ):
            paths = write_scenario(task, out / f"{task}-{seed}", seed=seed)
            r = monitor(paths, out / f"{task}-{seed}" / "monitor", paths["labels"], metric)
            print(f"{task}, seed {seed}: estimated {metric} ({r['performance']['estimated']['method']}) vs realized")
            close, covered = table(r, within)
            n = len(r["performance"]["estimated"]["windows"])
            print(f"  {rule}: {close}/{n} windows; realized inside the 95% interval: {covered}/{n}\n")
            summary.append((task, seed, close, covered, n))
    print("summary (done when: >= 8 of 10 for both)")
    for task, seed, close, covered, n in summary:
        print(f"  {task:<15} seed {seed}: close {close}/{n}, covered {covered}/{n}")

    # concept shift: same inputs, labels flipped for 40% of the rows of windows 1 and 8
    paths = write_scenario("classification", out / "concept", seed=args.seeds[0])
    flipped = flip(paths["labels"], out / "concept" / "labels_flipped.csv", [1, 8], 0.4)
    r = monitor(paths, out / "concept" / "monitor", flipped, "accuracy")
    print("\nconcept shift (labels of windows 1 and 8 flipped for 40% of rows; inputs unchanged)")
    table(r, lambda e, r_: abs(e - r_) <= 0.03)
    perf = r["performance"]
    print(f"  estimated alerts: {perf['estimated']['alert_windows'] or 'none'} | realized alerts (labels): "
          f"{perf['alert_windows'] or 'none'} | estimate missed: {perf['estimated']['tracking']['missed_windows']}")


if __name__ == "__main__":
    main()
