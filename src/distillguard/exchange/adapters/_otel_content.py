"""The messages of one GenAI span, from whichever generation of the conventions carried them.

In order of preference (the first one present wins; instrumentations emit one of them):

1. Attributes ``gen_ai.system_instructions``, ``gen_ai.input.messages`` and
   ``gen_ai.output.messages`` (semantic conventions v1.37+), JSON text or structured, following
   the conventions' input/output message JSON schemas: messages of typed ``parts`` (``text``,
   ``tool_call``, ``tool_call_response``, ``reasoning``, ``blob``, ``uri``, ``file``). The same
   attributes on a ``gen_ai.client.inference.operation.details`` event count too.
2. Span events of v1.28 to v1.36: ``gen_ai.system.message``, ``gen_ai.user.message``,
   ``gen_ai.assistant.message``, ``gen_ai.tool.message`` (body ``content``, ``tool_calls``,
   ``id``) and ``gen_ai.choice`` (body ``index``, ``finish_reason``, ``message``), the body given
   as the event body, as the JSON attribute ``gen_ai.event.content`` (Azure SDKs) or as event
   attributes; and v1.26 and v1.27 ``gen_ai.content.prompt`` / ``gen_ai.content.completion`` events
   whose ``gen_ai.prompt`` / ``gen_ai.completion`` attribute is a JSON list of chat messages.
3. Indexed attributes ``gen_ai.prompt.N.role|content|tool_call_id|tool_calls.M.*`` and
   ``gen_ai.completion.N.role|content|finish_reason|tool_calls.M.*`` written by OpenLLMetry
   and other pre-1.28 instrumentations.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from hashlib import sha256
from typing import Any, Final

from ...errors import RecordError
from ._common import dumps_text, json_cell, maybe_json, need_list, need_object, wrong_type
from ._neutral import Content, Message, Part, Tool
from ._otel_spans import Span

INPUT: Final = "gen_ai.input.messages"
OUTPUT: Final = "gen_ai.output.messages"
SYSTEM: Final = "gen_ai.system_instructions"
DETAILS_EVENT: Final = "gen_ai.client.inference.operation.details"
_MESSAGE_EVENTS: Final = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
_CHOICE_EVENT: Final = "gen_ai.choice"
_PROMPT_EVENT: Final = "gen_ai.content.prompt"
_COMPLETION_EVENT: Final = "gen_ai.content.completion"
_LEGACY: Final = re.compile(r"gen_ai\.(prompt|completion)\.(\d{1,6})\.(.+)")
_LEGACY_CALL: Final = re.compile(r"tool_calls\.(\d{1,6})\.(id|name|arguments)")
_MAX_INDEX: Final = 10_000  # gen_ai.prompt.999999.role would otherwise allocate a huge list


def span_attributes(span: Span) -> dict[str, Any]:
    """Span attributes, plus those of a ``gen_ai.client.inference.operation.details`` event
    (the conventions' way of moving content off the span; the span's own values win)."""
    merged: dict[str, Any] = {}
    for event in span.events:
        if event.name == DETAILS_EVENT:
            merged.update(event.attrs)
    merged.update(span.attrs)
    return merged


def content_of(span: Span, attrs: Mapping[str, Any]) -> Content:
    at = f"{span.path}.attributes" if span.path else "attributes"
    if any(key in attrs for key in (INPUT, OUTPUT, SYSTEM)):
        return Content(
            system=_system(attrs.get(SYSTEM), f"{at}.{SYSTEM}"),
            inputs=_semconv_messages(attrs.get(INPUT), f"{at}.{INPUT}"),
            outputs=_semconv_messages(attrs.get(OUTPUT), f"{at}.{OUTPUT}"),
            source="attributes",
        )
    names = {event.name for event in span.events}
    if names & {*_MESSAGE_EVENTS, _CHOICE_EVENT, _PROMPT_EVENT, _COMPLETION_EVENT}:
        return _from_events(span)
    if any(_LEGACY.fullmatch(key) for key in attrs):
        return _from_legacy(attrs)
    return Content()


def tools_of(attrs: Mapping[str, Any], path: str) -> tuple[Tool, ...]:
    """``gen_ai.tool.definitions`` (v1.37+) or OpenLLMetry's ``llm.request.functions.N.*``."""
    definitions = json_cell(attrs.get("gen_ai.tool.definitions"), f"{path}.gen_ai.tool.definitions")
    tools: list[Tool] = []
    if isinstance(definitions, list):
        for item in definitions:
            if not isinstance(item, Mapping):
                continue
            nested = item.get("function")
            fn: Mapping[str, Any] = nested if isinstance(nested, Mapping) else item
            name = fn.get("name")
            if isinstance(name, str):
                description = fn.get("description")
                tools.append(
                    Tool(
                        name,
                        description if isinstance(description, str) else None,
                        fn.get("parameters", fn.get("input_schema")),
                    )
                )
        return tuple(tools)
    for i in range(_MAX_INDEX):
        name = attrs.get(f"llm.request.functions.{i}.name")
        if not isinstance(name, str):
            break
        description = attrs.get(f"llm.request.functions.{i}.description")
        parameters = attrs.get(f"llm.request.functions.{i}.parameters")
        with contextlib.suppress(RecordError):  # a schema that is not JSON stays as its text
            parameters = json_cell(parameters, f"{path}.llm.request.functions.{i}.parameters")
        tools.append(Tool(name, description if isinstance(description, str) else None, parameters))
    return tuple(tools)


