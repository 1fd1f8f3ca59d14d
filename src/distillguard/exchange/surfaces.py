"""Parsers for the three API surfaces of the contract.

Each ``parse_*`` reads one request body (and the response body, if any) in the real shape
of its API and fills a ``Conversation``. Structure the API itself requires (the message
list, message objects, roles) is validated strictly; optional parameters are read
leniently through ``Warnings``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from ..errors import RecordError
from .conversation import Conversation
from .fields import JSON, Warnings, dumps, require_item_object, require_list

Parser = Callable[[JSON, JSON | None, Conversation, Warnings], None]


def _text_of_parts(content: Any, path: str, conv: Conversation, text_types: frozenset[str]) -> str:
    """Text of a message content that is a string or a list of typed parts; counts images."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = require_list(content, path)
    texts: list[str] = []
    for i, part in enumerate(parts):
        if isinstance(part, str):
            texts.append(part)
            continue
        part = require_item_object(part, f"{path}[{i}]")
        kind = part.get("type")
        if not isinstance(kind, str):
            continue
        if kind in text_types:
            text = part.get("text")
            if isinstance(text, str):
                texts.append(text)
        elif kind in _IMAGE_TYPES:
            conv.image_refs.append(_image_ref(part))
    return "\n".join(texts)


_IMAGE_TYPES: Final = frozenset({"image_url", "input_image", "image"})


def _image_ref(part: JSON) -> str:
    """A stable reference for an image part: its URL, file id or data (often a hash)."""
    for holder in (part.get("image_url"), part.get("source"), part):
        if isinstance(holder, dict):
            for key in ("url", "file_id", "data", "hash", "sha256"):
                value = holder.get(key)
                if isinstance(value, str) and value:
                    return value[:256]
        elif isinstance(holder, str) and holder:
            return holder[:256]
    return "?"


def _arguments_chars(arguments: Any) -> int:
    if isinstance(arguments, str):
        return len(arguments)
    encoded = None if arguments is None else dumps(arguments)
    return 0 if encoded is None else len(encoded)


def _message_path(i: int) -> str:
    return f"request.messages[{i}]"


def _role(message: JSON, path: str) -> str:
    role = message.get("role")
    if not isinstance(role, str):
        raise RecordError(
            "missing_field" if role is None else "wrong_type",
            f"{path}.role must be a string",
            field=f"{path}.role",
        )
    return role


def _common_params(req: JSON, conv: Conversation, w: Warnings) -> None:
    conv.temperature = w.float_(req, "temperature", "request.temperature")
    conv.top_p = w.float_(req, "top_p", "request.top_p")
    conv.stream = w.bool_(req, "stream", "request.stream")
    choice = req.get("tool_choice")
    if isinstance(choice, str):
        conv.tool_choice = choice
    elif isinstance(choice, dict):
        kind = choice.get("type")
        conv.tool_choice = kind if isinstance(kind, str) else "object"


# -- OpenAI Chat Completions -------------------------------------------------------------

_CHAT_TEXT: Final = frozenset({"text", "input_text", "refusal"})
_CHAT_FINISH: Final = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}


