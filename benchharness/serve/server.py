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


def make_server(adapter: ModelAdapter, name: str, max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
                log_level: str = "warning"):
    uvicorn = _uvicorn()
    from benchharness.serve.app import build_app

    app = build_app(adapter, name, max_request_bytes)
    # h11 and no access log: the access log alone costs more than a small model's predict
    config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="off",
                            http="h11", ws="none")
    return uvicorn.Server(config)


class ServeWorker:
    """`bench serve`'s model process: loads the model and serves the socket the supervisor
    bound. A model that crashes the process (a segfault in a native runtime) takes down this
    worker only; the supervisor logs one line and starts another on the same socket, so the
    server keeps answering (requests queued meanwhile wait in the socket's backlog)."""

    BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); "
            "from benchharness.serve.server import worker_main; worker_main(sys.argv[2])")

    def __init__(self, sock: socket.socket, spec: dict):
        import json
        import subprocess
        from pathlib import Path

        spec = {**spec, "fd": sock.fileno()}
        root = str(Path(__file__).resolve().parents[2])
        from benchharness.isolation import strays

        self.proc = strays.popen([sys.executable, "-c", self.BOOT, root, json.dumps(spec)],
                                 role="host", stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 pass_fds=[sock.fileno()])
        self.started = time.monotonic()

    def wait_ready(self) -> bool:
        """True once the worker serves; False if it died first."""
        return self.proc.stdout.readline().strip() == b"ready"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except Exception:
                self.proc.kill()
                self.proc.wait()


def serve_supervised(spec: dict, host: str, port: int, announce=print, warn=print,
                     exit_with_stdin: bool = False) -> None:
    """Bind, start a worker, announce the URL once it serves, restart it when it crashes.

    `spec`: model, format, options, name, max_request_bytes. Returns when the worker exits on
    its own (0) or stdin closes (`exit_with_stdin`); Ctrl-C/SIGTERM stop the worker too."""
    import signal as _signal

    from benchharness.errors import ModelError
    from benchharness.isolation.isolate import signal_name

    sock = bind(host, port)
    stop = threading.Event()
    if exit_with_stdin:
        def watch() -> None:
            sys.stdin.read()
            stop.set()

        threading.Thread(target=watch, daemon=True, name="stdin-watch").start()
    worker = ServeWorker(sock, spec)
    try:
        if not worker.wait_ready():
            raise ModelError(f"bench serve {spec['model']}: the model process exited before serving "
                             f"({signal_name(worker.proc.wait()) or 'exit code ' + str(worker.proc.returncode)})")
        announce(f"serving {spec['name']!r} at {base_url(sock)}/v2/models/{spec['name']}")
        crashes: list[float] = []
        while not stop.is_set():
            try:
                code = worker.proc.wait(timeout=0.2)
            except Exception:  # still serving
                continue
            if code == 0 or code == -_signal.SIGTERM:
                return
            crashes = [t for t in crashes if time.monotonic() - t < 60] + [time.monotonic()]
            how = f"killed by {signal_name(code)}" if code < 0 else f"exited with code {code}"
            if len(crashes) > 5:
                raise ModelError(f"model {spec['name']!r}: the model process {how}, 6 times within "
                                 "a minute; stopping")
            warn(f"warning: model {spec['name']!r}: the model process {how} (the request it was "
                 "answering got no response); starting a fresh one")
            worker = ServeWorker(sock, spec)
            worker.wait_ready()
    finally:
        worker.stop()
        sock.close()


def worker_main(spec_json: str) -> None:
    """The worker process: load the model, serve the inherited socket, say `ready`."""
    import json

    from benchharness.adapters.registry import load_model
    from benchharness.isolation.child_main import die_with_parent

    die_with_parent()
    spec = json.loads(spec_json)
    sock = socket.socket(fileno=spec["fd"])
    adapter = load_model(spec["model"], spec["options"], fmt=spec["format"])
    server = make_server(adapter, spec["name"], spec["max_request_bytes"], log_level="info")

    def say_ready() -> None:
        while not server.started:
            time.sleep(0.01)
        sys.stdout.write("ready\n")
        sys.stdout.flush()

    threading.Thread(target=say_ready, daemon=True).start()
    try:
        server.run(sockets=[sock])
    finally:
        adapter.close()


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
