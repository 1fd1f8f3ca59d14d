"""OpenAI Responses: ``input`` items in, ``output`` items out, optionally chained."""

from __future__ import annotations

import random

import orjson

from ..types import Surface
from .corpus import tokens
from .ids import b62, hexid
from .models import Model
from .wire import COMPUTER, JSON, Call, Params, Reply, Wire, _args


def _call_item(c: Call) -> JSON:
    if c.name == COMPUTER:
        return {
            "type": "computer_call",
            "call_id": c.id,
            "action": c.args,
            "pending_safety_checks": [],
        }
    return {"type": "function_call", "call_id": c.id, "name": c.name, "arguments": _args(c.args)}


class ResponsesWire(Wire):
    surface: Surface = "openai.responses"

    def __init__(
        self,
        system: str | None,
        tools: orjson.Fragment | None,
        tool_tokens: int,
        cap: int = 14,
        chained: bool = False,
        typed: bool = False,
    ) -> None:
        super().__init__(system, tools, tool_tokens, cap)
        # Chained harnesses keep state on the server (store + previous_response_id) and
        # send only what is new; others resend the conversation each time.
        self.chained = chained
        self.typed = typed
        self.sent = 0
        self.previous: str | None = None

    def user(self, text: str, images: tuple[str, ...] = ()) -> None:
        if images or self.typed:
            parts: list[JSON] = [{"type": "input_text", "text": text}]
            parts += [
                {"type": "input_image", "image_url": f"sha256:{h}", "detail": "auto"}
                for h in images
            ]
            msg: JSON = {"type": "message", "role": "user", "content": parts}
        else:
            msg = {"role": "user", "content": text}
        self._add(msg, tokens(text) + 765 * len(images))
        if not self.head:
            self.head = len(self.msgs)

    def assistant(self, reply: Reply, model: Model) -> None:
        self._mark_round()
        if reply.text:
            self._add(
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": reply.text, "annotations": []}],
                },
                reply.out_tokens,
            )
        for c in reply.calls:
            self._add(_call_item(c), tokens(_args(c.args)))

    def results(self, outputs: list[tuple[Call, str]]) -> None:
        for call, text in outputs:
            if call.name == COMPUTER:  # the harness answers a computer action with a screenshot
                shot = {"type": "computer_screenshot", "image_url": text}
                self._add({"type": "computer_call_output", "call_id": call.id, "output": shot}, 765)
            else:
                item = {"type": "function_call_output", "call_id": call.id, "output": text}
                self._add(item, tokens(text))

    def request(self, model: str, p: Params, end_user: str | None) -> tuple[JSON, int]:
        if self.chained and self.previous:
            items, n_in = self.msgs[self.sent :], self.fixed_tokens + sum(self.toks)
        else:
            items, n_in = self.window()
        self.sent = len(self.msgs)
        body: JSON = {"model": model, "input": items}
        if self.system:
            body["instructions"] = self.system
        if self.tools is not None:
            body["tools"] = self.tools
            if p.tool_choice:
                body["tool_choice"] = p.tool_choice
        if p.effort:
            body["reasoning"] = (
                {"effort": p.effort, "summary": p.summary} if p.summary else {"effort": p.effort}
            )
        if p.max_tokens is not None:
            body["max_output_tokens"] = p.max_tokens
        if p.temperature is not None:
            body["temperature"] = p.temperature
        if p.top_p is not None:
            body["top_p"] = p.top_p
        if p.json_mode:
            body["text"] = {"format": {"type": "json_object"}}
        if p.store is not None:
            body["store"] = p.store
            if not p.store and p.effort:
                body["include"] = ["reasoning.encrypted_content"]
        if self.chained and self.previous:
            body["previous_response_id"] = self.previous
        if p.stream:
            body["stream"] = True
        if end_user:
            body["safety_identifier"] = end_user
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
        output: list[JSON] = []
        if model.reasoning and p.effort:
            item: JSON = {"id": "rs_" + hexid(rng, 48), "type": "reasoning", "summary": []}
            if p.summary and reply.reasoning:
                item["summary"] = [{"type": "summary_text", "text": reply.reasoning}]
            if p.store is False:
                item["encrypted_content"] = "gAAAAAB" + b62(rng, 120)
            output.append(item)
        if reply.text:
            output.append(
                {
                    "id": "msg_" + hexid(rng, 48),
                    "type": "message",
                    "status": "completed",
                    "role": "assistant",
                    "content": [
                        {
                            "type": "output_text",
                            "text": reply.text,
                            "annotations": [],
                            "logprobs": [],
                        }
                    ],
                }
            )
        for c in reply.calls:
            item = _call_item(c)
            item["id"] = ("cu_" if c.name == COMPUTER else "fc_") + hexid(rng, 48)
            item["status"] = "completed"
            output.append(item)
        rid = "resp_" + hexid(rng, 48)
        out = reply.out_tokens + reply.reasoning_tokens
        body: JSON = {
            "id": rid,
            "object": "response",
            "created_at": created,
            "status": "incomplete" if reply.finish == "length" else "completed",
            "error": None,
            "incomplete_details": {"reason": "max_output_tokens"}
            if reply.finish == "length"
            else None,
            "instructions": self.system,
            "max_output_tokens": p.max_tokens,
            "model": model.snapshot,
            "output": output,
            "parallel_tool_calls": True,
            "previous_response_id": self.previous if self.chained else None,
            "reasoning": {"effort": p.effort, "summary": p.summary},
            "store": True if p.store is None else p.store,
            "temperature": 1.0 if p.temperature is None else p.temperature,
            "text": {"format": {"type": "json_object" if p.json_mode else "text"}},
            "tool_choice": p.tool_choice or "auto",
            "tools": self.tools or [],
            "top_p": 1.0 if p.top_p is None else p.top_p,
            "truncation": "disabled",
            "usage": {
                "input_tokens": input_tokens,
                "input_tokens_details": {"cached_tokens": self.cached(input_tokens)},
                "output_tokens": out,
                "output_tokens_details": {"reasoning_tokens": reply.reasoning_tokens},
                "total_tokens": input_tokens + out,
            },
            "user": None,
            "metadata": {},
        }
        if self.chained:
            self.previous = rid
        return body
