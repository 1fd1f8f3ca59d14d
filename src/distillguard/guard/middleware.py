"""The guard as a pure ASGI middleware, inside the model server's own app.

``GuardMiddleware`` does what the reverse proxy (``proxy``) does, without a second hop: POSTs
to the three API paths (``/v1/chat/completions``, ``/v1/responses``, ``/v1/messages``, matched
as path suffixes so a mount prefix or a ``root_path`` works) are read (up to the policy's
``max_body_bytes``, else 413), parsed (400 in the surface's error shape), assessed, and then

* refused (429 with ``Retry-After``, 403, or 503 when the state is down and the policy fails
  closed) with the proxy's bodies, without reaching the app; or
* passed down to the app, degraded as decided (the app receives the capped and stripped body,
  with its ``content-length`` fixed) and, for a watermark decision, with the
  ``x-distillguard-watermark-key`` header added to the request headers the app sees, so the
  model server can key its watermark by it (stock vLLM does not act on this header). A
  watermark header sent by the client is always removed: only the guard sets it.

The app's answer is degraded on its way out: a JSON body is buffered and rewritten (its
``content-length`` fixed); a server-sent-event stream is rewritten chunk by chunk and
reassembled for the log (``StreamRelay``). Traffic that is not degraded passes byte for byte.
``Guard.finish`` is called exactly once per assessed request: before the last body part goes
out when the app completes its answer, else after the app returns or raises, with status 499
when the client went away first and 500 when the app failed (with whatever had been streamed
so far as the response). Other paths, methods and scopes (websocket, lifespan) go straight to
the app.

Use with any Starlette or FastAPI app::

    app.add_middleware(GuardMiddleware, guard=guard)

or, settings instead of a guard, ``app.add_middleware(GuardMiddleware, log_dir="guard-log")``.
Without a guard the middleware builds one with ``serve.make_guard`` from its keyword settings
(``policy``, ``watchlist``, ``log_dir``, ``redis_url``) or, for those not given, from the
environment: ``$DISTILLGUARD_POLICY`` (policy file; default: the shipped policy),
``$DISTILLGUARD_WATCHLIST`` (a hunt's output folder), ``$DISTILLGUARD_LOG_DIR`` (exchange log
folder; unset: no log), ``$DISTILLGUARD_REDIS_URL`` (shared state; unset: in memory) and
``$DISTILLGUARD_HASH_KEY``. A guard the middleware built is closed (state, then the exchange
log, which finishes its open file) when the app's lifespan shuts down.

vLLM. Checked against the vLLM source (vllm-project/vllm, ``vllm/entrypoints/openai/
api_server.py``, ``build_app``) at main-branch commits ``048027fbbdb8`` (``build_app(args)``,
before v0.16.0) and ``0001948bc769`` (``build_app(args, supported_tasks, model_config)``,
after v0.16.0, whose ``build_app(args, supported_tasks)`` is in between); the loading code is
the same in both. ``--middleware`` is a repeatable option (``action="append"``, a list of
import paths). For each one, at the end of ``build_app``, vLLM does
``module_path, object_name = middleware.rsplit(".", 1)``,
``imported = getattr(importlib.import_module(module_path), object_name)`` and, when
``inspect.isclass(imported)``, ``app.add_middleware(imported)`` with no arguments (a coroutine
function would be added with ``app.middleware("http")`` instead). So vLLM builds this class
with the app only, and the guard comes from the environment::

    DISTILLGUARD_WATCHLIST=hunt-out DISTILLGUARD_LOG_DIR=guard-log \\
        vllm serve MODEL --middleware distillguard.guard.middleware.GuardMiddleware

Consequences of how vLLM adds it. It is added after vLLM's own middleware (CORS, the
``--api-key`` check, request ids, scaling) and Starlette runs the last added outermost, so the
guard sees a request before vLLM checks its API key: a request with a wrong key is assessed
and logged (with the app's 401). vLLM serves Chat Completions, Responses and Anthropic
Messages on the same three paths, and ``--root-path`` is handled by the suffix match. Each API
server process (``--api-server-count``) builds its own app and so its own guard: set
``$DISTILLGUARD_REDIS_URL`` so windows and token buckets are shared; the processes can share
one log folder (files are named by process). This module does not import vLLM.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import RecordError
from ..hashing import key_from_env
from .actions import degrade_response
from .decide import Decision
from .engine import Assessment, Guard
from .log import ExchangeLog
from .relay import StreamRelay
from .responses import (
    SURFACE_OF_PATH,
    WATERMARK_HEADER,
    forwarded_body,
    refusal,
    refuse,
    watermark_key_id,
)
from .serve import make_guard
from .sse import output_tokens

ENVIRONMENT: Final = {
    "policy": "DISTILLGUARD_POLICY",
    "watchlist": "DISTILLGUARD_WATCHLIST",
    "log_dir": "DISTILLGUARD_LOG_DIR",
    "redis_url": "DISTILLGUARD_REDIS_URL",
}
"""Each setting of ``guard_from_env`` and the environment variable it falls back to."""
CLIENT_CLOSED: Final = 499
_WATERMARK: Final = WATERMARK_HEADER.encode("latin-1")
_SHUTDOWN: Final = ("lifespan.shutdown.complete", "lifespan.shutdown.failed")

Setting = str | os.PathLike[str] | None
RawHeaders = list[tuple[bytes, bytes]]


def guard_from_env(**settings: Setting) -> Guard:
    """A guard made by ``serve.make_guard`` from ``settings`` (``policy``, ``watchlist``,
    ``log_dir``, ``redis_url``) and, for those not given, the environment (``ENVIRONMENT``);
    the hash key from ``$DISTILLGUARD_HASH_KEY``."""
    unknown = sorted(set(settings) - set(ENVIRONMENT))
    if unknown:
        raise TypeError(f"unknown guard settings: {', '.join(unknown)}")
    values: dict[str, str | None] = {}
    for name, variable in ENVIRONMENT.items():
        value = settings[name] if name in settings else os.environ.get(variable)
        values[name] = os.fspath(value) if value else None

    def path(name: str) -> Path | None:
        value = values[name]
        return Path(value) if value else None

    return make_guard(
        policy=path("policy"),
        watchlist=path("watchlist"),
        log_dir=path("log_dir"),
        redis_url=values["redis_url"],
        hash_key=key_from_env(),
    )


def surface_of(path: str) -> str | None:
    """The surface a request path is guarded as (by its suffix), or None."""
    path = path.rstrip("/")
    for suffix, surface in SURFACE_OF_PATH.items():
        if path.endswith(suffix):
            return surface
    return None


class GuardMiddleware:
    """Guard the OpenAI and Anthropic API paths of an ASGI app (see the module docstring)."""

    def __init__(self, app: ASGIApp, guard: Guard | None = None, **settings: Setting) -> None:
        if guard is not None and settings:
            raise TypeError("give a guard or the settings to build one, not both")
        self.app = app
        self.owns_guard = guard is None
        self.guard = guard if guard is not None else guard_from_env(**settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            surface = surface_of(scope["path"])
            if surface is not None:
                await self._guarded(surface, scope, receive, send)
                return
        elif scope["type"] == "lifespan" and self.owns_guard:
            await self.app(scope, receive, self._closing(send))
            return
        await self.app(scope, receive, send)

    async def aclose(self) -> None:
        """Close the guard's state and its exchange log (finishing the open file)."""
        try:
            await self.guard.state.close()
        finally:
            if isinstance(self.guard.log, ExchangeLog):
                self.guard.log.close()

    def _closing(self, send: Send) -> Send:
        async def closing(message: Message) -> None:
            if message["type"] in _SHUTDOWN:
                try:
                    await self.aclose()
                finally:
                    await send(message)
                return
            await send(message)

        return closing

    async def _guarded(self, surface: str, scope: Scope, receive: Receive, send: Send) -> None:
        guard = self.guard
        limit = guard.policy.max_body_bytes
        try:
            raw = await _read_body(scope, receive, limit)
        except _TooLargeError:
            too_large = refuse(surface, 413, f"the body is over {limit} bytes", "body_too_large")
            await too_large(scope, receive, send)
            return
        if raw is None:  # the client went away before it sent the whole body
            return
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            bad = refuse(surface, 400, f"the body is not valid JSON: {exc}", "invalid_json")
            await bad(scope, receive, send)
            return
        if not isinstance(body, dict):
            bad = refuse(surface, 400, "the body must be a JSON object", "invalid_json")
            await bad(scope, receive, send)
            return
        headers = {
            key.decode("latin-1").lower(): value.decode("latin-1")
            for key, value in scope["headers"]
        }
        client = scope.get("client")
        try:
            assessment = await guard.assess(surface, body, headers, client[0] if client else None)
        except RecordError as exc:
            bad = refuse(surface, 400, f"the request is not valid: {exc}", "invalid_request")
            await bad(scope, receive, send)
            return
        decision = assessment.decision
        if not decision.served:
            status = 503 if assessment.state_error and decision.action == "block" else None
            refused = refusal(surface, decision, status)
            await guard.finish(assessment, response=None, status=refused.status_code)
            await refused(scope, receive, send)
            return
        via = guard.policy.watermark_via
        content = forwarded_body(raw, assessment, via)
        inner = _inner_scope(
            scope,
            content if content is not raw else None,
            degrading=decision.degrade is not None,
            watermark=watermark_key_id(assessment)
            if decision.watermark and "header" in via
            else None,
        )
        exchange = _Exchange(guard, assessment, surface, send)
        try:
            await self.app(inner, exchange.receive(receive, content), exchange.send)
        except BaseException as exc:
            await exchange.failed(exc)
            raise
        await exchange.returned()


