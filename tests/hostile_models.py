"""Models that misbehave on purpose, as `module:attr` candidates (importable in children)."""

import time

import numpy as np


def hangs(X):
    while True:  # a model stuck for good
        time.sleep(1)


def hogs_memory(X):
    blocks = []
    while True:  # allocates without bound, 64 MB at a time
        blocks.append(np.ones(8 * 1024 * 1024))


def one_row_short(X):
    return np.zeros(max(len(X) - 1, 0), dtype=np.int64)


def strings(X):
    return np.array(["yes" if v > 14 else "no" for v in np.asarray(X)[:, 0]])


def segfaults_on_negative(X):
    """Crashes the whole process (as a broken native runtime would) on a negative first value."""
    X = np.asarray(X, dtype=float)
    if X[0, 0] < 0:
        import ctypes

        ctypes.string_at(0)  # reads address 0: SIGSEGV
    return (X[:, 0] > 0).astype(np.int64)


def slow(X):
    time.sleep(4)
    return np.zeros(len(X), dtype=np.int64)


# -- models that start processes of their own (each records its pid in $STRAY_PIDS) -----------
_forked = []


def _record_pid():
    import os

    folder = os.environ.get("STRAY_PIDS")
    if folder:
        with open(os.path.join(folder, str(os.getpid())), "w"):
            pass


def _linger():
    _record_pid()
    while True:  # model code that keeps running
        time.sleep(0.2)


def daemonizes(X):
    """Double-forks a daemon into its own session (setsid) on its first call, then answers."""
    import os

    if not _forked:
        _forked.append(True)
        middle = os.fork()
        if middle == 0:
            os.setsid()
            if os.fork() == 0:
                _linger()
            os._exit(0)
        os.waitpid(middle, 0)
        time.sleep(0.2)  # the daemon has started
    return np.zeros(len(X), dtype=np.int64)


def forks_and_exits(X):
    """Forks a helper, then leaves without a word (os._exit): the helper is orphaned."""
    import os

    if os.fork() == 0:
        _linger()
    time.sleep(0.2)  # the helper has started
    os._exit(0)


class SegfaultsOn666:
    """A fitted-model stand-in (joblib it) whose predict kills its own process with SIGSEGV,
    as a broken native runtime would, when a row's first feature is 666; else 1 per row."""

    n_features_in_ = 2

    def predict(self, X):
        import os
        import signal

        X = np.asarray(X, dtype=float)
        if (X[:, 0] == 666).any():
            os.kill(os.getpid(), signal.SIGSEGV)
        return np.ones(len(X), dtype=np.int64)


class CannotComeBack(SegfaultsOn666):
    """SegfaultsOn666 whose crash leaves a file `marker` behind, and which segfaults while it
    is loaded (unpickled) as long as that file exists: a runtime that cannot start again until
    someone mends it (the test removes the file)."""

    def __init__(self, marker: str):
        self.marker = marker

    def __setstate__(self, state):
        import os
        import signal

        self.__dict__.update(state)
        if os.path.exists(self.marker):
            os.kill(os.getpid(), signal.SIGSEGV)

    def predict(self, X):
        if (np.asarray(X, dtype=float)[:, 0] == 666).any():
            open(self.marker, "w").close()
        return super().predict(X)


# -- a daemon started with a cleared environment: it inherits nothing from the child ----------
_CLEAN_DAEMON = (
    "import os, sys, time\n"
    "if os.fork():\n"
    "    os._exit(0)\n"  # the process the model started leaves at once
    "os.setsid()\n"
    "if os.fork():\n"
    "    os._exit(0)\n"  # the second fork: the daemon leads no session of its own
    "with open(sys.argv[1] + '.tmp', 'w') as fh:\n"
    "    fh.write(str(os.getpid()))\n"
    "os.rename(sys.argv[1] + '.tmp', sys.argv[1])\n"
    "while True:\n"
    "    time.sleep(0.2)\n"
)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def _wait_for_file(path: str, limit_s: float = 60.0) -> None:
    import os

    deadline = time.monotonic() + limit_s
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.02)


def daemon_with_a_cleared_environment(pid_file: str, wait_for: str | None = None) -> dict:
    """Starts `python -c ...` with env={} that double-forks a daemon into its own session and
    writes the daemon's pid to `pid_file`; then waits for the file `wait_for` (if given) and
    says whether its daemon still runs at that point."""
    import subprocess
    import sys

    subprocess.Popen([sys.executable, "-c", _CLEAN_DAEMON, pid_file], env={}).wait()
    _wait_for_file(pid_file)
    with open(pid_file) as fh:
        pid = int(fh.read())
    if wait_for:
        _wait_for_file(wait_for)
    return {"daemon": pid, "daemon_alive_at_end": _alive(pid)}


def daemonizes_with_a_cleared_environment(X):
    """A `module:attr` model: on its first call in a process, starts a daemon with env={}
    (recording the daemon's pid in $STRAY_PIDS), then answers."""
    import os

    if not _forked:
        _forked.append(True)
        pid_file = os.path.join(os.environ["STRAY_PIDS"], f"clean-{os.getpid()}")
        daemon = daemon_with_a_cleared_environment(pid_file)["daemon"]
        os.rename(pid_file, os.path.join(os.environ["STRAY_PIDS"], str(daemon)))
    return np.zeros(len(X), dtype=np.int64)
