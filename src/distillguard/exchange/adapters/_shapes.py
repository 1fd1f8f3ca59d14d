"""Neutral exchange values (``_neutral``) → request and response bodies of one API surface.

The bodies follow the public API references: OpenAI Chat Completions (``messages``,
``tool_calls``, ``choices``, ``usage.prompt_tokens``), OpenAI Responses (``instructions``,
``input`` items, ``output`` items, ``usage.input_tokens``) and Anthropic Messages (``system``,
content blocks, ``stop_reason``, ``usage`` without cached input). A parameter the log did
not carry is left out, not defaulted; only fields a body cannot lack (a tool call's id and
name) are filled, with ``call_N`` or ``""``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import orjson

from ...types import Surface
from ._common import JSONObj, compact, dumps_text
from ._neutral import Content, Message, Params, Part, Reply, Tool, Usage

# Finish reasons as the conventions (``stop``, ``length``, ``content_filter``, ``tool_call``,
# ``error``) or a provider (``end_turn``, ``tool_use``, ``tool_calls`` ...) logged them.
_CHAT_FINISH: Final = {
    "stop": "stop",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "length": "length",
    "max_tokens": "length",
    "tool_call": "tool_calls",
    "tool_calls": "tool_calls",
    "tool_use": "tool_calls",
    "function_call": "function_call",
    "content_filter": "content_filter",
}
_ANTHROPIC_STOP: Final = {
    "stop": "end_turn",
    "end_turn": "end_turn",
    "stop_sequence": "stop_sequence",
    "length": "max_tokens",
    "max_tokens": "max_tokens",
    "tool_call": "tool_use",
    "tool_calls": "tool_use",
    "tool_use": "tool_use",
    "content_filter": "refusal",
    "refusal": "refusal",
    "pause_turn": "pause_turn",
}
_RESPONSES_INCOMPLETE: Final = {
    "length": "max_output_tokens",
    "max_tokens": "max_output_tokens",
    "max_output_tokens": "max_output_tokens",
    "content_filter": "content_filter",
}


def _text(parts: tuple[Part, ...], kind: str = "text") -> str:
    return "\n".join(part.text for part in parts if part.kind == kind)


def _arguments_object(arguments: Any) -> JSONObj:
    """Anthropic ``tool_use.input`` is an object; conventions allow JSON text or anything."""
    if isinstance(arguments, dict):
        return arguments
    if isinstance(arguments, str):
        try:
            decoded = orjson.loads(arguments)
        except orjson.JSONDecodeError:
            return {"input": arguments}
        return decoded if isinstance(decoded, dict) else {"input": decoded}
    return {} if arguments is None else {"input": arguments}


def _finish(reply: Reply, message: Message | None, index: int) -> str | None:
    if message is not None and message.finish_reason:
        return message.finish_reason
    if index < len(reply.finish_reasons):
        return reply.finish_reasons[index]
    return None


# -- OpenAI Chat Completions ---------------------------------------------------------------


def _chat_content(parts: tuple[Part, ...]) -> str | list[JSONObj] | None:
    texts = [part for part in parts if part.kind == "text"]
    media = [part for part in parts if part.kind == "media"]
    if not media:
        return "\n".join(part.text for part in texts) if texts else None
    items: list[JSONObj] = [{"type": "text", "text": part.text} for part in texts]
    items += [{"type": "image_url", "image_url": {"url": part.ref or ""}} for part in media]
    return items


def _chat_tool_calls(parts: tuple[Part, ...]) -> list[JSONObj]:
    return [
        {
            "id": part.call_id or f"call_{i}",
            "type": "function",
            "function": {"name": part.name or "", "arguments": dumps_text(part.arguments)},
        }
        for i, part in enumerate(p for p in parts if p.kind == "tool_call")
    ]


def _chat_messages(content: Content) -> list[JSONObj]:
    messages: list[JSONObj] = [{"role": "system", "content": text} for text in content.system]
    for message in content.inputs:
        if message.role == "tool" or (
            message.parts and all(part.kind == "tool_result" for part in message.parts)
        ):
            messages += [
                {
                    "role": "tool",
                    "tool_call_id": part.call_id or "",
                    "content": dumps_text(part.arguments)
                    if part.kind == "tool_result"
                    else part.text,
                }
                for part in message.parts
                if part.kind in ("tool_result", "text")
            ]
            continue
        item: JSONObj = {"role": message.role, "content": _chat_content(message.parts)}
        calls = _chat_tool_calls(message.parts)
        if calls:
            item["tool_calls"] = calls
        messages.append(item)
    return messages


def _chat_request(content: Content, params: Params) -> JSONObj:
    body = _common_params(params)
    body["messages"] = _chat_messages(content)
    body.update(
        compact(
            {
                "max_tokens": params.max_tokens,
                "n": params.n,
                "seed": params.seed,
                "frequency_penalty": params.frequency_penalty,
                "presence_penalty": params.presence_penalty,
                "stop": list(params.stop) or None,
            }
        )
    )
    if params.tools:
        body["tools"] = [
            {"type": "function", "function": compact(_tool_fields(tool, "parameters"))}
            for tool in params.tools
        ]
    return body


def _chat_response(content: Content, reply: Reply) -> JSONObj:
    choices: list[JSONObj] = []
    for i, message in enumerate(content.outputs):
        reply_message: JSONObj = {"role": "assistant", "content": _chat_content(message.parts)}
        calls = _chat_tool_calls(message.parts)
        if calls:
            reply_message["tool_calls"] = calls
        reasoning = _text(message.parts, "reasoning")
        if reasoning:
            # The name reasoning servers (vLLM, DeepSeek) return it under.
            reply_message["reasoning_content"] = reasoning
        reason = _finish(reply, message, i)
        choices.append(
            {
                "index": i,
                "message": reply_message,
                "finish_reason": _CHAT_FINISH.get(reason, reason) if reason else None,
            }
        )
    body: JSONObj = compact({"id": reply.response_id, "model": reply.model})
    body["object"] = "chat.completion"
    if choices:
        body["choices"] = choices
    elif reply.error_type or reply.error_message:
        body["error"] = compact({"type": reply.error_type, "message": reply.error_message})
    usage = reply.usage
    if usage.known:
        body["usage"] = compact(
            {
                "prompt_tokens": usage.input_tokens,
                "completion_tokens": usage.output_tokens,
                "total_tokens": _total(usage),
                "prompt_tokens_details": _opt({"cached_tokens": usage.cache_read}),
                "completion_tokens_details": _opt({"reasoning_tokens": usage.reasoning}),
            }
        )
    return body


# -- OpenAI Responses ----------------------------------------------------------------------


def _responses_input(content: Content) -> list[JSONObj]:
    items: list[JSONObj] = []
    for message in content.inputs:
        assistant = message.role == "assistant"
        blocks: list[JSONObj] = []
        for part in message.parts:
            if part.kind == "text":
                blocks.append(
                    {"type": "output_text" if assistant else "input_text", "text": part.text}
                )
            elif part.kind == "media":
                blocks.append({"type": "input_image", "image_url": part.ref or ""})
        if blocks and message.role != "tool":
            items.append({"type": "message", "role": message.role, "content": blocks})
        for part in message.parts:
            if part.kind == "tool_call":
                items.append(
                    {
                        "type": "function_call",
                        "call_id": part.call_id or "",
                        "name": part.name or "",
                        "arguments": dumps_text(part.arguments),
                    }
                )
            elif part.kind == "tool_result" or (part.kind == "text" and message.role == "tool"):
                output = part.text if part.kind == "text" else dumps_text(part.arguments)
                items.append(
                    {
                        "type": "function_call_output",
                        "call_id": part.call_id or "",
                        "output": output,
                    }
                )
            elif part.kind == "reasoning":
                items.append(
                    {"type": "reasoning", "summary": [{"type": "summary_text", "text": part.text}]}
                )
    return items


def _responses_request(content: Content, params: Params) -> JSONObj:
    body = _common_params(params)
    if content.system:
        body["instructions"] = "\n".join(content.system)
    body["input"] = _responses_input(content)
    if params.max_tokens is not None:
        body["max_output_tokens"] = params.max_tokens
    if params.tools:
        body["tools"] = [
            {"type": "function", **compact(_tool_fields(tool, "parameters"))}
            for tool in params.tools
        ]
    return body


def _responses_output(message: Message) -> list[JSONObj]:
    output: list[JSONObj] = []
    reasoning = _text(message.parts, "reasoning")
    if reasoning:
        output.append(
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": reasoning}]}
        )
    texts = [part.text for part in message.parts if part.kind == "text"]
    if texts:
        output.append(
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text} for text in texts],
            }
        )
    output += [
        {
            "type": "function_call",
            "call_id": part.call_id or "",
            "name": part.name or "",
            "arguments": dumps_text(part.arguments),
        }
        for part in message.parts
        if part.kind == "tool_call"
    ]
    return output


def _responses_response(content: Content, reply: Reply) -> JSONObj:
    body: JSONObj = compact({"id": reply.response_id, "model": reply.model})
    body["object"] = "response"
    first = content.outputs[0] if content.outputs else None
    reason = _finish(reply, first, 0)
    if first is not None:
        body["output"] = _responses_output(first)
    if reply.error_type or reply.error_message or reason == "error":
        body["status"] = "failed"
        body["error"] = compact({"code": reply.error_type, "message": reply.error_message})
    elif reason in _RESPONSES_INCOMPLETE:
        body["status"] = "incomplete"
        body["incomplete_details"] = {"reason": _RESPONSES_INCOMPLETE[reason]}
    elif first is not None or reason is not None:
        body["status"] = "completed"
    usage = reply.usage
    if usage.known:
        body["usage"] = compact(
            {
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "total_tokens": _total(usage),
                "input_tokens_details": _opt({"cached_tokens": usage.cache_read}),
                "output_tokens_details": _opt({"reasoning_tokens": usage.reasoning}),
            }
        )
    return body


# -- Anthropic Messages --------------------------------------------------------------------


def _anthropic_blocks(parts: tuple[Part, ...]) -> list[JSONObj]:
    blocks: list[JSONObj] = []
    for part in parts:
        if part.kind == "text":
            blocks.append({"type": "text", "text": part.text})
        elif part.kind == "reasoning":
            blocks.append({"type": "thinking", "thinking": part.text})
        elif part.kind == "media":
            blocks.append({"type": "image", "source": {"type": "url", "url": part.ref or ""}})
        elif part.kind == "tool_call":
            blocks.append(
                {
                    "type": "tool_use",
                    "id": part.call_id or "",
                    "name": part.name or "",
                    "input": _arguments_object(part.arguments),
                }
            )
        else:
            blocks.append(
                {
                    "type": "tool_result",
                    "tool_use_id": part.call_id or "",
                    "content": dumps_text(part.arguments),
                }
            )
    return blocks


def _anthropic_request(content: Content, params: Params) -> JSONObj:
    body = _common_params(params)
    # Messages has no system role: system turns logged in the history join the system prompt.
    system = list(content.system)
    messages: list[JSONObj] = []
    for message in content.inputs:
        if message.role in ("system", "developer"):
            system.append(_text(message.parts))
            continue
        # Tool results travel in a user turn in the Messages API.
        role = "assistant" if message.role == "assistant" else "user"
        messages.append({"role": role, "content": _anthropic_blocks(message.parts)})
    if system:
        body["system"] = "\n".join(system)
    body["messages"] = messages
    body.update(
        compact(
            {
                "max_tokens": params.max_tokens,
                "top_k": params.top_k,
                "stop_sequences": list(params.stop) or None,
            }
        )
    )
    if params.tools:
        body["tools"] = [compact(_tool_fields(tool, "input_schema")) for tool in params.tools]
    return body


def _anthropic_response(content: Content, reply: Reply) -> JSONObj:
    body: JSONObj = compact({"id": reply.response_id, "model": reply.model})
    first = content.outputs[0] if content.outputs else None
    if first is None and (reply.error_type or reply.error_message):
        body["type"] = "error"
        body["error"] = compact({"type": reply.error_type, "message": reply.error_message})
    else:
        body.update({"type": "message", "role": "assistant"})
        body["content"] = [] if first is None else _anthropic_blocks(first.parts)
        reason = _finish(reply, first, 0)
        if reason:
            body["stop_reason"] = _ANTHROPIC_STOP.get(reason, reason)
    usage = reply.usage
    if usage.known:
        # The conventions count cached input inside input_tokens; Anthropic's usage does not.
        uncached = usage.input_tokens
        if uncached is not None:
            uncached -= (usage.cache_read or 0) + (usage.cache_creation or 0)
            uncached = uncached if uncached >= 0 else usage.input_tokens
        body["usage"] = compact(
            {
                "input_tokens": uncached,
                "output_tokens": usage.output_tokens,
                "cache_read_input_tokens": usage.cache_read,
                "cache_creation_input_tokens": usage.cache_creation,
            }
        )
    return body


# -- shared --------------------------------------------------------------------------------


def _common_params(params: Params) -> JSONObj:
    return compact(
        {
            "model": params.model,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "stream": params.stream,
        }
    )


def _tool_fields(tool: Tool, schema_key: str) -> JSONObj:
    return {"name": tool.name, "description": tool.description, schema_key: tool.parameters}


def _total(usage: Usage) -> int | None:
    if usage.input_tokens is None or usage.output_tokens is None:
        return None
    return usage.input_tokens + usage.output_tokens


def _opt(values: JSONObj) -> JSONObj | None:
    kept = compact(values)
    return kept or None


_REQUESTS: Final[dict[Surface, Callable[[Content, Params], JSONObj]]] = {
    "openai.chat": _chat_request,
    "openai.responses": _responses_request,
    "anthropic.messages": _anthropic_request,
}
_RESPONSES: Final[dict[Surface, Callable[[Content, Reply], JSONObj]]] = {
    "openai.chat": _chat_response,
    "openai.responses": _responses_response,
    "anthropic.messages": _anthropic_response,
}


def request_body(surface: Surface, content: Content, params: Params) -> JSONObj:
    return _REQUESTS[surface](content, params)


def response_body(surface: Surface, content: Content, reply: Reply) -> JSONObj | None:
    """The response, or None when the log says nothing about one (no output, usage, id or
    error: a span cut off before the answer, or content capture turned off and no counts)."""
    if not (
        content.outputs
        or reply.usage.known
        or reply.response_id
        or reply.error_type
        or reply.error_message
        or reply.finish_reasons
    ):
        return None
    return _RESPONSES[surface](content, reply)
