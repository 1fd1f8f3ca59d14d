"""A small local model server that speaks the OpenAI and Anthropic HTTP APIs, for tests.

It answers, on the wire as the real services do, both plain JSON and server-sent events:

* ``POST /v1/chat/completions`` -- OpenAI Chat Completions;
* ``POST /v1/responses`` -- OpenAI Responses;
* ``POST /v1/messages`` -- Anthropic Messages;
* ``GET /v1/models`` and ``GET /v1/models/{id}`` -- OpenAI model list (the Anthropic shape when
  the request carries an ``anthropic-version`` header);
* anything else -- 404 in the OpenAI error shape.

Replies are deterministic: they echo the first words of the last user message (see
:func:`reply_words`), and reasoning or thinking text always starts with :data:`REASONING_PREFIX`
so that a test can tell whether a proxy removed it. One word is one token, and reasoning
tokens count towards the output limit before the reply does, as they do upstream.

Request headers inject faults (see :data:`FAULT_HEADER`), and every request received is
recorded, in order, as a :class:`SeenRequest` in ``app.state.seen``.

Use :func:`make_app` to build the application and :func:`serve` to run it on a free loopback
port in a background thread.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, cast

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp

__all__ = [
    "DELAY_HEADER",
    "FAULT_HEADER",
    "HANG_SECONDS",
    "MODELS",
    "REASONING_HEADER",
    "REASONING_PREFIX",
    "RESET_AFTER_EVENTS",
    "ApiError",
    "SeenRequest",
    "UpstreamReset",
    "chat_completion",
    "make_app",
    "message",
    "reasoning_words",
    "reply_words",
    "response",
    "seen",
    "serve",
]

JSON = dict[str, Any]
Flavour = Literal["openai", "anthropic"]

FAULT_HEADER: Final = "x-upstream-fault"
"""Request header that injects a fault. Values:

* ``error500`` (or any ``errorNNN``): answer with that status and an error body in the API's
  own shape (OpenAI ``{"error": {...}}`` or Anthropic ``{"type": "error", "error": {...}}``);
* ``slow``: wait :data:`DELAY_HEADER` seconds (default 1) before answering;
* ``reset``: close the connection after :data:`RESET_AFTER_EVENTS` SSE events (streaming) or
  after half of the JSON body (not streaming);
* ``hang``: send nothing for :data:`HANG_SECONDS`, or until the client goes away, then 504;
* ``garble``: (streaming) after :data:`RESET_AFTER_EVENTS` events, send an event that is not
  UTF-8, then the rest of the stream.
"""
DELAY_HEADER: Final = "x-upstream-delay"
"""Seconds (a float) that the ``slow`` fault waits."""
REASONING_HEADER: Final = "x-upstream-reasoning"
"""Responses API only: ``text`` returns raw reasoning (``content`` of ``reasoning_text`` parts,
``response.reasoning_text.*`` events, as open-weight models do) instead of a summary."""
HANG_SECONDS: Final = 60.0
RESET_AFTER_EVENTS: Final = 3
DEFAULT_DELAY: Final = 1.0
REASONING_PREFIX: Final = "Step 1:"
MODELS: Final = ("gpt-test-mini", "o-test-reasoner", "claude-test-sonnet")
ECHO_WORDS: Final = 6
_CREATED: Final = 1_700_000_000
_FINGERPRINT: Final = "fp_upstream0"
_FILLER: Final = (
    "and this is a deterministic reply from the local test upstream, written long enough "
    "that a streamed answer arrives as many small deltas."
)


# -- what was received -------------------------------------------------------------------------


@dataclass(frozen=True)
class SeenRequest:
    """One request as the upstream received it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    """Lower-cased header names; repeated headers joined with ``", "``."""
    raw: bytes
    body: Any
    """The body parsed as JSON, or ``None`` when it is empty or not JSON."""


def seen(app: Starlette) -> list[SeenRequest]:
    """The requests ``app`` has received, oldest first (the same list as ``app.state.seen``)."""
    return cast(list[SeenRequest], app.state.seen)


# -- deterministic text ------------------------------------------------------------------------


