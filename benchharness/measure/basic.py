"""Placeholder measurement (walking skeleton): one child process per candidate.

The child loads the model, predicts the train and test splits (for quality), then times a
closed loop (one row per request, back to back, after a warm-up) and a batch sweep. The
performance engine replaces this with one child per measurement, open loop and stop rules.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import time
import traceback

import numpy as np

from benchharness.context import CandidateRun, RunContext
from benchharness.errors import ModelError, UserError

CHILD_TIMEOUT_S = 300


def _percentile(sorted_ms: np.ndarray, q: float) -> float:
    """Nearest-rank percentile: the smallest value with at least q% of samples at or below it."""
    n = len(sorted_ms)
    rank = max(1, int(np.ceil(q / 100 * n)))
    return float(sorted_ms[rank - 1])


def _closed_loop(fn, requests, duration_s, warmup_count, warmup_s) -> dict:
    n_req = len(requests)
    t_end = time.perf_counter() + warmup_s
    i = 0
    while i < warmup_count or time.perf_counter() < t_end:
        fn(requests[i % n_req])
        i += 1
    samples = []
    append = samples.append
    clock = time.perf_counter_ns
    gc.disable()
    try:
        start = clock()
        deadline = start + int(duration_s * 1e9)
        i = 0
        now = start
        while now < deadline:
            t0 = clock()
            fn(requests[i % n_req])
            now = clock()
            append(now - t0)
            i += 1
        elapsed = (now - start) / 1e9
    finally:
        gc.enable()
    ms = np.sort(np.asarray(samples, dtype=np.float64) / 1e6)
    return {
        "count": len(ms),
        "mean_ms": float(ms.mean()),
        "min_ms": float(ms[0]),
        "p50_ms": _percentile(ms, 50),
        "p90_ms": _percentile(ms, 90),
        "p99_ms": _percentile(ms, 99),
        "max_ms": float(ms[-1]),
        "qps": len(ms) / elapsed,
    }


def _batch(adapter, X, fn, sizes, duration_s, warmup_count) -> list[dict]:
    out = []
    n = adapter.n_rows(X)
    for size in sizes:
        size_eff = min(size, n)
        starts = list(range(0, max(1, n - size_eff + 1), size_eff)) or [0]
        batches = [adapter.take(X, s, s + size_eff) for s in starts]
        for k in range(warmup_count):
            fn(batches[k % len(batches)])
        rows = 0
        gc.disable()
        try:
            t0 = time.perf_counter_ns()
            deadline = t0 + int(duration_s * 1e9)
            i = 0
            while True:
                fn(batches[i % len(batches)])
                rows += size_eff
                i += 1
                now = time.perf_counter_ns()
                if now >= deadline:
                    break
        finally:
            gc.enable()
        out.append({"batch_size": size, "rows_per_batch": size_eff, "batches": i,
                    "rows_per_s": rows / ((now - t0) / 1e9)})
    return out


def evaluate_in_child(model_path, fmt, options, work_dir, rt_cfg, batch_cfg, has_data) -> dict:
    import pandas as pd

    from benchharness.adapters.registry import load_model

    t0 = time.perf_counter()
    adapter = load_model(model_path, options, fmt=fmt)
    load_s = time.perf_counter() - t0
    out = {"model": adapter.info.to_dict(), "signature": adapter.signature.to_dict(), "load_s": load_s}
    if not has_data:
        raise ModelError("no data: measuring a model on generated inputs needs the performance engine")
    X_test = adapter.prepare(pd.read_parquet(f"{work_dir}/X_test.parquet"))
    X_train = adapter.prepare(pd.read_parquet(f"{work_dir}/X_train.parquet"))
    preds = {"test": adapter.predict(X_test), "train": adapter.predict(X_train)}
    if adapter.has_proba:
        preds["proba_test"] = adapter.predict_proba(X_test)
        preds["proba_train"] = adapter.predict_proba(X_train)
        if adapter.classes is not None:
            preds["classes"] = np.asarray(adapter.classes)
    out["predictions"] = preds
    fn = adapter.predict_fn()
    k = rt_cfg["rows_per_request"]
    n = adapter.n_rows(X_test)
    requests = [adapter.take(X_test, s, s + k) for s in range(0, n - k + 1, k)]
    out["closed_loop"] = _closed_loop(fn, requests, rt_cfg["duration_s"], rt_cfg["warmup_count"], rt_cfg["warmup_s"])
    from benchharness.adapters.server_timing import closed_loop_server_model

    server = closed_loop_server_model(adapter, out["closed_loop"]["count"], out["closed_loop"]["mean_ms"])
    if server:  # an HTTP candidate whose server reports its model time
        out["closed_loop"]["server_model"] = server
    out["batch"] = _batch(adapter, X_test, fn, batch_cfg["batch_sizes"], batch_cfg["duration_s"], batch_cfg["warmup_count"])
    adapter.close()
    return out


def _child_main(conn, fn, args):
    try:
        conn.send(("ok", fn(*args)))
    except UserError as exc:
        conn.send(("user_error", str(exc)))
    except BaseException as exc:  # the model's own exception
        conn.send(("error", f"{type(exc).__name__}: {exc}", traceback.format_exc(limit=6)))
    finally:
        conn.close()


def run_in_child(fn, args, timeout_s: float):
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child_main, args=(child, fn, args), daemon=True)
    proc.start()
    child.close()
    try:
        if not parent.poll(timeout_s):
            proc.kill()
            raise ModelError(f"measurement timed out after {timeout_s:.0f} s")
        try:
            msg = parent.recv()
        except EOFError:
            proc.join(5)
            raise ModelError(f"child process died with exit code {proc.exitcode}") from None
    finally:
        proc.join(5)
        if proc.is_alive():
            proc.kill()
    if msg[0] == "ok":
        return msg[1]
    raise ModelError(msg[1])


def predict_stage(ctx: RunContext, cand: CandidateRun) -> None:
    out = run_in_child(
        evaluate_in_child,
        (cand.model_path, cand.model_format, cand.spec["options"], str(ctx.work_dir),
         ctx.suite["realtime"], ctx.suite["batch"], ctx.dataset is not None),
        CHILD_TIMEOUT_S,
    )
    cand.result["model"] = out["model"]
    cand.result["signature"] = out["signature"]
    cand.result["load_s"] = out["load_s"]
    cand.predictions = out["predictions"]
    ctx.extras[("basic", cand.name)] = out


def realtime_stage(ctx: RunContext, cand: CandidateRun) -> None:
    out = ctx.extras.pop(("basic", cand.name), {})
    cand.result["realtime"] = {"closed_loop": out.get("closed_loop")}
    ctx.extras[("basic-batch", cand.name)] = out.get("batch")


def batch_stage(ctx: RunContext, cand: CandidateRun) -> None:
    cand.result["batch"] = ctx.extras.pop(("basic-batch", cand.name), [])
