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

A process started with a cleared environment (`Popen(..., env={})`, `execve` with an empty
one) carries no token. If it daemonizes, it is re-parented to this process all the same: a
direct child this process never started. So after a spawned child has ended,
`stop_orphans(pid)` also stops each process P for which all of these hold:

1. P's parent is this process, and P is not one this package started (every process the
   package starts goes through `popen()`, which records its pid and start time under the
   same lock the sweep holds, so a sibling child that is being started is never unknown);
2. P is outside this process's session, and P leads no session of its own. Whatever this
   process forks stays in its session unless it calls setsid, and then it leads its session
   (`Popen(start_new_session=True)`): either way a process started here, by a library
   (joblib/loky, multiprocessing, Dask, uvicorn workers stay in the session) or by other
   code of a program that embeds the harness, is left alone. A spawned child leads a session
   of its own, so all it starts is outside ours; a double-forked daemon leads none;
3. P belongs to the child that ended: it is in that child's session (only the child's own
   descendants can be), or it started at or after the child did (its start time,
   /proc/PID/stat field 22) and every process that might have started it and still runs
   started after it: the other spawned children still running, and the other processes the
   package started that can run model code (`bench serve`, a fleet run; not the fork server,
   a subreaper whose descendants' orphans never come here). With children at once (tune
   replicas) a stray is left to the last child that was running when it started: it is
   stopped once, and never while the child that may have started it still runs;
4. P carries no token: a token's own sweep stops it.

Each such P is killed with everything below it. What the rule could still take for a stray:
a process that something this process started outside the package double-forks into a new
session while a spawned child runs (the harness starts none, and the libraries it runs here
do not; only other code of a program that embeds the harness could).
What it leaves: a token-less orphan that leads its own session (one fork, setsid, and its
parent exits), and one that started while a `bench serve` process of the run was up.

Either way the outcome says how many were stopped, and the run says it cleaned up after the
candidate. Linux only; elsewhere nothing is done.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from typing import NamedTuple

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


class _Proc(NamedTuple):
    """What /proc/PID/stat says of a process."""

    ppid: int
    state: bytes
    sid: int
    start: int  # clock ticks after boot


def _read(pid: str) -> _Proc | None:
    """A process's stat, None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        # fields[0] is field 3 (state): ppid is field 4, session 6, starttime 22
        return _Proc(int(fields[1]), fields[0], int(fields[3]), int(fields[19]))
    except (OSError, IndexError, ValueError):
        return None


def _stat(pid: str) -> tuple[int, bytes] | None:
    """(parent pid, state) of a process, None when it is gone."""
    st = _read(pid)
    return None if st is None else (st.ppid, st.state)


def _running(pid: int) -> bool:
    """Running (a zombie has ended and only waits to be reaped)."""
    st = _read(str(pid))
    return st is not None and st.state not in (b"Z", b"X")


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


# -- what the package starts itself, and the orphans a spawned child leaves without a token --
class _Started(NamedTuple):
    start: int  # clock ticks after boot, as /proc/PID/stat field 22 says
    role: str  # child | host | reaper (see popen)


_STARTED: dict[int, _Started] = {}
_LOCK = threading.Lock()  # held while starting a process and while sweeping orphans
ROLES = ("child", "host", "reaper")


def popen(args, role: str = "host", **kwargs) -> subprocess.Popen:
    """`subprocess.Popen(args, **kwargs)`, recorded as a process this package started, so that
    the orphan sweep never takes it for a stray. `role`: ``child`` a spawned measurement child
    (`stop_orphans` sweeps after it); ``host`` a process that may run model code whose
    orphans come here (`bench serve`, a fleet run): while it runs, an orphan started after it
    may be its own and is left alone; ``reaper`` a child subreaper (the fork server), whose
    descendants' orphans never come here."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    with _LOCK:
        proc = subprocess.Popen(args, **kwargs)
        st = _read(str(proc.pid))  # not reaped yet: its stat is there
        _STARTED[proc.pid] = _Started(st.start if st else -1, role)
    return proc


def _ours(pid: int, st: _Proc) -> bool:
    known = _STARTED.get(pid)
    return known is not None and known.start == st.start  # the same process, not a reused pid


def _token_in(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            return (b"\0" + fh.read()).find(f"\0{TOKEN_VAR}=".encode()) >= 0
    except OSError:
        return False


def orphans_of(child: int, child_start: int) -> list[int]:
    """The processes `stop_orphans` stops after spawned child `child` (started at
    `child_start`, clock ticks) has ended: the rule in this module's docstring."""
    me, session = os.getpid(), os.getsid(0)
    table = {int(pid): st for pid in _pids() if (st := _read(pid)) is not None
             and st.state not in (b"Z", b"X")}
    running = [known.start for pid, known in _STARTED.items()
               if pid != child and known.role != "reaper" and pid in table
               and table[pid].start == known.start]
    found = []
    for pid, st in table.items():
        if st.ppid != me or _ours(pid, st) or st.sid in (session, pid):
            continue  # started here, or by this package, or leading a session of its own
        # not in the child's own session: it started before the child, or may be the orphan
        # of a process still running
        if st.sid != child and (st.start < child_start
                                or any(start <= st.start for start in running)):
            continue
        if not _token_in(pid):
            found.append(pid)
    return found


def stop_orphans(child: int, wait_s: float = 2.0) -> int:
    """After spawned child `child` (started with `popen(..., role="child")`) has ended: kill
    and reap the orphans it left that carry no token, with all below them; how many."""
    if not sys.platform.startswith("linux") or not os.path.isdir("/proc"):
        return 0
    with _LOCK:
        known = _STARTED.pop(child, None)
        for pid, entry in list(_STARTED.items()):  # hosts that have ended: forget them
            st = _read(str(pid))
            if entry.role != "child" and (st is None or st.start != entry.start):
                del _STARTED[pid]
        if known is None or known.start < 0:  # not ours, or its start time unknown: no window
            return 0
        stopped: set[int] = set()
        for _ in range(5):  # a stray may fork while it is being killed: look again
            found = orphans_of(child, known.start)
            if not found:
                break
            tree = [p for pid in found for p in (pid, *descendants(pid))]
            stopped.update(tree)
            _kill_and_reap(tree, wait_s)
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
