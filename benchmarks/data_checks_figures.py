"""Figures for the data checks, each against a truth the script planted:

1. drift on every row vs on the contract-clean rows, when one column leaves the contract's
   range in rows correlated with the others (what filtering would fake);
2. `_row` of every quarantined row against the data row the script planted it at, with
   malformed lines early, mid-chunk and in later chunks;
3. Jensen-Shannon of a 5,000-category column drawn twice from one generator (raw and
   corrected for sampling noise), and of a planted shift against its true distance.

    python benchmarks/data_checks_figures.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchharness.data import drift  # noqa: E402
from benchharness.data.contract import learn_contract  # noqa: E402
from benchharness.data.monitor import MonitorOptions, run_monitor  # noqa: E402
from benchharness.data.validate import validate_file  # noqa: E402


def correlated(rng, n, z_shift=0.0):
    x1 = rng.normal(0, 1, n)
    x2 = x1 + rng.normal(0, 0.5, n)
    z = np.clip(x1 + rng.normal(0, 0.1, n), -3, 3)
    if z_shift:
        z = np.where(x1 > 0.5, z + z_shift, z)
    return pd.DataFrame({"x1": x1.round(4), "x2": x2.round(4), "z": z.round(4)})


def figure_drift(work: Path) -> None:
    rng = np.random.default_rng(5)
    ref, cur = correlated(rng, 20_000), correlated(rng, 20_000, z_shift=10.0)
    ref.to_csv(work / "ref.csv", index=False)
    cur.to_csv(work / "cur.csv", index=False)
    r = run_monitor(MonitorOptions(reference=str(work / "ref.csv"), current=str(work / "cur.csv"),
                                   out_dir=str(work / "monitor")))
    clean = cur[cur["z"] <= 3.5]
    print(f"1. z leaves the range in {len(cur) - len(clean)} of {len(cur)} rows (quarantined: "
          f"{r['quality']['rows_quarantined']}); Wasserstein/std (drift at >= 0.1):")
    print(f"   {'column':<8}{'every row':>12}{'clean rows only':>18}")
    for col in ("x1", "x2", "z"):
        every = r["drift"]["features"]["columns"][col]["score"]
        only_clean = drift.column_drift(ref[col], clean[col])["score"]
        print(f"   {col:<8}{every:>12.3f}{only_clean:>18.3f}")
    print(f"   drifted (every row): {r['drift']['features']['drifted_columns']}")


def figure_rows(work: Path, rows: int) -> None:
    rng = np.random.default_rng(1)
    contract = learn_contract(pd.DataFrame({"a": rng.normal(0, 1, 1000), "b": rng.integers(0, 5, 1000)}))
    a = rng.uniform(-1, 1, rows).round(3).astype(str)  # inside the contract range
    b = rng.integers(0, 5, rows).astype(str)
    lines = np.char.add(np.char.add(a, ","), b).astype(object)
    malformed = np.sort(np.concatenate([[1, 14, 15], rng.choice(np.arange(16, rows + 1), 400, replace=False)]))
    out_of_range = np.setdiff1d(rng.choice(np.arange(1, rows + 1), 600, replace=False), malformed)
    lines[malformed - 1] = "1,2,3"
    lines[out_of_range - 1] = "99,1"
    (work / "rows.csv").write_text("a,b\n" + "\n".join(lines) + "\n")
    started = time.perf_counter()
    s = validate_file(contract, work / "rows.csv", work / "rows-out", chunk_rows=50_000)
    q = pd.read_csv(s["quarantine_path"])
    planted = np.sort(np.concatenate([malformed, out_of_range]))
    match = int((q["_row"].to_numpy() == planted).sum()) if len(q) == len(planted) else 0
    print(f"2. {rows:,} rows, {s['chunks']} chunks, {len(malformed)} malformed + {len(out_of_range)} out of range: "
          f"`_row` equals the planted data row for {match} of {len(planted)} quarantined rows "
          f"({time.perf_counter() - started:.1f} s)")


def figure_categories() -> None:
    rng = np.random.default_rng(0)
    k = 5_000
    p = 1 / np.arange(1, k + 1) ** 0.7
    p /= p.sum()
    q = p.copy()
    q[:100] *= 1.5
    q /= q.sum()
    m = (p + q) / 2
    true = np.sqrt((np.sum(p * np.log2(p / m)) + np.sum(q * np.log2(q / m))) / 2)
    cats = np.array([f"c{i}" for i in range(k)], dtype=object)
    print(f"3. 5,000 categories; raw / corrected Jensen-Shannon (drift at >= 0.1); planted shift true {true:.4f}")
    print(f"   {'rows (ref, cur)':<22}{'same: raw':>10}{'corrected':>11}{'shift: raw':>12}{'corrected':>11}")
    for n1, n2 in ((100_000, 25_000), (200_000, 200_000), (1_000_000, 1_000_000)):
        a = pd.Series(cats[rng.choice(k, n1, p=p)])
        same = drift.column_drift(a, pd.Series(cats[rng.choice(k, n2, p=p)]))
        moved = drift.column_drift(a, pd.Series(cats[rng.choice(k, n2, p=q)]))
        print(f"   {f'{n1:,}, {n2:,}':<22}{same['jensen_shannon']:>10.4f}{same['score']:>11.4f}"
              f"{moved['jensen_shannon']:>12.4f}{moved['score']:>11.4f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="data_checks_"))
    figure_drift(work)
    figure_rows(work, args.rows)
    figure_categories()


if __name__ == "__main__":
    main()
