"""`serve: true` on a candidate: measure it behind `bench serve`, over HTTP on loopback.

The model (a file, or one trained in this run) is started with `bench serve` in its own
process on an ephemeral loopback port for the run's duration, and the candidate becomes an
HTTP candidate pointing at it, so the real-time figures include the whole network path
(encode, send, server, decode). The candidate's `options` go to the served model; the HTTP
client uses its defaults. The server exits when the run ends, and also if the run dies
(it watches its stdin, a pipe from this process).
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from benchharness.context import CandidateRun, RunContext
from benchharness.errors import ModelError
from benchharness.isolation import strays

START_TIMEOUT_S = 60.0


def start_server(model: str, name: str, fmt: str | None, options: dict, log_path: Path,
                 timeout_s: float = START_TIMEOUT_S) -> tuple[subprocess.Popen, str]:
    """`bench serve MODEL --port 0` in a child process; returns it and the model's V2 URL.

    The server's log goes to `log_path` (a pipe nobody reads would block it once full)."""
    # this process's benchharness, installed or not, whatever the working directory holds
    # (`python -m benchharness` would import a ./benchharness first)
    package_root = str(Path(__file__).resolve().parents[2])
    boot = "import sys; sys.path.insert(0, sys.argv.pop(1)); from benchharness.cli import main; main()"
    cmd = [sys.executable, "-c", boot, package_root, "serve", model, "--port", "0", "--name", name,
           "--exit-with-stdin"]
    if fmt:
        cmd += ["--format", fmt]
    if options:
        cmd += ["--options", json.dumps(options)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log_path, "w") as log:
        # runs model code for the whole run: an orphan it leaves here is never taken for a
        # spawned child's stray (isolation/strays.py)
        proc = strays.popen(cmd, role="host", stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=log, text=True, env=env)
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout_s)
    url = line[0].strip().rsplit(" at ", 1)[-1] if line and " at http" in line[0] else None
    if url is None:
        stop_server(proc)
        err = Path(log_path).read_text().strip().splitlines()
        why = err[-1] if err else f"no address announced within {timeout_s:.0f} s"
        raise ModelError(f"bench serve {model} did not start: {why}")
    return proc, url


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    for pipe in (proc.stdin, proc.stdout):
        if pipe:
            pipe.close()


SERVER_TIME_HOOK = "benchharness.adapters.server_timing:server_time_hook"


def start_servers_stage(ctx: RunContext) -> None:
    """Put each `serve: true` candidate behind its own `bench serve` process; when the run
    has HTTP candidates, ask the measurement children for the servers' model time."""
    for cand in ctx.candidates:
        if not (cand.ok and cand.spec.serve):
            continue
        try:
            serve_candidate(ctx, cand, ctx.servers)
        except ModelError as exc:
            cand.fail(str(exc))
            ctx.progress(f"[{cand.name}] FAILED: {exc}")
    http = any(c.model_format == "http" or "://" in (c.model_path or "") for c in ctx.candidates)
    if http and SERVER_TIME_HOOK not in ctx.phase_hooks:
        ctx.phase_hooks.append(SERVER_TIME_HOOK)


def serve_candidate(ctx: RunContext, cand: CandidateRun, procs: list) -> None:
    from benchharness.run_folder import safe_name

    name = safe_name(cand.name)  # one per candidate: the URL path and the log file
    log_path = ctx.run_dir / f"serve-{name}.log"
    proc, url = start_server(cand.model_path, name, cand.model_format, cand.spec.options, log_path)
    procs.append(proc)
    atexit.register(stop_server, proc)
    ctx.progress(f"[{cand.name}] serving {cand.model_path} at {url}")
    cand.result["served"] = {"url": url, "model": cand.model_path, "format": cand.model_format,
                             "options": cand.spec.options, "pid": proc.pid, "log": str(log_path)}
    cand.model_path, cand.model_format = url, "http"
    cand.spec = dataclasses.replace(cand.spec, options={})


def stop_servers_stage(ctx: RunContext) -> None:
    for proc in ctx.servers:
        stop_server(proc)
    ctx.servers.clear()
