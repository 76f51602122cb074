"""Run the V2 app on uvicorn: in the foreground (`bench serve`) or in a background thread.

The socket is bound before uvicorn starts, so port 0 (an ephemeral port) works and the real
port is known at once. Loopback (127.0.0.1) unless told otherwise: a model server on every
interface is a decision, not a default.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
from collections.abc import Iterator

from benchharness.adapters.base import ModelAdapter
from benchharness.adapters.extras import import_extra
from benchharness.errors import UserError
from benchharness.serve.app import DEFAULT_MAX_REQUEST_BYTES

DEFAULT_HOST = "127.0.0.1"
#: when `bench serve` stops, how long a request still in the model may take before it gets a
#: 503 (below uvicorn's graceful shutdown timeout, which would cancel it with a traceback)
STOP_GRACE_S = 3.0


def _uvicorn():
    import_extra("starlette", package="starlette", extra="serve", what="bench serve")
    return import_extra("uvicorn", package="uvicorn", extra="serve", what="bench serve")


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP: asyncio sets TCP_NODELAY on accepted connections only then, and
    # without it every response waits ~40 ms for the client's delayed ACK
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}"


def make_server(model, name: str, max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
                log_level: str = "warning"):
    """uvicorn serving `model` (an adapter, or a `ModelProcess`) as model `name`."""
    uvicorn = _uvicorn()
    from benchharness.serve.app import build_app

    app = build_app(model, name, max_request_bytes)
    # h11 and no access log: the access log alone costs more than a small model's predict.
    # A request still in a stuck model when the server stops is dropped after 5 s.
    config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="off",
                            http="h11", ws="none", timeout_graceful_shutdown=5)
    return uvicorn.Server(config)


def serve_model(spec: dict, host: str, port: int, announce=print, exit_with_stdin: bool = False) -> None:
    """`bench serve`: bind, load the model in its own process, announce the URL once serving,
    serve until Ctrl-C/SIGTERM (or stdin closes, with `exit_with_stdin`).

    `spec`: model, format, options, name, max_request_bytes. This process runs uvicorn; the
    model runs in a child (`model_process.ModelProcess`), so a request that crashes the
    model's native code gets a 500 and a fresh child answers the next request. Raises
    ModelError when the model cannot load. The child is stopped before this returns."""
    from benchharness.serve.model_process import ModelProcess

    sock = bind(host, port)
    try:
        model = ModelProcess(spec)
        try:
            server = make_server(model, spec["name"], spec["max_request_bytes"], log_level="info")
            shutdown = server.shutdown

            async def stop_model_then_shutdown(sockets=None) -> None:
                import asyncio

                asyncio.get_running_loop().call_later(STOP_GRACE_S, model.abort)
                await shutdown(sockets)

            server.shutdown = stop_model_then_shutdown
            if exit_with_stdin:
                def watch() -> None:
                    sys.stdin.read()
                    server.should_exit = True

                threading.Thread(target=watch, daemon=True, name="stdin-watch").start()

            def say_serving() -> None:
                while not server.started:
                    if server.should_exit:
                        return
                    time.sleep(0.01)
                announce(f"serving {spec['name']!r} at {base_url(sock)}/v2/models/{spec['name']}")

            threading.Thread(target=say_serving, daemon=True, name="announce").start()
            server.run(sockets=[sock])
        finally:
            model.close()
    finally:
        sock.close()


@contextlib.contextmanager
def running_app(app, host: str = DEFAULT_HOST, port: int = 0, start_timeout_s: float = 10.0,
                **uvicorn_options) -> Iterator[str]:
    """Serve any ASGI `app` on uvicorn in a background thread for the `with` block; yields
    the base URL (port 0: an ephemeral port). `uvicorn_options` go to uvicorn.Config."""
    uvicorn = _uvicorn()
    options = {"log_level": "warning", "access_log": False, "lifespan": "off", "http": "h11",
               "ws": "none", **uvicorn_options}
    server = uvicorn.Server(uvicorn.Config(app, **options))
    with _in_thread(server, bind(host, port), start_timeout_s) as url:
        yield url


@contextlib.contextmanager
def running_server(adapter: ModelAdapter, name: str, host: str = DEFAULT_HOST, port: int = 0,
                   max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES, start_timeout_s: float = 10.0) -> Iterator[str]:
    """Serve `adapter` as model `name` in a background thread for the `with` block; yields the base URL."""
    server = make_server(adapter, name, max_request_bytes)
    with _in_thread(server, bind(host, port), start_timeout_s) as url:
        yield url


@contextlib.contextmanager
def _in_thread(server, sock: socket.socket, start_timeout_s: float) -> Iterator[str]:
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="uvicorn")
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError(f"uvicorn did not start within {start_timeout_s} s")
        time.sleep(0.01)
    try:
        yield base_url(sock)
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()
