"""`bench serve`'s model in a child process, called over a pipe from the HTTP process.

The HTTP process decodes and checks each request, sends the model's input (a matrix or a
frame) to the child, and the child runs `prepare`, `predict` and `predict_proba` and sends the
results back. A model whose native code crashes the process (a segfault, `os.abort`, the OOM
killer) takes the child only: the HTTP process sees the pipe close, answers that request with
a 500 naming the signal, and starts a fresh child, which answers the next request. Requests
go to the child one at a time (a single model instance).

The pipe is a socket pair; each message is a pickle after its 8-byte length:
  parent -> child: the spec (model, format, options, sys_path), then (X, label, proba) per call
  child -> parent: ("ready", facts) or ("error", message) once loaded, then per call
                   ("ok", results, model_ms), ("rejected", message) or ("failed", message, tb)
The HTTP process waits for an answer on its event loop (asyncio streams), not in a thread:
a request then costs the same wake-ups as a model called in a worker thread, plus the two
pickles, and the health routes answer while the model works.

A child dies with the HTTP process even when that is SIGKILLed (PR_SET_PDEATHSIG, which
fires when the *thread* that started the child ends: every child is started from one
long-lived thread for that reason) and ends on its own when the pipe closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import queue
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

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


_LENGTH = struct.Struct("!Q")


def send_message(sock: socket.socket, obj) -> None:
    payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(_LENGTH.pack(len(payload)) + payload)


def recv_message(sock: socket.socket):
    """The next message; EOFError when the other end has closed."""
    (size,) = _LENGTH.unpack(_recv_exactly(sock, _LENGTH.size))
    return pickle.loads(_recv_exactly(sock, size))  # from our own child (or parent)


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = sock.recv_into(view[got:])
        if not k:
            raise EOFError
        got += k
    return bytes(buf)


class ModelProcess:
    """The model `spec` names (model, format, options) loaded in a child process.

    Offers what the V2 app reads of an adapter (`signature`, `info`, `classes`, `has_proba`)
    and `await call(X, label, proba)`, on one event loop. The constructor waits until the
    model has loaded, and raises ModelError (the loader's message) when it cannot, as loading
    it in this process would."""

    def __init__(self, spec: dict, start_timeout_s: float = 300.0):
        self.spec = {"model": spec["model"], "format": spec.get("format"),
                     "options": spec.get("options") or {}, "sys_path": list(sys.path)}
        self.start_timeout_s = start_timeout_s
        self.closed = False
        self._lock: asyncio.Lock | None = None  # one call in the child at a time
        self._streams = None  # (reader, writer) on the serving loop, made on first use
        self._in_doubt = False  # a call was cancelled midway: the pipe may hold its answer
        self._jobs: queue.Queue = queue.Queue()
        threading.Thread(target=self._start_children, daemon=True, name="model-process-starter").start()
        self.proc, self.sock = self._spawn()
        self.sock.settimeout(start_timeout_s)
        try:
            message = recv_message(self.sock)
        except (EOFError, OSError) as exc:
            why = (f"did not load it within {start_timeout_s:g} s" if isinstance(exc, TimeoutError)
                   else f"exited before serving ({how_it_ended(self._reap())})")
            self.close()
            raise ModelError(f"model {spec['model']}: the model process {why}") from None
        except BaseException:  # Ctrl-C or SIGTERM while the model loads
            self.close()
            raise
        if message[0] == "error":
            self.close()
            raise ModelError(message[1])
        self.sock.settimeout(None)
        self.ready = True
        facts = message[1]
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
            from benchharness.isolation import strays

            proc = strays.popen(  # recorded as started here: never taken for a model's stray
                [sys.executable, "-c", _BOOT, _package_root(), str(theirs.fileno())],
                role="host", stdin=subprocess.DEVNULL, pass_fds=[theirs.fileno()])
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()  # the child's end: only the child may hold it, or EOF never comes
        send_message(ours, self.spec)
        return proc, ours

    def _spawn(self):
        answer: queue.Queue = queue.Queue(1)
        self._jobs.put(answer)
        started = answer.get()
        if isinstance(started, BaseException):
            raise started
        return started

    # -- calls (on the serving event loop) --------------------------------------------------
    async def call(self, X, label: bool, proba: bool) -> tuple[dict, float]:
        """({"label": ..., "probabilities": ...} as asked, model milliseconds) for input X."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self.closed:
                raise ModelUnavailable("the server is stopping")
            if self._in_doubt:
                await self._replace()
            if not self.ready:
                await self._await_ready()
            reader, writer = await self._open()
            payload = pickle.dumps((X, label, proba), protocol=pickle.HIGHEST_PROTOCOL)
            self._in_doubt = True  # until the answer is read (a cancelled call leaves it set)
            try:
                writer.write(_LENGTH.pack(len(payload)) + payload)
                await writer.drain()
                (size,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
                answer = pickle.loads(await reader.readexactly(size))  # from our own child
            except (asyncio.IncompleteReadError, OSError):
                self._in_doubt = False
                if self.closed:
                    raise ModelUnavailable("the server is stopping") from None
                how = await self._replace()
                raise ModelCrashed(f"the model's process crashed ({how}) while predicting; "
                                   "restarted") from None
            self._in_doubt = False
        kind = answer[0]
        if kind == "ok":
            return answer[1], answer[2]
        if kind == "rejected":
            raise ModelRejected(answer[1])
        raise ModelFailed(answer[1], answer[2])

    async def _open(self):
        if self._streams is None:
            self._streams = await asyncio.open_connection(sock=self.sock, limit=2**20)
        return self._streams

    async def _await_ready(self) -> None:
        """Wait for a fresh child to load the model; 503 (and another try) if it cannot."""
        reader, _ = await self._open()
        try:
            (size,) = _LENGTH.unpack(await asyncio.wait_for(reader.readexactly(_LENGTH.size),
                                                            self.start_timeout_s))
            message = pickle.loads(await reader.readexactly(size))
        except (asyncio.IncompleteReadError, OSError, asyncio.TimeoutError):
            how = await self._replace()
            raise ModelUnavailable(f"the model's process could not start again ({how})") from None
        if message[0] == "error":
            await self._replace()
            raise ModelUnavailable(f"the model's process could not start again: {message[1]}")
        self.ready = True

    async def _replace(self) -> str:
        """End the current child (dead or in doubt) and start a fresh one, which loads while
        the caller answers its request; the next request waits for it. How the old one ended."""
        self._in_doubt = False
        self.ready = False
        if self._streams is not None:  # closes the socket too; on the loop, which owns it
            self._streams[1].transport.abort()
            self._streams = None
        how = how_it_ended(await asyncio.to_thread(self._reap))
        self.proc, self.sock = await asyncio.to_thread(self._spawn)
        return how

    def _reap(self) -> int | None:
        """The child's exit status after closing the pipe (killed if it does not end in 2 s)."""
        with contextlib.suppress(OSError):
            self.sock.close()
        try:
            return self.proc.wait(2)
        except subprocess.TimeoutExpired:  # still inside a call, or it ignores the pipe
            self.proc.kill()
            return self.proc.wait()

    def abort(self) -> None:
        """Stop waiting for the model (on the serving loop, as the server stops): a call in
        progress ends with ModelUnavailable, so its client gets a 503 rather than a dropped
        connection, and no call starts after it."""
        self.closed = True
        if self._streams is not None:
            self._streams[1].transport.abort()

    def close(self) -> None:
        """Stop the child (a call in progress has 2 s to end) and the thread that starts them.
        Call it once the serving event loop has ended."""
        self.closed = True
        with contextlib.suppress(OSError):
            self.sock.close()
        if self.proc.poll() is None:
            try:
                self.proc.wait(2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
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
    # what the model prints goes to the server's log: `bench serve`'s stdout announces its
    # address to whoever started it, who may read no further
    os.dup2(2, 1)
    sock = socket.socket(fileno=fd)
    try:
        spec = recv_message(sock)
    except (EOFError, OSError):
        return
    for p in reversed(spec["sys_path"]):
        if p not in sys.path:
            sys.path.insert(0, p)
    adapter = _load(sock, spec)
    if adapter is None:
        return
    try:
        _answer_calls(sock, adapter)
    finally:
        with contextlib.suppress(Exception):
            adapter.close()


def _load(sock: socket.socket, spec: dict):
    from benchharness.adapters.registry import load_model
    from benchharness.errors import UserError

    try:
        adapter = load_model(spec["model"], spec["options"], fmt=spec["format"])
        facts = {"signature": adapter.signature, "info": adapter.info, "classes": adapter.classes,
                 "has_proba": adapter.has_proba}
    except Exception as exc:
        text = str(exc).strip()
        message = text.splitlines()[0] if text else ""
        if not isinstance(exc, UserError):  # our own errors read well alone; others need context
            message = f"cannot load {spec['model']}: {type(exc).__name__}: {message}".rstrip(": ")
        send_message(sock, ("error", message))
        return None
    send_message(sock, ("ready", facts))
    return adapter


def _answer_calls(sock: socket.socket, adapter) -> None:
    import traceback

    from benchharness.errors import UserError

    while True:
        try:
            X, label, proba = recv_message(sock)
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
            send_message(sock, answer)
        except OSError:
            return
        except Exception as exc:  # an answer that cannot travel back is the model's fault
            send_message(sock, ("failed", f"the model's answer cannot be sent back: "
                                f"{type(exc).__name__}: {str(exc)[:300]}", ""))