class _TooLargeError(Exception):
    pass


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes | None:
    """The request body, or None if the client disconnected first."""
    declared = _header(scope["headers"], b"content-length")
    if declared.isdigit() and int(declared) > limit:
        raise _TooLargeError
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        if message["type"] != "http.request":
            continue
        chunk = bytes(message.get("body", b""))
        size += len(chunk)
        if size > limit:
            raise _TooLargeError
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str:
    """The last value of header ``name`` (lower case), or ``""``."""
    found = b""
    for key, value in headers:
        if key.lower() == name:
            found = value
    return found.decode("latin-1")


def _without(headers: Iterable[tuple[bytes, bytes]], names: frozenset[bytes]) -> RawHeaders:
    return [(key, value) for key, value in headers if key.lower() not in names]


def _inner_scope(
    scope: Scope, content: bytes | None, *, degrading: bool, watermark: str | None
) -> Scope:
    """The scope the app sees: the request headers fixed for a new body (``content``), without
    ``accept-encoding`` when the answer must be read to be degraded, without any watermark
    header the client sent, and with the guard's one when it watermarks. The scope itself
    when nothing changes."""
    drop = {_WATERMARK}
    if content is not None:
        drop |= {b"content-length", b"transfer-encoding"}
    if degrading:
        drop.add(b"accept-encoding")
    original: RawHeaders = list(scope["headers"])
    headers = _without(original, frozenset(drop))
    if content is not None:
        headers.append((b"content-length", str(len(content)).encode("latin-1")))
    if watermark is not None:
        headers.append((_WATERMARK, watermark.encode("latin-1")))
    if headers == original:
        return scope
    return {**scope, "headers": headers}


