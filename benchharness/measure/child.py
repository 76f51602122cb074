"""What runs inside a measurement child (see `isolate.py`): one function per measurement.

Each function takes one plain `spec` dict (built by `measure/stages.py`) and returns plain
data: summaries and raw numpy arrays, never live objects. Every function: pins threads and
CPUs (`threads.py`), loads the model with its adapter, gets the input (the prepared test
split the predict child saved, or inputs generated from the signature), slices the requests
once, then times. Each timed phase runs inside `phases(name)`, which enters every hook named
in `spec["phase_hooks"]` ("module:attr", e.g. a resource sampler): a hook is
`hook(phase) -> context manager` whose `__enter__` returns a dict it fills by `__exit__`;
those dicts come back under `phases[phase][hook]`.

spec keys: model {source, format, options}; inputs {native, X_test, X_train, synthetic
{rows, seed, free_dim}}; threads; phase_hooks; realtime / open_loop / batch (suite sections).
"""

from __future__ import annotations

import importlib
import math
import pickle
import time
from contextlib import ExitStack, contextmanager
from typing import Any

import numpy as np

from benchharness.measure.threads import apply_in_child, runtime_options

MAX_DISTINCT_REQUESTS = 1000  # cycling over more slices buys nothing but memory
MAX_DISTINCT_BATCHES = 32


class Phases:
    """Runs the suite's phase hooks around each timed phase and keeps what they recorded."""

    def __init__(self, hook_paths: list[str] | None):
        self.hooks = [(path, _import(path)) for path in hook_paths or []]
        self.records: dict[str, dict] = {}

    @contextmanager
    def __call__(self, phase: str):
        with ExitStack() as stack:
            recs = {path: stack.enter_context(hook(phase)) for path, hook in self.hooks}
            yield
        if recs:
            self.records[phase] = recs


def _import(path: str):
    module, _, attr = path.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


class Session:
    """The model, its input and the settings of one child, ready to time."""

    def __init__(self, spec: dict):
        from benchharness.adapters.registry import adapter_class, find_format, load_model

        self.spec = spec
        self.phases = Phases(spec.get("phase_hooks"))
        threads = spec.get("threads") or {}
        apply_in_child(threads)  # CPUs pinned before the runtime starts its threads
        m = spec["model"]
        accepted = adapter_class(find_format(m["source"], m.get("format"))).accepted_options
        options = runtime_options(threads, m.get("options") or {}, accepted)
        with self.phases("load"):
            t0 = time.perf_counter()
            self.adapter = load_model(m["source"], options, fmt=m.get("format"))
            self.load_s = time.perf_counter() - t0
        self.threads = apply_in_child(threads)  # again: pools the model's libraries brought
        self.threads["runtime_options"] = {k: v for k, v in options.items() if k.endswith("_threads")}
        self.fn = self.adapter.predict_fn()

    def test_input(self) -> Any:
        """The prepared test split (or the generated perf-only input)."""
        inputs = self.spec["inputs"]
        if inputs.get("native"):
            with open(inputs["native"], "rb") as fh:
                return pickle.load(fh)  # written by this run's predict child
        if inputs.get("X_test"):
            return self.adapter.prepare(_read_frame(inputs["X_test"]))
        return generated_input(self.adapter, inputs.get("synthetic") or {})

    def requests(self, X: Any, rows: int, limit: int) -> list:
        """Consecutive slices of `rows` rows (tiling the split when it is shorter)."""
        n = self.adapter.n_rows(X)
        if rows > n:
            X = _tile(X, math.ceil(rows / n))
            n = self.adapter.n_rows(X)
        starts = range(0, n - rows + 1, rows)
        return [self.adapter.take(X, s, s + rows) for s in starts[:limit]]

    def settings(self, **more) -> dict:
        from benchharness.measure.timers import timer_info

        out = {"threads": self.threads, "timer": timer_info(), "load_s": self.load_s}
        out.update(more)
        return out

    def close(self) -> dict:
        self.adapter.close()
        return self.phases.records