def reply_words(prompt: str, index: int = 0) -> list[str]:
    """The words of the reply to ``prompt``; choice ``index`` > 0 is prefixed ``Choice N:``."""
    echo = prompt.split()[:ECHO_WORDS] or ["nothing"]
    prefix = ["Choice", f"{index + 1}:"] if index else []
    return [*prefix, "You", "said:", *echo, *_FILLER.split()]


def reasoning_words(prompt: str) -> list[str]:
    """The words of the reasoning behind the reply to ``prompt``; they start with ``Step 1:``."""
    first = (prompt.split() or ["nothing"])[0]
    text = (
        f"{REASONING_PREFIX} read the request, which begins with {first!r}. Step 2: recall "
        "what is known about it. Step 3: plan a short answer. Step 4: write the answer."
    )
    return text.split()


def _pieces(words: Sequence[str]) -> list[str]:
    """Tokens as a streaming model emits them: the first word, then each later one spaced."""
    return [word if i == 0 else f" {word}" for i, word in enumerate(words)]


def _logprob(position: int) -> float:
    return -round(0.01 + 0.05 * ((position * 7) % 11), 4)


def _chat_logprob(piece: str, position: int, top: int) -> JSON:
    value = _logprob(position)
    alternatives = [(piece, value)] + [(f" alt{j}", value - j) for j in range(1, top)]
    return {
        "token": piece,
        "logprob": value,
        "bytes": list(piece.encode()),
        "top_logprobs": [
            {"token": token, "logprob": lp, "bytes": list(token.encode())}
            for token, lp in alternatives[:top]
        ],
    }


