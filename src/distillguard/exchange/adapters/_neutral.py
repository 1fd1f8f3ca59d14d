"""A provider-neutral exchange, for logs that do not keep the API bodies themselves.

OpenTelemetry GenAI spans describe a call in the conventions' own vocabulary (messages made
of typed parts, ``gen_ai.request.*`` parameters, ``gen_ai.usage.*`` counts). The OTel adapter
reads a span into these values, and ``_shapes`` writes them out in the shape of one API
surface, so each of the three surfaces is built in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

PartKind = Literal["text", "tool_call", "tool_result", "reasoning", "media"]


@dataclass(frozen=True, slots=True)
class Part:
    """One piece of a message. ``arguments`` is a tool call's input (object or JSON text) or a
    tool result's content; ``ref`` names media (a URI, a file id or a hash of the data)."""

    kind: PartKind
    text: str = ""
    call_id: str | None = None
    name: str | None = None
    arguments: Any = None
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Message:
    role: str
    parts: tuple[Part, ...]
    finish_reason: str | None = None  # output messages only


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str | None = None
    parameters: Any = None


ContentSource = Literal["attributes", "events", "legacy_attributes", "none"]


@dataclass(frozen=True, slots=True)
class Content:
    """What was said. ``source`` records which generation of the conventions carried it."""

    system: tuple[str, ...] = ()
    inputs: tuple[Message, ...] = ()
    outputs: tuple[Message, ...] = ()
    source: ContentSource = "none"


@dataclass(frozen=True, slots=True)
class Params:
    model: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    n: int | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    stream: bool | None = None
    tools: tuple[Tool, ...] = ()


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts as the conventions define them: ``input_tokens`` includes cached input."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read: int | None = None
    cache_creation: int | None = None
    reasoning: int | None = None

    @property
    def known(self) -> bool:
        return self.input_tokens is not None or self.output_tokens is not None


@dataclass(frozen=True, slots=True)
class Reply:
    response_id: str | None = None
    model: str | None = None
    finish_reasons: tuple[str, ...] = ()
    usage: Usage = field(default_factory=Usage)
    error_type: str | None = None
    error_message: str | None = None
