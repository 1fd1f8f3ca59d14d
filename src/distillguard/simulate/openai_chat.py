"""OpenAI Chat Completions: ``messages`` in, ``choices`` out."""

from __future__ import annotations

import random
from collections.abc import Sequence

import orjson

from ..types import Surface
from .corpus import tokens
from .ids import b62, hexid
from .models import Model
from .wire import JSON, Call, Params, Reply, Wire, _args, _variant, logprobs


def _tool_calls(calls: Sequence[Call]) -> list[JSON]:
    """Tool calls as Chat Completions writes them, in a request's history or a response."""
    return [
        {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": _args(c.args)}}
        for c in calls
    ]


class ChatWire(Wire):
    surface: Surface = "openai.chat"

    def __init__(
        self,
        system: str | None,
        tools: orjson.Fragment | None,
        tool_tokens: int,
        cap: int = 14,
        developer: bool = False,
    ) -> None:
        super().__init__(system, tools, tool_tokens, cap)
        if system:
            self.msgs.append({"role": "developer" if developer else "system", "content": system})
            self.toks.append(0)  # counted in fixed_tokens

    def user(self, text: str, images: tuple[str, ...] = ()) -> None:
        if images:
            parts: list[JSON] = [{"type": "text", "text": text}]
            parts += [
                {"type": "image_url", "image_url": {"url": f"sha256:{h}", "detail": "auto"}}
                for h in images
            ]
            self._add({"role": "user", "content": parts}, tokens(text) + 765 * len(images))
        else:
            self._add({"role": "user", "content": text}, tokens(text))
        if not self.head:
            self.head = len(self.msgs)

    def assistant(self, reply: Reply, model: Model) -> None:
        self._mark_round()
        msg: JSON = {"role": "assistant", "content": reply.text}
        if reply.calls:
            msg["tool_calls"] = _tool_calls(reply.calls)
        self._add(msg, reply.out_tokens)

    def results(self, outputs: list[tuple[Call, str]]) -> None:
        for call, text in outputs:
            self._add({"role": "tool", "tool_call_id": call.id, "content": text}, tokens(text))

    def request(self, model: str, p: Params, end_user: str | None) -> tuple[JSON, int]:
        msgs, n_in = self.window()
        body: JSON = {"model": model, "messages": msgs}
        if self.tools is not None:
            body["tools"] = self.tools
            if p.tool_choice:
                body["tool_choice"] = p.tool_choice
        if p.temperature is not None:
            body["temperature"] = p.temperature
        if p.top_p is not None:
            body["top_p"] = p.top_p
        if p.max_tokens is not None:
            body[p.max_key] = p.max_tokens
        if p.effort:
            body["reasoning_effort"] = p.effort
        if p.n:
            body["n"] = p.n
        if p.top_logprobs is not None:
            body["logprobs"] = True
            if p.top_logprobs:
                body["top_logprobs"] = p.top_logprobs
        if p.json_mode:
            body["response_format"] = {"type": "json_object"}
        if p.stream:
            body["stream"] = True
            if p.include_usage:
                body["stream_options"] = {"include_usage": True}
        if end_user:
            body["user"] = end_user
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
        choices = []
        for i in range(reply.choices):
            msg: JSON = {
                "role": "assistant",
                "content": _variant(reply.text, i),
                "refusal": None,
                "annotations": [],
            }
            if reply.reasoning:
                msg["reasoning_content"] = reply.reasoning
            if reply.calls:
                msg["tool_calls"] = _tool_calls(reply.calls)
            choice: JSON = {
                "index": i,
                "message": msg,
                "logprobs": None,
                "finish_reason": reply.finish,
            }
            if p.top_logprobs is not None and reply.text:
                choice["logprobs"] = {
                    "content": logprobs(reply.text, p.top_logprobs, rng),
                    "refusal": None,
                }
            choices.append(choice)
        out = reply.out_tokens * reply.choices + reply.reasoning_tokens
        body: JSON = {
            "id": "chatcmpl-" + b62(rng, 29),
            "object": "chat.completion",
            "created": created,
            "model": model.snapshot,
            "choices": choices,
        }
        if p.stream and not p.include_usage:
            body["usage"] = None  # a reassembled stream carries no usage unless asked for
        else:
            body["usage"] = {
                "prompt_tokens": input_tokens,
                "completion_tokens": out,
                "total_tokens": input_tokens + out,
                "prompt_tokens_details": {
                    "cached_tokens": self.cached(input_tokens),
                    "audio_tokens": 0,
                },
                "completion_tokens_details": {
                    "reasoning_tokens": reply.reasoning_tokens,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            }
        body["service_tier"] = "default"
        body["system_fingerprint"] = "fp_" + hexid(rng, 10)
        return body