def _texts(value: Any) -> list[str]:
    """The text inside a message content, a list of content parts or a list of messages."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [text for item in value for text in _texts(item)]
    if isinstance(value, dict):
        return [text for key in ("content", "text") for text in _texts(value.get(key))]
    return []


def _last_user_text(messages: Any) -> str:
    if isinstance(messages, str):
        return messages
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user":
                return " ".join(_texts(message.get("content")))
    return ""


def _count_words(*values: Any) -> int:
    return max(1, sum(len(text.split()) for value in values for text in _texts(value)))


def _budget(
    limit: int | None, reasoning: list[str], reply: list[str]
) -> tuple[list[str], list[str]]:
    """Spend an output limit on reasoning first, then on the reply; return what fits."""
    if limit is None:
        return reasoning, reply
    kept_reasoning = reasoning[:limit]
    return kept_reasoning, reply[: max(0, limit - len(kept_reasoning))]


def _new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:24]}"


# -- errors and SSE framing --------------------------------------------------------------------


class ApiError(Exception):
    """A request the real API would refuse; rendered in the API's own error shape."""

    def __init__(
        self, status: int, message: str, *, param: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code


class UpstreamReset(Exception):  # noqa: N818 - a signal, not an error
    """Raised inside a response body to make the server drop the connection mid-response."""


_OPENAI_ERROR_TYPES: Final = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "invalid_request_error",
    404: "invalid_request_error",
    429: "rate_limit_exceeded",
    504: "server_error",
}
_ANTHROPIC_ERROR_TYPES: Final = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def _error_body(flavour: Flavour, error: ApiError) -> JSON:
    if flavour == "anthropic":
        kind = _ANTHROPIC_ERROR_TYPES.get(error.status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": error.message}}
    kind = _OPENAI_ERROR_TYPES.get(error.status, "server_error")
    return {
        "error": {"message": error.message, "type": kind, "param": error.param, "code": error.code}
    }


def _dumps(payload: Any) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def _sse(payload: JSON | str, event: str | None = None) -> bytes:
    data = payload if isinstance(payload, str) else _dumps(payload)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {data}\n\n".encode()


# -- request parameters ------------------------------------------------------------------------


def _object(body: Any) -> JSON:
    if not isinstance(body, dict):
        raise ApiError(400, "We could not parse the JSON body of your request.")
    return body


def _required_str(body: JSON, key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise ApiError(
            400,
            f"Missing required parameter: '{key}'.",
            param=key,
            code="missing_required_parameter",
        )
    return value


def _int(body: JSON, key: str, *, minimum: int, maximum: int | None = None) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, f"Invalid type for '{key}': expected an integer.", param=key)
    if value < minimum:
        raise ApiError(
            400,
            f"Invalid '{key}': integer below minimum value. "
            f"Expected a value >= {minimum}, but got {value} instead.",
            param=key,
            code="integer_below_min_value",
        )
    if maximum is not None and value > maximum:
        raise ApiError(
            400,
            f"Invalid '{key}': integer above maximum value. "
            f"Expected a value <= {maximum}, but got {value} instead.",
            param=key,
            code="integer_above_max_value",
        )
    return value


def _effort(value: Any) -> str | None:
    """A reasoning effort that asks for reasoning, or None."""
    return value if isinstance(value, str) and value != "none" else None


# -- OpenAI Chat Completions -------------------------------------------------------------------


def chat_completion(body: Any) -> JSON | list[bytes]:
    """The answer to a Chat Completions request: a JSON object, or SSE frames when streaming."""
    request = _object(body)
    model = _required_str(request, "model")
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(
            400,
            "Missing required parameter: 'messages'.",
            param="messages",
            code="missing_required_parameter",
        )
    n = _int(request, "n", minimum=1, maximum=128) or 1
    limit = _int(request, "max_completion_tokens", minimum=1)
    if limit is None:
        limit = _int(request, "max_tokens", minimum=1)
    top = _int(request, "top_logprobs", minimum=0, maximum=20) or 0
    logprobs = request.get("logprobs") is True
    if "top_logprobs" in request and request["top_logprobs"] is not None and not logprobs:
        raise ApiError(
            400, "logprobs must be set to true if top_logprobs is used.", param="top_logprobs"
        )
    prompt = _last_user_text(messages)
    thinks = _effort(request.get("reasoning_effort")) is not None

    choices: list[tuple[list[str], list[str], str]] = []
    for index in range(n):
        full = reply_words(prompt, index)
        reasoning, reply = _budget(limit, reasoning_words(prompt) if thinks else [], full)
        choices.append((reasoning, reply, "length" if len(reply) < len(full) else "stop"))
    prompt_tokens = _count_words(messages)
    reasoning_tokens = sum(len(reasoning) for reasoning, _, _ in choices)
    completion_tokens = reasoning_tokens + sum(len(reply) for _, reply, _ in choices)
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
    head = {
        "id": _new_id("chatcmpl-"),
        "created": int(time.time()),
        "model": model,
        "service_tier": "default",
        "system_fingerprint": _FINGERPRINT,
    }

    if request.get("stream") is not True:
        out: list[JSON] = []
        for index, (reasoning, reply, finish) in enumerate(choices):
            pieces = _pieces(reply)
            message: JSON = {
                "role": "assistant",
                "content": "".join(pieces),
                "refusal": None,
                "annotations": [],
            }
            if thinks:
                message["reasoning_content"] = " ".join(reasoning)
            out.append(
                {
                    "index": index,
                    "message": message,
                    "logprobs": {
                        "content": [_chat_logprob(p, i, top) for i, p in enumerate(pieces)],
                        "refusal": None,
                    }
                    if logprobs
                    else None,
                    "finish_reason": finish,
                }
            )
        return {**head, "object": "chat.completion", "choices": out, "usage": usage}

    stream_options = request.get("stream_options")
    include_usage = isinstance(stream_options, dict) and stream_options.get("include_usage") is True
    frames: list[bytes] = []

    def chunk(choice: list[JSON]) -> None:
        frame: JSON = {**head, "object": "chat.completion.chunk", "choices": choice}
        if include_usage:
            frame["usage"] = None
        frames.append(_sse(frame))

    def delta(
        index: int, delta_: JSON, logprob: JSON | None = None, finish: str | None = None
    ) -> None:
        chunk([{"index": index, "delta": delta_, "logprobs": logprob, "finish_reason": finish}])

    for index in range(n):
        delta(index, {"role": "assistant", "content": "", "refusal": None})
    reasonings = [_pieces(reasoning) for reasoning, _, _ in choices]
    for position in range(max(map(len, reasonings))):
        for index, pieces in enumerate(reasonings):
            if position < len(pieces):
                delta(index, {"reasoning_content": pieces[position]})
    replies = [_pieces(reply) for _, reply, _ in choices]
    for position in range(max(map(len, replies))):
        for index, pieces in enumerate(replies):
            if position < len(pieces):
                piece = pieces[position]
                lp = (
                    {"content": [_chat_logprob(piece, position, top)], "refusal": None}
                    if logprobs
                    else None
                )
                delta(index, {"content": piece}, lp)
    for index, (_, _, finish) in enumerate(choices):
        delta(index, {}, None, finish)
    if include_usage:
        frames.append(
            _sse({**head, "object": "chat.completion.chunk", "choices": [], "usage": usage})
        )
    frames.append(_sse("[DONE]"))
    return frames


# -- OpenAI Responses --------------------------------------------------------------------------


def response(body: Any, *, raw_reasoning: bool = False) -> JSON | list[bytes]:
    """The answer to a Responses request: a JSON object, or SSE frames when streaming."""
    request = _object(body)
    model = _required_str(request, "model")
    limit = _int(request, "max_output_tokens", minimum=16)
    top = _int(request, "top_logprobs", minimum=0, maximum=20) or 0
    include = request.get("include")
    include = include if isinstance(include, list) else []
    logprobs = "message.output_text.logprobs" in include
    config = request.get("reasoning")
    config = config if isinstance(config, dict) else {}
    effort = _effort(config.get("effort"))
    prompt = _last_user_text(request.get("input"))
    full = reply_words(prompt)
    reasoning, reply = _budget(limit, reasoning_words(prompt) if effort else [], full)
    truncated = len(reply) < len(full)
    status = "incomplete" if truncated else "completed"
    input_tokens = _count_words(request.get("instructions"), request.get("input"))
    output_tokens = len(reasoning) + len(reply)

    rid = _new_id("resp_")
    created = int(time.time())
    reasoning_id = _new_id("rs_")
    message_id = _new_id("msg_")
    reasoning_text = " ".join(reasoning)
    pieces = _pieces(reply)
    text = "".join(pieces)

    def shell(state: str, output: list[JSON], usage: JSON | None) -> JSON:
        return {
            "id": rid,
            "object": "response",
            "created_at": created,
            "status": state,
            "background": False,
            "completed_at": int(time.time()) if state == "completed" else None,
            "error": None,
            "incomplete_details": {"reason": "max_output_tokens"}
            if state == "incomplete"
            else None,
            "instructions": request.get("instructions"),
            "max_output_tokens": limit,
            "max_tool_calls": None,
            "model": model,
            "output": output,
            "parallel_tool_calls": request.get("parallel_tool_calls", True),
            "previous_response_id": request.get("previous_response_id"),
            "reasoning": {"effort": effort, "summary": config.get("summary")},
            "service_tier": "default",
            "store": request.get("store", True),
            "temperature": request.get("temperature", 1.0),
            "text": request.get("text", {"format": {"type": "text"}, "verbosity": "medium"}),
            "tool_choice": request.get("tool_choice", "auto"),
            "tools": request.get("tools", []),
            "top_logprobs": top,
            "top_p": request.get("top_p", 1.0),
            "truncation": request.get("truncation", "disabled"),
            "usage": usage,
            "user": request.get("user"),
            "metadata": request.get("metadata", {}),
        }

    def reasoning_item(done: bool) -> JSON:
        item: JSON = {"id": reasoning_id, "type": "reasoning", "summary": []}
        if raw_reasoning:
            item["content"] = [{"type": "reasoning_text", "text": reasoning_text}] if done else []
        elif done:
            item["summary"] = [{"type": "summary_text", "text": reasoning_text}]
        if "reasoning.encrypted_content" in include:
            item["encrypted_content"] = base64.b64encode(reasoning_text.encode()).decode()
        return item

    def text_logprobs(chosen: Sequence[str], start: int) -> list[JSON]:
        if not logprobs:
            return []
        out = []
        for i, piece in enumerate(chosen, start):
            entry = _chat_logprob(piece, i, top)
            out.append(entry)
        return out

    def text_part(done: bool) -> JSON:
        return {
            "type": "output_text",
            "annotations": [],
            "logprobs": text_logprobs(pieces, 0) if done else [],
            "text": text if done else "",
        }

    def message_item(done: bool) -> JSON:
        return {
            "id": message_id,
            "type": "message",
            "status": ("incomplete" if truncated else "completed") if done else "in_progress",
            "content": [text_part(True)] if done else [],
            "role": "assistant",
        }

    output: list[JSON] = []
    if reasoning:
        output.append(reasoning_item(True))
    if reply:
        output.append(message_item(True))
    usage = {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": len(reasoning)},
        "total_tokens": input_tokens + output_tokens,
    }
    if request.get("stream") is not True:
        return shell(status, output, usage)

    frames: list[bytes] = []

    def emit(kind: str, **fields: Any) -> None:
        frames.append(_sse({"type": kind, "sequence_number": len(frames), **fields}, kind))

    emit("response.created", response=shell("in_progress", [], None))
    emit("response.in_progress", response=shell("in_progress", [], None))
    index = 0
    if reasoning:
        emit("response.output_item.added", output_index=index, item=reasoning_item(False))
        where = {"item_id": reasoning_id, "output_index": index}
        if raw_reasoning:
            part = {"type": "reasoning_text", "text": ""}
            emit("response.content_part.added", **where, content_index=0, part=part)
            for piece in _pieces(reasoning):
                emit("response.reasoning_text.delta", **where, content_index=0, delta=piece)
            emit("response.reasoning_text.done", **where, content_index=0, text=reasoning_text)
            part = {"type": "reasoning_text", "text": reasoning_text}
            emit("response.content_part.done", **where, content_index=0, part=part)
        else:
            part = {"type": "summary_text", "text": ""}
            emit("response.reasoning_summary_part.added", **where, summary_index=0, part=part)
            for piece in _pieces(reasoning):
                emit("response.reasoning_summary_text.delta", **where, summary_index=0, delta=piece)
            emit(
                "response.reasoning_summary_text.done",
                **where,
                summary_index=0,
                text=reasoning_text,
            )
            part = {"type": "summary_text", "text": reasoning_text}
            emit("response.reasoning_summary_part.done", **where, summary_index=0, part=part)
        emit("response.output_item.done", output_index=index, item=reasoning_item(True))
        index += 1
    if reply:
        emit("response.output_item.added", output_index=index, item=message_item(False))
        where = {"item_id": message_id, "output_index": index, "content_index": 0}
        emit("response.content_part.added", **where, part=text_part(False))
        for position, piece in enumerate(pieces):
            emit(
                "response.output_text.delta",
                **where,
                delta=piece,
                logprobs=text_logprobs([piece], position),
            )
        emit("response.output_text.done", **where, text=text, logprobs=text_logprobs(pieces, 0))
        emit("response.content_part.done", **where, part=text_part(True))
        emit("response.output_item.done", output_index=index, item=message_item(True))
    emit(f"response.{status}", response=shell(status, output, usage))
    return frames


# -- Anthropic Messages ------------------------------------------------------------------------


def _signature(thinking: str) -> str:
    return base64.b64encode(hashlib.sha256(thinking.encode()).digest() * 3).decode()


def message(body: Any) -> JSON | list[bytes]:
    """The answer to a Messages request: a JSON object, or SSE frames when streaming."""
    request = _object(body)
    model = _required_str(request, "model")
    if "max_tokens" not in request:
        raise ApiError(400, "max_tokens: Field required")
    max_tokens = _int(request, "max_tokens", minimum=1)
    assert max_tokens is not None
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "messages: Field required")
    thinking = request.get("thinking")
    thinking = thinking if isinstance(thinking, dict) else {}
    thinks = thinking.get("type") in ("enabled", "adaptive")
    if thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or budget < 1024:
            raise ApiError(400, "thinking.enabled.budget_tokens: Input should be >= 1024")
        if max_tokens <= budget:
            raise ApiError(
                400,
                f"`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our "
                f"documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
                f"#max-tokens-and-context-window-size (max_tokens={max_tokens}, "
                f"budget_tokens={budget})",
            )
    shown = thinking.get("display") != "omitted"
    prompt = _last_user_text(messages)
    full = reply_words(prompt)
    reasoning, reply = _budget(max_tokens, reasoning_words(prompt) if thinks else [], full)
    stop_reason = "max_tokens" if len(reply) < len(full) else "end_turn"
    thought = " ".join(reasoning) if shown else ""
    signature = _signature(" ".join(reasoning))
    pieces = _pieces(reply)
    text = "".join(pieces)
    input_tokens = _count_words(request.get("system"), messages)
    output_tokens = len(reasoning) + len(reply)
    usage = {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }
    blocks: list[JSON] = []
    if thinks:
        blocks.append({"type": "thinking", "thinking": thought, "signature": signature})
    if reply:
        blocks.append({"type": "text", "text": text})
    head = {"id": _new_id("msg_"), "type": "message", "role": "assistant", "model": model}
    if request.get("stream") is not True:
        return {
            **head,
            "content": blocks,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": usage,
        }

    frames: list[bytes] = []

    def emit(kind: str, **fields: Any) -> None:
        frames.append(_sse({"type": kind, **fields}, kind))

    start: JSON = {**head, "content": [], "stop_reason": None, "stop_sequence": None}
    emit("message_start", message={**start, "usage": {**usage, "output_tokens": 1}})
    emit("ping")
    index = 0
    if thinks:
        block = {"type": "thinking", "thinking": "", "signature": ""}
        emit("content_block_start", index=index, content_block=block)
        for piece in _pieces(reasoning) if shown else []:
            emit(
                "content_block_delta",
                index=index,
                delta={"type": "thinking_delta", "thinking": piece},
            )
        emit(
            "content_block_delta",
            index=index,
            delta={"type": "signature_delta", "signature": signature},
        )
        emit("content_block_stop", index=index)
        index += 1
    if reply:
        emit("content_block_start", index=index, content_block={"type": "text", "text": ""})
        for position, piece in enumerate(pieces):
            emit("content_block_delta", index=index, delta={"type": "text_delta", "text": piece})
            if position == len(pieces) // 2:
                emit("ping")
        emit("content_block_stop", index=index)
    emit(
        "message_delta",
        delta={"stop_reason": stop_reason, "stop_sequence": None},
        usage={
            "input_tokens": input_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": output_tokens,
        },
    )
    emit("message_stop")
    return frames


