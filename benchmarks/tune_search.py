"""Grid against successive halving on one tuned suite: search time, variants measured in full,
and the winner of each.

    python benchmarks/tune_search.py [SUITE] [--budget 10] [--full]

Runs the suite twice (`--quick` unless `--full`): once as the full grid, once with
`tune.budget_s` set on every tuned candidate (screened in rungs of trials, docs/tune.md).
Prints one line per tuned candidate and search.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def run(suite: Path, out: Path, quick: bool, budget: float | None) -> tuple[float, dict]:
    import yaml

    from benchharness.api import run_suite

    raw = yaml.safe_load(suite.read_text())
    for cand in raw["candidates"]:
        if cand.get("tune") is not None:
            cand["tune"] = {k: v for k, v in cand["tune"].items() if k != "budget_s"}
            if budget is not None:
                cand["tune"]["budget_s"] = budget
    copy = out / suite.name
    copy.write_text(yaml.safe_dump(raw))
    t0 = time.monotonic()
    ctx = run_suite(
        copy,
        out / "results",
        quick=quick,
        progress=lambda m: print(m, file=sys.stderr) if "tune" in m else None,
    )
    return time.monotonic() - t0, ctx.results.get("tune") or {}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("suite", nargs="?", default=str(ROOT / "benchmarks" / "tune_digits.yaml"))
    ap.add_argument("--budget", type=float, default=10.0, help="tune.budget_s for the halving run")
    ap.add_argument("--full", action="store_true", help="the suite's own durations, not --quick")
    args = ap.parse_args()
    suite = Path(args.suite).resolve()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, budget in (("grid", None), (f"halving, budget {args.budget:g} s", args.budget)):
            folder = Path(tmp) / label.split(",")[0]
            folder.mkdir()
            seconds, tune = run(suite, folder, not args.full, budget)
            for name, entry in tune.items():
                search = entry.get("search") or {}
                total = search.get("variants", len(entry.get("table", [])))
                rows.append(
                    (
                        label,
                        name,
                        seconds,
                        len(entry.get("table", [])),
                        total,
                        entry.get("recommended"),
                    )
                )
    print(f"{'search':<24} {'candidate':<12} {'run s':>7} {'measured':>9} {'of':>4}  winner")
    for label, name, seconds, measured, total, winner in rows:
        print(f"{label:<24} {name:<12} {seconds:>7.1f} {measured:>9} {total:>4}  {winner}")


if __name__ == "__main__":
    main()
