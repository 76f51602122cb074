"""How much does the harness cost? Its closed loop and batch figures against a bare loop.

A bare loop calling the same onnxruntime session (one thread, the same rows, the same output
asked) is the physical limit. For a logistic regression and a 100-tree random forest
exported with skl2onnx, one fresh child per model loads the model the harness's way
(`measure/child.py`: adapter, prepared input, pre-sliced requests, thread settings) and
times, side by side:

- closed loop: bare `session.run` one row at a time vs the harness's closed loop
  (p50 and achieved queries per second);
- batch: a bare loop over pre-sliced batches vs the harness's batch loop (rows per second).

Bare and harness windows alternate (`--repeats` rounds, ABBA order) so that the load of a
shared machine hits both alike; the table shows medians over the rounds. Wall-clock rates
swing with what else runs; rates per CPU-second of the measuring thread (`/cpu`) do not, and
are the sharper overhead figure on a busy machine. Targets: closed-loop p50 within 5% of the
bare loop's, qps within 5%, batch rows/s within 3%.

    python benchmarks/overhead.py [--seconds 1] [--repeats 7] [--batch-sizes 64 1024]
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


# -- in the child ---------------------------------------------------------------------------------
def bare_loop(session, requests: list, seconds: float) -> dict:
    """`session.run` back to back over pre-sliced requests for `seconds`: p50, rate, CPU."""
    name = session.get_inputs()[0].name
    outputs = [session.get_outputs()[0].name]  # the label, as the harness asks
    run = session.run
    pc = time.perf_counter_ns
    lat: list[int] = []
    append = lat.append
    gc.collect()
    gc.disable()
    cpu0 = time.thread_time()
    deadline = pc() + int(seconds * 1e9)
    start = pc()
    while pc() < deadline:
        for req in requests:
            t0 = pc()
            run(outputs, {name: req})
            append(pc() - t0)
    elapsed = (pc() - start) / 1e9
    cpu = time.thread_time() - cpu0
    gc.enable()
    lat.sort()
    return {"p50_us": lat[(len(lat) + 1) // 2 - 1] / 1e3, "qps": len(lat) / elapsed,
            "per_cpu_s": len(lat) / cpu}


def harness_loop(fn, requests: list, seconds: float) -> dict:
    """The harness's closed loop (`run_closed_loop`, as its children call it), already warm."""
    import numpy as np

    from benchharness.measure.closed_loop import run_closed_loop
    from benchharness.measure.stoprule import StopRule

    stop = StopRule(min_duration_s=seconds, max_duration_s=seconds, min_count=1)  # a fixed window
    loop = run_closed_loop(fn, requests, stop, warmup_count=0, warmup_s=0.0)
    lat = np.sort(loop.latencies_ns)
    return {"p50_us": float(lat[(len(lat) + 1) // 2 - 1]) / 1e3, "qps": loop.qps,
            "per_cpu_s": loop.attempts / loop.cpu_s}


def compare(model_path: str, X_path: str, seconds: float, repeats: int, batch_sizes: list[int]) -> dict:
    """The harness's own loading, slicing and timed loop (the code path of `measure/child.py`)
    against a bare loop over the very same onnxruntime session, alternating (ABBA) rounds.
    Returns {figure: {"bare": [...], "harness": [...]}}."""
    import numpy as np
    import pandas as pd

    from benchharness import config
    from benchharness.measure.child import MAX_DISTINCT_BATCHES, MAX_DISTINCT_REQUESTS, Session
    from benchharness.measure.timers import warm_up

    threads = config.validate_section({}, config.THREADS, "threads")
    s = Session({"model": {"source": model_path, "format": None, "options": {}},
                 "inputs": {"X_test": X_path}, "threads": threads})
    X_native = s.test_input()
    # the bare loop's own input: row-major float32 (a frame's to_numpy() is column-major)
    X = np.ascontiguousarray(pd.read_parquet(X_path).to_numpy(), dtype=np.float32)
    figures: dict[str, dict[str, list[float]]] = {}

    def add(figure: str, who: str, value: float) -> None:
        figures.setdefault(figure, {"bare": [], "harness": []})[who].append(value)

    for round_no in range(repeats):
        for size in [1, *batch_sizes]:
            limit = MAX_DISTINCT_REQUESTS if size == 1 else MAX_DISTINCT_BATCHES
            runs = {
                "harness": (harness_loop, s.fn, s.requests(X_native, size, limit)),
                "bare": (bare_loop, s.adapter.session,
                         [X[i:i + size] for i in range(0, len(X) - size + 1, size)][:limit]),
            }
            warm_up(s.fn, runs["harness"][2], 20, 0.2)
            order = ["bare", "harness"] if round_no % 2 == 0 else ["harness", "bare"]
            for who in order:
                loop, target, requests = runs[who]
                r = loop(target, requests, seconds)
                if size == 1:
                    add("closed loop p50 (us)", who, r["p50_us"])
                    add("closed loop qps", who, r["qps"])
                    add("closed loop qps/cpu", who, r["per_cpu_s"])
                else:
                    add(f"batch {size} rows/s", who, r["qps"] * size)
                    add(f"batch {size} rows/cpu-s", who, r["per_cpu_s"] * size)
    return figures


# -- in the parent --------------------------------------------------------------------------------
def prepare_models(work: Path, rows: int) -> tuple[dict[str, str], str]:
    import pandas as pd
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    from benchharness.train.training import export_onnx

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
    from benchharness.isolation.isolate import run_in_child
    from benchharness.measure.threads import child_env

    kwargs = {"model_path": model_path, "X_path": X_path, "seconds": seconds, "repeats": repeats,
              "batch_sizes": batch_sizes}
    out = run_in_child("overhead:compare", kwargs, timeout_s=3600, env=child_env({"blas": 1}),
                       start_method="spawn")
    if not out.ok:
        raise SystemExit(f"overhead child: {out.error}\n{out.traceback or out.stderr_tail}")
    return [(figure, statistics.median(v["bare"]), statistics.median(v["harness"]))
            for figure, v in out.value.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="timed window per measurement")
    parser.add_argument("--repeats", type=int, default=7, help="alternating bare/harness rounds")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 1024])
    parser.add_argument("--rows", type=int, default=20_000, help="rows of the synthetic test data")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
        paths, X_path = prepare_models(Path(tmp), args.rows)
        print(f"{'model':<26} {'figure':<22} {'bare':>12} {'harness':>12} {'ratio':>7}  target")
        for label, path in paths.items():
            for figure, bare, harness in measure(path, X_path, args.seconds, args.repeats, args.batch_sizes):
                ratio = harness / bare
                kind = "p50" if "p50" in figure else "qps" if "qps" in figure else "rows/s"
                limit = TARGETS[kind]
                ok = ratio <= limit if kind == "p50" else ratio >= limit
                sign = "<=" if kind == "p50" else ">="
                print(f"{label:<26} {figure:<22} {bare:>12,.1f} {harness:>12,.1f} {ratio:>7.3f}  "
                      f"{sign}{limit:.2f} {'ok' if ok else 'MISSED'}", flush=True)


if __name__ == "__main__":
    main()
