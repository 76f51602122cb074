"""`bench worker`: a Dask worker on a target machine, advertising its hardware profile.

The worker has one thread and the resource `profile-<NAME>=1`: the scheduler gives it only
fleet tasks for that profile, one at a time (two benchmarks on one machine would spoil both).
It listens on loopback unless `--listen` says otherwise, and refuses to start on a profile
name it cannot load, before it joins the scheduler; a machine that differs from the profile
(vCPUs, GPU) is said at start and recorded in every run, as `bench run` does.
"""

from __future__ import annotations

import asyncio
import logging
import socket

from benchharness.cost.hardware import detect_machine, load_profile, profile_section
from benchharness.fleet import task

RESOURCE_PREFIX = "profile-"


def resource_name(profile_name: str) -> str:
    return f"{RESOURCE_PREFIX}{profile_name}"


def security_from(ca: str | None, cert: str | None, key: str | None):
    """Dask TLS settings from the three files, or None when none is given."""
    if not (ca or cert or key):
        return None
    from benchharness.errors import UserError

    if not (ca and cert and key):
        raise UserError("TLS needs all three of --tls-ca-file, --tls-cert and --tls-key")
    from distributed.security import Security

    return Security(tls_ca_file=ca, tls_client_cert=cert, tls_client_key=key,
                    tls_worker_cert=cert, tls_worker_key=key, tls_scheduler_cert=cert,
                    tls_scheduler_key=key, require_encryption=True)


def describe(profile_name_or_path: str) -> tuple[str, list[str]]:
    """(profile name, how this machine differs from it); raises ProfileError for a bad name."""
    machine = detect_machine()
    profile = load_profile(profile_name_or_path, machine=machine)
    return profile.name, profile_section(profile, machine)["mismatch"]


def run_worker(scheduler: str, profile: str, listen: str = "127.0.0.1", security=None,
               name: str | None = None, say=print) -> None:
    """Join `scheduler` and serve fleet tasks until stopped (Ctrl-C or the scheduler closing).

    The address is checked first (one line, exit 2, for one that is not tcp://HOST:PORT), then
    the worker waits for the scheduler to answer, saying so every 10 s, before it joins."""
    from distributed import Worker

    from benchharness import scheduler_address
    from benchharness.errors import UserError

    scheduler = scheduler_address.check(scheduler)
    profile_name, mismatch = describe(profile)
    task.WORKER_PROFILES[profile_name] = profile
    resources = {resource_name(profile_name): 1}
    name = name or f"{profile_name}@{socket.gethostname()}"
    if mismatch:
        say(f"warning: this machine is not profile {profile_name}: {'; '.join(mismatch)} "
            "(every run records it)")

    async def serve() -> None:
        async with Worker(scheduler, nthreads=1, resources=resources, host=listen, name=name,
                          security=security, dashboard=False, silence_logs=logging.WARNING) as w:
            say(f"worker {name} at {w.address} serves profile {profile_name} "
                f"(resource {resource_name(profile_name)}=1) for scheduler {scheduler}")
            await w.finished()

    scheduler_address.wait_until_listening(scheduler, say)
    not_dask = scheduler_address.speaks_dask(scheduler)
    if not_dask is not None:
        raise UserError(f"--scheduler {scheduler!r} is not a Dask scheduler: {not_dask}")
    try:
        asyncio.run(serve())
    except (OSError, TimeoutError, RuntimeError, ValueError) as exc:  # e.g. the scheduler went away
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"the worker could not join the scheduler at {scheduler}: {first}") from None
