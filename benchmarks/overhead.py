"""How much does the harness cost? Its closed loop and batch figures against a bare loop.

A bare loop over the same onnxruntime session (one thread, same rows, same outputs asked)
is the physical limit. This script times, side by side and each in a fresh child process:

- closed loop: bare `session.run` one row at a time vs the harness's closed-loop child
  (p50 and achieved queries per second);
- batch: bare loop over pre-sliced batches vs the harness's batch child (rows per second);

for a logistic regression and a 100-tree random forest exported with skl2onnx. Bare and
harness runs alternate (`--repeats` rounds) so that the load of a shared machine hits both
alike; the table shows medians over the rounds. Targets: closed-loop p50 within 5% of the
bare loop's, qps within 5%, batch rows/s within 3%.

    python benchmarks/overhead.py [--seconds 3] [--repeats 3] [--batch-sizes 64 1024]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGETS = {"p50": 1.05, "qps": 0.95, "rows/s": 0.97}  # harness / bare must stay on this side


# -- bare loops (run in a child) ---------------------------------------------------------------
def _session(model_path: str):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(model_path, so, providers=["CPUExecutionProvider"])
    return sess, sess.get_inputs()[0].name, [sess.get_outputs()[0].name]


def bare_loop(model_path: str, X_path: str, rows: int, seconds: float, warmup_s: float = 0.5) -> dict:
    """`session.run` on pre-sliced requests of `rows` rows for `seconds`: p50 and rate."""
    import numpy as np
    import pandas as pd

    from benchharness.measure.child import MAX_DISTINCT_BATCHES, MAX_DISTINCT_REQUESTS

    sess, name, outputs = _session(model_path)
    X = pd.read_parquet(X_path).to_numpy().astype(np.float32)
    # as many distinct requests as the harness cycles through: the same working set
    limit = MAX_DISTINCT_REQUESTS if rows == 1 else MAX_DISTINCT_BATCHES
    requests = [X[i:i + rows] for i in range(0, len(X) - rows + 1, rows)][:limit]
    run = sess.run
    pc = time.perf_counter_ns
    end = time.perf_counter() + warmup_s
    while time.perf_counter() < end:
        for req in requests:
            run(outputs, {name: req})
    lat: list[int] = []
    append = lat.append
    gc.collect()
    gc.disable()
    deadline = pc() + int(seconds * 1e9)
    start = pc()
    while pc() < deadline:
        for req in requests:
            t0 = pc()
            run(outputs, {name: req})
            append(pc() - t0)
    elapsed = (pc() - start) / 1e9
    gc.enable()
    lat.sort()
    return {"p50_ms": lat[(len(lat) + 1) // 2 - 1] / 1e6, "qps": len(lat) / elapsed,
            "rows_per_s": len(lat) * rows / elapsed}


# -- the harness's own children -----------------------------------------------------------------
def harness_spec(model_path: str, X_path: str, seconds: float, batch_sizes: list[int]) -> dict:
    from benchharness import config

    rt = config.validate_section({}, config.REALTIME, "realtime")
    batch = config.validate_section({}, config.BATCH, "batch")
    threads = config.validate_section({}, config.THREADS, "threads")
    # a fixed window, like the bare loop's: the stop rule would stop at another moment
    rt.update(duration_s=seconds, min_duration_s=seconds)
    batch.update(duration_s=seconds, min_duration_s=seconds, batch_sizes=batch_sizes, full_split=False)
    return {"model": {"source": model_path, "format": None, "options": {}},
            "inputs": {"X_test": X_path}, "threads": threads, "phase_hooks": [],
            "realtime": rt, "batch": batch}


def _child(target: str, kwargs: dict) -> dict:
    from benchharness.isolate import run_in_child
    from benchharness.measure.threads import child_env

    out = run_in_child(target, kwargs, timeout_s=600, env=child_env({"blas": 1}), start_method="spawn")
    if not out.ok:
        raise SystemExit(f"{target}: {out.error}\n{out.traceback or out.stderr_tail}")
    return out.value


def prepare_models(work: Path, rows: int) -> tuple[dict[str, str], str]:
    import pandas as pd
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    from benchharness.training import export_onnx

    X, y = make_classification(n_samples=rows, n_features=30, random_state=0)
    X_path = work / "X.parquet"
    pd.DataFrame(X, columns=[f"f{i}" for i in range(30)]).to_parquet(X_path)
    models = {
        "logistic regression": LogisticRegression(max_iter=1000),
        "random forest (100 trees)": RandomForestClassifier(n_estimators=100, max_depth=10,
                                                            random_state=0, n_jobs=1),
    }
    paths = {}
    for label, est in models.items():
        est.fit(X, y)
        paths[label] = str(export_onnx(est, 30, work / f"{label.split()[0]}.onnx"))
    return paths, str(X_path)


def measure(model_path: str, X_path: str, seconds: float, repeats: int, batch_sizes: list[int]) -> list:
    me = "overhead"
    rows: dict[str, dict[str, list[float]]] = {}

    def add(metric: str, who: str, value: float) -> None:
        rows.setdefault(metric, {"bare": [], "harness": []})[who].append(value)

    spec = harness_spec(model_path, X_path, seconds, batch_sizes)
    for _ in range(repeats):
        bare = _child(f"{me}:bare_loop", {"model_path": model_path, "X_path": X_path, "rows": 1,
                                          "seconds": seconds})
        closed = _child("benchharness.measure.child:closed_loop_child", {"spec": spec})
        lat = closed["loop"].latencies_ns
        add("closed loop p50 (us)", "bare", bare["p50_ms"] * 1e3)
        add("closed loop p50 (us)", "harness", float(sorted(lat)[(len(lat) + 1) // 2 - 1]) / 1e3)
        add("closed loop qps", "bare", bare["qps"])
        add("closed loop qps", "harness", closed["loop"].qps)
        for size in batch_sizes:
            b = _child(f"{me}:bare_loop", {"model_path": model_path, "X_path": X_path, "rows": size,
                                           "seconds": seconds})
            add(f"batch {size} rows/s", "bare", b["rows_per_s"])
        harness_batch = _child("benchharness.measure.child:batch_child", {"spec": spec})
        for entry in harness_batch["batch"]:
            add(f"batch {entry['batch_size']} rows/s", "harness", entry["rows_per_s"])
    return [(metric, statistics.median(v["bare"]), statistics.median(v["harness"]))
            for metric, v in rows.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="timed window per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="alternating bare/harness rounds")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 1024])
    parser.add_argument("--rows", type=int, default=20_000, help="rows of the synthetic test data")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
        paths, X_path = prepare_models(Path(tmp), args.rows)
        print(f"{'model':<26} {'figure':<22} {'bare':>12} {'harness':>12} {'ratio':>7}  target")
        for label, path in paths.items():
            for metric, bare, harness in measure(path, X_path, args.seconds, args.repeats, args.batch_sizes):
                ratio = harness / bare
                kind = "p50" if "p50" in metric else "qps" if "qps" in metric else "rows/s"
                limit = TARGETS[kind]
                ok = ratio <= limit if kind == "p50" else ratio >= limit
                sign = "<=" if kind == "p50" else ">="
                print(f"{label:<26} {metric:<22} {bare:>12,.1f} {harness:>12,.1f} {ratio:>7.3f}  "
                      f"{sign}{limit:.2f} {'ok' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()