def _read_frame(path: str):
    import pandas as pd

    return pd.read_parquet(path)


def _tile(X: Any, reps: int) -> Any:
    if isinstance(X, dict):
        return {k: np.concatenate([v] * reps) for k, v in X.items()}
    if isinstance(X, np.ndarray):
        return np.concatenate([X] * reps)
    import pandas as pd

    if isinstance(X, pd.DataFrame):
        return pd.concat([X] * reps, ignore_index=True)
    return X


def generated_input(adapter, synthetic: dict) -> Any:
    from benchharness.measure.inputs import as_model_input, synthetic_inputs

    arrays = synthetic_inputs(
        adapter.signature, rows=int(synthetic.get("rows", 1024)), seed=int(synthetic.get("seed", 0)),
        free_dim=int(synthetic.get("free_dim", 1)), dims=synthetic.get("dims"),
    )
    return as_model_input(arrays)


# -- the measurements -------------------------------------------------------------------------
def predict_child(spec: dict) -> dict:
    """Predictions on the splits (for quality), model facts, and the prepared test input
    saved for the measurement children that follow."""
    s = Session(spec)
    inputs = spec["inputs"]
    out: dict = {"model": s.adapter.info.to_dict(), "signature": s.adapter.signature.to_dict(),
                 "load_s": s.load_s, "predictions": {}}
    preds = out["predictions"]
    with s.phases("predict"):
        if inputs.get("X_test"):
            for split in ("test", "train"):
                if not inputs.get(f"X_{split}"):
                    continue
                X = s.adapter.prepare(_read_frame(inputs[f"X_{split}"]))
                preds[split] = np.asarray(s.adapter.predict(X))
                if s.adapter.has_proba:
                    preds[f"proba_{split}"] = np.asarray(s.adapter.predict_proba(X))
                if split == "test":
                    X_test = X
            if s.adapter.has_proba and s.adapter.classes is not None:
                preds["classes"] = np.asarray(s.adapter.classes)
        else:  # perf-only: no labels to predict, but the model must answer its own inputs
            X_test = s.test_input()
            s.fn(s.adapter.take(X_test, 0, 1))
            out["perf_only"] = True
    if inputs.get("native_out"):
        try:
            with open(inputs["native_out"], "wb") as fh:
                pickle.dump(X_test, fh, protocol=pickle.HIGHEST_PROTOCOL)
            out["native_saved"] = True
        except (pickle.PicklingError, TypeError, AttributeError):
            out["native_saved"] = False  # later children prepare the split themselves
    out["phases"] = s.close()
    return out


def closed_loop_child(spec: dict) -> dict:
    from benchharness.measure.closed_loop import run_closed_loop
    from benchharness.measure.stoprule import StopRule

    s = Session(spec)
    rt = spec["realtime"]
    stop = StopRule.from_config(rt)
    requests = s.requests(s.test_input(), rt["rows_per_request"], MAX_DISTINCT_REQUESTS)
    with s.phases("closed_loop"):
        loop = run_closed_loop(s.fn, requests, stop, rt["warmup_count"], rt["warmup_s"])
    server_model = server_samples = None
    if getattr(s.adapter, "server_time_ms", None) and len(loop.latencies_ns):
        from benchharness.adapters.server_timing import closed_loop_server_model

        server_model = closed_loop_server_model(  # an HTTP candidate's own model time
            s.adapter, len(loop.latencies_ns), float(loop.latencies_ns.mean()) / 1e6)
        if server_model is not None:  # the parent pools them over the trials
            server_samples = list(s.adapter.server_time_ms[-len(loop.latencies_ns):])
    return {
        "loop": loop,
        "server_model": server_model,
        "server_samples_ms": server_samples,
        "settings": s.settings(stop_rule=stop.to_dict(), rows_per_request=rt["rows_per_request"],
                               distinct_requests=len(requests)),
        "phases": s.close(),
    }