def parse_openai_chat(req: JSON, resp: JSON | None, conv: Conversation, w: Warnings) -> None:
    messages = req.get("messages")
    if messages is None:
        raise RecordError("missing_field", "request.messages is required", field="request.messages")
    # Paths are spelt out only for an error or a warning: messages are the hot loop.
    for i, raw in enumerate(require_list(messages, "request.messages")):
        message = raw if isinstance(raw, dict) else require_item_object(raw, _message_path(i))
        role = message.get("role")
        if not isinstance(role, str):
            role = _role(message, _message_path(i))
        content = message.get("content")
        if not isinstance(content, str):
            content = _text_of_parts(content, f"{_message_path(i)}.content", conv, _CHAT_TEXT)
        text = content
        if role in ("system", "developer"):
            conv.system(text)
        elif role == "user":
            conv.user(text)
        elif role == "assistant":
            conv.assistant(text)
            calls = message.get("tool_calls")
            if isinstance(calls, list):
                for call in calls:
                    fn = call.get("function") if isinstance(call, dict) else None
                    args = fn.get("arguments") if isinstance(fn, dict) else None
                    conv.tool_call_in(_arguments_chars(args))
            elif isinstance(message.get("function_call"), dict):
                conv.tool_call_in(_arguments_chars(message["function_call"].get("arguments")))
        elif role in ("tool", "function"):
            conv.tool_result(text)
        else:
            w.add("unknown_role", f"{_message_path(i)}.role")
    conv.continues = conv.n_assistant > 0 or conv.n_tool_calls_in > 0

    for key in ("tools", "functions"):
        tools = req.get(key)
        if tools is None:
            continue
        if not isinstance(tools, list):
            w.add("wrong_type", f"request.{key}")
            continue
        for tool in tools:
            fn = tool.get("function", tool) if isinstance(tool, dict) else None
            name = fn.get("name") if isinstance(fn, dict) else None
            conv.tool(tool, name if isinstance(name, str) else None)

    conv.set_max_tokens(
        w.int_(req, "max_completion_tokens", "request.max_completion_tokens"),
        "max_completion_tokens",
    )
    conv.set_max_tokens(w.int_(req, "max_tokens", "request.max_tokens"), "max_tokens")
    _common_params(req, conv, w)
    conv.n = w.int_(req, "n", "request.n")
    conv.logprobs = w.bool_(req, "logprobs", "request.logprobs")
    conv.top_logprobs = w.int_(req, "top_logprobs", "request.top_logprobs")
    conv.reasoning_effort = w.str_(req, "reasoning_effort", "request.reasoning_effort")
    conv.end_user = _end_user(req, w)
    fmt = w.obj(req, "response_format", "request.response_format")
    if fmt is not None and isinstance(fmt.get("type"), str):
        conv.response_format = fmt["type"]

    if resp is None:
        return
    choices = resp.get("choices")
    if not isinstance(choices, list):
        if choices is not None:
            w.add("wrong_type", "response.choices")
        _error_finish(resp, conv)
    else:
        conv.n_choices = len(choices)
        for i, raw in enumerate(choices):
            choice = require_item_object(raw, f"response.choices[{i}]")
            reply = choice.get("message") or choice.get("delta")
            if isinstance(reply, dict):
                content = reply.get("content")
                text = _text_of_parts(
                    content, f"response.choices[{i}].message.content", conv, _CHAT_TEXT
                )
                if text:
                    conv.response_text(text)
                # Reasoning servers (vLLM, DeepSeek, OpenRouter) return it under these names.
                for key in ("reasoning_content", "reasoning"):
                    reasoning = reply.get(key)
                    if isinstance(reasoning, str):
                        conv.reasoning(reasoning)
                calls = reply.get("tool_calls")
                if isinstance(calls, list):
                    conv.n_tool_calls_out += len(calls)
                elif isinstance(reply.get("function_call"), dict):
                    conv.n_tool_calls_out += 1  # the legacy single function call
            if i == 0:
                reason = choice.get("finish_reason")
                if isinstance(reason, str):
                    conv.finish_reason = _CHAT_FINISH.get(reason, "other")
    usage = w.obj(resp, "usage", "response.usage")
    if usage is not None:
        conv.input_tokens = w.int_(usage, "prompt_tokens", "response.usage.prompt_tokens")
        conv.output_tokens = w.int_(usage, "completion_tokens", "response.usage.completion_tokens")
        details = usage.get("completion_tokens_details")
        if isinstance(details, dict):
            conv.reasoning_tokens = w.int_(details, "reasoning_tokens", "response.usage.reasoning")
        details = usage.get("prompt_tokens_details")
        if isinstance(details, dict):
            conv.cached_tokens = w.int_(details, "cached_tokens", "response.usage.cached_tokens")


def _end_user(req: JSON, w: Warnings) -> str | None:
    for key in ("safety_identifier", "user"):
        value = w.str_(req, key, f"request.{key}")
        if value:
            return value
    return None


