"""What a fleet task does on the worker: unpack the suite, run it, send the run folder back.

`run_target` is the function `bench fleet` submits with the resource `profile-<target>=1`,
so the scheduler gives it only to a worker started for that target, one at a time. The run
itself is a child process (runner.py); this thread only waits for it, checking every half
second whether the fleet asked to cancel (a Dask `Event` named by the fleet) and stopping
the run if so. What comes back is plain data: status, error, the run folder's files as bytes,
the worker's address and host, the tail of the run's log.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchharness import exit_codes
from benchharness.fleet.bundle import in_users_words, pack_tree, unpack_suite
from benchharness.isolation import strays
from benchharness.isolation.child_main import PACKAGE_ROOT
from benchharness.run_folder import run_folders

#: profile name -> profile file or name, set by `bench worker` in its own process, so a
#: worker started with `--profile /etc/bench/mine.yaml` prices with that file
WORKER_PROFILES: dict[str, str] = {}
POLL_S = 0.5
STOP_GRACE_S = 20.0
LOG_FILE = "fleet-worker.log"


def run_target(bundle: dict, target: str, quick: bool, cancel_event: str | None = None) -> dict:
    """Run the bundled suite here, priced with `target`'s profile; never raises for the run."""
    worker = _worker_identity()
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        tmp = Path(tmp)
        try:
            suite = unpack_suite(bundle, tmp / "suite")
        except Exception as exc:  # noqa: BLE001 - reported to the fleet, one line
            return {"status": "failed", "error": f"cannot unpack the suite here: {exc}", "worker": worker}
        out = tmp / "out"
        log_path = tmp / LOG_FILE
        cmd = [sys.executable, "-m", "benchharness.fleet.runner", str(suite), str(out),
               WORKER_PROFILES.get(target, target)] + (["--quick"] if quick else [])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([PACKAGE_ROOT, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        started = time.time()
        with open(log_path, "wb") as log:
            proc = strays.popen(cmd, role="host", stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                env=env, cwd=tmp, start_new_session=True)
            cancelled = _wait(proc, cancel_event)
        log_text = log_path.read_text(errors="replace")
        run_dirs = run_folders(out)
        outcome = {"worker": worker, "exit_code": proc.returncode, "wall_s": round(time.time() - started, 1),
                   "log_tail": log_text[-4000:], "files": {}, "run_id": None}
        if run_dirs:
            outcome["run_id"] = run_dirs[0].name
            outcome["files"] = pack_tree(run_dirs[0])
            outcome["files"][LOG_FILE] = log_text.encode()
        if cancelled:
            return {**outcome, "status": "cancelled", "error": "cancelled by the fleet (Ctrl-C)"}
        if proc.returncode != exit_codes.OK or not run_dirs:
            error = in_users_words(_last_error(log_text, proc.returncode), bundle, tmp / "suite")
            return {**outcome, "status": "failed", "error": error}
        return {**outcome, "status": "ok", "error": None}


def _wait(proc: subprocess.Popen, cancel_event: str | None) -> bool:
    """Wait for the run; stop it and answer True when the fleet sets its cancel event."""
    event = None
    if cancel_event:
        try:
            from distributed import Event

            event = Event(cancel_event)
        except Exception:  # noqa: BLE001 - outside a worker (a direct call): nothing to watch
            event = None
    while True:
        try:
            proc.wait(timeout=POLL_S)
            return False
        except subprocess.TimeoutExpired:
            pass
        try:
            cancel = event is not None and event.is_set()
        except Exception:  # noqa: BLE001 - scheduler unreachable: keep measuring
            cancel = False
        if cancel:
            stop(proc)
            return True


def stop(proc: subprocess.Popen) -> None:
    """Ctrl-C to the run (it saves what it measured and stops its children), then SIGKILL."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _last_error(log_text: str, code: int | None) -> str:
    lines = [ln for ln in log_text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    if errors:
        return errors[-1][len("error:"):].strip()
    tail = lines[-1].strip() if lines else "no output"
    return f"the run exited with code {code}: {tail}"


def _worker_identity() -> dict:
    info = {"hostname": socket.gethostname(), "pid": os.getpid(), "address": None}
    try:
        from distributed import get_worker

        w = get_worker()
        info["address"], info["name"] = w.address, str(w.name)
    except Exception:  # noqa: BLE001 - called outside a worker
        pass
    return info
