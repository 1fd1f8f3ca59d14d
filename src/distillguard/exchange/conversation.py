"""What one exchange says, independent of its API surface.

The surface parsers (``surfaces``) fill a ``Conversation``; ``normalise`` turns it into a
store row. Keeping this intermediate explicit means a fourth surface needs one parser and
nothing else.
"""

from __future__ import annotations

from typing import Any


class Conversation:
    """Mutable accumulator filled by one surface parser for one exchange."""

    __slots__ = (
        "cached_tokens",
        "computer_tool",
        "continues",
        "end_user",
        "finish_reason",
        "image_refs",
        "input_chars",
        "input_tokens",
        "layout",
        "logprobs",
        "max_tokens",
        "max_tokens_field",
        "n",
        "n_assistant",
        "n_choices",
        "n_tool_calls_in",
        "n_tool_calls_out",
        "n_tool_results",
        "n_user",
        "output_tokens",
        "prompt",
        "reasoning_effort",
        "reasoning_parts",
        "reasoning_returned",
        "reasoning_tokens",
        "response_format",
        "response_parts",
        "stream",
        "system_parts",
        "temperature",
        "thinking_budget",
        "thinking_type",
        "tool_choice",
        "tool_names",
        "tools",
        "top_k",
        "top_logprobs",
        "top_p",
    )

    def __init__(self) -> None:
        self.system_parts: list[str] = []
        self.layout: list[str] = []
        self.n_user = 0
        self.n_assistant = 0
        self.n_tool_calls_in = 0
        self.n_tool_results = 0
        self.image_refs: list[str] = []
        self.prompt = ""
        self.input_chars = 0
        self.continues = False
        self.end_user: str | None = None
        self.tools: list[Any] = []
        self.tool_names: list[str] = []
        self.computer_tool = False
        self.tool_choice: str | None = None
        self.max_tokens: int | None = None
        self.max_tokens_field: str | None = None
        self.temperature: float | None = None
        self.top_p: float | None = None
        self.top_k: int | None = None
        self.n: int | None = None
        self.logprobs: bool | None = None
        self.top_logprobs: int | None = None
        self.reasoning_effort: str | None = None
        self.thinking_type: str | None = None
        self.thinking_budget: int | None = None
        self.stream: bool | None = None
        self.response_format: str | None = None
        self.response_parts: list[str] = []
        self.reasoning_parts: list[str] = []
        self.reasoning_returned = False
        self.n_tool_calls_out = 0
        self.n_choices: int | None = None
        self.finish_reason: str | None = None
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.reasoning_tokens: int | None = None
        self.cached_tokens: int | None = None

    # -- input -------------------------------------------------------------------------

    def system(self, text: str) -> None:
        self.system_parts.append(text)
        self.layout.append("s")

    def user(self, text: str) -> None:
        self.n_user += 1
        self.layout.append("u")
        self.prompt = text
        self.input_chars += len(text)

    def assistant(self, text: str) -> None:
        self.n_assistant += 1
        self.layout.append("a")
        self.input_chars += len(text)

    def tool_call_in(self, arguments_chars: int) -> None:
        self.n_tool_calls_in += 1
        self.layout.append("c")
        self.input_chars += arguments_chars

    def tool_result(self, text: str) -> None:
        self.n_tool_results += 1
        self.layout.append("t")
        self.input_chars += len(text)

    def tool(self, definition: Any, name: str | None, *, computer: bool = False) -> None:
        self.tools.append(definition)
        if name is not None:
            self.tool_names.append(name)
        self.computer_tool = self.computer_tool or computer

    def set_max_tokens(self, value: int | None, field: str) -> None:
        # The first name present wins; the harness fingerprint records which one it was.
        if value is not None and self.max_tokens is None:
            self.max_tokens = value
            self.max_tokens_field = field

    # -- output ------------------------------------------------------------------------

    def response_text(self, text: str) -> None:
        self.response_parts.append(text)

    def reasoning(self, text: str) -> None:
        self.reasoning_returned = True
        if text:
            self.reasoning_parts.append(text)

    @property
    def system_text(self) -> str:
        return "\n\n".join(self.system_parts)