def _error_finish(resp: JSON, conv: Conversation) -> None:
    if "error" in resp or resp.get("type") == "error":
        conv.finish_reason = "error"


# -- OpenAI Responses --------------------------------------------------------------------

_RESP_TEXT: Final = frozenset({"input_text", "output_text", "text", "refusal"})
_RESP_INCOMPLETE: Final = {"max_output_tokens": "length", "content_filter": "content_filter"}
_COMPUTER_TOOLS: Final = ("computer_use", "computer_use_preview", "computer")


def parse_openai_responses(req: JSON, resp: JSON | None, conv: Conversation, w: Warnings) -> None:
    instructions = req.get("instructions")
    if isinstance(instructions, str):
        conv.system(instructions)
    elif instructions is not None:
        w.add("wrong_type", "request.instructions")
    items = req.get("input")
    if items is None and req.get("previous_response_id") is None and req.get("prompt") is None:
        raise RecordError("missing_field", "request.input is required", field="request.input")
    if isinstance(items, str):
        conv.user(items)
    elif items is not None:
        for i, raw in enumerate(require_list(items, "request.input")):
            _responses_input_item(require_item_object(raw, f"request.input[{i}]"), i, conv, w)
    conv.continues = (
        conv.continues
        or conv.n_assistant > 0
        or conv.n_tool_calls_in > 0
        or isinstance(req.get("previous_response_id"), str)
    )

    tools = req.get("tools")
    if isinstance(tools, list):
        for tool in tools:
            if not isinstance(tool, dict):
                continue
            kind = tool.get("type")
            name = tool.get("name")
            label = name if isinstance(name, str) else kind if isinstance(kind, str) else None
            conv.tool(tool, label, computer=isinstance(kind, str) and kind in _COMPUTER_TOOLS)
    elif tools is not None:
        w.add("wrong_type", "request.tools")

    conv.set_max_tokens(
        w.int_(req, "max_output_tokens", "request.max_output_tokens"), "max_output_tokens"
    )
    _common_params(req, conv, w)
    conv.top_logprobs = w.int_(req, "top_logprobs", "request.top_logprobs")
    include = req.get("include")
    wants_logprobs = isinstance(include, list) and any(
        isinstance(x, str) and x.endswith("logprobs") for x in include
    )
    conv.logprobs = True if wants_logprobs or (conv.top_logprobs or 0) > 0 else None
    reasoning = w.obj(req, "reasoning", "request.reasoning")
    if reasoning is not None:
        conv.reasoning_effort = w.str_(reasoning, "effort", "request.reasoning.effort")
    conv.end_user = _end_user(req, w)
    text_cfg = w.obj(req, "text", "request.text")
    fmt = text_cfg.get("format") if text_cfg is not None else None
    if isinstance(fmt, dict) and isinstance(fmt.get("type"), str):
        conv.response_format = fmt["type"]

    if resp is None:
        return
    output = resp.get("output")
    if isinstance(output, list):
        conv.n_choices = 1
        for i, raw in enumerate(output):
            _responses_output_item(require_item_object(raw, f"response.output[{i}]"), i, conv, w)
    elif output is not None:
        w.add("wrong_type", "response.output")
    status = resp.get("status")
    if status == "completed":
        conv.finish_reason = "tool_calls" if conv.n_tool_calls_out else "stop"
    elif status == "incomplete":
        details = resp.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, dict) else None
        conv.finish_reason = (
            _RESP_INCOMPLETE.get(reason, "other") if isinstance(reason, str) else "other"
        )
    elif status in ("failed", "cancelled") or resp.get("error"):
        conv.finish_reason = "error"
    usage = w.obj(resp, "usage", "response.usage")
    if usage is not None:
        conv.input_tokens = w.int_(usage, "input_tokens", "response.usage.input_tokens")
        conv.output_tokens = w.int_(usage, "output_tokens", "response.usage.output_tokens")
        details = usage.get("output_tokens_details")
        if isinstance(details, dict):
            conv.reasoning_tokens = w.int_(details, "reasoning_tokens", "response.usage.reasoning")
        details = usage.get("input_tokens_details")
        if isinstance(details, dict):
            conv.cached_tokens = w.int_(details, "cached_tokens", "response.usage.cached_tokens")


