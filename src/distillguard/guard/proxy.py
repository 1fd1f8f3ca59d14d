"""The guard as a reverse proxy in front of an OpenAI- or Anthropic-compatible server.

``build_app(guard, upstream)`` returns a Starlette app. The three API paths
(``/v1/chat/completions``, ``/v1/responses``, ``/v1/messages``) are guarded: the body is read
(up to the policy's limit), assessed, refused or forwarded (degraded and watermarked as
decided), and the response is degraded on its way back, streamed or not; every exchange is
logged. Other paths are passed through or refused, by policy. ``/_guard/*`` are the admin
endpoints (a bearer token is required): status, reload, account state, Prometheus metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, Final

import httpx
import orjson
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..errors import RecordError
from .actions import degrade_response
from .engine import Assessment, Guard
from .pool import POOLS, Upstream
from .relay import StreamRelay
from .responses import SURFACE_OF_PATH as SURFACE_OF_PATH
from .responses import WATERMARK_HEADER as WATERMARK_HEADER
from .responses import error_body, forwarded_body, refusal, refuse, watermark_key_id
from .signup import SignupError
from .sse import SSEError, output_tokens

SIGNUP_MAX_BYTES: Final = 64 * 1024
HOP_HEADERS: Final = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "content-encoding",
    }
)
"""Headers a proxy does not forward: hop-by-hop ones, and those it recomputes."""
_NOT_FORWARDED: Final = HOP_HEADERS | {WATERMARK_HEADER}


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.decisions = Counter(
            "distillguard_decisions",
            "Requests by the action decided",
            ["action", "surface"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "distillguard_decision_seconds",
            "Time to assess one request (signals, state and decision)",
            buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25),
            registry=self.registry,
        )
        self.errors = Counter(
            "distillguard_errors", "Requests that failed", ["kind"], registry=self.registry
        )


def _headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers to pass on: not hop-by-hop, and never a watermark key id a client sent."""
    return {
        k: v
        for k, v in headers.items()
        if k.lower() not in HOP_HEADERS and k.lower() != WATERMARK_HEADER
    }


