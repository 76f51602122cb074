"""A/A and A/B test of the measurements, through the real CLI.

A/A: runs one suite N times unchanged (default 3) and prints, side by side, each figure's
point value and 95% interval in every run, how many pairs of runs have overlapping
intervals, and how many regressions `bench compare` reports between identical runs (it
should be 0, exit 0).

A/B: runs a small suite of two busy-wait candidates twice, the second time with one of them
made 1.5x slower by an option, and says whether `bench compare` finds the slowdown on that
candidate and only there.

    python benchmarks/aa_test.py                      # the quickstart, 3 runs, then A/B
    python benchmarks/aa_test.py --quick --runs 2     # shorter
    python benchmarks/aa_test.py SUITE.yaml --no-ab
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from benchharness.decide import figures  # noqa: E402
from benchharness.machine_calibration import run_level_cv  # noqa: E402  (the estimate `bench calibrate` stores)

FIGURES = ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "qps", "open_p99_ms", "sustainable_rps",
           "rows_per_s", "cpu_ms_per_prediction", "usd_per_million", "realtime_usd_per_million")

AB_SUITE = """
name: ab-{tag}
data: {{source: 'sklearn:breast_cancer', target: target}}
candidates:
  - {{name: steady, model: 'aa_models:BusyWait', options: {{kwargs: {{ms: 0.5}}}}}}
  - {{name: target, model: 'aa_models:BusyWait', options: {{kwargs: {{ms: {target_ms}}}}}}}
