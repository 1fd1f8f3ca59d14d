"""Anthropic Messages: content blocks, tool_use / tool_result, thinking."""

from __future__ import annotations

import random
from typing import Final

import orjson

from ..types import Surface
from .corpus import tokens
from .ids import b58, b62
from .models import Model
from .wire import COMPUTER, JSON, Call, Params, Reply, Wire

_STOP: Final = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}


def _result(call: Call, text: str) -> str | list[JSON]:
    if call.name == COMPUTER:  # a computer action is answered with a screenshot
        source = {"type": "base64", "media_type": "image/png", "data": text}
        return [{"type": "image", "source": source}]
    return text


class AnthropicWire(Wire):
    surface: Surface = "anthropic.messages"

    def __init__(
        self,
        system: str | None,
        tools: orjson.Fragment | None,
        tool_tokens: int,
        cap: int = 14,
        cache: bool = False,
    ) -> None:
        super().__init__(system, tools, tool_tokens, cap)
        # Agent harnesses send the system prompt as blocks marked for prompt caching.
        self.cache = cache
        self.created_cache = False
        self.signature = ""

    def user(self, text: str, images: tuple[str, ...] = ()) -> None:
        if images:
            blocks: list[JSON] = [
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": f"sha256:{h}"},
                }
                for h in images
            ]
            blocks.append({"type": "text", "text": text})
            self._add({"role": "user", "content": blocks}, tokens(text) + 1100 * len(images))
        else:
            self._add({"role": "user", "content": text}, tokens(text))
        if not self.head:
            self.head = len(self.msgs)

    def assistant(self, reply: Reply, model: Model) -> None:
        self._mark_round()
        blocks: list[JSON] = []
        if reply.reasoning and self.signature:
            # With thinking on, tool loops hand the thinking back with its signature.
            blocks.append(
                {"type": "thinking", "thinking": reply.reasoning, "signature": self.signature}
            )
        if reply.text:
            blocks.append({"type": "text", "text": reply.text})
        blocks += [
            {"type": "tool_use", "id": c.id, "name": c.name, "input": c.args} for c in reply.calls
        ]
        self._add({"role": "assistant", "content": blocks}, reply.out_tokens)

    def results(self, outputs: list[tuple[Call, str]]) -> None:
        blocks = [
            {"type": "tool_result", "tool_use_id": c.id, "content": _result(c, text)}
            for c, text in outputs
        ]
        self._add({"role": "user", "content": blocks}, sum(tokens(t) for _, t in outputs))

    def request(self, model: str, p: Params, end_user: str | None) -> tuple[JSON, int]:
        msgs, n_in = self.window()
        body: JSON = {"model": model, "max_tokens": p.max_tokens or 4096, "messages": msgs}
        if self.system:
            body["system"] = (
                [{"type": "text", "text": self.system, "cache_control": {"type": "ephemeral"}}]
                if self.cache
                else self.system
            )
        if self.tools is not None:
            body["tools"] = self.tools
            if p.tool_choice:
                body["tool_choice"] = {"type": p.tool_choice}
        if p.thinking:
            body["thinking"] = {"type": "enabled", "budget_tokens": p.thinking}
        if p.temperature is not None and not p.thinking:
            body["temperature"] = p.temperature
        if p.top_p is not None:
            body["top_p"] = p.top_p
        if p.top_k is not None:
            body["top_k"] = p.top_k
        if p.stream:
            body["stream"] = True
        if end_user:
            body["metadata"] = {"user_id": end_user}
        return body, n_in

    def response(
        self,
        reply: Reply,
        model: Model,
        created: int,
        input_tokens: int,
        p: Params,
        rng: random.Random,
    ) -> JSON:
        content: list[JSON] = []
        self.signature = ""
        if p.thinking and reply.reasoning:
            self.signature = "Eq" + b62(rng, 94)
            content.append(
                {"type": "thinking", "thinking": reply.reasoning, "signature": self.signature}
            )
        if reply.text:
            content.append({"type": "text", "text": reply.text})
        content += [
            {"type": "tool_use", "id": c.id, "name": c.name, "input": c.args} for c in reply.calls
        ]
        cached = self.cached(input_tokens) if self.cache else 0
        created_tokens = 0
        if self.cache and not self.created_cache:
            created_tokens, self.created_cache = self.fixed_tokens, True
        return {
            "id": "msg_01" + b58(rng, 22),
            "type": "message",
            "role": "assistant",
            "model": model.name,
            "content": content,
            "stop_reason": _STOP.get(reply.finish, "end_turn"),
            "stop_sequence": None,
            "usage": {
                "input_tokens": max(1, input_tokens - cached - created_tokens),
                "cache_creation_input_tokens": created_tokens,
                "cache_read_input_tokens": cached,
                "output_tokens": reply.out_tokens + reply.reasoning_tokens,
                "service_tier": "standard",
            },
        }
