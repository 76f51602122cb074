"""Run one function in a fresh child process, with a timeout, and say how it ended.

Every measurement of a candidate runs here, so that one candidate's memory, threads or crash
cannot touch another's figures. The child is a new interpreter (`subprocess`, i.e. a spawn,
never a fork): it imports only the module of the function it runs, so a child that measures
an ONNX model never pays for importing scikit-learn.

Protocol: the parent pickles `{target, kwargs, sys_path}` to a file, starts
`python -c <bootstrap> in.pkl out.pkl`, and reads `out.pkl` back. The outcome is one of

- ``ok``: the function returned; `value` holds what it returned (plain data);
- ``error``: it raised; `error` is one line (`Type: message`), `traceback` the detail;
- ``crashed``: the process died without writing a result (a native segfault, os.abort,
  the OOM killer); `signal` names the signal (``SIGSEGV``), `error` says so in one line;
- ``timeout``: it ran past `timeout_s` and was killed with its whole process group.

The child writes `faulthandler` output to stderr, whose tail is kept on the outcome, so a
segfault in a native runtime comes back with the Python stack that led to it.

Two ways to start the child (`start_method`):

- ``spawn``: a new interpreter per call. Cleanest, and what a one-off call should use; it
  pays the imports (numpy, pandas, scikit-learn: 1-2 s on a small machine) every time.
- ``forkserver``: a small server (a new interpreter, started once per parent and set of
  thread variables) imports `preload` (libraries only: never a model, never data) and forks
  one child per call. Each child is still a new process that has loaded no model, so one
  candidate's memory, threads or crash still cannot touch another's; it just skips the
  imports. This is what keeps a quick run of several candidates within its time budget.
  (multiprocessing's own forkserver re-imports the caller's `__main__` script, which runs a
  user's unguarded script again; this server never imports it.)
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pickle
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)

# Kept tiny on purpose: everything the child imports costs start-up time.
_BOOTSTRAP = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from benchharness.isolate import _child_main; _child_main(sys.argv[2], sys.argv[3])"
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
) -> ChildOutcome:
    """Run `target` (``"package.module:function"``) with `kwargs` in a fresh child process.

    `env` entries are added to the child's environment (with ``spawn``, before anything is
    imported; with ``forkserver``, they are also given to the server when it first starts,
    for the thread variables the libraries read at import). The child's `sys.path` starts
    with the parent's, so test helper modules import the same way. Never raises for what the
    child did; read `status` on the outcome.
    """
    if start_method not in ("spawn", "forkserver"):
        raise ValueError(f"start_method must be spawn or forkserver, got {start_method!r}")
    if not hasattr(os, "fork"):  # Windows: no fork, every child is spawned
        start_method = "spawn"
    with tempfile.TemporaryDirectory(prefix="bench-child-") as tmp:
        in_path, out_path, err_path = (os.path.join(tmp, n) for n in ("in.pkl", "out.pkl", "stderr"))
        with open(in_path, "wb") as fh:
            pickle.dump({"target": target, "kwargs": kwargs or {}, "sys_path": list(sys.path),
                         "env": dict(env or {})}, fh)
        t0 = time.perf_counter()
        if start_method == "spawn":
            returncode, timed_out = _spawn(in_path, out_path, err_path, timeout_s, env)
        else:
            returncode, timed_out = _fork(in_path, out_path, err_path, timeout_s, env, preload)
        wall = time.perf_counter() - t0
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
            return ChildOutcome(
                "crashed", error=f"{label} crashed: {how}", signal=sig, exitcode=returncode,
                wall_s=wall, stderr_tail=stderr_tail,
            )
        if result["ok"]:
            return ChildOutcome("ok", value=result["value"], exitcode=returncode, wall_s=wall,
                                stderr_tail=stderr_tail)
        return ChildOutcome(
            "error", error=result["error"], traceback=result.get("traceback"), exitcode=returncode,
            wall_s=wall, stderr_tail=stderr_tail,
        )


def _spawn(in_path: str, out_path: str, err_path: str, timeout_s: float,
           env: dict | None) -> tuple[int, bool]:
    child_env = dict(os.environ)
    child_env.update(env or {})
    with open(err_path, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", _BOOTSTRAP, _PACKAGE_ROOT, in_path, out_path],
            stdin=subprocess.DEVNULL, stdout=err, stderr=err, env=child_env,
            start_new_session=True,  # own process group: a timeout kills its helpers too
        )
        try:
            return proc.wait(timeout=timeout_s), False
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            return proc.wait(), True
        except BaseException:  # Ctrl-C in the parent: leave no child running behind
            _kill_group(proc)
            raise


def _fork(in_path: str, out_path: str, err_path: str, timeout_s: float, env: dict | None,
          preload) -> tuple[int, bool]:
    key = (tuple(sorted((env or {}).items())), tuple(preload))
    with _ZYGOTES_LOCK:  # one child at a time per server
        server = _ZYGOTES.pop(key, None)
        if server is None or not server.alive():
            while len(_ZYGOTES) >= _MAX_SERVERS:  # each holds its imports in memory
                _ZYGOTES.pop(next(iter(_ZYGOTES))).close()
            server = _ForkServer(env or {}, list(preload))
        _ZYGOTES[key] = server  # most recently used last
        return server.run(in_path, out_path, err_path, timeout_s)


_ZYGOTE_BOOT = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from benchharness.isolate import _zygote_main; _zygote_main(sys.argv[2:])"
)
_ZYGOTES: dict = {}
_ZYGOTES_LOCK = threading.Lock()
_IMPORT_WAIT_S = 300  # the first request waits for the server's imports
_MAX_SERVERS = 2


class _ForkServer:
    """Parent side of the fork server: one request line out; the child's pid, then its exit
    code (negative: killed by that signal), back."""

    def __init__(self, env: dict, preload: list[str]):
        full_env = dict(os.environ)
        full_env.update(env)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _ZYGOTE_BOOT, _PACKAGE_ROOT, *preload],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=full_env, start_new_session=True,
        )
        self._buf = b""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _readline(self, timeout_s: float) -> str | None:
        """One line from the server; "" when it died, None on timeout."""
        deadline = time.monotonic() + timeout_s
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 4096)
            if not chunk:
                return ""
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode()

    def run(self, in_path: str, out_path: str, err_path: str, timeout_s: float) -> tuple[int, bool]:
        self.proc.stdin.write(f"{in_path}\t{out_path}\t{err_path}\n".encode())
        self.proc.stdin.flush()
        pid_line = self._readline(_IMPORT_WAIT_S)
        if not pid_line:
            self.close()
            return -signal.SIGKILL, pid_line is None
        pid = int(pid_line)
        try:
            status = self._readline(timeout_s)
        except BaseException:  # Ctrl-C in the parent: leave no child running behind
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            self.close()
            raise
        timed_out = status is None
        if timed_out:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)  # the child leads its own process group
            status = self._readline(30)
        if not status:  # the server itself died: a fresh one starts next time
            self.close()
            return -signal.SIGKILL, timed_out
        return int(status), timed_out

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


@atexit.register
def _close_servers() -> None:
    for server in list(_ZYGOTES.values()):
        server.close()
    _ZYGOTES.clear()


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
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - limit))
            return fh.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""


# -- child side -------------------------------------------------------------------------------
def _zygote_main(preload: list[str]) -> None:
    """The fork server: import `preload`, then fork one child per request line."""
    import importlib

    for module in preload:
        # a library missing here fails later, in the child, with its own message
        with contextlib.suppress(Exception):
            importlib.import_module(module)
    replies = sys.stdout.buffer
    for line in sys.stdin.buffer:
        in_path, out_path, err_path = line.decode().rstrip("\n").split("\t")
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.setsid()  # its own process group, so a timeout kills its helpers too
                null = os.open(os.devnull, os.O_RDONLY)
                os.dup2(null, 0)
                _child_main(in_path, out_path, err_path)
                code = 0
            finally:
                for stream in (sys.stdout, sys.stderr):
                    with contextlib.suppress(Exception):
                        stream.flush()
                os._exit(code)
        replies.write(f"{pid}\n".encode())
        replies.flush()
        _, status = os.waitpid(pid, 0)
        replies.write(f"{os.waitstatus_to_exitcode(status)}\n".encode())
        replies.flush()


def _child_main(in_path: str, out_path: str, err_path: str | None = None) -> None:
    import faulthandler
    import importlib
    import traceback

    if err_path:  # forked: send this child's stdout/stderr to its own file
        fd = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
    faulthandler.enable()
    with open(in_path, "rb") as fh:
        payload = pickle.load(fh)
    os.environ.update(payload.get("env") or {})
    for p in reversed(payload["sys_path"]):
        if p not in sys.path:
            sys.path.insert(0, p)
    try:
        module_name, _, attr = payload["target"].partition(":")
        fn = importlib.import_module(module_name)
        for part in attr.split("."):
            fn = getattr(fn, part)
        result = {"ok": True, "value": fn(**payload["kwargs"])}
    except BaseException as exc:  # everything the function raised goes back as one line
        from benchharness.errors import UserError

        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        if not isinstance(exc, UserError):  # our own errors read well alone; others need the type
            message = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
        result = {
            "ok": False,
            "error": message,
            "error_type": type(exc).__name__,
            "traceback": traceback.format_exc(limit=12),
        }
    tmp = out_path + ".tmp"
    with open(tmp, "wb") as fh:
        pickle.dump(result, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, out_path)  # a crash while writing never leaves a half result
