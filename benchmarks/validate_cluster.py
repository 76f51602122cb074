"""`bench validate` of a folder of parts: one machine (streamed, part after part) against a
local Dask cluster of two worker processes (`--scheduler`), rows per second and counts.

The counts must be identical (the script exits 1 when they are not). On a machine with two
cores shared with other work, the cluster cannot be twice as fast; what it shows is the
overhead of the cluster path and that results do not change. On a real cluster the parts
are read where they are.

    python benchmarks/validate_cluster.py [--rows 1000000] [--parts 8] [--format parquet|csv]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.validate_large import make_chunk  # noqa: E402


def generate(folder: Path, rows: int, parts: int, fmt: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    per = rows // parts
    for i in range(parts):
        table = pa.Table.from_pandas(make_chunk(rng, per, 0.001), preserve_index=False)
        path = folder / f"part-{i:03d}.{fmt}"
        pq.write_table(table, path) if fmt == "parquet" else pacsv.write_csv(table, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--parts", type=int, default=8)
    ap.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    from distributed import LocalCluster

    from benchharness.data.contract import learn_contract
    from benchharness.data.validate import validate_dataset

    work = Path(tempfile.mkdtemp(prefix="validate_cluster_"))
    generate(work / "day", args.rows, args.parts, args.format)
    contract = learn_contract(make_chunk(np.random.default_rng(1), 50_000, 0.0))
    keys = ("rows_read", "rows_clean", "rows_quarantined", "failed_checks")
    started = time.perf_counter()
    local = validate_dataset(contract, work / "day", work / "local")
    local_s = time.perf_counter() - started
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster:
        started = time.perf_counter()
        validate_dataset(contract, work / "day", work / "cold", scheduler=cluster.scheduler_address)
        cold_s = time.perf_counter() - started  # workers import pandas, pyarrow, benchharness first
        started = time.perf_counter()
        remote = validate_dataset(contract, work / "day", work / "cluster", scheduler=cluster.scheduler_address)
        remote_s = time.perf_counter() - started
    rows = local["rows_read"]
    print(f"{rows:,} rows in {args.parts} {args.format} parts ({work / 'day'})")
    print(f"{'path':<34}{'seconds':>10}{'rows/s':>14}")
    print(f"{'one machine (streamed)':<34}{local_s:>10.2f}{rows / local_s:>14,.0f}")
    print(f"{f'local cluster, {args.workers} workers, cold':<34}{cold_s:>10.2f}{rows / cold_s:>14,.0f}")
    print(f"{f'local cluster, {args.workers} workers, warm':<34}{remote_s:>10.2f}{rows / remote_s:>14,.0f}")
    same = all(local[k] == remote[k] for k in keys)
    print(f"counts identical: {same} ({', '.join(f'{k}={local[k]}' for k in keys[:3])})")
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