# -- 1. semconv v1.37+ attributes ----------------------------------------------------------


def _system(value: Any, path: str) -> tuple[str, ...]:
    value = maybe_json(value, path)  # some SDKs record the instructions as plain text
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Mapping):  # an early draft: {"role": "system", "message": TextPart}
        value = [value.get("message", value)]
    parts = _parts(value, path)
    return tuple(part.text for part in parts if part.kind == "text")


def _semconv_messages(value: Any, path: str) -> tuple[Message, ...]:
    value = json_cell(value, path)
    if value is None:
        return ()
    messages: list[Message] = []
    for i, raw in enumerate(need_list(value, path)):
        item_path = f"{path}[{i}]"
        item = need_object(raw, item_path)
        role = item.get("role")
        if not isinstance(role, str):
            raise wrong_type(f"{item_path}.role", "a string")
        if "parts" in item:
            parts = _parts(item.get("parts"), f"{item_path}.parts")
        else:  # pre-schema drafts put the text in "content"
            parts = _chat_content(item.get("content"), f"{item_path}.content")
        finish = item.get("finish_reason")
        messages.append(Message(role, parts, finish if isinstance(finish, str) else None))
    return tuple(messages)


def _parts(value: Any, path: str) -> tuple[Part, ...]:
    parts: list[Part] = []
    for j, raw in enumerate(need_list(value, path)):
        part_path = f"{path}[{j}]"
        part = need_object(raw, part_path)
        kind = part.get("type")
        if kind == "text" or kind == "reasoning":
            text = part.get("content", part.get("text"))
            if not isinstance(text, str):
                raise wrong_type(f"{part_path}.content", "a string")
            parts.append(Part("text" if kind == "text" else "reasoning", text))
        elif kind == "tool_call":
            parts.append(
                Part(
                    "tool_call",
                    call_id=_str_or_none(part.get("id")),
                    name=_str_or_none(part.get("name")),
                    arguments=part.get("arguments"),
                )
            )
        elif kind == "tool_call_response":
            parts.append(
                Part(
                    "tool_result",
                    call_id=_str_or_none(part.get("id")),
                    arguments=part.get("response", part.get("result")),
                )
            )
        elif kind in ("blob", "uri", "file", "file_data", "image"):
            parts.append(Part("media", ref=_media_ref(part)))
        # Other part types (generic extensions) carry nothing the contract keeps.
    return tuple(parts)


def _media_ref(part: Mapping[str, Any]) -> str:
    """A reference to media, never the data itself: inline bytes become their sha256."""
    for key in ("uri", "file_id", "url"):
        value = part.get(key)
        if isinstance(value, str) and value:
            return value[:512]
    data = part.get("content", part.get("data"))
    if isinstance(data, str) and data:
        return "sha256:" + sha256(data.encode("utf-8", "surrogatepass")).hexdigest()
    return "?"


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# -- OpenAI-chat-shaped messages (events and legacy attributes use them) --------------------


