"""Processes a candidate's model starts that outlive the child that measured it.

A model may fork a helper and exit, or double-fork a daemon into its own session (`setsid`):
neither dies with the child's process group, and both would be re-parented to PID 1 and keep
running model code after the run. Two holds, one per way of starting a child:

- forked from the fork server: the server is a child subreaper (`PR_SET_CHILD_SUBREAPER`), so
  whatever the child started is re-parented to the server, never to PID 1. The server runs one
  child at a time: once that child is reaped, every process still below the server is a
  stray, and `stop_descendants()` kills and reaps them all;
- spawned: the child is started with a token in its environment (`BENCH_CHILD_TOKEN`), which
  every process it forks or starts inherits; once it has ended, `stop_token(token)` kills each
  process still carrying it (found in /proc). The parent is a subreaper too, so those are
  re-parented to it and reaped here rather than left as zombies.

Either way the outcome says how many were stopped, and the run says it cleaned up after the
candidate. Linux only; elsewhere nothing is done.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import sys
import time

TOKEN_VAR = "BENCH_CHILD_TOKEN"
_PR_SET_CHILD_SUBREAPER = 36


def new_token() -> str:
    return f"{os.getpid()}-{secrets.token_hex(8)}"


def become_subreaper() -> bool:
    """Make this process the reaper of its descendants' orphans (Linux); True when it is."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _stat(pid: str) -> tuple[int, bytes] | None:
    """(parent pid, state) of a process, None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), fields[0]


def _running(pid: int) -> bool:
    """Running (a zombie has ended and only waits to be reaped)."""
    st = _stat(str(pid))
    return st is not None and st[1] not in (b"Z", b"X")


def _pids() -> list[str]:
    return [e for e in os.listdir("/proc") if e.isdigit()] if os.path.isdir("/proc") else []


def descendants(root: int) -> list[int]:
    """Every running process below `root` in the process tree."""
    children: dict[int, list[int]] = {}
    for pid in _pids():
        st = _stat(pid)
        if st is not None and st[1] not in (b"Z", b"X"):
            children.setdefault(st[0], []).append(int(pid))
    out, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def _kill_and_reap(pids: list[int], wait_s: float) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + wait_s
    for pid in pids:
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)  # re-parented to us (a subreaper): reap it
            if not _running(pid):
                break
            time.sleep(0.005)


def stop_descendants(root: int | None = None, wait_s: float = 2.0) -> int:
    """Kill and reap every process below `root` (this process); how many there were. Only for
    a process whose own children are all strays (the fork server between two children)."""
    root = os.getpid() if root is None else root
    stopped: set[int] = set()
    for _ in range(5):  # a stray may fork while it is being killed: look again
        found = descendants(root)
        if not found:
            break
        stopped.update(found)
        _kill_and_reap(found, wait_s)
    if root == os.getpid():
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
    return len(stopped)


def find_token(token: str) -> list[int]:
    """Running processes whose environment carries `token`."""
    needle = f"\0{TOKEN_VAR}={token}\0".encode()
    me, found = os.getpid(), []
    for pid in _pids():
        if int(pid) == me:
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                env = b"\0" + fh.read() + b"\0"
        except OSError:  # gone, or not ours to read
            continue
        if needle in env and _running(int(pid)):
            found.append(int(pid))
    return found


def stop_token(token: str, wait_s: float = 2.0) -> int:
    """Kill every process still carrying `token` and reap those re-parented to us; how many."""
    stopped: set[int] = set()
    for _ in range(5):
        found = find_token(token)
        if not found:
            break
        stopped.update(found)
        _kill_and_reap(found, wait_s)
    return len(stopped)


_SUBREAPER: list[bool] = []


def become_subreaper_once() -> None:
    """`become_subreaper` for this process, the first time it is asked."""
    if not _SUBREAPER:
        _SUBREAPER.append(become_subreaper())


def kill_tree(root: int) -> None:
    """SIGKILL every process below `root` (not `root` itself); its parent reaps them."""
    for pid in descendants(root):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