def _responses_input_item(item: JSON, i: int, conv: Conversation, w: Warnings) -> None:
    path = f"request.input[{i}]"
    kind = item.get("type", "message")
    if kind == "message" or (kind is None and "role" in item):
        role = _role(item, path)
        text = _text_of_parts(item.get("content"), f"{path}.content", conv, _RESP_TEXT)
        if role in ("system", "developer"):
            conv.system(text)
        elif role == "user":
            conv.user(text)
        elif role == "assistant":
            conv.assistant(text)
        else:
            w.add("unknown_role", f"{path}.role")
    elif kind in ("function_call", "custom_tool_call", "computer_call", "local_shell_call"):
        conv.tool_call_in(_arguments_chars(item.get("arguments", item.get("input"))))
    elif isinstance(kind, str) and kind.endswith("_output"):
        output = item.get("output")
        if not isinstance(output, str):
            encoded = None if output is None else dumps(output)
            output = "" if encoded is None else encoded.decode()
        conv.tool_result(output)
    elif kind == "reasoning" or kind == "item_reference":
        conv.continues = True
    elif isinstance(kind, str) and kind.endswith("_call"):
        conv.tool_call_in(0)
    else:
        w.add("unknown_type", f"{path}.type")


def _responses_output_item(item: JSON, i: int, conv: Conversation, w: Warnings) -> None:
    kind = item.get("type")
    if kind == "message":
        text = _text_of_parts(
            item.get("content"), f"response.output[{i}].content", conv, _RESP_TEXT
        )
        if text:
            conv.response_text(text)
    elif kind == "reasoning":
        texts: list[str] = []
        for key in ("summary", "content"):
            parts = item.get(key)
            if parts is None:
                continue
            if not isinstance(parts, list):
                w.add("wrong_type", f"response.output[{i}].{key}")
                continue
            texts.extend(
                part["text"]
                for part in parts
                if isinstance(part, dict) and isinstance(part.get("text"), str)
            )
        if texts or item.get("encrypted_content"):
            conv.reasoning("\n".join(texts))
    elif isinstance(kind, str) and kind.endswith("_call"):
        conv.n_tool_calls_out += 1


# -- Anthropic Messages ------------------------------------------------------------------

_ANTHROPIC_TEXT: Final = frozenset({"text"})
_ANTHROPIC_STOP: Final = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "refusal",
}


