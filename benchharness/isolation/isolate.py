"""Run one function in a fresh child process, with a timeout, and say how it ended.

Every measurement of a candidate runs here, so that one candidate's memory, threads or crash
cannot touch another's figures. The child imports only the module of the function it runs
(plus, with the fork server, the libraries preloaded there), so a child that measures an
ONNX model never pays for importing scikit-learn.

Protocol: the parent pickles `{target, kwargs, sys_path, env}` to a file, starts the child
on it, and reads the child's pickled result back. The outcome is one of

- ``ok``: the function returned; `value` holds what it returned (plain data);
- ``error``: it raised; `error` is one line (`Type: message`; a UserError's message alone),
  `traceback` the detail;
- ``crashed``: the process died without writing a result (a native segfault, os.abort,
  the OOM killer); `signal` names the signal (``SIGSEGV``), `error` says so in one line;
- ``timeout``: it ran past `timeout_s` and was killed with its whole process group.

The child writes `faulthandler` output to its stderr, whose tail is kept on the outcome, so
a segfault in a native runtime comes back with the Python stack that led to it.

Two ways to start the child (`start_method`):

- ``spawn``: a new interpreter per call (`python -c <bootstrap> in.pkl out.pkl`). Cleanest;
  it pays the imports (numpy, pandas, scikit-learn: 1-2 s on a small machine) every time.
- ``forkserver``: forked from a server that has imported the libraries only, never a model
  (`forkserver.py`). Still a new process per call that shares no state with the others; it
  skips the imports, which keeps a quick run of several candidates within its time budget.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from benchharness.isolation import strays
from benchharness.isolation.child_main import PACKAGE_ROOT

# Kept tiny on purpose: everything the child imports costs start-up time.
_BOOTSTRAP = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from benchharness.isolation.child_main import child_main; child_main(sys.argv[2], sys.argv[3])"
)


@dataclass
class ChildOutcome:
    """How a child process ended, and what it returned."""

    status: str  # ok | error | crashed | timeout
    value: Any = None
    error: str | None = None
    signal: str | None = None
    exitcode: int | None = None
    wall_s: float = 0.0
    traceback: str | None = None
    stderr_tail: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def record(self) -> dict:
        """The outcome as plain data for results.json (without the returned value)."""
        out = {"status": self.status, "error": self.error, "wall_s": round(self.wall_s, 3)}
        if self.signal:
            out["signal"] = self.signal
        if self.exitcode is not None:
            out["exitcode"] = self.exitcode
        if self.stderr_tail and not self.ok:
            out["stderr_tail"] = self.stderr_tail
        if self.extra.get("strays_stopped"):
            out["strays_stopped"] = self.extra["strays_stopped"]
        return out


def signal_name(returncode: int) -> str | None:
    """`SIGSEGV` for a child killed by signal 11 (returncode -11), else None."""
    if returncode >= 0:
        return None
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


def run_in_child(
    target: str,
    kwargs: dict | None = None,
    timeout_s: float = 300.0,
    env: dict[str, str] | None = None,
    label: str = "child",
    start_method: str = "spawn",
    preload: tuple[str, ...] | list[str] = (),
    notify=None,
    notify_every_s: float = 30.0,
    memory_limit_mb: float | None = None,
) -> ChildOutcome:
    """Run `target` (``"package.module:function"``) with `kwargs` in a fresh child process.

    `env` entries are added to the child's environment (with ``spawn``, before anything is
    imported; with ``forkserver``, they are also given to the server when it first starts,
    for the thread variables the libraries read at import). The child's `sys.path` starts
    with the parent's, so test helper modules import the same way. Never raises for what the
    child did; read `status` on the outcome.

    `notify(line)` hears every `notify_every_s` that the child is still running and how long
    it may still take. `memory_limit_mb` caps the child's address space (RLIMIT_AS): past
    it allocations fail and the outcome says the limit was reached.
    """
    if start_method not in ("spawn", "forkserver"):
        raise ValueError(f"start_method must be spawn or forkserver, got {start_method!r}")
    if not hasattr(os, "fork"):  # Windows: no fork, every child is spawned
        start_method = "spawn"
    with tempfile.TemporaryDirectory(prefix="bench-child-") as tmp:
        in_path, out_path, err_path = (os.path.join(tmp, n) for n in ("in.pkl", "out.pkl", "stderr"))
        with open(in_path, "wb") as fh:
            pickle.dump({"target": target, "kwargs": kwargs or {}, "sys_path": list(sys.path),
                         "env": dict(env or {}), "memory_limit_mb": memory_limit_mb}, fh)
        t0 = time.perf_counter()
        still = _StillRunning(label, timeout_s, notify, notify_every_s)
        if start_method == "spawn":
            returncode, timed_out, strays = _spawn(in_path, out_path, err_path, timeout_s, env, still)
        else:
            from benchharness.isolation.forkserver import run_forked

            returncode, timed_out, strays = run_forked(in_path, out_path, err_path, timeout_s, env,
                                                       preload, still)
        wall = time.perf_counter() - t0
        outcome = _outcome(label, returncode, timed_out, wall, out_path, err_path, timeout_s,
                           memory_limit_mb)
        if strays:
            outcome.extra["strays_stopped"] = strays
            if notify is not None:
                notify(f"cleaned up after the model: stopped {strays} process(es) it started that "
                       f"outlived the {label}")
        return outcome


def _outcome(label: str, returncode: int, timed_out: bool, wall: float, out_path: str,
             err_path: str, timeout_s: float, memory_limit_mb: float | None) -> ChildOutcome:
    stderr_tail = _tail(err_path)
    if timed_out:
        return ChildOutcome(
            "timeout", error=f"{label} timed out after {timeout_s:g} s and was killed",
            exitcode=returncode, wall_s=wall, stderr_tail=stderr_tail,
        )
    result = _read_result(out_path)
    if result is None:
        sig = signal_name(returncode)
        how = f"killed by {sig}" if sig else f"exited with code {returncode} without a result"
        if memory_limit_mb:
            how += f" (it may have reached its memory limit of {memory_limit_mb:g} MB)"
        return ChildOutcome(
            "crashed", error=f"{label} crashed: {how}", signal=sig, exitcode=returncode,
            wall_s=wall, stderr_tail=stderr_tail,
        )
    if result["ok"]:
        return ChildOutcome("ok", value=result["value"], exitcode=returncode, wall_s=wall,
                            stderr_tail=stderr_tail)
    error = result["error"]
    if memory_limit_mb and result.get("error_type") == "MemoryLimitTooLow":
        needs = error.rpartition(": ")[2]
        error = (f"{label} went past its memory limit ({memory_limit_mb:g} MB; this model needs at "
                 f"least ~{needs} MB to start) (isolation.memory_limit_mb)")
    elif memory_limit_mb and result.get("error_type") == "MemoryError":
        error = (f"{label} went past its memory limit of {memory_limit_mb:g} MB "
                 f"(isolation.memory_limit_mb): {error}")
    return ChildOutcome(
        "error", error=error, traceback=result.get("traceback"), exitcode=returncode,
        wall_s=wall, stderr_tail=stderr_tail,
    )


class _StillRunning:
    """Waits in steps, saying between them that the child is still running."""

    def __init__(self, label: str, timeout_s: float, notify, every_s: float):
        self.label, self.timeout_s, self.notify, self.every_s = label, timeout_s, notify, every_s
        self.started = time.monotonic()

    def wait(self, wait_once, timeout_s: float):
        """Call `wait_once(seconds)` (None: not done yet) until it answers or `timeout_s` ends."""
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            step = min(left, self.every_s) if self.notify else left
            answer = wait_once(max(step, 0))
            if answer is not None or left <= step:
                return answer
            elapsed = time.monotonic() - self.started
            self.notify(f"{self.label} still running after {elapsed:.0f} s; it is stopped at "
                        f"{self.timeout_s:g} s (timeout_s in the suite sets this)")


def _spawn(in_path: str, out_path: str, err_path: str, timeout_s: float,
           env: dict | None, still: _StillRunning) -> tuple[int, bool, int]:
    """(exit code, timed out, strays stopped): what the child started dies with it."""
    token = strays.new_token()
    strays.become_subreaper_once()
    child_env = dict(os.environ)
    child_env.update(env or {})
    child_env[strays.TOKEN_VAR] = token  # every process the model starts inherits it
    with open(err_path, "wb") as err:
        proc = strays.popen(
            [sys.executable, "-c", _BOOTSTRAP, PACKAGE_ROOT, in_path, out_path], role="child",
            stdin=subprocess.DEVNULL, stdout=err, stderr=err, env=child_env,
            start_new_session=True,  # own process group: a timeout kills its helpers too
        )
        def wait_once(seconds: float) -> int | None:
            try:
                return proc.wait(timeout=seconds)
            except subprocess.TimeoutExpired:
                return None

        try:
            code = still.wait(wait_once, timeout_s)
            timed_out = code is None
            if timed_out:
                _kill_group(proc)
                code = proc.wait()
            stopped = strays.stop_token(token)
            # and those that dropped the token (a cleared environment) and were re-parented here
            stopped += strays.stop_orphans(proc.pid)
            _kill_group(proc)  # and any helper left in its process group without the token
            return code, timed_out, stopped
        except BaseException:  # Ctrl-C in the parent: leave no child running behind
            _kill_group(proc)
            strays.stop_token(token)
            strays.stop_orphans(proc.pid)
            raise


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def _read_result(path: str) -> dict | None:
    try:
        with open(path, "rb") as fh:
            return pickle.load(fh)  # written by our own child in this call
    except (FileNotFoundError, EOFError, pickle.UnpicklingError):
        return None


def _tail(path: str, limit: int = 2000) -> str:
    """The last `limit` characters of the child's stderr, without faulthandler's list of
    loaded extension modules: after a crash with scikit-learn loaded that one line is
    several kB and would push out the Python stack that says where the crash was."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * limit))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [ln for ln in text.splitlines() if not ln.startswith("Extension modules:")]
    return "\n".join(lines).strip()[-limit:]
