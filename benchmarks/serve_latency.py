"""Median latency of one-row requests to `bench serve` serving a small scikit-learn model.

    python benchmarks/serve_latency.py [--requests 3000] [--rounds 3]

A logistic regression on breast-cancer (joblib), served by `bench serve` on loopback; one
kept-alive http.client connection sends the same one-row V2 request back to back (closed
loop, one at a time) and the script prints p50/p99 per round and the median p50 of the rounds.
What it shows is the server's fixed cost per request, which the model's own predict hardly
moves: the figure to compare when the request path changes.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import joblib
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    from benchharness.serve import suite

    X, y = load_breast_cancer(return_X_y=True)
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "logreg.joblib"
        joblib.dump(LogisticRegression(max_iter=5000).fit(X, y), model)
        proc, url = suite.start_server(str(model), "logreg", None, {}, Path(tmp) / "serve.log")
        try:
            host, port = url.removeprefix("http://").split("/", 1)[0].rsplit(":", 1)
            body = json.dumps({"inputs": [{"name": "X", "shape": [1, X.shape[1]], "datatype": "FP64",
                                           "data": X[0].tolist()}]}).encode()
            headers = {"content-type": "application/json"}
            conn = http.client.HTTPConnection(host, int(port))
            p50s = []
            for r in range(args.rounds):
                times = []
                for _ in range(args.requests):
                    t0 = time.perf_counter()
                    conn.request("POST", "/v2/models/logreg/infer", body, headers)
                    resp = conn.getresponse()
                    resp.read()
                    times.append((time.perf_counter() - t0) * 1000)
                    assert resp.status == 200, resp.status
                times.sort()
                p50, p99 = times[len(times) // 2], times[int(len(times) * 0.99)]
                p50s.append(p50)
                print(f"round {r + 1}: p50 {p50:.3f} ms  p99 {p99:.3f} ms  ({args.requests} requests)")
            print(f"median p50 over {args.rounds} rounds: {statistics.median(p50s):.3f} ms")
        finally:
            suite.stop_server(proc)


if __name__ == "__main__":
    main()
