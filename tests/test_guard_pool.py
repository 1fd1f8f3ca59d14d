"""The proxy's upstream clients: requests spread over several pools, limits kept in total.

Requests go over real HTTP to the tests' model server (``tests/upstream.py``)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

import upstream
from distillguard.guard.pool import MAX_CONNECTIONS, MAX_KEEPALIVE, Upstream


def _pool_limits(client: httpx.AsyncClient) -> tuple[int, int]:
    pool = client._transport._pool  # type: ignore[attr-defined]
    return pool._max_connections, pool._max_keepalive_connections


def test_requests_take_the_clients_in_turn_and_all_reach_the_server() -> None:
    app = upstream.make_app()
    with upstream.serve(app) as url:
        pools = Upstream(url, pools=4)

        async def run() -> list[int]:
            async def one(i: int) -> int:
                reply = await pools.client().post(
                    "/v1/chat/completions",
                    json={"model": "m", "messages": [{"role": "user", "content": f"hello {i}"}]},
                )
                return reply.status_code

            try:
                return await asyncio.gather(*(one(i) for i in range(12)))
            finally:
                await pools.aclose()

        statuses = asyncio.run(run())
    assert statuses == [200] * 12
    assert len(upstream.seen(app)) == 12
    assert len(pools.clients) == 4
    assert all(client.is_closed for client in pools.clients)


def test_the_connection_limits_are_shared_out_among_the_pools() -> None:
    pools = Upstream("http://127.0.0.1:9", pools=16)
    assert len({id(pools.client()) for _ in range(32)}) == 16
    limits = [_pool_limits(client) for client in pools.clients]
    assert sum(c for c, _ in limits) >= MAX_CONNECTIONS
    assert sum(c for c, _ in limits) < MAX_CONNECTIONS + 16
    assert sum(k for _, k in limits) < MAX_KEEPALIVE + 16
    asyncio.run(pools.aclose())


def test_a_given_transport_is_one_pool() -> None:
    transport = httpx.AsyncHTTPTransport()
    pools = Upstream("http://127.0.0.1:9", pools=8, transport=transport)
    assert len(pools.clients) == 1
    with pytest.raises(ValueError, match="at least 1"):
        Upstream("http://127.0.0.1:9", pools=0)
    asyncio.run(pools.aclose())


def test_a_cookie_the_server_sets_for_one_request_does_not_go_out_with_the_next() -> None:
    received: list[str | None] = []

    async def app(request: Request) -> Response:
        received.append(request.headers.get("cookie"))
        response = PlainTextResponse("ok")
        response.set_cookie("session", "customer-a")
        return response

    server = Starlette(routes=[Route("/v1/messages", app, methods=["POST"])])
    with upstream.serve(server) as url:
        pools = Upstream(url, pools=1)

        async def run() -> list[str | None]:
            try:
                client = pools.client()
                first = await client.post("/v1/messages", content=b"{}")
                second = await client.post("/v1/messages", content=b"{}")
                third = await client.post(
                    "/v1/messages", content=b"{}", headers={"cookie": "own=customer-b"}
                )
                return [r.headers.get("set-cookie") for r in (first, second, third)]
            finally:
                await pools.aclose()

        set_cookies = asyncio.run(run())
    assert all(value is not None and "customer-a" in value for value in set_cookies)
    assert received == [None, None, "own=customer-b"]
