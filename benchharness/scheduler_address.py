"""A Dask scheduler address a user gave (`--scheduler`): checked before anything connects.

`bench validate --scheduler`, `bench fleet --scheduler` and `bench worker --scheduler` all
start here: an address that is not `tcp://HOST:PORT` or `tls://HOST:PORT` is one line and
exit 2 (never Dask's ValueError as an internal error), and `probe` says at once whether
anything listens there, so a client does not wait out Dask's connect timeout (and its
`Client.__del__` close timeout after it) on a port where nothing listens.
"""

from __future__ import annotations

import socket

from benchharness.errors import UserError

PROTOCOLS = ("tcp", "tls")
EXAMPLE = "tcp://HOST:PORT (or tls://HOST:PORT), e.g. tcp://10.0.0.5:8786"


def parse(address: str, flag: str = "--scheduler") -> tuple[str, str, int]:
    """(protocol, host, port) of `address`; a UserError naming what is wrong otherwise."""
    text = str(address).strip()
    if not text:
        raise UserError(f"{flag} is empty; give {EXAMPLE}")
    proto, sep, location = text.partition("://")
    if not sep:  # Dask reads a bare HOST:PORT as tcp
        proto, location = "tcp", text
    if proto not in PROTOCOLS:
        raise UserError(f"{flag} {address!r}: protocol {proto!r} is not supported; give {EXAMPLE}")
    if location.startswith("["):  # [IPv6]:PORT
        host, _, rest = location[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_text = location.rpartition(":")
    if not host or not port_text:
        raise UserError(f"{flag} {address!r} is not a scheduler address (no port); give {EXAMPLE}")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise UserError(f"{flag} {address!r}: port {port_text!r} is not a port number (1-65535); "
                        f"give {EXAMPLE}")
    return proto, host, int(port_text)


def check(address: str, flag: str = "--scheduler") -> str:
    """The address as Dask takes it (with its protocol), after `parse` accepted it."""
    proto, host, port = parse(address, flag)
    return f"{proto}://{f'[{host}]' if ':' in host else host}:{port}"


def probe(address: str, timeout_s: float = 3.0) -> str | None:
    """None when something accepts a TCP connection at `address`, else why not (one phrase)."""
    _, host, port = parse(address)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return None
    except socket.gaierror as exc:
        return f"unknown host {host!r} ({exc.strerror})"
    except TimeoutError:
        return f"no answer within {timeout_s:g} s"
    except OSError as exc:
        return exc.strerror or str(exc)


def speaks_dask(address: str, timeout_s: float = 5.0) -> str | None:
    """None when the service at a tcp:// `address` answers Dask's handshake and an `identity`
    request, else why not. Something else listening there (a web server, a database) would
    otherwise leave Dask's Client waiting without end. tls:// addresses are not tried (the
    handshake needs the certificates): None."""
    import asyncio

    if parse(address)[0] != "tcp":
        return None
    try:
        from distributed.comm import connect
    except ImportError:
        return None

    async def ask() -> None:
        comm = await connect(address, timeout=timeout_s)
        try:
            await comm.write({"op": "identity", "reply": True})
            await comm.read()
        finally:
            await comm.close()

    try:
        asyncio.run(asyncio.wait_for(ask(), timeout_s))
    except (asyncio.TimeoutError, TimeoutError):
        return f"it accepts connections but gave no Dask answer within {timeout_s:g} s"
    except Exception as exc:  # noqa: BLE001 - whatever the other side did, it is not Dask
        return f"it accepts connections but does not speak Dask ({type(exc).__name__})"
    return None


def require_listening(address: str, flag: str = "--scheduler", timeout_s: float = 3.0) -> str:
    """`check`, `probe` and `speaks_dask`: a scheduler nothing answers for, or a service that
    is not one, is one line, before any work."""
    normalized = check(address, flag)
    why = probe(normalized, timeout_s)
    if why is not None:
        raise UserError(f"cannot reach the Dask scheduler at {address!r}: {why}; is it running? "
                        "(start one with `dask scheduler`)")
    not_dask = speaks_dask(normalized)
    if not_dask is not None:
        raise UserError(f"{flag} {address!r} is not a Dask scheduler: {not_dask}; give the "
                        "scheduler's address (tcp://HOST:PORT, port 8786 by default)")
    return normalized


def wait_until_listening(address: str, say, every_s: float = 10.0, poll_s: float = 1.0,
                         clock=None, sleep=None) -> None:
    """Wait (until Ctrl-C) for something to listen at `address`, saying so every `every_s`
    seconds: `waiting for the scheduler at ADDR (N s): why`. A worker may start first."""
    import time

    clock = clock or time.monotonic
    sleep = sleep or time.sleep
    started, next_say = clock(), 0.0
    while (why := probe(address, timeout_s=min(3.0, every_s))) is not None:
        waited = clock() - started
        if waited >= next_say:
            say(f"waiting for the scheduler at {address} ({waited:.0f} s): {why}")
            next_say = waited + every_s
        sleep(poll_s)
    if next_say:
        say(f"the scheduler at {address} answers after {clock() - started:.0f} s")
