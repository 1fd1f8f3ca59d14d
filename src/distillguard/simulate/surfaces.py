"""Request and response bodies in the exact shapes of the three API surfaces.

``ChatWire`` writes OpenAI Chat Completions, ``ResponsesWire`` OpenAI Responses and
``AnthropicWire`` Anthropic Messages: message layout, tool calls and tool results, images
(data replaced by a hash), reasoning and thinking content, usage with cached and reasoning
tokens, finish and stop reasons. Error bodies follow each API's error shape.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from ..types import Surface
from .anthropic_messages import AnthropicWire
from .openai_chat import ChatWire
from .openai_responses import ResponsesWire
from .wire import JSON, Wire


def tool_fragment(tools: tuple[JSON, ...], surface: Surface) -> orjson.Fragment:
    """A tool list serialised once in a surface's shape, embedded as is in every request."""
    out: list[JSON] = []
    for t in tools:
        if t.get("computer"):
            out.append(
                {
                    "type": "computer_use_preview",
                    "display_width": 1280,
                    "display_height": 800,
                    "environment": "browser",
                }
                if surface == "openai.responses"
                else {
                    "type": "computer_20250124",
                    "name": "computer",
                    "display_width_px": 1280,
                    "display_height_px": 800,
                }
            )
        elif surface == "openai.chat":
            out.append({"type": "function", "function": t})
        elif surface == "openai.responses":
            out.append(
                {
                    "type": "function",
                    "name": t["name"],
                    "description": t["description"],
                    "parameters": t["parameters"],
                    "strict": False,
                }
            )
        else:
            out.append(
                {
                    "name": t["name"],
                    "description": t["description"],
                    "input_schema": t["parameters"],
                }
            )
    return orjson.Fragment(orjson.dumps(out))


_OPENAI_ERRORS: Final[dict[int, JSON]] = {
    429: {
        "error": {
            "message": "Rate limit reached for requests per min (RPM): Limit 500, "
            "Used 500, Requested 1. Please try again in 120ms.",
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    },
    500: {
        "error": {
            "message": "The server had an error while processing your request. Sorry about that!",
            "type": "server_error",
            "param": None,
            "code": None,
        }
    },
    503: {
        "error": {
            "message": "The engine is currently overloaded, please try again later.",
            "type": "server_error",
            "param": None,
            "code": None,
        }
    },
    400: {
        "error": {
            "message": "This model's maximum context length is 200000 tokens. "
            "Please reduce the length of the messages.",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
    },
}
_ANTHROPIC_ERRORS: Final[dict[int, JSON]] = {
    429: {
        "type": "error",
        "error": {
            "type": "rate_limit_error",
            "message": "This request "
            "would exceed the rate limit for your organization of 50 requests per minute.",
        },
    },
    500: {"type": "error", "error": {"type": "api_error", "message": "Internal server error"}},
    529: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    400: {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "prompt is too long: 212413 tokens > 200000 maximum",
        },
    },
}


def error_body(surface: Surface, status: int) -> Any:
    """The body an API returns with ``status``; gateways log 502/504 with no body."""
    table = _ANTHROPIC_ERRORS if surface == "anthropic.messages" else _OPENAI_ERRORS
    if surface != "anthropic.messages" and status == 529:
        status = 503
    return table.get(status)


def make_wire(
    surface: Surface,
    system: str | None,
    tools: orjson.Fragment | None,
    tool_tokens: int,
    *,
    cap: int = 14,
    flavour: str = "",
) -> Wire:
    """A wire for ``surface``; ``flavour`` names a harness's layout habits."""
    if surface == "openai.chat":
        return ChatWire(system, tools, tool_tokens, cap, developer="developer" in flavour)
    if surface == "openai.responses":
        return ResponsesWire(
            system, tools, tool_tokens, cap, chained="chained" in flavour, typed="typed" in flavour
        )
    return AnthropicWire(system, tools, tool_tokens, cap, cache="cache" in flavour)
