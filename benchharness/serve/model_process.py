"""`bench serve`'s model in a child process, called over a pipe from the HTTP process.

The HTTP process decodes and checks each request, sends the model's input (a matrix or a
frame) to the child, and the child runs `prepare`, `predict` and `predict_proba` and sends the
results back. A model whose native code crashes the process (a segfault, `os.abort`, the OOM
killer) takes the child only: the HTTP process sees the pipe close, answers that request with
a 500 naming the signal, and starts a fresh child, which answers the next request. Requests
go to the child one at a time (a single model instance).

Pipe messages are pickles both ways (`multiprocessing.connection` framing):
  parent -> child: the spec (model, format, options, sys_path), then (X, label, proba) per call
  child -> parent: ("ready", facts) or ("error", message) once loaded, then per call
                   ("ok", results, model_ms), ("rejected", message) or ("failed", message, tb)

A child dies with the HTTP process even when that is SIGKILLed (PR_SET_PDEATHSIG, which
fires when the *thread* that started the child ends: every child is started from one
long-lived thread for that reason) and ends on its own when the pipe closes.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection

from benchharness.errors import ModelError

_BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); "
         "from benchharness.serve.model_process import child_main; child_main(int(sys.argv[2]))")


class ModelRejected(Exception):
    """The model refused this input (a ValueError and the like): the client's 400."""


class ModelFailed(Exception):
    """The model raised on this input: a 500. `args[1]` is the child's traceback, for the log."""


class ModelCrashed(Exception):
    """The model's process died while answering (a 500); a fresh one is starting."""


class ModelUnavailable(Exception):
    """No model process can answer now: it cannot start again, or the server is stopping (503)."""


def how_it_ended(returncode: int | None) -> str:
    """`SIGSEGV` for a process killed by signal 11, else `exit code N`."""
    from benchharness.isolation.isolate import signal_name

    if returncode is None:
        return "no exit status"
    return signal_name(returncode) or f"exit code {returncode}"