# -- models ------------------------------------------------------------------------------------


def _openai_model(model: str) -> JSON:
    return {"id": model, "object": "model", "created": _CREATED, "owned_by": "distillguard-tests"}


def _anthropic_model(model: str) -> JSON:
    return {
        "type": "model",
        "id": model,
        "display_name": model.replace("-", " ").title(),
        "created_at": "2025-01-01T00:00:00Z",
    }


# -- the application ---------------------------------------------------------------------------

Handler = Callable[[Request, Any], Awaitable[JSON | list[bytes]]]


async def _wait(request: Request, seconds: float) -> bool:
    """Sleep up to ``seconds``; return False early if the client goes away."""
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        if await request.is_disconnected():
            return False
        await asyncio.sleep(min(0.05, remaining))
    return True


async def _frames(frames: Sequence[bytes], fault: str) -> AsyncIterator[bytes]:
    for count, frame in enumerate(frames):
        if count == RESET_AFTER_EVENTS and fault == "reset":
            raise UpstreamReset
        if count == RESET_AFTER_EVENTS and fault == "garble":
            yield b"data: \xff\xfe not text\n\n"
        yield frame
        await asyncio.sleep(0)


async def _cut(data: bytes) -> AsyncIterator[bytes]:
    yield data[: len(data) // 2]
    await asyncio.sleep(0)
    raise UpstreamReset


def _endpoint(flavour: Flavour, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        request.app.state.seen.append(
            SeenRequest(
                method=request.method,
                path=request.url.path,
                query=request.url.query,
                headers={key: ", ".join(request.headers.getlist(key)) for key in request.headers},
                raw=raw,
                body=body,
            )
        )
        request_id = _new_id("req_")
        headers = {"request-id" if flavour == "anthropic" else "x-request-id": request_id}

        def error(status: int, text: str, **extra: str | None) -> Response:
            failure = ApiError(status, text, **extra)
            return JSONResponse(_error_body(flavour, failure), status, headers=headers)

        fault = request.headers.get(FAULT_HEADER, "").strip().lower()
        if fault == "hang":
            await _wait(request, HANG_SECONDS)
            return error(504, "The upstream hung.")
        if fault == "slow":
            try:
                delay = float(request.headers.get(DELAY_HEADER, DEFAULT_DELAY))
            except ValueError:
                return error(400, f"Invalid {DELAY_HEADER} header.")
            await _wait(request, delay)
        elif fault.startswith("error") and fault[5:].isdigit():
            status = int(fault[5:])
            if status == 500:
                return error(
                    500, "The server had an error while processing your request. Sorry about that!"
                )
            return error(status, f"Injected upstream fault {status}.")
        elif fault not in ("", "reset", "garble"):
            return error(400, f"Unknown {FAULT_HEADER}: {fault!r}.")

        try:
            answer = await handler(request, body)
        except ApiError as failure:
            return JSONResponse(_error_body(flavour, failure), failure.status, headers=headers)
        reset = fault == "reset"
        if isinstance(answer, list):
            headers["cache-control"] = "no-cache"
            return StreamingResponse(
                _frames(answer, fault), media_type="text/event-stream", headers=headers
            )
        if reset:
            data = _dumps(answer).encode()
            headers["content-length"] = str(len(data))
            return StreamingResponse(_cut(data), media_type="application/json", headers=headers)
        return JSONResponse(answer, headers=headers)

    return endpoint


async def _chat(request: Request, body: Any) -> JSON | list[bytes]:
    return chat_completion(body)


async def _responses(request: Request, body: Any) -> JSON | list[bytes]:
    return response(body, raw_reasoning=request.headers.get(REASONING_HEADER) == "text")


async def _messages(request: Request, body: Any) -> JSON | list[bytes]:
    return message(body)


async def _models(request: Request, body: Any) -> JSON | list[bytes]:
    if "anthropic-version" in request.headers:
        data = [_anthropic_model(model) for model in MODELS]
        return {"data": data, "has_more": False, "first_id": MODELS[0], "last_id": MODELS[-1]}
    return {"object": "list", "data": [_openai_model(model) for model in MODELS]}


async def _model(request: Request, body: Any) -> JSON | list[bytes]:
    model = str(request.path_params["model"])
    if model not in MODELS:
        raise ApiError(
            404,
            f"The model '{model}' does not exist or you do not have access to it.",
            code="model_not_found",
        )
    if "anthropic-version" in request.headers:
        return _anthropic_model(model)
    return _openai_model(model)


async def _not_found(request: Request, body: Any) -> JSON | list[bytes]:
    raise ApiError(404, f"Invalid URL ({request.method} {request.url.path})")


def make_app() -> Starlette:
    """A fresh upstream; ``app.state.seen`` (a ``list[SeenRequest]``) starts empty."""
    app = Starlette(
        routes=[
            Route("/v1/chat/completions", _endpoint("openai", _chat), methods=["POST"]),
            Route("/v1/responses", _endpoint("openai", _responses), methods=["POST"]),
            Route("/v1/messages", _endpoint("anthropic", _messages), methods=["POST"]),
            Route("/v1/models", _endpoint("openai", _models), methods=["GET"]),
            Route("/v1/models/{model:path}", _endpoint("openai", _model), methods=["GET"]),
            Route("/{path:path}", _endpoint("openai", _not_found)),
        ]
    )
    app.state.seen = []
    return app


# -- running it --------------------------------------------------------------------------------


def _is_reset(error: BaseException | None) -> bool:
    if isinstance(error, UpstreamReset):
        return True
    if isinstance(error, BaseExceptionGroup):
        return any(_is_reset(inner) for inner in error.exceptions)
    return False


class _QuietResets(logging.Filter):
    """Keep the server's log free of the tracebacks of deliberate resets."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and _is_reset(record.exc_info[1]))


_QUIET_RESETS: Final = _QuietResets()


@contextlib.contextmanager
def serve(app: ASGIApp, host: str = "127.0.0.1") -> Iterator[str]:
    """Run ``app`` on a free port of ``host`` in a background thread; yield its base URL.

    The URL has no path (``http://127.0.0.1:PORT``): give OpenAI clients ``f"{url}/v1"`` and
    Anthropic clients ``url``. The server stops when the block exits.
    """
    error_log = logging.getLogger("uvicorn.error")
    if _QUIET_RESETS not in error_log.filters:
        error_log.addFilter(_QUIET_RESETS)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="asyncio",
        http="h11",
        lifespan="off",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"upstream-{port}", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the test upstream did not start on {host}:{port}")
            time.sleep(0.005)
        yield f"http://[{host}]:{port}" if family == socket.AF_INET6 else f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout=5)
        sock.close()
