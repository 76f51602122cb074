"""Lean HTTP/1.1 clients for the timed calls of HTTP candidates.

What the timed loops measure over HTTP is the model plus the network plus the client, and on
a small machine the client also shares the CPU with a local server. A full Python HTTP client
costs a lot per request (httpx measured here: ~0.55 ms of CPU synchronous, ~1.3 ms async);
these cost a fraction of that, so the figures say more about the model and the network:
  SyncPool        the closed loop: one kept-alive http.client connection per thread
                  (http and https; request written in one piece, no Nagle stall)
  AsyncHttp1Pool  the open loop: kept-alive connections over asyncio streams, so requests go
                  out on schedule however many are in flight (plain http; https uses httpx)
"""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass
class RawResponse:
    """The parts of an httpx.Response the adapter reads."""

    status_code: int
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes = b""

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


class SyncPool:
    """POST to one URL on a kept-alive connection per calling thread (thread-safe)."""

    def __init__(self, url: str, headers: dict[str, str], timeout_s: float = 30.0):
        self.url = url
        parts = urlsplit(url)
        self._https = parts.scheme == "https"
        self._netloc = parts.netloc
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._headers = dict(headers)
        self.timeout_s = timeout_s
        self._local = threading.local()
        self._all: list[http.client.HTTPConnection] = []

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            conn = cls(self._netloc, timeout=self.timeout_s)
            conn.connect()
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._local.conn = conn
            self._all.append(conn)
        return conn

    def post(self, url: str, content: bytes) -> RawResponse:
        if url != self.url:
            raise ValueError(f"this pool posts to {self.url!r}, not {url!r}")
        for attempt in (0, 1):
            conn = self._connection()
            fresh = attempt == 1
            try:
                conn.request("POST", self._path, content, self._headers)
                r = conn.getresponse()
                body = r.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                    http.client.CannotSendRequest, http.client.ResponseNotReady):
                conn.close()
                self._local.conn = None
                if fresh:  # a new connection failed too: the server is gone
                    raise
                continue  # a kept-alive connection the server had closed: once more, fresh
            if r.will_close:
                conn.close()
                self._local.conn = None
            return RawResponse(r.status, {k.lower(): v for k, v in r.getheaders()}, body)
        raise AssertionError("unreachable")

    def close(self) -> None:
        for conn in self._all:
            conn.close()
        self._all.clear()


class ConnectionDropped(ConnectionError):
    """The server closed a kept-alive connection before answering (safe to resend)."""


class AsyncHttp1Pool:
    """POST to one http:// URL over at most `max_connections` kept-alive connections."""

    def __init__(self, url: str, headers: dict[str, str], max_connections: int = 64, timeout_s: float = 30.0):
        self.url = url
        parts = urlsplit(url)
        if parts.scheme != "http":
            raise ValueError(f"AsyncHttp1Pool speaks plain http only, got {url!r}")
        self.host, self.port = parts.hostname, parts.port or 80
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() not in ("host", "content-length"))
        self._head = f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n{extra}Content-Length: ".encode("latin-1")
        self.max_connections = max_connections
        self.timeout_s = timeout_s
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._all: set[asyncio.StreamWriter] = set()
        self._slots: asyncio.Semaphore | None = None  # made in the running loop

    async def post(self, url: str, content: bytes) -> RawResponse:
        """POST `content` to `url` (this pool's URL; the argument keeps httpx's call shape)."""
        if url != self.url:
            raise ValueError(f"this pool posts to {self.url!r}, not {url!r}")
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_connections)
        async with self._slots:
            return await asyncio.wait_for(self._post(content), self.timeout_s)

    async def _post(self, body: bytes) -> RawResponse:
        request = self._head + str(len(body)).encode() + b"\r\n\r\n" + body
        reused = bool(self._idle)
        conn = self._idle.pop() if reused else await self._connect()
        try:
            response, keep = await self._exchange(conn, request)
        except ConnectionDropped:
            self._close(conn)
            if not reused:
                raise
            conn = await self._connect()  # an idle connection the server had timed out: once more
            try:
                response, keep = await self._exchange(conn, request)
            except BaseException:
                self._close(conn)
                raise
        except BaseException:
            self._close(conn)
            raise
        if keep:
            self._idle.append(conn)
        else:
            self._close(conn)
        return response

    async def _connect(self):
        reader, writer = await asyncio.open_connection(self.host, self.port)
        self._all.add(writer)
        return reader, writer

    def _close(self, conn) -> None:
        writer = conn[1]
        self._all.discard(writer)
        writer.close()

    @staticmethod
    async def _exchange(conn, request: bytes) -> tuple[RawResponse, bool]:
        reader, writer = conn
        try:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionResetError, BrokenPipeError) as exc:
            raise ConnectionDropped(str(exc)) from None
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                key, _, value = line.partition(":")
                headers[key.strip().lower()] = value.strip()
        if "content-length" in headers:
            content = await reader.readexactly(int(headers["content-length"]))
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            content = await _read_chunked(reader)
        else:  # the body runs to the end of the connection
            content = await reader.read()
            return RawResponse(status, headers, content), False
        keep = headers.get("connection", "").lower() != "close"
        return RawResponse(status, headers, content), keep

    async def aclose(self) -> None:
        for writer in list(self._all):
            writer.close()
        self._all.clear()
        self._idle.clear()


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0].strip(), 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers, then the blank line
                pass
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)  # the chunk's CRLF
