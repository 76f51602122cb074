"""The lean HTTP/1.1 clients of HTTP candidates, against a real uvicorn on loopback."""

from __future__ import annotations

import asyncio
import time

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from benchharness.adapters.http_clients import AsyncHttp1Pool, SyncPool
from benchharness.serve.server import running_app


async def echo(request):
    body = await request.body()
    return JSONResponse({"got": body.decode(), "ct": request.headers.get("content-type")},
                        headers={"server-timing": "model;dur=0.5"})


async def chunked(request):
    async def parts():
        yield b'{"predictions": '
        yield b"[1, 2, 3]}"

    return StreamingResponse(parts(), media_type="application/json")  # no Content-Length: chunked


async def closing(request):
    return Response(b'{"ok": true}', media_type="application/json", headers={"connection": "close"})


@pytest.fixture(scope="module")
def base():
    app = Starlette(routes=[Route(p, f, methods=["POST"]) for p, f in
                            (("/echo", echo), ("/chunked", chunked), ("/closing", closing))])
    # a short keep-alive, so that a test can outlive it: the clients must reconnect by themselves
    with running_app(app, timeout_keep_alive=0.3) as url:
        yield url


def test_sync_pool_keeps_alive_and_survives_the_server_closing_idle_connections(base):
    pool = SyncPool(f"{base}/echo", {"content-type": "application/json"})
    try:
        first = pool.post(f"{base}/echo", content=b'{"a": 1}')
        assert first.status_code == 200 and first.json() == {"got": '{"a": 1}', "ct": "application/json"}
        assert first.headers["server-timing"] == "model;dur=0.5"
        time.sleep(0.6)  # the server drops the idle connection
        assert pool.post(f"{base}/echo", content=b"x").json()["got"] == "x"
        assert len(pool._all) == 2  # one reconnect, no more
        with pytest.raises(ValueError, match="posts to"):
            pool.post(f"{base}/other", content=b"")
    finally:
        pool.close()


def test_async_pool_reads_chunked_and_closing_answers_and_reconnects(base):
    async def go():
        echo_pool = AsyncHttp1Pool(f"{base}/echo", {"content-type": "application/json"}, max_connections=4)
        chunk_pool = AsyncHttp1Pool(f"{base}/chunked", {}, max_connections=2)
        close_pool = AsyncHttp1Pool(f"{base}/closing", {}, max_connections=2)
        try:
            answers = await asyncio.gather(*[echo_pool.post(f"{base}/echo", content=str(i).encode()) for i in range(10)])
            assert [a.json()["got"] for a in answers] == [str(i) for i in range(10)]
            assert len(echo_pool._all) <= 4  # the pool's bound held under 10 concurrent sends
            assert (await chunk_pool.post(f"{base}/chunked", content=b"")).json() == {"predictions": [1, 2, 3]}
            assert (await chunk_pool.post(f"{base}/chunked", content=b"")).json() == {"predictions": [1, 2, 3]}
            for _ in range(2):
                assert (await close_pool.post(f"{base}/closing", content=b"")).json() == {"ok": True}
            assert close_pool._idle == []  # 'Connection: close' answers are not reused
            await asyncio.sleep(0.6)  # idle connections expire on the server
            assert (await echo_pool.post(f"{base}/echo", content=b"late")).json()["got"] == "late"
        finally:
            for p in (echo_pool, chunk_pool, close_pool):
                await p.aclose()

    asyncio.run(go())


def test_async_pool_is_plain_http_only():
    with pytest.raises(ValueError, match="plain http only"):
        AsyncHttp1Pool("https://127.0.0.1:1/x", {})