def _open_loop_session(spec: dict):
    """The child's session, a `measure(rate) -> summary` closure that runs one open loop at
    `rate` (recording the raw run in `runs`), the generator's calibration and the settings."""
    from benchharness.measure.open_loop import (
        arrival_offsets_ns,
        calibrate_generator,
        run_open_loop,
        summarize_run,
    )
    from benchharness.measure.timers import warm_up

    s = Session(spec)
    rt, ol = spec["realtime"], spec["open_loop"]
    requests = s.requests(s.test_input(), rt["rows_per_request"], MAX_DISTINCT_REQUESTS)
    warm = warm_up(s.fn, requests, rt["warmup_count"], rt["warmup_s"])
    over_network = hasattr(s.adapter, "async_predict_fn")
    gen = calibrate_generator(ol["workers"])  # wake-up error, cost per request, ceiling
    runs: list[tuple[float, Any]] = []

    def measure(rate: float) -> dict:
        count = max(math.ceil(rate * ol["duration_s"]), ol["min_count"])
        offsets = arrival_offsets_ns(rate, count, ol["arrival"], ol["seed"] + len(runs)
                                     + 1000 * int(spec.get("trial_index", 0)))
        if runs:  # a short warm-up again: the bisection may come back after a saturated rate
            warm_up(s.fn, requests, rt["warmup_count"], 0.0)
        max_wall_s = 3 * count / rate + 1.0
        with s.phases(f"open_loop@{rate:.6g}"):
            if over_network:  # one event loop
                from benchharness.measure.open_loop import OpenLoopRun
                from benchharness.measure.open_loop_async import run_async_open_loop

                run = OpenLoopRun(**run_async_open_loop(s.adapter, requests, offsets, max_wall_s,
                                                        gen["margin_ns"]))
            else:
                run = run_open_loop(s.fn, requests, offsets, ol["workers"], max_wall_s,
                                    gen["margin_ns"], gen["overhead_ns"])
        runs.append((rate, run))
        return summarize_run(run, rate, ol["late_threshold_ms"], rt["ci_confidence"])

    settings = s.settings(warmup=warm, rows_per_request=rt["rows_per_request"],
                          distinct_requests=len(requests), generator=gen,
                          client="asyncio" if over_network else f"{ol['workers']} worker thread(s)")
    # the thread generator's ceiling bounds the sweep; an HTTP client's is not that one
    ceiling = None if over_network else gen["max_rate_per_s"]
    return s, measure, runs, settings, ceiling


def open_loop_child(spec: dict) -> dict:
    """The rate sweep: ascending rates until one fails, then bisection (`sweep_rates`)."""
    from benchharness.measure.open_loop import sweep_rates

    s, measure, runs, settings, ceiling = _open_loop_session(spec)
    ol = spec["open_loop"]
    rates, best = sweep_rates(
        measure, spec["p99_limit_ms"], ol.get("rates_per_s"), spec.get("capacity_per_s"),
        ol["fractions"], ol["refine_steps"], spec.get("max_error_rate"), ceiling,
    )
    return {"rates": rates, "max_sustainable_rate_per_s": best, "runs": list(runs),
            "settings": settings, "phases": s.close()}


def open_loop_rates_child(spec: dict) -> dict:
    """One open-loop trial: each of `spec["trial_rates"]` measured once, none skipped (the
    parent judges sustainability over all trials together)."""
    s, measure, runs, settings, _ = _open_loop_session(spec)
    rates = [measure(float(rate)) for rate in sorted(spec["trial_rates"])]
    return {"rates": rates, "runs": list(runs), "settings": settings, "phases": s.close()}