def parse_anthropic_messages(req: JSON, resp: JSON | None, conv: Conversation, w: Warnings) -> None:
    system = req.get("system")
    if system is not None:
        if isinstance(system, str | list):
            conv.system(_text_of_parts(system, "request.system", conv, _ANTHROPIC_TEXT))
        else:
            w.add("wrong_type", "request.system")
    messages = req.get("messages")
    if messages is None:
        raise RecordError("missing_field", "request.messages is required", field="request.messages")
    for i, raw in enumerate(require_list(messages, "request.messages")):
        message = raw if isinstance(raw, dict) else require_item_object(raw, _message_path(i))
        role = message.get("role")
        if not isinstance(role, str):
            role = _role(message, _message_path(i))
        content = message.get("content")
        if isinstance(content, list):
            _anthropic_blocks(content, i, role, conv, w)
        else:
            if not isinstance(content, str):
                content = _text_of_parts(
                    content, f"{_message_path(i)}.content", conv, _ANTHROPIC_TEXT
                )
            _anthropic_turn(role, content, i, conv, w)
    conv.continues = conv.n_assistant > 0 or conv.n_tool_calls_in > 0

    tools = req.get("tools")
    if isinstance(tools, list):
        for tool in tools:
            if not isinstance(tool, dict):
                continue
            kind = tool.get("type")
            name = tool.get("name")
            computer = isinstance(kind, str) and kind.startswith("computer_")
            conv.tool(tool, name if isinstance(name, str) else None, computer=computer)
    elif tools is not None:
        w.add("wrong_type", "request.tools")

    conv.set_max_tokens(w.int_(req, "max_tokens", "request.max_tokens"), "max_tokens")
    _common_params(req, conv, w)
    conv.top_k = w.int_(req, "top_k", "request.top_k")
    thinking = w.obj(req, "thinking", "request.thinking")
    if thinking is not None:
        conv.thinking_type = w.str_(thinking, "type", "request.thinking.type")
        conv.thinking_budget = w.int_(thinking, "budget_tokens", "request.thinking.budget_tokens")
    output_config = req.get("output_config")
    if isinstance(output_config, dict):
        conv.reasoning_effort = w.str_(output_config, "effort", "request.output_config.effort")
    metadata = w.obj(req, "metadata", "request.metadata")
    if metadata is not None:
        conv.end_user = w.str_(metadata, "user_id", "request.metadata.user_id")

    if resp is None:
        return
    content = resp.get("content")
    if isinstance(content, list):
        conv.n_choices = 1
        for i, raw in enumerate(content):
            block = require_item_object(raw, f"response.content[{i}]")
            kind = block.get("type")
            if kind == "text" and isinstance(block.get("text"), str):
                conv.response_text(block["text"])
            elif kind == "thinking":
                thought = block.get("thinking")
                conv.reasoning(thought if isinstance(thought, str) else "")
            elif kind == "redacted_thinking":
                conv.reasoning("")
            elif kind in ("tool_use", "server_tool_use"):
                conv.n_tool_calls_out += 1
    elif content is not None:
        w.add("wrong_type", "response.content")
    stop = resp.get("stop_reason")
    if isinstance(stop, str):
        conv.finish_reason = _ANTHROPIC_STOP.get(stop, "other")
    else:
        _error_finish(resp, conv)
    usage = w.obj(resp, "usage", "response.usage")
    if usage is not None:
        conv.input_tokens = w.int_(usage, "input_tokens", "response.usage.input_tokens")
        conv.output_tokens = w.int_(usage, "output_tokens", "response.usage.output_tokens")
        conv.cached_tokens = w.int_(
            usage, "cache_read_input_tokens", "response.usage.cache_read_input_tokens"
        )


def _anthropic_turn(role: str, text: str, i: int, conv: Conversation, w: Warnings) -> None:
    if role == "user":
        conv.user(text)
    elif role == "assistant":
        conv.assistant(text)
    else:
        w.add("unknown_role", f"{_message_path(i)}.role")


def _anthropic_blocks(
    blocks: list[Any], i: int, role: str, conv: Conversation, w: Warnings
) -> None:
    texts: list[str] = []
    call_chars: list[int] = []
    results: list[str] = []
    for j, raw in enumerate(blocks):
        block = (
            raw
            if isinstance(raw, dict)
            else require_item_object(raw, f"{_message_path(i)}.content[{j}]")
        )
        kind = block.get("type")
        if kind == "text":
            text = block.get("text")
            if isinstance(text, str):
                texts.append(text)
        elif kind == "image":
            conv.image_refs.append(_image_ref(block))
        elif kind in ("tool_use", "server_tool_use"):
            call_chars.append(_arguments_chars(block.get("input")))
        elif kind == "tool_result" or (isinstance(kind, str) and kind.endswith("_tool_result")):
            content = block.get("content")
            if not isinstance(content, str):
                content = _text_of_parts(
                    content, f"{_message_path(i)}.content[{j}].content", conv, _ANTHROPIC_TEXT
                )
            results.append(content)
    for result in results:
        conv.tool_result(result)
    # A user turn made only of tool results is the agent loop talking, not a person.
    if texts or role != "user" or not results:
        _anthropic_turn(role, "\n".join(texts), i, conv, w)
    for chars in call_chars:
        conv.tool_call_in(chars)


PARSERS: Final[dict[str, Parser]] = {
    "openai.chat": parse_openai_chat,
    "openai.responses": parse_openai_responses,
    "anthropic.messages": parse_anthropic_messages,
}