def _chat_content(content: Any, path: str) -> tuple[Part, ...]:
    """``content`` as a string, a list of typed parts, or JSON text holding such a list
    (OpenLLMetry writes a list of content blocks as JSON text)."""
    if content is None:
        return ()
    if isinstance(content, str):
        stripped = content.lstrip()
        if stripped.startswith("[{"):
            try:
                decoded = json_cell(content, path)
            except RecordError:  # text that merely starts like JSON stays text
                decoded = None
            if isinstance(decoded, list):
                return _typed_parts(decoded)
        return (Part("text", content),)
    if isinstance(content, list):
        return _typed_parts(content)
    if isinstance(content, Mapping):
        return _typed_parts([content])
    return (Part("text", dumps_text(content)),)


def _typed_parts(items: list[Any]) -> tuple[Part, ...]:
    parts: list[Part] = []
    for item in items:
        if isinstance(item, str):
            parts.append(Part("text", item))
            continue
        if not isinstance(item, Mapping):
            continue
        kind = item.get("type")
        text = item.get("text", item.get("content"))
        if kind in (None, "text", "input_text", "output_text") and isinstance(text, str):
            parts.append(Part("text", text))
        elif kind in ("thinking", "reasoning") and isinstance(item.get("thinking", text), str):
            parts.append(Part("reasoning", item.get("thinking", text)))
        elif kind in ("image_url", "image", "input_image"):
            ref = item.get("image_url")
            ref = ref.get("url") if isinstance(ref, Mapping) else ref
            source = item.get("source")
            if not isinstance(ref, str) and isinstance(source, Mapping):
                ref = source.get("url", source.get("data"))
            parts.append(
                Part("media", ref=_media_ref({"url": ref}) if isinstance(ref, str) else "?")
            )
        elif kind == "tool_use":
            parts.append(
                Part(
                    "tool_call",
                    call_id=_str_or_none(item.get("id")),
                    name=_str_or_none(item.get("name")),
                    arguments=item.get("input"),
                )
            )
        elif kind == "tool_result":
            parts.append(
                Part(
                    "tool_result",
                    call_id=_str_or_none(item.get("tool_use_id")),
                    arguments=item.get("content"),
                )
            )
    return tuple(parts)


def _chat_tool_calls(calls: Any) -> tuple[Part, ...]:
    if not isinstance(calls, list):
        return ()
    parts: list[Part] = []
    for call in calls:
        if not isinstance(call, Mapping):
            continue
        fn = call.get("function")
        fn = fn if isinstance(fn, Mapping) else call
        parts.append(
            Part(
                "tool_call",
                call_id=_str_or_none(call.get("id")),
                name=_str_or_none(fn.get("name")),
                arguments=fn.get("arguments"),
            )
        )
    return tuple(parts)


def _chat_message(body: Mapping[str, Any], role: str, path: str) -> Message:
    """One chat-shaped message: ``content``, ``tool_calls``, and ``id`` / ``tool_call_id`` on
    tool messages (whose content is the tool's result)."""
    if role == "tool":
        call_id = body.get("id", body.get("tool_call_id"))
        return Message(
            role,
            (Part("tool_result", call_id=_str_or_none(call_id), arguments=body.get("content")),),
        )
    parts = _chat_content(body.get("content"), f"{path}.content")
    return Message(role, parts + _chat_tool_calls(body.get("tool_calls")))


# -- 2. events ----------------------------------------------------------------------------


def _event_body(span: Span, index: int) -> Mapping[str, Any]:
    event = span.events[index]
    path = f"{span.path}.events[{index}]" if span.path else f"events[{index}]"
    body = json_cell(event.body, f"{path}.body") if isinstance(event.body, str) else event.body
    if isinstance(body, Mapping):
        return body
    if "gen_ai.event.content" in event.attrs:
        body = json_cell(
            event.attrs["gen_ai.event.content"], f"{path}.attributes.gen_ai.event.content"
        )
        if not isinstance(body, Mapping):
            raise wrong_type(f"{path}.attributes.gen_ai.event.content", "a JSON object")
        return body
    # Some SDKs flatten the body into attributes; nested fields may arrive as JSON text.
    return {
        key: json_cell(value, f"{path}.attributes.{key}")
        if key in ("tool_calls", "message")
        else value
        for key, value in event.attrs.items()
    }


