"""Signals per exchange, as Ibis column expressions over the store.

Nothing here loops over exchanges in Python: every signal is a column expression that the
backend evaluates over the whole table. Text rules already ran at ingest (the store's
``text_rules`` column); parameter rules run here from the same rule files, through the
condition language's Ibis rendering, so the guard (per request) and the hunt (per table)
share one definition.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from ..exchange.text import TEMPLATE_LONG_CHARS
from ..signals.groups import CAPABILITY_PRIORITY, PARAM_GROUPS, TOOL_CODING
from ..signals.rules import INTENTS, RuleSet
from ..types import CAPABILITIES, Capability


@dataclass(frozen=True)
class RuleIds:
    """Rule ids by what they set, taken from the loaded rule corpus (never hard-coded)."""

    intents: Mapping[str, tuple[str, ...]]
    capabilities: Mapping[str, tuple[str, ...]]

    @classmethod
    def of(cls, rules: RuleSet) -> RuleIds:
        intents: dict[str, list[str]] = {name: [] for name in INTENTS}
        capabilities: dict[str, list[str]] = {}
        for rule in rules.text:
            if rule.sets.startswith("cap:"):
                capabilities.setdefault(rule.sets[4:], []).append(rule.id)
            elif rule.sets in intents:
                intents[rule.sets].append(rule.id)
        return cls(
            {k: tuple(v) for k, v in intents.items()},
            {k: tuple(v) for k, v in capabilities.items()},
        )


def _any_rule(t: ir.Table, ids: tuple[str, ...]) -> ir.BooleanValue:
    if not ids:
        return ibis.literal(False)
    hits = [t.text_rules.contains(rule_id) for rule_id in ids]
    result = hits[0]
    for hit in hits[1:]:
        result = result | hit
    return result.fill_null(False)


def exchange_signals(t: ir.Table, rules: RuleSet) -> ir.Table:
    """The store's exchanges with one boolean column per signal and a primary capability.

    Added columns: ``intent_<name>`` for each of ``INTENTS``; ``param_<group>`` for each of
    ``PARAM_GROUPS``; ``cap_<capability>`` flags; ``capability`` (one label per exchange);
    ``template_fp`` (masked opening of the prompt, or its line skeleton for long prompts);
    ``harness`` (the request's construction: surface, parameter names, output-cap field,
    tool schemas, client family, whether a system prompt is set); ``single_turn``; ``epoch``
    (seconds); ``tokens_out``.
    """
    ids = RuleIds.of(rules)
    by_name = {rule.name: rule for rule in rules.param}
    columns: dict[str, ir.Value] = {}
    for intent in INTENTS:
        columns[f"intent_{intent}"] = _any_rule(t, ids.intents.get(intent, ()))
    for group, names in PARAM_GROUPS.items():
        found = [by_name[name].condition.to_ibis(t) for name in names if name in by_name]
        flag = found[0] if found else ibis.literal(False)
        for other in found[1:]:
            flag = flag | other
        columns[f"param_{group}"] = flag

    tools = (t.n_tools.fill_null(0) > 0) | (t.n_tool_results.fill_null(0) > 0)
    tool_calls = t.n_tool_calls_out.fill_null(0) > 0
    cue = {name: _any_rule(t, ids.capabilities.get(name, ())) for name in CAPABILITIES}
    flags: dict[Capability, ir.BooleanValue] = {
        "computer_use": t.computer_tool.fill_null(False),
        "vision": t.n_images.fill_null(0) > 0,
        "grading": columns["intent_rubric_grading"],
        "rewriting": columns["intent_censorship_rewrite"] | cue["rewriting"],
        "coding": cue["coding"],
        "agentic": tools | tool_calls | cue["agentic"],
        "math": cue["math"],
        "reasoning": columns["intent_cot_elicitation"]
        | columns["intent_reasoning_reconstruction"]
        | columns["param_max_thinking"]
        | cue["reasoning"],
        "creative": cue["creative"],
        "knowledge": cue["knowledge"],
        "conversation": t.n_user_turns.fill_null(0) > 1,
        "other": ibis.literal(True),
    }
    for name in CAPABILITIES:
        columns[f"cap_{name}"] = flags[name]
    cases = [
        (flags[name] & tools if index == TOOL_CODING else flags[name], name)
        for index, name in enumerate(CAPABILITY_PRIORITY[:-1])
    ]
    label = ibis.cases(*cases, else_="other")
    columns["capability"] = label

    columns["template_fp"] = ibis.ifelse(
        t.prompt_chars.fill_null(0) > TEMPLATE_LONG_CHARS, t.skeleton_fp, t.prefix_fp
    )
    columns["harness"] = ibis.literal("|").join(
        [
            t.surface.fill_null("?"),
            t.param_keys.fill_null(""),
            t.max_tokens_field.fill_null(""),
            t.tools_hash.cast("string").fill_null(""),
            t.user_agent_family.fill_null(""),
            ibis.ifelse(t.system_chars.fill_null(0) > 0, "s", "-"),
            t.thinking_type.fill_null(""),
            t.reasoning_effort.fill_null(""),
        ]
    )
    columns["single_turn"] = (t.n_user_turns.fill_null(0) <= 1) & ~t.continues.fill_null(False)
    columns["epoch"] = t.ts.epoch_seconds().cast("float64").floor().cast("int64")
    columns["tokens_out"] = t.output_tokens.fill_null(0) + t.reasoning_tokens.fill_null(0)
    return t.mutate(**columns)
