"""What `bench serve` costs over a bare ASGI endpoint calling the same ONNX session.

    python benchmarks/serve_overhead.py [--rate 200] [--duration 10] [--rounds 2]

Two servers, each in its own process on loopback, same uvicorn settings (h11, no access
log), same ONNX model (a 100-tree random forest on breast-cancer, one intra-op thread):
  bare   a Starlette route: json.loads, np.asarray, session.run, JSONResponse
  bench  `bench serve model.onnx` (V2 checks, the adapter, Server-Timing)
One load generator (asyncio, the lean kept-alive HTTP/1.1 pool of HTTP candidates) sends the same one-row V2 request
to each at the same offered rate with Poisson arrivals; latency counts from each request's
scheduled time (no coordinated omission). Rounds alternate bare/bench so that a noisy
neighbour hurts both alike. Target: bench p99 within 20% of bare p99.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_model(path: Path) -> np.ndarray:
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier

    from benchharness.train.training import export_onnx

    X, y = load_breast_cancer(return_X_y=True)
    forest = RandomForestClassifier(n_estimators=100, random_state=0, n_jobs=1).fit(X, y)
    export_onnx(forest, X.shape[1], path)
    return X.astype(np.float32)


def bare_server(model: str) -> None:
    """The baseline: the least a JSON endpoint can do around session.run."""
    import onnxruntime as ort
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from benchharness.serve.server import base_url, bind

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    session = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    run = session.run

    async def infer(request: Request) -> JSONResponse:
        t = json.loads(await request.body())["inputs"][0]
        x = np.asarray(t["data"], dtype=np.float32).reshape(t["shape"])
        label = run(["label"], {"input": x})[0]
        return JSONResponse({"outputs": [{"name": "label", "shape": list(label.shape),
                                          "datatype": "INT64", "data": label.tolist()}]})

    app = Starlette(routes=[Route("/v2/models/bare/infer", infer, methods=["POST"])])
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", http="h11", ws="none")
    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(config)

    def exit_with_parent() -> None:  # stdin is a pipe from the benchmark: EOF when it ends
        sys.stdin.read()
        server.should_exit = True

    threading.Thread(target=exit_with_parent, daemon=True).start()
    print(f"serving 'bare' at {base_url(sock)}/v2/models/bare", flush=True)
    server.run(sockets=[sock])


def start_bare(model: str, log: Path):
    """The bare server in its own process, announced like `bench serve` announces itself."""
    import subprocess

    with open(log, "w") as fh:
        proc = subprocess.Popen([sys.executable, __file__, "--bare", model], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=fh, text=True)
    line: list[str] = []
    t = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    t.start()
    t.join(60)
    if not line or " at " not in line[0]:
        proc.kill()
        raise SystemExit(f"bare server did not start; see {log}")
    return proc, line[0].strip().rsplit(" at ", 1)[1]


class Poster:
    """The same bytes to any URL, on the lean asyncio HTTP/1.1 pool of HTTP candidates:
    what run_async_open_loop needs from an adapter."""

    def __init__(self, url: str):
        from benchharness.adapters.http_clients import AsyncHttp1Pool

        self.url = url + "/infer"
        self.pool = AsyncHttp1Pool(self.url, {"content-type": "application/json"})

    def async_predict_fn(self):
        async def call(body: bytes):
            r = await self.pool.post(self.url, content=body)
            if r.status_code != 200:
                raise RuntimeError(f"HTTP {r.status_code}: {r.text[:200]}")

        return call

    async def aclose(self):
        await self.pool.aclose()


def measure(url: str, bodies: list[bytes], rate: float, duration_s: float, seed: int) -> dict:
    from benchharness.measure.open_loop_async import run_async_open_loop

    n = int(rate * duration_s)
    gaps = np.random.default_rng(seed).exponential(1.0 / rate, n)
    offsets = ((np.cumsum(gaps) - gaps[0]) * 1e9).astype(np.int64)
    warm = Poster(url)
    run_async_open_loop(warm, bodies, offsets[: max(20, n // 20)])  # warm the server, not timed
    run = run_async_open_loop(Poster(url), bodies, offsets)
    ok = ~run["failed"]
    ms = np.sort((run["end_ns"] - run["scheduled_ns"])[ok] / 1e6)
    late = (run["start_ns"] - run["scheduled_ns"]) / 1e6
    return {"ms": ms, "errors": int(run["failed"].sum()), "late_share": float(np.mean(late > 1.0)),
            "first_error": run["first_error"]}


def nearest_rank(ms: np.ndarray, q: float) -> float:
    return float(np.percentile(ms, q, method="inverted_cdf"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=200.0, help="offered requests per second")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per round and server")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--bare", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.bare:
        return bare_server(args.bare)

    from benchharness.serve.suite import start_server, stop_server

    work = Path(tempfile.mkdtemp(prefix="serve-overhead-"))
    model = work / "forest.onnx"
    X = make_model(model)
    bodies = [json.dumps({"inputs": [{"name": "input", "shape": [1, X.shape[1]], "datatype": "FP32",
                                      "data": row.tolist()}], "outputs": [{"name": "label"}]}).encode()
              for row in X[:256]]
    bench_proc, bench_url = start_server(str(model), "forest", None, {"intra_op_num_threads": 1}, work / "bench.log")
    bare_proc, bare_url = start_bare(str(model), work / "bare.log")
    samples: dict[str, list] = {"bare": [], "bench": []}
    try:
        print(f"offered rate {args.rate:.0f}/s, {args.duration:.0f} s per round, {args.rounds} rounds, one-row requests")
        print(f"{'round':>5}  {'server':<6} {'count':>6} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'late>1ms':>9} {'errors':>6}")
        for r in range(args.rounds):
            for name, url in (("bare", bare_url), ("bench", bench_url)):
                m = measure(url, bodies, args.rate, args.duration, seed=r)
                samples[name].append(m["ms"])
                print(f"{r + 1:>5}  {name:<6} {len(m['ms']):>6} {nearest_rank(m['ms'], 50):>8.3f} "
                      f"{nearest_rank(m['ms'], 90):>8.3f} {nearest_rank(m['ms'], 99):>8.3f} "
                      f"{m['late_share']:>9.1%} {m['errors']:>6}" + (f"  {m['first_error']}" if m["errors"] else ""))
    finally:
        stop_server(bench_proc)
        stop_server(bare_proc)
    bare, bench = np.concatenate(samples["bare"]), np.concatenate(samples["bench"])
    print("pooled:")
    for q in (50, 90, 99):
        b, s = nearest_rank(bare, q), nearest_rank(bench, q)
        print(f"  p{q}: bare {b:.3f} ms, bench serve {s:.3f} ms, ratio {s / b:.2f}")
    ratio = nearest_rank(bench, 99) / nearest_rank(bare, 99)
    verdict = "within" if ratio <= 1.2 else "NOT within"
    print(f"bench serve p99 is {ratio:.2f}x the bare endpoint's: {verdict} the 1.20x target")


if __name__ == "__main__":
    main()
