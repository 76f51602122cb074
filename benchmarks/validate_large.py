"""Validate a large generated file: time and peak memory of `bench validate`, with baselines.

Target: 1M rows x 20 columns validated in under 30 s with memory under 1 GB.
`bench monitor` (quality + drift on a 200k-row sample, no model) is timed on the same file.
Each step runs in its own child process so its peak RSS is its own. Baselines: the same
file only read in chunks (what streaming alone costs) and read whole with pandas (what a
naive validator would hold in memory).

    python benchmarks/validate_large.py [--rows 1000000] [--format csv|parquet] [--dir DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

N_NUM, N_INT, N_CAT = 10, 5, 5
CATS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]


def make_chunk(rng: np.random.Generator, n: int, bad_share: float) -> pd.DataFrame:
    cols = {f"num_{i}": rng.normal(i, 1 + i, n).round(4) for i in range(N_NUM)}
    cols |= {f"int_{i}": rng.integers(0, 100 * (i + 1), n) for i in range(N_INT)}
    cols |= {f"cat_{i}": rng.choice(CATS[: 3 + i % 3], n) for i in range(N_CAT)}
    frame = pd.DataFrame(cols)
    bad = rng.random(n) < bad_share  # plant out-of-range values and unseen categories
    frame.loc[bad, "num_0"] = 1e6
    frame["cat_0"] = frame["cat_0"].where(~(rng.random(n) < bad_share), "omega")
    return frame


def generate(path: Path, rows: int, fmt: str, chunk: int = 200_000) -> None:
    rng = np.random.default_rng(0)
    writer = None
    for start in range(0, rows, chunk):
        table = pa.Table.from_pandas(make_chunk(rng, min(chunk, rows - start), 0.001), preserve_index=False)
        if writer is None:
            writer = pacsv.CSVWriter(str(path), table.schema) if fmt == "csv" else pq.ParquetWriter(str(path), table.schema)
        writer.write_table(table)
    writer.close()


CHILD = r"""
import json, resource, sys, time
from pathlib import Path
step, data, contract_path, out = sys.argv[1:5]
t0 = time.perf_counter()
if step == "validate":
    from benchharness.data.contract import Contract
    from benchharness.data.validate import validate_file
    s = validate_file(Contract.load(contract_path), data, out)
    extra = {"rows_read": s["rows_read"], "rows_quarantined": s["rows_quarantined"], "chunks": s["chunks"]}
elif step == "monitor":
    from benchharness.data.monitor import MonitorOptions, run_monitor
    ref = str(Path(contract_path).with_name("reference.csv"))
    r = run_monitor(MonitorOptions(reference=ref, current=data, contract=contract_path, out_dir=out + "-monitor"))
    extra = {"rows_read": r["quality"]["rows_read"], "alerts": len(r["alerts"]),
             "drift_sample_rows": r["drift"]["current_sample_rows"]}
elif step == "read_chunks":
    from benchharness.data.stream import iter_chunks
    rows = sum(c.batch.num_rows for c in iter_chunks(data))
    extra = {"rows_read": rows}
else:
    import pandas as pd
    df = pd.read_csv(data) if data.endswith(".csv") else pd.read_parquet(data)
    extra = {"rows_read": len(df)}
extra["seconds"] = time.perf_counter() - t0
extra["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(extra))
"""


def run_child(step: str, data: Path, contract: Path, out: Path) -> dict:
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-c", CHILD, step, str(data), str(contract), str(out)],
                          capture_output=True, text=True, cwd=root, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--format", choices=["csv", "parquet"], default="csv")
    ap.add_argument("--dir", type=Path, default=None)
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchharness.data.contract import learn_contract

    work = args.dir or Path(tempfile.mkdtemp(prefix="validate_large_"))
    work.mkdir(parents=True, exist_ok=True)
    data = work / f"data.{args.format}"
    t0 = time.perf_counter()
    generate(data, args.rows, args.format)
    print(f"generated {args.rows} rows x {N_NUM + N_INT + N_CAT} cols -> {data} "
          f"({data.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.1f} s")
    reference = make_chunk(np.random.default_rng(1), 50_000, 0.0)
    reference.to_csv(work / "reference.csv", index=False)
    contract = learn_contract(reference).save(work / "contract.yaml")
    print(f"{'step':<26}{'seconds':>10}{'peak RSS MB':>14}  notes")
    for step, label in [("validate", "bench validate"), ("monitor", "bench monitor (no model)"),
                        ("read_chunks", "baseline: read in chunks"),
                        ("pandas", "baseline: pandas read whole")]:
        r = run_child(step, data, contract, work / "out")
        notes = ", ".join(f"{k}={v}" for k, v in r.items() if k not in ("seconds", "peak_rss_mb"))
        print(f"{label:<26}{r['seconds']:>10.2f}{r['peak_rss_mb']:>14.0f}  {notes}")
    print("target: validate < 30 s and < 1024 MB")


if __name__ == "__main__":
    main()
