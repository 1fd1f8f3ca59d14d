"""Acting on a decision: degrade a request before it goes upstream, and its response after.

``degrade_request`` caps output and thinking, strips log-probabilities and forces one sample,
in whichever shape the surface uses. ``degrade_response`` withholds raw reasoning / thinking
(or replaces it with a one-line note) and strips log-probabilities from a whole response;
``EventDegrader`` does the same to each event of a stream, so degrading works on streams
too. Bodies are changed in place.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from .policy import Degrade

NOTE: Final = "[reasoning withheld by the provider's usage policy]"
_CHAT_REASONING: Final = ("reasoning_content", "reasoning")
_MIN_THINKING: Final = 1024  # Anthropic's smallest thinking budget
JSON = dict[str, Any]


def _cap(body: JSON, names: tuple[str, ...], cap: int | None, default: str | None) -> None:
    if cap is None:
        return
    present = [name for name in names if name in body]
    for name in present:
        value = body[name]
        if not isinstance(value, int) or isinstance(value, bool) or value > cap:
            body[name] = cap
    if not present and default is not None:
        body[default] = cap


def degrade_request(surface: str, body: JSON, degrade: Degrade) -> JSON:
    if surface == "openai.chat":
        _cap(body, ("max_completion_tokens", "max_tokens"), degrade.max_tokens, "max_tokens")
        if degrade.thinking_budget is not None and "reasoning_effort" in body:
            body["reasoning_effort"] = "low"
        if degrade.strip_logprobs:
            body.pop("logprobs", None)
            body.pop("top_logprobs", None)
        if degrade.single_sample and "n" in body:
            body["n"] = 1
    elif surface == "openai.responses":
        _cap(body, ("max_output_tokens",), degrade.max_tokens, "max_output_tokens")
        reasoning = body.get("reasoning")
        if (
            degrade.thinking_budget is not None
            and isinstance(reasoning, dict)
            and ("effort" in reasoning)
        ):
            reasoning["effort"] = "low"
        if degrade.strip_logprobs:
            body.pop("top_logprobs", None)
            include = body.get("include")
            if isinstance(include, list):
                body["include"] = [i for i in include if "logprobs" not in str(i)]
    elif surface == "anthropic.messages":
        _cap(body, ("max_tokens",), degrade.max_tokens, None)
        thinking = body.get("thinking")
        if isinstance(thinking, dict) and thinking.get("type") == "enabled":
            budget = thinking.get("budget_tokens")
            limit = degrade.thinking_budget
            max_tokens = body.get("max_tokens")
            if isinstance(budget, int) and not isinstance(budget, bool):
                if limit is not None:
                    budget = min(budget, limit)
                if isinstance(max_tokens, int) and not isinstance(max_tokens, bool):
                    budget = min(budget, max_tokens - 1)
                if budget < _MIN_THINKING:
                    body["thinking"] = {"type": "disabled"}
                else:
                    thinking["budget_tokens"] = budget
    return body


def degrade_response(surface: str, body: JSON, degrade: Degrade) -> JSON:
    summary = degrade.reasoning == "summary"
    if surface == "openai.chat":
        for choice in _dicts(body.get("choices")):
            message = choice.get("message")
            if isinstance(message, dict):
                _chat_reasoning(message, summary, first=True)
            if degrade.strip_logprobs and "logprobs" in choice:
                choice["logprobs"] = None
    elif surface == "openai.responses":
        _responses(body, summary, degrade.strip_logprobs)
    elif surface == "anthropic.messages":
        for block in _dicts(body.get("content")):
            _thinking_block(block, summary)
    return body


SAME: Final = "same"
CHANGED: Final = "changed"
DROP: Final = "drop"
Outcome = Literal["same", "changed", "drop"]


class EventDegrader:
    """Degrades the events of one stream in order (keeps what it must remember).

    Calling it degrades one event's data in place and says what it did: ``SAME`` (nothing in
    the event is withheld, so it can go on as it came), ``CHANGED`` or ``DROP`` (the event
    carries only what is withheld).
    """

    def __init__(self, surface: str, degrade: Degrade) -> None:
        self.surface = surface
        self.degrade = degrade
        self._noted: set[Any] = set()  # where the summary note was already given

    def __call__(self, event: str | None, data: JSON) -> Outcome:
        summary = self.degrade.reasoning == "summary"
        strip = self.degrade.strip_logprobs
        changed = False
        if self.surface == "openai.chat":
            for choice in _dicts(data.get("choices")):
                delta = choice.get("delta")
                if isinstance(delta, dict):
                    key = ("chat", choice.get("index"))
                    if _chat_reasoning(delta, summary, first=key not in self._noted):
                        self._noted.add(key)
                        changed = True
                if strip and choice.get("logprobs") is not None:
                    choice["logprobs"] = None
                    changed = True
        elif self.surface == "openai.responses":
            kind = str(data.get("type", event or ""))
            if kind.startswith(("response.reasoning_text.", "response.reasoning_summary")):
                if summary and kind == "response.reasoning_summary_text.done":
                    data["text"] = NOTE
                    return CHANGED
                if summary and kind.startswith("response.reasoning_summary_part."):
                    part = data.get("part")
                    if isinstance(part, dict) and "text" in part:
                        part["text"] = NOTE if kind.endswith(".done") else ""
                    return CHANGED
                return DROP
            if strip and kind == "response.output_text.delta" and data.get("logprobs"):
                data["logprobs"] = []
                changed = True
            item = data.get("item")
            if isinstance(item, dict):
                changed |= _reasoning_item(item, summary)
            response = data.get("response")
            if isinstance(response, dict):
                changed |= _responses(response, summary, strip)
            part = data.get("part")
            if strip and isinstance(part, dict) and part.get("logprobs"):
                part["logprobs"] = []
                changed = True
        elif self.surface == "anthropic.messages":
            kind = str(data.get("type", event or ""))
            if kind == "content_block_start":
                block = data.get("content_block")
                if isinstance(block, dict):
                    changed = _thinking_block(block, summary=False)
            elif kind == "content_block_delta":
                delta = data.get("delta")
                if isinstance(delta, dict) and delta.get("type") == "thinking_delta":
                    key = ("anthropic", data.get("index"))
                    if summary and key not in self._noted:
                        self._noted.add(key)
                        delta["thinking"] = NOTE
                        return CHANGED
                    return DROP
            elif kind == "message_start":
                message = data.get("message")
                if isinstance(message, dict):
                    for block in _dicts(message.get("content")):
                        changed |= _thinking_block(block, summary)
        return CHANGED if changed else SAME


def _dicts(value: Any) -> list[JSON]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _chat_reasoning(message: JSON, summary: bool, *, first: bool) -> bool:
    """Withhold a chat message's (or delta's) reasoning; whether there was any."""
    had = False
    for name in _CHAT_REASONING:
        if message.get(name):
            had = True
            if summary and first:
                message[name] = NOTE
                first = False
            else:
                del message[name]
    return had


def _reasoning_item(item: JSON, summary: bool) -> bool:
    if item.get("type") != "reasoning":
        return False
    changed = item.pop("content", None) is not None
    changed |= item.pop("encrypted_content", None) is not None
    if item.get("summary"):
        withheld = [{"type": "summary_text", "text": NOTE}] if summary else []
        changed |= bool(item["summary"] != withheld)
        item["summary"] = withheld
    return changed


def _responses(body: JSON, summary: bool, strip: bool) -> bool:
    changed = False
    for item in _dicts(body.get("output")):
        changed |= _reasoning_item(item, summary)
        if strip:
            for part in _dicts(item.get("content")):
                if part.get("logprobs"):
                    part["logprobs"] = []
                    changed = True
    return changed


def _thinking_block(block: JSON, summary: bool) -> bool:
    if block.get("type") != "thinking" or "thinking" not in block:
        return False
    withheld = NOTE if summary and block["thinking"] else ""
    changed = bool(block["thinking"] != withheld)
    block["thinking"] = withheld
    return changed