def _from_events(span: Span) -> Content:
    system: list[str] = []
    inputs: list[Message] = []
    outputs: list[tuple[int, Message]] = []
    for i, event in enumerate(span.events):
        path = f"{span.path}.events[{i}]" if span.path else f"events[{i}]"
        if event.name in _MESSAGE_EVENTS:
            body = _event_body(span, i)
            role = body.get("role")
            role = role if isinstance(role, str) else _MESSAGE_EVENTS[event.name]
            message = _chat_message(body, role, f"{path}.body")
            if role == "system":
                system.append("\n".join(p.text for p in message.parts if p.kind == "text"))
            else:
                inputs.append(message)
        elif event.name == _CHOICE_EVENT:
            body = _event_body(span, i)
            reply = body.get("message")
            reply = json_cell(reply, f"{path}.body.message")
            reply = reply if isinstance(reply, Mapping) else {}
            index = body.get("index")
            finish = body.get("finish_reason")
            message = _chat_message(reply, "assistant", f"{path}.body.message")
            outputs.append(
                (
                    index if isinstance(index, int) else len(outputs),
                    Message(
                        "assistant", message.parts, finish if isinstance(finish, str) else None
                    ),
                )
            )
        elif event.name in (_PROMPT_EVENT, _COMPLETION_EVENT):
            key = "gen_ai.prompt" if event.name == _PROMPT_EVENT else "gen_ai.completion"
            listed = json_cell(event.attrs.get(key), f"{path}.attributes.{key}")
            if listed is None:
                continue
            for j, raw in enumerate(need_list(listed, f"{path}.attributes.{key}")):
                item = need_object(raw, f"{path}.attributes.{key}[{j}]")
                role = item.get("role")
                role = role if isinstance(role, str) else "user"
                message = _chat_message(item, role, f"{path}.attributes.{key}[{j}]")
                finish = item.get("finish_reason")
                if event.name == _COMPLETION_EVENT:
                    outputs.append(
                        (len(outputs), Message("assistant", message.parts, _str_or_none(finish)))
                    )
                elif role == "system":
                    system.append("\n".join(p.text for p in message.parts if p.kind == "text"))
                else:
                    inputs.append(message)
    outputs.sort(key=lambda pair: pair[0])
    return Content(tuple(system), tuple(inputs), tuple(m for _, m in outputs), "events")


# -- 3. legacy indexed attributes ----------------------------------------------------------


def _from_legacy(attrs: Mapping[str, Any]) -> Content:
    grouped: dict[tuple[str, int], dict[str, Any]] = {}
    for key, value in attrs.items():
        match = _LEGACY.fullmatch(key)
        if match is None:
            continue
        side, index, rest = match.group(1), int(match.group(2)), match.group(3)
        fields = grouped.setdefault((side, index), {})
        call = _LEGACY_CALL.fullmatch(rest)
        if call is not None:
            calls = fields.setdefault("tool_calls", {})
            calls.setdefault(int(call.group(1)), {})[call.group(2)] = value
        elif rest.startswith("function_call."):
            fields.setdefault("function_call", {})[rest.removeprefix("function_call.")] = value
        else:
            fields[rest] = value
    system: list[str] = []
    inputs: list[Message] = []
    outputs: list[Message] = []
    for (side, index), fields in sorted(grouped.items()):
        role = fields.get("role")
        role = role if isinstance(role, str) else ("assistant" if side == "completion" else "user")
        calls = [call for _, call in sorted(fields.get("tool_calls", {}).items())]
        if isinstance(fields.get("function_call"), dict):
            calls.append(fields["function_call"])
        body = {
            "content": fields.get("content"),
            "tool_calls": calls,
            "tool_call_id": fields.get("tool_call_id"),
        }
        message = _chat_message(body, role, f"gen_ai.{side}.{index}")
        if side == "completion":
            finish = fields.get("finish_reason")
            outputs.append(Message("assistant", message.parts, _str_or_none(finish)))
        elif role == "system":
            system.append("\n".join(p.text for p in message.parts if p.kind == "text"))
        else:
            inputs.append(message)
    return Content(tuple(system), tuple(inputs), tuple(outputs), "legacy_attributes")
