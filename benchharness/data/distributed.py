"""Run per-part work on a Dask cluster (`--scheduler ADDRESS`), the engine fleet runs use.

Each part of a dataset is one task: the worker reads the part, checks its rows and writes
its clean and quarantine outputs itself (so the folders must be visible to every worker: a
shared file system, or one machine), and sends back only what merges exactly: counts
(`validate.PartCheck`) and, for `bench monitor`, category counts and a bottom-k sample
(`profile.DriftProfile`). The parent adds them up in part order, so the result is the one
the single-machine path gives on the same parts: row counts, failed checks and category
counts identical, and the sample too (each part is sampled with its own seed either way).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from benchharness.errors import UserError

CONNECT_TIMEOUT_S = 10


def connect(address: str, timeout_s: float = CONNECT_TIMEOUT_S):
    """A dask.distributed Client on `address` (tcp://host:port), or a one-line UserError."""
    try:
        from distributed import Client
    except ImportError:
        raise UserError("--scheduler needs the 'distributed' package: pip install 'benchharness[data-cluster]'") from None
    from benchharness.scheduler_address import require_listening

    address = require_listening(address)  # a bad or silent address: one line at once, no Dask wait
    try:
        return Client(address, timeout=timeout_s, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise UserError(f"cannot reach the Dask scheduler at {address!r} within {timeout_s:g} s: "
                        f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}; "
                        "give its address as tcp://HOST:PORT") from None


def map_parts(address: str, fn: Callable, jobs: Sequence[tuple], **kwargs) -> list:
    """fn(*job, **kwargs) for every job, on the cluster; results in job order. A task that
    raises re-raises here with its own exception (a DataError stays a DataError)."""
    client = connect(address)
    try:
        futures = [client.submit(fn, *job, **kwargs, pure=False) for job in jobs]
        return client.gather(futures)
    finally:
        client.close()