realtime: {{budget_s: 1.5, trials: 5, open_loop: {{enabled: false}}}}
batch: {{batch_sizes: [1, 16], budget_s: 0.3, trials: 3}}
"""


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), str(HERE), env.get("PYTHONPATH")]))
    return env


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchharness", *args], capture_output=True,
                          text=True, env=_env(), cwd=ROOT)


def run_once(suite: str, out: Path, quick: bool) -> tuple[Path, float]:
    before = set(out.glob("*")) if out.exists() else set()
    t0 = time.monotonic()
    proc = bench("run", suite, "--out", str(out), *(["--quick"] if quick else []))
    seconds = time.monotonic() - t0
    new = sorted(set(out.glob("*")) - before)
    if not new:
        sys.exit(f"bench run {suite} wrote no run folder (exit {proc.returncode}): {proc.stderr[-500:]}")
    return new[-1], seconds


def load(run: Path) -> dict:
    return json.loads((run / "results.json").read_text())


def compare(a: Path, b: Path) -> tuple[int, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cmp.json"
        proc = bench("compare", str(a), str(b), "--json", str(path))
        doc = json.loads(path.read_text()) if path.exists() else {}
    return proc.returncode, doc


def _cell(value, iv) -> str:
    if value is None:
        return "-"
    if iv is None:
        return f"{value:.4g} [no interval]"
    lo, hi = ("?" if v is None else f"{v:.4g}" for v in iv)
    return f"{value:.4g} [{lo}, {hi}]"


def overlap(a, b) -> bool | None:
    if a is None or b is None or None in a or None in b:
        return None
    return a[0] <= b[1] and b[0] <= a[1]


def aa(suite: str, runs: int, quick: bool, out: Path) -> None:
    dirs, seconds = [], []
    for i in range(runs):
        d, s = run_once(suite, out, quick)
        dirs.append(d)
        seconds.append(s)
        print(f"run {i + 1}/{runs}: {d.name} in {s:.1f} s", file=sys.stderr)
    docs = [load(d) for d in dirs]
    busy = [d.get("machine_load", {}).get("note") for d in docs]
    print(f"A/A: {suite} x {runs}{' --quick' if quick else ''}; wall time per run: "
          + ", ".join(f"{s:.0f} s" for s in seconds))
    for note in filter(None, busy):
        print(f"  machine: {note}")
    names = [c["name"] for c in docs[0]["candidates"] if c.get("status") == "ok"]
    total_pairs = total_overlap = 0
    run_cvs = []
    for name in names:
        cands = [next((c for c in d["candidates"] if c["name"] == name), {}) for d in docs]
        print(f"\n{name}")
        for fig in FIGURES:
            values = [figures.resolve(fig, c, d) for c, d in zip(cands, docs)]
            ivs = [figures.interval(c, fig) for c in cands]
            if all(v is None for v in values):
                continue
            pairs = [overlap(a, b) for a, b in itertools.combinations(ivs, 2)]
            judged = [p for p in pairs if p is not None]
            total_pairs += len(judged)
            total_overlap += sum(judged)
            rcv = run_level_cv(values, [figures.trial_values(c, fig, d) for c, d in zip(cands, docs)])
            if rcv is not None:
                run_cvs.append((rcv, f"{name} {fig}"))
            cells = "  ".join(f"{_cell(v, iv):<28}" for v, iv in zip(values, ivs))
            print(f"  {fig:<22} {cells}  overlap {sum(judged)}/{len(judged)}"
                  + (f", run-level cv {rcv:.1%}" if rcv is not None else ""))
    print(f"\nintervals overlapping between identical runs: {total_overlap}/{total_pairs} pairs")
    if run_cvs:
        cvs = sorted(v for v, _ in run_cvs)
        top = max(run_cvs)
        print(f"run-level cv (drift between runs beyond the trials; `run_cv` in the suite): median "
              f"{statistics.median(cvs):.1%}, 90th percentile {cvs[int(0.9 * (len(cvs) - 1))]:.1%}, "
              f"largest {top[0]:.1%} ({top[1]})")
    for b in dirs[1:]:
        code, doc = compare(dirs[0], b)
        regs = [f"{r['candidate']} {r['figure']}" for c in doc.get("comparisons", []) for r in c["rows"]
                if r.get("regression")]
        print(f"bench compare {dirs[0].name} {b.name}: {len(regs)} regression(s), exit {code}"
              + (f" ({', '.join(regs[:8])})" if regs else ""))


def ab(out: Path, quick: bool) -> None:
    suites = out / "suites"
    suites.mkdir(parents=True, exist_ok=True)
    paths = []
    for tag, ms in (("a", 0.5), ("b", 0.75)):
        path = suites / f"ab-{tag}.yaml"
        path.write_text(AB_SUITE.format(tag=tag, target_ms=ms))
        paths.append(path)
    (a, sa), (b, sb) = (run_once(str(p), out, quick) for p in paths)
    code, doc = compare(a, b)
    rows = [r for c in doc.get("comparisons", []) for r in c["rows"]]
    regs = [r for r in rows if r.get("regression")]
    on_target = sorted({r["figure"] for r in regs if r["candidate"] == "target"})
    elsewhere = sorted({f"{r['candidate']} {r['figure']}" for r in regs if r["candidate"] != "target"})
    print(f"\nA/B: 'target' made 1.5x slower (0.5 -> 0.75 ms busy wait); runs {sa:.0f} s, {sb:.0f} s")
    for r in rows:
        if r["figure"] in ("p50_ms", "p99_ms", "qps", "rows_per_s") :
            change = f"{r['change']:+.0%}" if r.get("change") is not None else "-"
            print(f"  {r['candidate']:<8} {r['figure']:<12} {r['before']:.4g} -> {r['after']:.4g} "
                  f"({change}){'  REGRESSION' if r.get('regression') else ''}")
    print(f"found on target: {', '.join(on_target) or 'NOT FOUND'}; "
          f"regressions elsewhere: {', '.join(elsewhere) or 'none'}; compare exit {code}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("suite", nargs="?", default=None, help="default: the built-in quickstart")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default=None, help="where the runs go (default: a temporary folder)")
    p.add_argument("--no-aa", action="store_true")
    p.add_argument("--no-ab", action="store_true")
    args = p.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="aa-test-"))
    if not args.no_aa:
        from benchharness import config

        aa(args.suite or str(config.default_suite_path()), args.runs, args.quick, out / "aa")
    if not args.no_ab:
        ab(out / "ab", args.quick)
    print(f"\nruns kept in {out}")


if __name__ == "__main__":
    main()
