"""For logs that keep the API bodies (LiteLLM, Helicone): check them against the surface and
fill what the log holds in side columns (usage, the error) when the body lacks it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ...types import Surface
from ._common import JSONObj, compact

# The field each surface's request cannot do without (the contract parsers require it).
_CONVERSATION: Final[dict[Surface, str]] = {
    "openai.chat": "messages",
    "openai.responses": "input",
    "anthropic.messages": "messages",
}


def surface_of_body(body: Mapping[str, Any]) -> Surface | None:
    """Guess a request body's surface from its own fields (for pass-through rows)."""
    if "input" in body and "messages" not in body:
        return "openai.responses"
    if "messages" in body:
        # Anthropic's system prompt is a top-level field; Chat Completions has none.
        if "system" in body or "anthropic_version" in body:
            return "anthropic.messages"
        return "openai.chat"
    return None


# Credentials a client may put in a request body (LiteLLM accepts per-request provider keys
# in the body; a gateway log keeps the body as sent). They never leave the adapter.
_CREDENTIALS: Final = frozenset(
    {
        "api_key",
        "api-key",
        "azure_ad_token",
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "vertex_credentials",
        "client_secret",
    }
)


def without_credentials(
    body: Mapping[str, Any] | None, warnings: list[str]
) -> Mapping[str, Any] | None:
    """The request body without credential fields; each one dropped is noted."""
    if body is None or not any(key in _CREDENTIALS for key in body):
        return body
    for key in body:
        if key in _CREDENTIALS:
            warnings.append(f"dropped_credential:{key}")
    return {key: value for key, value in body.items() if key not in _CREDENTIALS}


def request_or_empty(
    surface: Surface, body: Mapping[str, Any] | None, model: str | None
) -> JSONObj:
    """The logged request body, or an empty conversation when the log kept no body (LiteLLM
    without ``store_prompts_in_spend_logs``, a Helicone export without ``--include-body``):
    the exchange still counts, with its account, model, usage and timing."""
    request: JSONObj = dict(body) if body else {}
    if model and not isinstance(request.get("model"), str):
        request["model"] = model
    key = _CONVERSATION[surface]
    if key not in request and not (
        surface == "openai.responses" and "previous_response_id" in request
    ):
        request[key] = []
    return request


def matches(surface: Surface, body: Mapping[str, Any]) -> bool:
    """Whether a response body has the shape of ``surface`` (or is an error body)."""
    if "error" in body or body.get("type") == "error":
        return True
    if surface == "openai.chat":
        return "choices" in body or body.get("object") == "chat.completion"
    if surface == "openai.responses":
        return "output" in body or body.get("object") == "response"
    return body.get("type") == "message" or ("content" in body and "stop_reason" in body)


def with_usage(
    surface: Surface, body: JSONObj, input_tokens: int | None, output_tokens: int | None
) -> JSONObj:
    """``body`` with a ``usage`` object built from the log's token columns if it has none."""
    if isinstance(body.get("usage"), Mapping) or (input_tokens is None and output_tokens is None):
        return body
    if surface == "openai.chat":
        total = None
        if input_tokens is not None and output_tokens is not None:
            total = input_tokens + output_tokens
        usage = {
            "prompt_tokens": input_tokens,
            "completion_tokens": output_tokens,
            "total_tokens": total,
        }
    else:
        usage = {"input_tokens": input_tokens, "output_tokens": output_tokens}
    return body | {"usage": compact(usage)}


def error_body(
    surface: Surface, kind: str | None, message: str | None, code: str | None
) -> JSONObj:
    """An error response in the surface's own shape (the shape its API returns errors in)."""
    if surface == "anthropic.messages":
        return {"type": "error", "error": compact({"type": kind, "message": message})}
    error = compact({"type": kind, "message": message, "code": code})
    if surface == "openai.responses":
        return {"object": "response", "status": "failed", "error": error}
    return {"error": error}


def bare_response(surface: Surface, model: str | None) -> JSONObj:
    """A response holding only what a log row says without the body (model; usage added by
    ``with_usage``): no choices or content, so nothing about the answer is made up."""
    if surface == "openai.chat":
        return compact({"object": "chat.completion", "model": model})
    if surface == "openai.responses":
        return compact({"object": "response", "model": model})
    return compact({"type": "message", "role": "assistant", "model": model})
