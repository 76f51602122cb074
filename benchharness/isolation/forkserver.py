"""The fork server behind `isolate.run_in_child(..., start_method="forkserver")`.

A small server (a new interpreter, started once per parent and set of thread variables)
imports `preload` (libraries only: never a model, never data) and forks one child per
request. Each child is still a new process that has loaded no model, so one candidate's
memory, threads or crash cannot touch another's; it only skips 1-2 s of imports.
multiprocessing's own forkserver is not used: it re-imports the caller's `__main__` script,
which runs a user's unguarded script again; this server never imports it.

Protocol on the server's stdin/stdout, one request at a time: the parent writes
"in.pkl<TAB>out.pkl<TAB>stderr<LF>"; the server forks, answers the child's pid, waits for
it, stops whatever the child started that outlived it (the server is a child subreaper, so
those are re-parented to it: `strays.py`) and answers "exit code<TAB>strays stopped" (a
negative exit code: killed by that signal).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import select
import signal
import subprocess
import sys
import threading
import time

from benchharness.isolation.child_main import PACKAGE_ROOT, die_with_parent


def run_forked(in_path: str, out_path: str, err_path: str, timeout_s: float, env: dict | None,
               preload, still) -> tuple[int, bool, int]:
    key = (tuple(sorted((env or {}).items())), tuple(preload))
    with _ZYGOTES_LOCK:  # one child at a time per server
        server = _ZYGOTES.pop(key, None)
        if server is None or not server.alive():
            while len(_ZYGOTES) >= _MAX_SERVERS:  # each holds its imports in memory
                _ZYGOTES.pop(next(iter(_ZYGOTES))).close()
            server = _ForkServer(env or {}, list(preload))
        _ZYGOTES[key] = server  # most recently used last
        return server.run(in_path, out_path, err_path, timeout_s, still)


_ZYGOTE_BOOT = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from benchharness.isolation.forkserver import _zygote_main; _zygote_main(sys.argv[2:])"
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
        from benchharness.isolation import strays

        self.proc = strays.popen(  # a subreaper: its children's orphans never come here
            [sys.executable, "-c", _ZYGOTE_BOOT, PACKAGE_ROOT, *preload], role="reaper",
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

    def run(self, in_path: str, out_path: str, err_path: str, timeout_s: float,
            still) -> tuple[int, bool, int]:
        self.proc.stdin.write(f"{in_path}\t{out_path}\t{err_path}\n".encode())
        self.proc.stdin.flush()
        pid_line = self._readline(_IMPORT_WAIT_S)
        if not pid_line:
            self.close()
            return -signal.SIGKILL, pid_line is None, 0
        pid = int(pid_line)
        try:
            status = still.wait(self._readline, timeout_s)
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
            return -signal.SIGKILL, timed_out, 0
        code, _, stopped = status.partition("\t")
        return int(code), timed_out, int(stopped or 0)

    def close(self) -> None:
        if self.proc.poll() is None:
            from benchharness.isolation import strays

            # its child and their strays first: killed, the server could no longer reap them
            strays.kill_tree(self.proc.pid)
            self.proc.kill()
        self.proc.wait()


@atexit.register
def _close_servers() -> None:
    for server in list(_ZYGOTES.values()):
        server.close()
    _ZYGOTES.clear()


# -- the server side ------------------------------------------------------------------------
def _zygote_main(preload: list[str]) -> None:
    """The fork server: import `preload`, then fork one child per request line.

    It dies with its parent: the parent holds the other end of its stdin, so end-of-file
    there (the parent exited, was killed, even with SIGKILL) makes the server kill the child
    it is waiting for, with its whole process group, and exit. No child outlives `bench`."""
    import importlib

    from benchharness.isolation import strays

    strays.become_subreaper()  # what a child starts and leaves is re-parented here, not to PID 1
    for module in preload:
        # a library missing here fails later, in the child, with its own message
        with contextlib.suppress(Exception):
            importlib.import_module(module)
    replies = sys.stdout.buffer
    requests = _Lines(0)
    while (line := requests.next()) is not None:
        in_path, out_path, err_path = line.split("\t")
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.setsid()  # its own process group, so a timeout kills its helpers too
                die_with_parent()
                null = os.open(os.devnull, os.O_RDONLY)
                os.dup2(null, 0)
                from benchharness.isolation.child_main import child_main

                child_main(in_path, out_path, err_path)
                code = 0
            finally:
                for stream in (sys.stdout, sys.stderr):
                    with contextlib.suppress(Exception):
                        stream.flush()
                os._exit(code)
        replies.write(f"{pid}\n".encode())
        replies.flush()
        status = _wait_unless_orphaned(pid, requests)
        if status is None:  # the parent is gone: take the child down with us
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os._exit(0)
        # whatever the child started (its process group, daemons in their own sessions) was
        # re-parented here: with the child reaped, everything below the server is a stray
        stopped = strays.stop_descendants()
        replies.write(f"{os.waitstatus_to_exitcode(status)}\t{stopped}\n".encode())
        replies.flush()


class _Lines:
    """Lines from a file descriptor, unbuffered beyond what was read, so that select() on
    the descriptor tells the truth about what is left."""

    def __init__(self, fd: int):
        self.fd = fd
        self.buf = b""
        self.eof = False

    def fill(self) -> None:
        chunk = os.read(self.fd, 4096)
        self.eof = not chunk
        self.buf += chunk

    def next(self) -> str | None:
        while b"\n" not in self.buf:
            if self.eof:
                return None
            self.fill()
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()


def _wait_unless_orphaned(pid: int, requests: _Lines) -> int | None:
    """The child's wait status, or None when the parent closed our stdin (it died) first.

    One request at a time: while a child runs, the only thing stdin can bring is EOF."""
    pidfd = None
    with contextlib.suppress(AttributeError, OSError):
        pidfd = os.pidfd_open(pid)
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return status
            watch = [requests.fd] + ([pidfd] if pidfd is not None else [])
            ready = select.select(watch, [], [], None if pidfd is not None else 0.05)[0]
            if requests.fd in ready:
                requests.fill()
                if requests.eof:
                    return None
    finally:
        if pidfd is not None:
            os.close(pidfd)