class _Exchange:
    """One assessed request on its way through the app: feeds the app the (degraded) body,
    relays the app's answer to the client (degraded as decided), and finishes the assessment
    exactly once with what the client was sent."""

    def __init__(self, guard: Guard, assessment: Assessment, surface: str, send: Send) -> None:
        self.guard = guard
        self.assessment = assessment
        self.surface = surface
        decision: Decision = assessment.decision
        self.degrade = decision.degrade
        self._send = send
        self.status: int | None = None
        self.done = False  # the last body part went out
        self.disconnected = False  # the client went away before that
        self.logged = False
        self.error: str | None = None
        self.streaming = False
        self._held: Message | None = None  # a degraded JSON answer's start, until its body is in
        self._parts: list[bytes] = []
        self._relay: StreamRelay | None = None
        self._json: dict[str, Any] | None = None

    # -- towards the app ----------------------------------------------------------------

    def receive(self, receive: Receive, body: bytes) -> Receive:
        pending = True

        async def inner() -> Message:
            nonlocal pending
            if pending:
                pending = False
                return {"type": "http.request", "body": body, "more_body": False}
            message = await receive()
            if message["type"] == "http.disconnect" and not self.done:
                self.disconnected = True
            return message

        return inner

    # -- towards the client -------------------------------------------------------------

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            await self._start(message)
        elif kind == "http.response.body":
            more = bool(message.get("more_body", False))
            if self.streaming:
                await self._stream(message, more)
            elif self._held is not None:
                await self._buffered(message, more)
            else:
                self._parts.append(bytes(message.get("body", b"")))
                if not more:
                    await self._complete()
                await self._pass(message)
            if not more:
                self.done = True
        else:
            await self._pass(message)

    async def _pass(self, message: Message) -> None:
        try:
            await self._send(message)
        except OSError:  # servers on ASGI spec 2.4 raise when the client is gone
            self.disconnected = True
            raise

    async def _start(self, message: Message) -> None:
        self.status = int(message["status"])
        headers: RawHeaders = list(message.get("headers", ()))
        self.streaming = "text/event-stream" in _header(headers, b"content-type")
        if self.streaming:
            self._relay = StreamRelay(self.surface, self.degrade)
            if self.degrade is not None:
                message = {**message, "headers": _without(headers, frozenset({b"content-length"}))}
        elif self.degrade is not None:
            self._held = message
            return
        await self._pass(message)

    async def _buffered(self, message: Message, more: bool) -> None:
        """A degraded JSON answer: collect it, degrade it whole, send it with its new length."""
        self._parts.append(bytes(message.get("body", b"")))
        if more:
            return
        start, self._held = self._held, None
        assert start is not None
        data = b"".join(self._parts)
        parsed = _json_object(data)
        if parsed is not None and self.degrade is not None and (self.status or 0) < 400:
            parsed = degrade_response(self.surface, parsed, self.degrade)
            data = orjson.dumps(parsed)
        self._json = parsed
        headers = _without(start.get("headers", ()), frozenset({b"content-length"}))
        headers.append((b"content-length", str(len(data)).encode("latin-1")))
        await self._complete()
        await self._pass({**start, "headers": headers})
        await self._pass({"type": "http.response.body", "body": data, "more_body": False})

    async def _stream(self, message: Message, more: bool) -> None:
        assert self._relay is not None
        try:
            body = self._relay.feed(bytes(message.get("body", b"")))
        finally:
            self.error = self.error or self._relay.error
        if not more:
            await self._complete()
        if self.degrade is None:
            await self._pass(message)
        elif body or not more:
            await self._pass({"type": "http.response.body", "body": body, "more_body": more})

    # -- the log --------------------------------------------------------------------------

    def response(self) -> dict[str, Any] | None:
        """The answer as the client got it (so far), for the log."""
        if self.streaming:
            return self._relay.result() if self._relay is not None else None
        if self._json is not None:
            return self._json
        if self.done or (self.status is not None and self._held is None):
            return _json_object(b"".join(self._parts))
        return None

    async def _log(self, status: int, error: str | None) -> None:
        """Finish the assessment, once; a cancellation does not cut the log short."""
        if self.logged:
            return
        self.logged = True
        response = self.response()
        await asyncio.shield(
            self.guard.finish(
                self.assessment,
                response=response,
                status=status,
                tokens=output_tokens(self.surface, response),
                error=error,
            )
        )

    async def _complete(self) -> None:
        """The app finished its answer: log it before its last part goes out."""
        if self.disconnected:
            await self._log(CLIENT_CLOSED, "client disconnected")
        else:
            await self._log(self.status or 500, self.error)

    async def failed(self, exc: BaseException) -> None:
        """The app raised (or the request was cancelled)."""
        if self.disconnected or isinstance(exc, asyncio.CancelledError):
            await self._log(CLIENT_CLOSED, "client disconnected")
        else:
            await self._log(500, self.error or f"app error: {type(exc).__name__}")

    async def returned(self) -> None:
        """The app returned; log it if its answer was not complete."""
        if self.disconnected:
            await self._log(CLIENT_CLOSED, "client disconnected")
        elif not self.done:
            await self._log(500, self.error or "the app returned without a whole answer")


def _json_object(data: bytes) -> dict[str, Any] | None:
    try:
        parsed = orjson.loads(data) if data else None
    except orjson.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None
