"""Signals for one request, from the same rule files the hunt runs over whole tables.

The request is normalised exactly as ingest normalises a stored exchange
(``exchange.RowBuffer.row``, leaving out the columns no signal reads); text rules run
through ``signals.OnlineMatcher`` (an RE2 set) and parameter rules through
``Condition.evaluate`` on that row. The per-row logic below mirrors
``hunt.signals.exchange_signals`` (intents, parameter groups, capability flags and label,
harness, template fingerprint) and ``tests/test_guard_online.py`` runs both over the same
exchanges and requires the same results: one definition, two engines.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from ..corpus import answer_texts
from ..errors import InputError
from ..exchange import RowBuffer
from ..exchange.text import TEMPLATE_LONG_CHARS
from ..hashing import DEFAULT_KEY, Hasher
from ..signals.groups import CAPABILITY_PRIORITY, PARAM_GROUPS, TOOL_CODING
from ..signals.match import OnlineMatcher
from ..signals.rules import INTENTS, RuleSet, load
from ..types import CAPABILITIES, Capability
from .context import Signals

_WEIGHTS: Final[Mapping[str, float]] = {
    "cot_elicitation": 0.5,
    "reasoning_reconstruction": 0.6,
    "rubric_grading": 0.35,
    "censorship_rewrite": 0.45,
    "synthetic_data": 0.5,
    "logprobs": 0.5,
    "multi_sample": 0.3,
    "max_output": 0.15,
    "max_thinking": 0.3,
}
"""How much each finding says that a request is after training data (noisy-OR)."""


@dataclass(frozen=True, slots=True)
class Findings:
    """A normalised row and the signals of it."""

    row: dict[str, Any]
    signals: Signals


class OnlineSignals:
    """Compiled once per rule set; ``of(record)`` per request."""

    def __init__(
        self, rules: RuleSet | None = None, *, hash_key: bytes = DEFAULT_KEY, warm: bool = True
    ) -> None:
        rules = rules if rules is not None else load()
        self._buffer = RowBuffer(Hasher(hash_key), output_text=False, online=True)
        self._text = OnlineMatcher(rules.text)
        if warm:
            _warm(self._text)
        self._param_rules = list(rules.param)
        self._group_of = {name: group for group, names in PARAM_GROUPS.items() for name in names}
        self._intent_of: dict[str, str] = {}
        self._cap_of: dict[str, str] = {}
        for rule in rules.text:
            if rule.sets.startswith("cap:"):
                self._cap_of[rule.id] = rule.sets[4:]
            elif rule.sets in INTENTS:
                self._intent_of[rule.id] = rule.sets

    def of(self, record: Mapping[str, Any], *, template: bool = True) -> Findings:
        """Signals of one contract record (``RecordError`` if it is not one). Without
        ``template`` the template fingerprint is left out (``None``): it is the costliest
        signal and only linking reads it, so the guard takes it after the response
        (``template``) unless the request is from an account it must link first."""
        row = self._buffer.row(record, template=template)
        return Findings(row, self.of_row(row))

    def template(self, row: Mapping[str, Any]) -> int | None:
        """The template fingerprint of a row ``of`` normalised (``Signals.template_fp``)."""
        prompt = row.get("prompt_text")
        return self._buffer.template(str(prompt))[1] if prompt else None

    def of_row(self, row: Mapping[str, Any]) -> Signals:
        text_ids = self._text.match(row.get("prompt_text") or "", row.get("system_text") or "")
        intents = frozenset(self._intent_of[i] for i in text_ids if i in self._intent_of)
        cues = frozenset(self._cap_of[i] for i in text_ids if i in self._cap_of)
        fired = [rule for rule in self._param_rules if rule.condition.test(row)]
        param_ids = tuple(rule.id for rule in fired)
        params = frozenset(
            self._group_of[rule.name] for rule in fired if rule.name in self._group_of
        )

        tools = (row.get("n_tools") or 0) > 0 or (row.get("n_tool_results") or 0) > 0
        flags: dict[Capability, bool] = {
            "computer_use": row.get("computer_tool") is True,
            "vision": (row.get("n_images") or 0) > 0,
            "grading": "rubric_grading" in intents,
            "rewriting": "censorship_rewrite" in intents or "rewriting" in cues,
            "coding": "coding" in cues,
            "agentic": tools or (row.get("n_tool_calls_out") or 0) > 0 or "agentic" in cues,
            "math": "math" in cues,
            "reasoning": bool(intents & {"cot_elicitation", "reasoning_reconstruction"})
            or "max_thinking" in params
            or "reasoning" in cues,
            "creative": "creative" in cues,
            "knowledge": "knowledge" in cues,
            "conversation": (row.get("n_user_turns") or 0) > 1,
            "other": True,
        }
        label: Capability = "other"
        for index, name in enumerate(CAPABILITY_PRIORITY[:-1]):
            if flags[name] and (index != TOOL_CODING or tools):
                label = name
                break
        miss = 1.0
        for finding in (*intents, *params):
            miss *= 1.0 - _WEIGHTS.get(finding, 0.0)
        return Signals(
            surface=str(row["surface"]),
            model=row.get("model"),
            stream=row.get("stream") is True,
            intents=intents,
            params=params,
            capabilities=frozenset(name for name in CAPABILITIES if flags[name]),
            capability=label,
            rule_ids=(*text_ids, *param_ids),
            harness=harness(row),
            template_fp=template_fp(row),
            score=round(1.0 - miss, 6),
        )


def _warm(matcher: OnlineMatcher) -> None:
    """Warm the text rules on the real answers shipped with the package (about 1,700 texts,
    2.5 MB; 0.1 s): a fresh guard then matches as fast as one that has served thousands of
    requests. The answers are model output, not the prompts the rules look for, so the states
    built are those of ordinary text in several languages."""
    try:
        matcher.warm(answer_texts())
    except InputError:  # a package without its corpus: warm up on traffic instead
        return


def harness(row: Mapping[str, Any]) -> str:
    """How the request was built (``hunt.signals`` column ``harness``)."""

    def text(name: str, fallback: str = "") -> str:
        value = row.get(name)
        return fallback if value is None else str(value)

    return "|".join(
        (
            text("surface", "?"),
            text("param_keys"),
            text("max_tokens_field"),
            text("tools_hash"),
            text("user_agent_family"),
            "s" if (row.get("system_chars") or 0) > 0 else "-",
            text("thinking_type"),
            text("reasoning_effort"),
        )
    )


def template_fp(row: Mapping[str, Any]) -> int | None:
    """The prompt's template fingerprint (``hunt.signals`` column ``template_fp``)."""
    long = (row.get("prompt_chars") or 0) > TEMPLATE_LONG_CHARS
    value = row.get("skeleton_fp" if long else "prefix_fp")
    return None if value is None else int(value)
