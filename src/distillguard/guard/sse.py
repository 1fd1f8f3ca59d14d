"""Server-sent events: split a byte stream into events, write them back, and reassemble the
final message of a streamed response for the exchange log (the contract logs a streamed
response as the message it adds up to)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

MAX_EVENT: Final = 16 * 1024 * 1024
JSON = dict[str, Any]


class SSEError(ValueError):
    """The upstream stream is not valid server-sent events."""


@dataclass(slots=True)
class Event:
    name: str | None
    data: str
    other: list[str] = field(default_factory=list)
    """Lines other than ``event:`` and ``data:`` (``id:``, ``retry:``, comments), kept."""
    raw: bytes = b""
    """The event as it came (line ends made ``\\n``), without the blank line that ends it."""

    def encode(self) -> bytes:
        lines = list(self.other)
        if self.name is not None:
            lines.append(f"event: {self.name}")
        lines.extend(f"data: {line}" for line in self.data.split("\n"))
        return ("\n".join(lines) + "\n\n").encode()


class Splitter:
    """Feeds bytes in, takes whole events out.

    Bytes that end no event are kept as they came and joined only once the event ends, so an
    event sent in many small pieces costs time in proportion to its size.
    """

    def __init__(self) -> None:
        self._pending: list[bytes] = []
        self._size = 0

    def feed(self, chunk: bytes) -> Iterator[Event]:
        if self._pending:
            tail = self._pending[-1][-1:]
            if (
                b"\r" not in chunk
                and tail != b"\r"
                and b"\n\n" not in chunk
                and not (tail == b"\n" and chunk[:1] == b"\n")
            ):
                if chunk:
                    self._hold(chunk)  # the event goes on
                return
            data = b"".join(self._pending) + chunk
            self._pending.clear()
            self._size = 0
        else:
            data = chunk
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n")
        blocks = data.split(b"\n\n")
        rest = blocks.pop()
        if rest:
            self._hold(rest)
        for block in blocks:
            event = _parse(block)
            if event is not None:
                yield event

    def _hold(self, piece: bytes) -> None:
        self._pending.append(piece)
        self._size += len(piece)
        if self._size > MAX_EVENT:
            raise SSEError(f"an event is over {MAX_EVENT} bytes")

    def rest(self) -> bytes:
        """Bytes after the last complete event (a stream cut short)."""
        return b"".join(self._pending)


def _parse(block: bytes) -> Event | None:
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SSEError(f"an event is not UTF-8 at byte {exc.start}") from None
    if text.startswith("data: ") and "\n" not in text:  # most events: one line of data
        return Event(None, text[6:], [], block)
    name: str | None = None
    data: list[str] = []
    other: list[str] = []
    for line in text.split("\n"):
        field_, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field_ == "event":
            name = value
        elif field_ == "data":
            data.append(value)
        elif line:
            other.append(line)
    if name is None and not data and not other:
        return None
    return Event(name, "\n".join(data), other, block)


_CHAT_HEAD: Final = ("id", "model", "created", "system_fingerprint")
_ANTHROPIC_TEXT: Final = {"text_delta": "text", "thinking_delta": "thinking"}


@dataclass(slots=True)
class _Choice:
    content: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    tools: dict[int, JSON] = field(default_factory=dict)
    finish_reason: Any = None


class Reassembler:
    """Adds up the events of one streamed response into the response object it stands for.

    Text deltas are kept as lists and joined once in ``result``, so a long answer costs time in
    proportion to its length.
    """

    def __init__(self, surface: str) -> None:
        self.surface = surface
        self._chat: JSON = {}
        self._head_missing: tuple[str, ...] = _CHAT_HEAD
        self._choices: dict[int, _Choice] = {}
        self._final: JSON | None = None
        self._message: JSON | None = None
        self._blocks: dict[int, JSON] = {}
        self._texts: dict[tuple[int, str], list[str]] = {}
        self._partial_json: dict[int, list[str]] = {}

    def add(self, data: JSON) -> None:
        if self.surface == "openai.chat":
            self._add_chat(data)
        elif self.surface == "openai.responses":
            kind = data.get("type")
            if kind in ("response.completed", "response.incomplete", "response.failed"):
                response = data.get("response")
                if isinstance(response, dict):
                    self._final = response
            elif kind == "response.created" and self._final is None:
                response = data.get("response")
                if isinstance(response, dict):
                    self._message = response
        elif self.surface == "anthropic.messages":
            self._add_anthropic(data)

    def _add_chat(self, data: JSON) -> None:
        if self._head_missing:
            for key in self._head_missing:
                if key in data:
                    self._chat[key] = data[key]
            self._head_missing = tuple(k for k in self._head_missing if k not in self._chat)
        usage = data.get("usage")
        if isinstance(usage, dict):
            self._chat["usage"] = usage
        for choice in data.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            index = choice.get("index", 0)
            if not isinstance(index, int):
                index = 0
            slot = self._choices.get(index)
            if slot is None:
                slot = self._choices[index] = _Choice()
            delta = choice.get("delta")
            if isinstance(delta, dict):
                content = delta.get("content")
                if isinstance(content, str):
                    slot.content.append(content)
                for name in ("reasoning_content", "reasoning"):
                    text = delta.get(name)
                    if isinstance(text, str):
                        slot.reasoning.append(text)
                for call in delta.get("tool_calls") or ():
                    if isinstance(call, dict):
                        _add_tool_call(slot.tools, call)
            finish = choice.get("finish_reason")
            if finish:
                slot.finish_reason = finish

    def _add_anthropic(self, data: JSON) -> None:
        kind = data.get("type")
        index = data.get("index")
        if kind == "message_start" and isinstance(data.get("message"), dict):
            self._message = dict(data["message"])
        elif kind == "content_block_start" and isinstance(index, int):
            block = data.get("content_block")
            if isinstance(block, dict):
                self._blocks[index] = dict(block)
                for name in _ANTHROPIC_TEXT.values():
                    self._texts.pop((index, name), None)
                self._partial_json.pop(index, None)
        elif kind == "content_block_delta" and isinstance(index, int):
            delta = data.get("delta")
            block = self._blocks.setdefault(index, {"type": "text", "text": ""})
            if isinstance(delta, dict):
                kind_ = delta.get("type")
                text = _ANTHROPIC_TEXT.get(kind_) if isinstance(kind_, str) else None
                if text is not None:
                    self._texts.setdefault((index, text), []).append(str(delta.get(text, "")))
                elif kind_ == "signature_delta":
                    block["signature"] = str(delta.get("signature", ""))
                elif kind_ == "input_json_delta":
                    self._partial_json.setdefault(index, []).append(
                        str(delta.get("partial_json", ""))
                    )
        elif kind == "message_delta" and self._message is not None:
            delta = data.get("delta")
            if isinstance(delta, dict):
                self._message.update({k: v for k, v in delta.items() if v is not None})
            usage = data.get("usage")
            if isinstance(usage, dict):
                merged = dict(self._message.get("usage") or {})
                merged.update(usage)
                self._message["usage"] = merged

    def result(self) -> JSON | None:
        """The reassembled response, or None when the stream showed nothing usable."""
        if self.surface == "openai.chat":
            if not self._chat and not self._choices:
                return None
            choices = []
            for index in sorted(self._choices):
                slot = self._choices[index]
                message: JSON = {"role": "assistant", "content": "".join(slot.content)}
                if slot.reasoning:
                    message["reasoning_content"] = "".join(slot.reasoning)
                if slot.tools:
                    message["tool_calls"] = [slot.tools[i] for i in sorted(slot.tools)]
                choices.append(
                    {"index": index, "message": message, "finish_reason": slot.finish_reason}
                )
            return {"object": "chat.completion", **self._chat, "choices": choices}
        if self.surface == "openai.responses":
            return self._final if self._final is not None else self._message
        if self._message is None:
            return None
        blocks = {i: dict(block) for i, block in self._blocks.items()}
        for (index, name), pieces in self._texts.items():
            texts = blocks[index]
            texts[name] = str(texts.get(name, "")) + "".join(pieces)
        for index, parts in self._partial_json.items():
            if index in blocks:
                try:
                    blocks[index]["input"] = orjson.loads("".join(parts) or "{}")
                except orjson.JSONDecodeError:
                    blocks[index]["input"] = {}
        return {**self._message, "content": [blocks[i] for i in sorted(blocks)]}


def _add_tool_call(tools: dict[int, JSON], call: JSON) -> None:
    index = call.get("index", 0)
    slot = tools.setdefault(
        index if isinstance(index, int) else 0,
        {"id": None, "type": "function", "function": {"name": "", "arguments": ""}},
    )
    if call.get("id"):
        slot["id"] = call["id"]
    function = call.get("function")
    if isinstance(function, dict):
        if function.get("name"):
            slot["function"]["name"] = function["name"]
        if isinstance(function.get("arguments"), str):
            slot["function"]["arguments"] += function["arguments"]


def output_tokens(surface: str, response: JSON | None) -> int:
    """Tokens the response cost (output and reasoning), from its usage; 0 when unknown."""
    if not isinstance(response, dict):
        return 0
    usage = response.get("usage")
    if not isinstance(usage, dict):
        return 0
    for name in ("completion_tokens", "output_tokens"):
        value = usage.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return max(0, value)
    return 0
