"""What benchharness can see: planted slowdowns found inside a run and through --against.

Models with a known service time (benchharness.planted: a busy wait of 0.5 ms per call) are
slowed by 5%, 10% and 50%, and every run goes through the real CLI:

- inside one run: base1, base2 (identical), slow5, slow10, slow50 in one suite, repeated
  --repeats times. A slowdown is found on a figure when the paired comparison with base1 shows
  it worse beyond the ranking's 2% (decide/paired.py); the A/A line is base2 against base1 (a
  false difference in either direction). Also: how often the ranking put slow10 below both
  copies with no tie, and how often the copies tied.
- across runs: a reference run with all four models at 0.5 ms (a0, a5, a10, a50), then
  --repeats runs with a5, a10, a50 slowed and a0 unchanged, each `bench run --against` the
  reference (which it measures again in the same rounds). Found: the row is a regression
  (beyond the 5% threshold over its whole interval); A/A: a0 has a regression on any figure.

    python benchmarks/sensitivity.py                 # 10 repeats each (15-20 minutes)
    python benchmarks/sensitivity.py --repeats 3     # a quick look

Run it on a quiet machine: other processes make the figures noisier and the tool says so.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchharness import planted  # noqa: E402
from benchharness.decide import paired  # noqa: E402

BASE_MS = 0.5
SLOWDOWNS = {"5%": 1.05, "10%": 1.10, "50%": 1.50}
FIGURES = ("p50_ms", "qps", "p99_ms", "rows_per_s")
# five rounds of half-second closed-loop windows, up to nine rounds where the sequential rule
# asks (an inconclusive change against the reference, an unsettled ranking); no open loop
SETTINGS = """
realtime: {trials: 5, max_trials: 9, budget_s: 2.5, warmup_s: 0.1, open_loop: {enabled: false}}
batch: {batch_sizes: [8], budget_s: 0.5, trials: 5, max_trials: 9, full_split: false}
"""


def suite_text(name: str, models: list[str], objective: str) -> str:
    lines = [f"name: {name}", "data: {source: 'sklearn:breast_cancer', target: target}", "candidates:"]
    lines += [f"  - {{name: {m}, model: {m}.joblib}}" for m in models]
    return "\n".join(lines) + SETTINGS + f"objective: {objective}\n"


def bench(*args: str) -> int:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "benchharness", *args], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode


def newest(out: Path) -> dict:
    return json.loads((max(p for p in out.iterdir() if p.is_dir()) / "results.json").read_text())


def inside(folder: Path, repeats: int) -> dict:
    models = {"base1": 1.0, "base2": 1.0, **{f"slow{k[:-1]}": v for k, v in SLOWDOWNS.items()}}
    for name, factor in models.items():
        planted.save(folder / f"{name}.joblib", BASE_MS * factor)
    suite = folder / "inside.yaml"
    suite.write_text(suite_text("inside", list(models), "[min p50_ms]"))
    found = {(k, f): 0 for k in [*SLOWDOWNS, "A/A"] for f in FIGURES}
    below, copies_tie = 0, 0
    for i in range(repeats):
        t0 = time.monotonic()
        bench("run", str(suite), "--out", str(folder / "out"))
        res = newest(folder / "out")
        by = {c["name"]: c for c in res["candidates"]}
        for label, other in [*((k, f"slow{k[:-1]}") for k in SLOWDOWNS), ("A/A", "base2")]:
            for fig in FIGURES:
                ch = paired.compare(by["base1"], by[other], fig, res)
                higher = fig in ("qps", "rows_per_s")
                if ch is None:
                    continue
                worse = paired.worse_beyond(ch, higher, paired.RANK_MIN_CHANGE)
                better = paired.worse_beyond(ch, not higher, paired.RANK_MIN_CHANGE)
                found[(label, fig)] += worse or (label == "A/A" and better)
        v = res["verdict"]
        ranking, ties = v["ranking"], [set(t["candidates"]) for t in v["ties"]]
        below += (ranking.index("slow10") > max(ranking.index("base1"), ranking.index("base2"))
                  and not any("slow10" in t and ({"base1", "base2"} & t) for t in ties))
        copies_tie += any({"base1", "base2"} <= t for t in ties)
        print(f"  inside run {i + 1}/{repeats}: {time.monotonic() - t0:.0f} s, ranking {ranking}", flush=True)
    return {"found": found, "below": below, "copies_tie": copies_tie}


def across(folder: Path, repeats: int) -> dict:
    names = {"a0": 1.0, **{f"a{k[:-1]}": v for k, v in SLOWDOWNS.items()}}
    suite = folder / "across.yaml"
    suite.write_text(suite_text("across", list(names), "[min p50_ms]"))
    for name in names:
        planted.save(folder / f"{name}.joblib", BASE_MS)
    bench("run", str(suite), "--out", str(folder / "ref"))
    reference = max(p for p in (folder / "ref").iterdir() if p.is_dir())
    for name, factor in names.items():
        planted.save(folder / f"{name}.joblib", BASE_MS * factor)
    found = {(k, f): 0 for k in [*SLOWDOWNS, "A/A"] for f in FIGURES}
    aa_runs_with_regression = 0
    for i in range(repeats):
        t0 = time.monotonic()
        code = bench("run", str(suite), "--out", str(folder / "out"), "--against", str(reference))
        rows = newest(folder / "out")["against"]["rows"]
        by = {(r["candidate"], r["figure"]): r for r in rows}
        for label, name in [*((k, f"a{k[:-1]}") for k in SLOWDOWNS), ("A/A", "a0")]:
            for fig in FIGURES:
                row = by.get((name, fig))
                found[(label, fig)] += bool(row and row["result"] == "regression")
        aa_runs_with_regression += any(r["regression"] for r in rows if r["candidate"] == "a0")
        print(f"  against run {i + 1}/{repeats}: {time.monotonic() - t0:.0f} s, exit {code}", flush=True)
    return {"found": found, "aa_runs": aa_runs_with_regression}


def table(title: str, found: dict, repeats: int) -> list[str]:
    out = [title, f"  {'planted':<9}" + "".join(f"{f:>12}" for f in FIGURES)]
    for label in [*SLOWDOWNS, "A/A"]:
        out.append(f"  {label:<9}" + "".join(f"{found[(label, f)]:>9}/{repeats:<2}" for f in FIGURES))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print(f"load average before: {load:.2f} on {os.cpu_count()} CPUs", flush=True)
        ins = inside(folder, args.repeats)
        acr = across(folder, args.repeats)
    lines = table("inside one run (paired rounds, shown worse beyond 2%; A/A: base2 vs base1 either way):",
                  ins["found"], args.repeats)
    lines.append(f"  slow10 ranked below both copies, no tie: {ins['below']}/{args.repeats}; "
                 f"the copies tied: {ins['copies_tie']}/{args.repeats}")
    lines += table("through --against (a regression beyond 5% over the whole interval; A/A: a0):",
                   acr["found"], args.repeats)
    lines.append(f"  suite runs with a false regression on the unchanged model (any figure): "
                 f"{acr['aa_runs']}/{args.repeats}")
    lines.append(f"load average after: {os.getloadavg()[0]:.2f}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
