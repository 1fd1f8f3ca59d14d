"""The reverse proxy's connections to the model server.

httpcore (1.0.9, under httpx) walks every connection in its pool, and polls the socket of each
idle one, every time a request joins the pool or leaves it. With 32 requests in flight that
walk took about a quarter of a pass-through proxy's CPU time (py-spy), and more of the
guard's, whose connections sit idle longer while it assesses. ``Upstream`` hands requests in
turn to several clients, each with its own pool: the same connections in all, each walk a
fraction as long. A bare pass-through proxy with 8 pools instead of one answered 1.8 times
the requests per second on the same machine and load (``bench/guard.py``; see
``bench/README.md``).

The clients keep no cookies: each serves every customer, so a cookie the model server sets in
one customer's answer must not go out with the next customer's request. Cookies still pass
between client and model server as the headers they are.
"""

from __future__ import annotations

import itertools
import math
from http.cookiejar import Cookie, CookieJar
from typing import Any, Final

import httpx

POOLS: Final = 16
MAX_CONNECTIONS: Final = 1000
MAX_KEEPALIVE: Final = 200


class _NoCookies(CookieJar):
    """A cookie jar that keeps nothing."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None

    def set_cookie(self, cookie: Cookie) -> None:
        return None


class Upstream:
    """HTTP clients for one model server, used in turn; connection limits are in total."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 600.0,
        pools: int = POOLS,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if pools < 1:
            raise ValueError("pools must be at least 1")
        if transport is not None:
            pools = 1  # a given transport is one pool whatever the clients
        limits = httpx.Limits(
            max_connections=math.ceil(MAX_CONNECTIONS / pools),
            max_keepalive_connections=math.ceil(MAX_KEEPALIVE / pools),
        )
        self.clients = [
            httpx.AsyncClient(
                base_url=base_url.rstrip("/"),
                timeout=httpx.Timeout(timeout_s, connect=10.0),
                transport=transport,
                limits=limits,
                cookies=_NoCookies(),
            )
            for _ in range(pools)
        ]
        self._turn = itertools.cycle(self.clients)

    def client(self) -> httpx.AsyncClient:
        """The client for the next request."""
        return next(self._turn)

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()