class ModelProcess:
    """The model `spec` names (model, format, options) loaded in a child process.

    Offers what the V2 app reads of an adapter (`signature`, `info`, `classes`, `has_proba`)
    and `run(X, label, proba)`. Raises ModelError from the constructor when the model cannot
    load (the message the loader gave), like loading it in this process would."""

    def __init__(self, spec: dict, start_timeout_s: float = 300.0):
        self.spec = {"model": spec["model"], "format": spec.get("format"),
                     "options": spec.get("options") or {}, "sys_path": list(sys.path)}
        self.name = spec.get("name") or "model"
        self.start_timeout_s = start_timeout_s
        self.lock = threading.Lock()  # one call in the child at a time
        self.closed = False
        self.restarts = 0
        self._jobs: queue.Queue = queue.Queue()
        self._starter = threading.Thread(target=self._start_children, daemon=True,
                                         name="model-process-starter")
        self._starter.start()
        self.proc, self.conn, self.sock = self._spawn()
        self.ready = False
        facts = self._wait_ready()
        if isinstance(facts, str):
            self.close()
            raise ModelError(facts)
        self.signature, self.info = facts["signature"], facts["info"]
        self.classes, self.has_proba = facts["classes"], facts["has_proba"]

    # -- starting children ------------------------------------------------------------------
    def _start_children(self) -> None:
        """The one thread that starts children (see the module docstring: PDEATHSIG)."""
        while True:
            answer = self._jobs.get()
            if answer is None:
                return
            try:
                answer.put(self._popen())
            except BaseException as exc:  # handed to the caller, who raises it
                answer.put(exc)

    def _popen(self):
        ours, theirs = socket.socketpair()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-c", _BOOT, _package_root(), str(theirs.fileno())],
                stdin=subprocess.DEVNULL, stdout=sys.stderr.fileno(), pass_fds=[theirs.fileno()])
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()  # the child's end: only the child may hold it, or EOF never comes
        conn = Connection(os.dup(ours.fileno()))
        conn.send(self.spec)
        return proc, conn, ours

    def _spawn(self):
        answer: queue.Queue = queue.Queue(1)
        self._jobs.put(answer)
        started = answer.get()
        if isinstance(started, BaseException):
            raise started
        return started

    def _wait_ready(self) -> dict | str:
        """The child's facts once it has loaded the model, or a one-line reason it did not."""
        if not self.conn.poll(self.start_timeout_s):
            self._stop_child()
            return f"model {self.spec['model']}: the model process did not load it within {self.start_timeout_s:g} s"
        try:
            message = self.conn.recv()
        except (EOFError, OSError):
            code = self._reap()
            return (f"model {self.spec['model']}: the model process exited before serving "
                    f"({how_it_ended(code)})")
        if message[0] == "error":
            return message[1]
        self.ready = True
        return message[1]

    # -- calls ------------------------------------------------------------------------------
    def run(self, X, label: bool, proba: bool) -> tuple[dict, float]:
        """({"label": ..., "probabilities": ...} as asked, model milliseconds) for input X."""
        with self.lock:
            if self.closed:
                raise ModelUnavailable("the server is stopping")
            if not self.ready:
                reason = self._wait_ready()
                if isinstance(reason, str):
                    self._restart()
                    raise ModelUnavailable(f"the model's process could not start again: {reason}")
            try:
                self.conn.send((X, label, proba))
                answer = self.conn.recv()
            except (EOFError, OSError, ConnectionError):
                if self.closed:
                    raise ModelUnavailable("the server is stopping") from None
                how = how_it_ended(self._reap())
                self._restart()
                raise ModelCrashed(f"the model's process crashed ({how}) while predicting; "
                                   "restarted") from None
        kind = answer[0]
        if kind == "ok":
            return answer[1], answer[2]
        if kind == "rejected":
            raise ModelRejected(answer[1])
        raise ModelFailed(answer[1], answer[2] if len(answer) > 2 else "")

    def _reap(self) -> int | None:
        """The child's exit status, once the pipe has closed (killed if it lingers)."""
        self._close_pipe()
        try:
            return self.proc.wait(5)
        except subprocess.TimeoutExpired:  # closed its end but still running: end it
            self.proc.kill()
            return self.proc.wait()

    def _restart(self) -> None:
        """Start a fresh child; it loads while this request is answered, the next one waits."""
        self.restarts += 1
        self.ready = False
        self.proc, self.conn, self.sock = self._spawn()

    # -- stopping ---------------------------------------------------------------------------
    def _close_pipe(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked reading it
        with contextlib.suppress(OSError):
            self.conn.close()
        with contextlib.suppress(OSError):
            self.sock.close()

    def _stop_child(self, grace_s: float = 2.0) -> None:
        self._close_pipe()
        if self.proc.poll() is None:
            try:  # the pipe closed: it exits after the call it is in, if that ends soon
                self.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def close(self) -> None:
        """Stop the child (waiting up to 2 s for a call in progress) and the starter thread."""
        self.closed = True
        self._stop_child()
        # a request that was in the child has now seen the pipe close and gives the lock back;
        # whichever child is current after that (never a fresh one: closed is set) is stopped
        got = self.lock.acquire(timeout=5)
        try:
            self._stop_child()
        finally:
            if got:
                self.lock.release()
        self._jobs.put(None)


def _package_root() -> str:
    from benchharness.isolation.child_main import PACKAGE_ROOT

    return PACKAGE_ROOT


# -- the child ------------------------------------------------------------------------------
def child_main(fd: int) -> None:
    """The model process: load the model the parent names, then answer calls until EOF."""
    from benchharness.isolation.child_main import die_with_parent

    die_with_parent()
    # Ctrl-C reaches the whole process group; the parent stops this process itself
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = Connection(fd)
    try:
        spec = conn.recv()
    except EOFError:
        return
    for p in reversed(spec["sys_path"]):
        if p not in sys.path:
            sys.path.insert(0, p)
    adapter = _load(conn, spec)
    if adapter is None:
        return
    try:
        _answer_calls(conn, adapter)
    finally:
        with contextlib.suppress(Exception):
            adapter.close()


def _load(conn: Connection, spec: dict):
    from benchharness.adapters.registry import load_model
    from benchharness.errors import UserError

    try:
        adapter = load_model(spec["model"], spec["options"], fmt=spec["format"])
        facts = {"signature": adapter.signature, "info": adapter.info, "classes": adapter.classes,
                 "has_proba": adapter.has_proba}
    except Exception as exc:
        message = _one_line(exc)
        if not isinstance(exc, UserError):  # our own errors read well alone; others need context
            message = f"cannot load {spec['model']}: {message}"
        conn.send(("error", message))
        return None
    conn.send(("ready", facts))
    return adapter


def _answer_calls(conn: Connection, adapter) -> None:
    import pickle
    import traceback

    from benchharness.errors import UserError

    while True:
        try:
            X, label, proba = conn.recv()
        except (EOFError, OSError):  # the HTTP process closed the pipe: stop
            return
        try:
            start = time.perf_counter()
            native = adapter.prepare(X)
            results = {}
            if label:
                results["label"] = adapter.predict(native)
            if proba:
                results["probabilities"] = adapter.predict_proba(native)
            answer = ("ok", results, (time.perf_counter() - start) * 1000.0)
        except (UserError, ValueError, TypeError, KeyError) as exc:  # the model refused this input
            answer = ("rejected", f"{type(exc).__name__}: {str(exc)[:300]}")
        except Exception as exc:
            answer = ("failed", f"{type(exc).__name__}: {str(exc)[:300]}", traceback.format_exc(limit=12))
        try:
            payload = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # an answer that cannot travel back is the model's fault
            payload = pickle.dumps(("failed", f"the model's answer cannot be sent back: "
                                    f"{type(exc).__name__}: {str(exc)[:300]}", ""))
        try:
            conn.send_bytes(payload)
        except OSError:
            return


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    from benchharness.errors import UserError

    if isinstance(exc, UserError):
        return first
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
