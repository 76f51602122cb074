"""What runs inside a measurement child before and around the measured function.

`child_main` reads the pickled request the parent wrote, applies the memory limit and the
environment, calls `module:attr(**kwargs)` and writes the outcome atomically. A leaf module:
both ways of starting a child (`isolate.py` spawns one, `forkserver.py` forks one) use it.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
from pathlib import Path

#: the folder that holds the benchharness package, put first on a child's sys.path
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


def die_with_parent() -> None:
    """Linux: SIGKILL this process when its parent dies (prctl PR_SET_PDEATHSIG); elsewhere
    nothing (the fork server's stdin watch still covers its children)."""
    if not sys.platform.startswith("linux"):
        return
    import contextlib
    import ctypes

    parent = os.getppid()
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the call: nobody will signal us
        os._exit(1)


#: address space a child needs beyond what it has at start to load and call a small model
START_HEADROOM_MB = 64


class MemoryLimitTooLow(Exception):
    """The memory limit is below what this child already uses: applying it would leave the
    child unable to allocate anything (a thread pool then waits forever on a futex)."""


def address_space_mb(modules: list[str] | tuple[str, ...] = ()) -> float:
    """This process's address space (VmSize) in MB, after importing `modules`; 0 if unknown."""
    import contextlib
    import importlib

    for module in modules:  # a library missing here fails later, with its own message
        with contextlib.suppress(Exception):
            importlib.import_module(module)
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def needed_mb(start_mb: float) -> int:
    """The least limit worth trying for a child that starts at `start_mb` (rounded up to 10)."""
    return int(-(-(start_mb + START_HEADROOM_MB) // 10) * 10)


def limit_memory(limit_mb: float) -> None:
    """Cap this process's address space: past it, allocations fail (MemoryError in Python)."""
    try:
        import resource
    except ImportError:  # Windows: no rlimits; the limit is not applied
        return
    start = address_space_mb()
    if start and limit_mb < start + START_HEADROOM_MB:
        raise MemoryLimitTooLow(f"{needed_mb(start)}")
    limit = int(limit_mb * 1024 * 1024)
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def child_main(in_path: str, out_path: str, err_path: str | None = None) -> None:
    import faulthandler
    import importlib
    import traceback

    if not err_path:  # spawned by `bench` itself: die with it (forked ones did this already)
        die_with_parent()
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
        if payload.get("memory_limit_mb"):  # inside the try: a limit below the start fails at once
            limit_memory(payload["memory_limit_mb"])
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
    from benchharness.run_folder import atomic_write

    # atomic: a crash while writing never leaves a half result
    atomic_write(out_path, lambda fh: pickle.dump(result, fh, protocol=pickle.HIGHEST_PROTOCOL))