def batch_child(spec: dict) -> dict:
    from benchharness.measure.batch import batch_summary, time_full_split
    from benchharness.measure.closed_loop import run_closed_loop
    from benchharness.measure.stoprule import StopRule

    s = Session(spec)
    cfg = spec["batch"]
    stop = StopRule.from_config(cfg)
    X = s.test_input()
    n = s.adapter.n_rows(X)
    sizes, loops = [], []
    for size in cfg["batch_sizes"]:
        batches = s.requests(X, size, MAX_DISTINCT_BATCHES)
        with s.phases(f"batch@{size}"):
            loop = run_closed_loop(s.fn, batches, stop, cfg["warmup_count"], cfg.get("warmup_s", 0.0))
        sizes.append(batch_summary(size, size, loop, stop.confidence))
        loops.append((size, loop))
    full = None
    if cfg.get("full_split"):  # the parent asks for it in one trial only
        with s.phases("full_split"):
            full = time_full_split(s.fn, X, n)
    return {
        "batch": sizes, "loops": loops, "full_split": full,
        "settings": s.settings(stop_rule=stop.to_dict()), "phases": s.close(),
    }


# -- replicas: N children measured side by side in one wall-clock window ---------------------
def _wait_for_go(folder: str, index: int, timeout_s: float) -> int:
    """Say this replica is ready, then wait for the parent's start time (monotonic ns, a
    system-wide clock): every replica starts timing at the same instant."""
    from pathlib import Path

    Path(folder, f"ready-{index}").touch()
    go = Path(folder, "go")
    deadline = time.monotonic() + timeout_s
    while not go.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"replica {index}: no start signal within {timeout_s:g} s")
        time.sleep(0.002)
    text = go.read_text().strip()
    if text == "abort":
        raise RuntimeError("another replica failed before the start: not measured")
    start_ns = int(text)
    while time.monotonic_ns() < start_ns - 2_000_000:
        time.sleep(0.001)
    while time.monotonic_ns() < start_ns:
        pass
    return start_ns


def _window(fn, requests: list, start_ns: int, end_ns: int) -> dict:
    """Call `fn` back to back from `start_ns` on; count the calls that END inside the window
    (a call still running at its end is not counted): every replica is counted over the
    same interval of time."""
    from itertools import cycle

    from benchharness.measure.timers import gc_paused

    clock = time.monotonic_ns
    lat: list[int] = []
    errors = 0
    with gc_paused():
        now = clock()
        for req in cycle(requests):
            if now >= end_ns:
                break
            t0 = now
            try:
                fn(req)
            except Exception:
                errors += 1
                now = clock()
                continue
            now = clock()
            if now <= end_ns:
                lat.append(now - t0)
    return {"latency_ns": np.asarray(lat, dtype=np.int64), "errors": errors}


def replica_child(spec: dict) -> dict:
    """One of N replicas run together: load, warm up, wait for the common start, then a
    closed loop (one request at a time) and a batch loop, each in the same wall-clock window
    as every other replica's. spec["replica"]: {index, barrier, window_s, gap_s, batch_size,
    wait_s}."""
    from benchharness.measure.timers import warm_up

    s = Session(spec)
    rep, rt = spec["replica"], spec["realtime"]
    X = s.test_input()
    requests = s.requests(X, rt["rows_per_request"], MAX_DISTINCT_REQUESTS)
    batches = s.requests(X, rep["batch_size"], MAX_DISTINCT_BATCHES)
    warm_up(s.fn, requests, rt["warmup_count"], rt["warmup_s"])
    warm_up(s.fn, batches, 3, rt["warmup_s"])
    start = _wait_for_go(rep["barrier"], rep["index"], rep["wait_s"])
    began = time.monotonic_ns()
    window = int(rep["window_s"] * 1e9)
    gap = int(rep["gap_s"] * 1e9)
    closed = _window(s.fn, requests, start, start + window)
    batch_start = start + window + gap
    while time.monotonic_ns() < batch_start - 2_000_000:
        time.sleep(0.001)
    while time.monotonic_ns() < batch_start:
        pass
    batch = _window(s.fn, batches, batch_start, batch_start + window)
    s.close()
    return {"closed_loop": closed, "batch": batch, "start_lag_ms": (began - start) / 1e6,
            "rows_per_request": rt["rows_per_request"], "rows_per_batch": rep["batch_size"]}