def build_app(
    guard: Guard,
    upstream: str,
    *,
    admin_token: str | None = None,
    timeout_s: float = 600.0,
    pools: int = POOLS,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Starlette:
    metrics = Metrics()
    clients = Upstream(upstream, timeout_s=timeout_s, pools=pools, transport=transport)

    async def guarded(request: Request) -> Response:
        surface = SURFACE_OF_PATH[request.url.path.rstrip("/")]
        try:
            raw = await _read_body(request, guard.policy.max_body_bytes)
        except _TooLargeError:
            metrics.errors.labels("too_large").inc()
            limit = guard.policy.max_body_bytes
            return refuse(surface, 413, f"the body is over {limit} bytes", "body_too_large")
        except ClientDisconnect:
            metrics.errors.labels("client_disconnect").inc()
            return Response(status_code=499)
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            metrics.errors.labels("bad_json").inc()
            return refuse(surface, 400, f"the body is not valid JSON: {exc}", "invalid_json")
        if not isinstance(body, dict):
            metrics.errors.labels("bad_json").inc()
            return refuse(surface, 400, "the body must be a JSON object", "invalid_json")
        headers = {k.lower(): v for k, v in request.headers.items()}
        began = time.perf_counter()
        try:
            assessment = await guard.assess(
                surface, body, headers, request.client.host if request.client else None
            )
        except RecordError as exc:
            metrics.errors.labels("bad_request").inc()
            return refuse(surface, 400, f"the request is not valid: {exc}", "invalid_request")
        metrics.latency.observe(time.perf_counter() - began)
        decision = assessment.decision
        metrics.decisions.labels(decision.action, surface).inc()
        if not decision.served:
            status = 503 if assessment.state_error and decision.action == "block" else None
            response = refusal(surface, decision, status)
            await guard.finish(assessment, response=None, status=response.status_code)
            return response
        via = guard.policy.watermark_via
        content = forwarded_body(raw, assessment, via)
        out_headers = _headers(request.headers)
        if decision.watermark and "header" in via:
            out_headers[WATERMARK_HEADER] = watermark_key_id(assessment)
        client = clients.client()
        upstream_request = client.build_request(
            "POST",
            request.url.path,
            params=request.query_params,
            headers=out_headers,
            content=content,
        )
        try:
            reply = await client.send(upstream_request, stream=True)
        except httpx.TimeoutException:
            metrics.errors.labels("upstream_timeout").inc()
            await guard.finish(assessment, response=None, status=504, error="upstream timeout")
            return refuse(surface, 504, "the model server did not answer in time", "timeout")
        except httpx.HTTPError as exc:
            metrics.errors.labels("upstream_unreachable").inc()
            await guard.finish(assessment, response=None, status=502, error=type(exc).__name__)
            return refuse(surface, 502, "the model server cannot be reached", "bad_gateway")
        if "text/event-stream" in reply.headers.get("content-type", ""):
            return StreamingResponse(
                _stream(guard, assessment, reply, surface, metrics),
                status_code=reply.status_code,
                headers=_headers(reply.headers),
            )
        try:
            data = await reply.aread()
        except httpx.HTTPError as exc:
            await reply.aclose()
            metrics.errors.labels("upstream_broken").inc()
            await guard.finish(assessment, response=None, status=502, error=type(exc).__name__)
            return refuse(surface, 502, "the model server broke off its answer", "bad_gateway")
        await reply.aclose()
        parsed: Any = None
        try:
            parsed = orjson.loads(data) if data else None
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict) and reply.status_code < 400 and decision.degrade is not None:
            parsed = degrade_response(surface, parsed, decision.degrade)
            data = orjson.dumps(parsed)
        logged = parsed if isinstance(parsed, dict) else None
        await guard.finish(
            assessment,
            response=logged,
            status=reply.status_code,
            tokens=output_tokens(surface, logged),
        )
        return Response(data, status_code=reply.status_code, headers=_headers(reply.headers))

    async def passthrough(request: Request) -> Response:
        if guard.policy.unknown_paths == "refuse":
            return JSONResponse(
                error_body("openai.chat", "this path is not served", "unknown_path"), 404
            )
        try:
            raw = await _read_body(request, guard.policy.max_body_bytes)
        except _TooLargeError:
            return JSONResponse(error_body("openai.chat", "body too large", "too_large"), 413)
        client = clients.client()
        upstream_request = client.build_request(
            request.method,
            request.url.path,
            params=request.query_params,
            headers=_headers(request.headers),
            content=raw,
        )
        try:
            reply = await client.send(upstream_request, stream=True)
        except httpx.HTTPError:
            return JSONResponse(error_body("openai.chat", "upstream error", "bad_gateway"), 502)
        return StreamingResponse(
            reply.aiter_raw(),
            status_code=reply.status_code,
            headers=_headers(reply.headers),
            background=BackgroundTask(reply.aclose),
        )

    def authorised(request: Request) -> bool:
        if not admin_token:
            return False
        given = request.headers.get("authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {admin_token}".encode())

    def admin(handler: Any) -> Any:
        async def wrapped(request: Request) -> Response:
            if not authorised(request):
                return JSONResponse({"error": "an admin token is required"}, 401)
            return await handler(request)  # type: ignore[no-any-return]

        return wrapped

    async def status(request: Request) -> Response:
        return JSONResponse(
            {
                "policy": guard.policy.source,
                "rules": [r.name for r in guard.policy.rules],
                "limits": [lim.name for lim in guard.policy.limits],
                "watchlist_entries": guard.watchlist.size,
                "reload_errors": guard.reload_errors + guard.watchlist.errors,
            }
        )

    async def reload(request: Request) -> Response:
        errors = guard.reload()
        return JSONResponse({"reloaded": not errors, "errors": errors}, 200 if not errors else 422)

    async def signup(request: Request) -> Response:
        try:
            raw = await _read_body(request, SIGNUP_MAX_BYTES)
            row = orjson.loads(raw)
            if not isinstance(row, dict):
                raise SignupError("a sign-up must be a JSON object")
            result = guard.signup_index().check(row)
        except _TooLargeError:
            return JSONResponse({"error": f"over {SIGNUP_MAX_BYTES} bytes"}, 413)
        except orjson.JSONDecodeError as exc:
            return JSONResponse({"error": f"not JSON: {exc}"}, 400)
        except SignupError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return JSONResponse(result.to_json())

    async def account(request: Request) -> Response:
        account_id = request.path_params["account_id"]
        known = guard.watchlist.account(account_id)
        windows = await guard.state.windows(account_id, known.cluster_id, guard.clock())
        return JSONResponse(
            {
                "known": known.known,
                "verdict": known.verdict,
                "risk": known.risk,
                "cluster_id": known.cluster_id,
                "cluster_risk": known.cluster_risk,
                "campaign_id": known.campaign_id,
                "watch": known.watch,
                "windows": {
                    "account_requests_1m": windows.account_requests_1m,
                    "account_requests_1h": windows.account_requests_1h,
                    "account_extraction_share_1h": windows.account_extraction_share_1h,
                    "cluster_requests_1h": windows.cluster_requests_1h,
                    "cluster_accounts_1h": windows.cluster_accounts_1h,
                },
            }
        )

    async def metrics_page(request: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await clients.aclose()
        await guard.state.close()

    routes = [Route(path, guarded, methods=["POST"]) for path in SURFACE_OF_PATH]
    routes += [
        Route("/_guard/health", health),
        Route("/_guard/status", admin(status)),
        Route("/_guard/reload", admin(reload), methods=["POST"]),
        Route("/_guard/accounts/{account_id:path}", admin(account)),
        Route("/_guard/signup", admin(signup), methods=["POST"]),
        Route("/_guard/metrics", admin(metrics_page)),
        Route(
            "/{path:path}",
            passthrough,
            methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"],
        ),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.guard = guard
    app.state.metrics = metrics
    return app


class _TooLargeError(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLargeError
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLargeError
        parts.append(chunk)
    return b"".join(parts)


async def _stream(
    guard: Guard,
    assessment: Assessment,
    reply: httpx.Response,
    surface: str,
    metrics: Metrics,
) -> AsyncIterator[bytes]:
    """Relay an SSE stream (``StreamRelay``) and log what was sent."""
    relay = StreamRelay(surface, assessment.decision.degrade)
    status = reply.status_code
    error: str | None = None
    try:
        async for chunk in reply.aiter_raw():
            out = relay.feed(chunk)
            if out:
                yield out
    except (httpx.HTTPError, SSEError) as exc:
        # The client must see a broken stream too, not a short answer that looks complete:
        # raising here makes the server drop the connection without the final chunk.
        metrics.errors.labels("upstream_broken").inc()
        status, error = 502, f"stream broken: {type(exc).__name__}"
        raise
    except (asyncio.CancelledError, GeneratorExit):
        metrics.errors.labels("client_disconnect").inc()
        status, error = 499, "client disconnected"
        raise
    finally:
        await reply.aclose()
        response = relay.result()
        await asyncio.shield(
            guard.finish(
                assessment,
                response=response,
                status=status,
                tokens=output_tokens(surface, response),
                error=error or relay.error,
            )
        )
