"""Does the resource sampler disturb the measurement? Latency with it on vs off, side by side.

A real onnxruntime session (logistic regression and a 100-tree forest exported with
skl2onnx, one intra-op thread) is called one row at a time, back to back, in blocks that
alternate sampler off / on (so drift on a shared machine hits both alike). Target: mean and
p50 latency with the sampler on within 2% of off at the default rate (10 Hz).

    python benchmarks/sampler_overhead.py [--rounds 8] [--block-s 0.5] [--interval-s 0.1]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchharness.measure.monitor import PhaseMonitor  # noqa: E402
from benchharness.measure.resources import DEFAULT_INTERVAL_S  # noqa: E402


def make_sessions() -> dict:
    import onnxruntime as ort
    from skl2onnx import to_onnx
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    X, y = load_breast_cancer(return_X_y=True)
    X = X.astype(np.float32)
    models = {"logreg": LogisticRegression(max_iter=5000),
              "forest100": RandomForestClassifier(n_estimators=100, random_state=0, n_jobs=1)}
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    out = {}
    for name, model in models.items():
        onx = to_onnx(model.fit(X, y), X[:1], options={id(model): {"zipmap": False}})
        sess = ort.InferenceSession(onx.SerializeToString(), so, providers=["CPUExecutionProvider"])
        inp = sess.get_inputs()[0].name
        rows = [{inp: X[i:i + 1]} for i in range(len(X))]
        out[name] = (sess, rows)
    return out


def block(sess, rows, seconds: float) -> list[int]:
    samples = []
    clock = time.perf_counter_ns
    run = sess.run
    n = len(rows)
    gc.disable()
    try:
        deadline = clock() + int(seconds * 1e9)
        i = 0
        while True:
            t0 = clock()
            run(None, rows[i % n])
            t1 = clock()
            samples.append(t1 - t0)
            i += 1
            if t1 >= deadline:
                break
    finally:
        gc.enable()
    return samples


def stats(ns: list[int]) -> dict:
    ms = np.sort(np.asarray(ns, dtype=np.float64) / 1e6)
    rank = lambda q: ms[max(1, int(np.ceil(q / 100 * len(ms)))) - 1]  # nearest rank  # noqa: E731
    return {"count": len(ms), "mean": ms.mean(), "p50": rank(50), "p99": rank(99)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--block-s", type=float, default=0.5)
    ap.add_argument("--interval-s", type=float, default=DEFAULT_INTERVAL_S)
    args = ap.parse_args()
    print(f"sampler interval {args.interval_s} s ({1 / args.interval_s:g} Hz); "
          f"{args.rounds} rounds x {args.block_s} s per block, alternating off/on\n")
    print(f"{'model':<10} {'':>4} {'count':>7} {'mean ms':>9} {'p50 ms':>9} {'p99 ms':>9}")
    for name, (sess, rows) in make_sessions().items():
        block(sess, rows, 0.3)  # warm-up
        off, on = [], []
        for r in range(args.rounds):
            order = ("off", "on") if r % 2 == 0 else ("on", "off")
            for mode in order:
                if mode == "off":
                    off += block(sess, rows, args.block_s)
                else:
                    with PhaseMonitor(interval_s=args.interval_s):
                        on += block(sess, rows, args.block_s)
        s_off, s_on = stats(off), stats(on)
        for label, s in (("off", s_off), ("on", s_on)):
            print(f"{name:<10} {label:>4} {s['count']:>7} {s['mean']:>9.4f} {s['p50']:>9.4f} {s['p99']:>9.4f}")
        print(f"{name:<10} {'on/off':>4} {'':>7} {s_on['mean'] / s_off['mean']:>9.3f} "
              f"{s_on['p50'] / s_off['p50']:>9.3f} {s_on['p99'] / s_off['p99']:>9.3f}\n")


if __name__ == "__main__":
    main()
