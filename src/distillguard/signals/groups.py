"""How per-exchange findings are grouped, shared by both engines (hunt and guard)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from ..types import Capability

PARAM_GROUPS: Final[Mapping[str, tuple[str, ...]]] = {
    "logprobs": ("logprobs_requested", "many_top_logprobs"),
    "multi_sample": ("multiple_completions",),
    "max_output": ("saturated_max_tokens", "output_truncated_at_cap"),
    "max_thinking": ("maximal_thinking_budget", "high_reasoning_effort"),
}
"""Parameter rules by the reason they support (names as in rules/params.toml)."""

# When one exchange shows several capabilities, one label wins, in this order: what the
# exchange does (drives a computer, looks at images, runs tools: coding when the tool loop is
# about code), then what it elicits (grades, rewrites, step-by-step reasoning), then its
# topic. A math problem asked for with "show your reasoning" is reasoning; a coding agent
# loop is coding.
CAPABILITY_PRIORITY: Final[tuple[Capability, ...]] = (
    "computer_use",
    "vision",
    "coding",  # only with tools (TOOL_CODING)
    "agentic",
    "grading",
    "rewriting",
    "reasoning",
    "coding",
    "math",
    "creative",
    "knowledge",
    "conversation",
    "other",
)
TOOL_CODING: Final = 2
"""Index in ``CAPABILITY_PRIORITY`` of the entry that counts only when tools are in play."""
