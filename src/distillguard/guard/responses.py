"""What the guard puts on the wire itself: the guarded paths, errors and refusals in the shape
the client's SDK expects, and the watermark header.

Shared by the reverse proxy (``proxy``) and the ASGI middleware (``middleware``), so a client
sees the same answer whichever way the guard is deployed.
"""

from __future__ import annotations

import math
from typing import Any, Final

import orjson
from starlette.responses import JSONResponse

from ..marks.types import KEY_ARG
from .actions import degrade_request
from .decide import Decision
from .engine import Assessment

SURFACE_OF_PATH: Final = {
    "/v1/chat/completions": "openai.chat",
    "/v1/responses": "openai.responses",
    "/v1/messages": "anthropic.messages",
}
"""The guarded API paths and the surface each speaks."""
WATERMARK_HEADER: Final = "x-distillguard-watermark-key"
"""Request header that tells the model server which watermark key to embed."""
WATERMARK_XARG: Final = KEY_ARG
"""The same, as a vLLM per-request argument (``vllm_xargs``; ``distillguard.marks.vllm``)."""
_STATUS: Final = {"throttle": 429, "verify": 403, "block": 403}


def error_body(surface: str, message: str, code: str, kind: str = "invalid_request_error") -> Any:
    """An error in the shape the client's SDK expects for the surface."""
    if surface == "anthropic.messages":
        return {"type": "error", "error": {"type": kind, "message": message, "code": code}}
    return {"error": {"message": message, "type": kind, "code": code, "param": None}}


def refuse(surface: str, status: int, message: str, code: str) -> JSONResponse:
    """An error response (``invalid_request_error`` below 500, ``api_error`` from 500)."""
    kind = "invalid_request_error" if status < 500 else "api_error"
    return JSONResponse(error_body(surface, message, code, kind), status)


def refusal(surface: str, decision: Decision, status: int | None = None) -> JSONResponse:
    """The answer to a request the guard does not serve: 429 (with ``Retry-After``) for a
    throttle, 403 for verify and block, or 503 when ``status`` is 503 (state unavailable)."""
    code = decision.code or "access_denied"
    if status == 503:
        return refuse(surface, 503, "the service cannot check this request now", "unavailable")
    messages = {
        "throttle": "too many requests for this account; retry later",
        "verify": "this account must complete verification before it can continue",
        "block": "this account is not allowed to use this API",
    }
    kinds = {
        "throttle": "rate_limit_error",
        "verify": "permission_error",
        "block": "permission_error",
    }
    response = JSONResponse(
        error_body(surface, messages[decision.action], code, kinds[decision.action]),
        _STATUS[decision.action],
    )
    if decision.action == "throttle" and decision.retry_after is not None:
        response.headers["retry-after"] = str(max(1, math.ceil(decision.retry_after)))
    return response


def watermark_key_id(assessment: Assessment) -> str:
    """The public id of the watermark key the guard chose for this request (``Guard``
    derives it from the master secret when it has one)."""
    if assessment.watermark_key is None:
        raise ValueError("the decision does not watermark this request")
    return assessment.watermark_key


def set_watermark_xarg(surface: str, body: dict[str, Any], key_id: str | None) -> bool:
    """Put ``key_id`` in the body's ``vllm_xargs`` (OpenAI surfaces), after removing any key id
    a client put there itself: a client must not choose the key (it could sign its outputs
    with another cluster's key). True if the body changed."""
    if surface == "anthropic.messages":
        return False
    xargs = body.get("vllm_xargs")
    changed = isinstance(xargs, dict) and xargs.pop(WATERMARK_XARG, None) is not None
    if key_id is not None:
        if not isinstance(xargs, dict):
            xargs = body["vllm_xargs"] = {}
        xargs[WATERMARK_XARG] = key_id
        changed = True
    return changed


def forwarded_body(raw: bytes, assessment: Assessment, via: tuple[str, ...]) -> bytes:
    """The request body to send on: as received, unless degraded, or carrying the watermark
    key id in ``vllm_xargs`` (``via``), or carrying a key id a client put there (removed)."""
    decision = assessment.decision
    surface = str(assessment.record["surface"])
    body: dict[str, Any] | None = None
    if decision.degrade is not None:
        body = degrade_request(surface, orjson.loads(raw), decision.degrade)
    keyed = decision.watermark and "vllm_xargs" in via
    # Messages bodies have no vllm_xargs (set_watermark_xarg leaves them): no parse for them.
    if surface != "anthropic.messages" and (keyed or WATERMARK_XARG.encode() in raw):
        body = body if body is not None else orjson.loads(raw)
        if not set_watermark_xarg(surface, body, assessment.watermark_key if keyed else None):
            return raw if decision.degrade is None else orjson.dumps(body)
    return raw if body is None else orjson.dumps(body)
