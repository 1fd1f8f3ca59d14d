"""Distillation campaigns: what each wants, how much, through which channels and harnesses.

Four campaigns, modelled on publicly reported ones: (A) chain-of-thought elicitation,
reasoning reconstruction, rubric grading and censorship-safe rewrites, partly in Chinese,
in lockstep waves; (B) agentic reasoning, tool use, coding and vision over accounts of many
kinds; (C) agentic coding at the largest volume, moving to a new model within hours of its
release; (D) plain reasoning-trace harvesting. Accounts come through proxy resellers
("hydra clusters" that also carry real customers' requests) and through education,
research and startup programs.

How operators build accounts at each evasion level is in ``operators``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Final

from ..types import Capability
from .harness import Harness, coding_harnesses, harness
from .templates import AGENT_SYSTEM, REASONING_SYSTEM, pick
from .wire import Params


@dataclass(frozen=True, slots=True)
class Spec:
    id: str
    actor: str
    accounts: int  # at scale 1
    exchanges: int  # at scale 1, per reference period
    mix: tuple[tuple[str, float], ...]
    channels: tuple[tuple[str, float], ...]
    timing: str  # at evasion 0 and 1
    clients: tuple[str, ...]  # the operator's own client libraries (evasion 0 to 2)
    models: tuple[tuple[str, float], ...]
    adoption: str
    lang_zh: float
    extra: tuple[tuple[str, float], ...]
    capability: Capability  # what the campaign is after: its largest share of exchanges


SPECS: Final = (
    Spec(
        "A-reasoning",
        "tern",
        300,
        150_000,
        (("asks", 1.0),),
        (("reseller", 0.3), ("education", 0.4), ("standard", 0.3)),
        "wave",
        ("go",),
        (("vela-3-reasoner", 0.7), ("vela-3", 0.3)),
        "early",
        0.45,
        (("steps", 8.0), ("cot", 0.45), ("reconstruct", 0.25), ("grade", 0.15), ("rewrite", 0.15)),
        "reasoning",
    ),
    Spec(
        "B-agentic",
        "heron",
        900,
        3_400_000,
        (
            ("tool_task", 0.28),
            ("agent_task", 0.1),
            ("vision", 0.2),
            ("computer", 0.08),
            ("agent_loop", 0.22),
            ("asks", 0.12),
        ),
        (
            ("reseller", 0.35),
            ("startup", 0.2),
            ("research", 0.15),
            ("enterprise", 0.1),
            ("standard", 0.2),
        ),
        "poisson",
        ("openai-python", "anthropic-python"),
        (("vela-3", 0.6), ("vela-3-reasoner", 0.4)),
        "early",
        0.1,
        (("steps", 8.0), ("explain", 1.0), ("images", 300.0), ("cot", 0.7), ("grade", 0.3)),
        "agentic",
    ),
    Spec(
        "C-coding",
        "kite",
        22_500,
        13_000_000,
        (("agent_loop", 1.0),),
        (("reseller", 0.6), ("startup", 0.15), ("standard", 0.25)),
        "regular",
        ("aiohttp",),
        (("vela-3", 0.7), ("vela-3-reasoner", 0.3)),
        "pivot",
        0.0,
        (("steps", 14.0), ("explain", 1.0), ("wrap", 1.0)),
        "coding",
    ),
    Spec(
        "D-traces",
        "plover",
        300,
        100_000,
        (("harvest", 1.0),),
        (("reseller", 0.4), ("research", 0.3), ("standard", 0.3)),
        "wave",
        ("requests",),
        (("vela-3-reasoner", 1.0),),
        "early",
        0.2,
        (("steps", 6.0),),
        "reasoning",
    ),
)
MIN_ACCOUNTS: Final = 6
SPREAD: Final = 3.0  # evasion 2: the same volume over this many times more accounts
_OPERATOR_COUNTRIES: Final = ("SG", "HK", "US", "JP", "KR", "TW", "GB")


def kit(spec: Spec, evasion: int, rng: random.Random) -> tuple[Harness, ...]:
    """The operator's harnesses; at evasion 3 the system prompts vary per account."""
    if spec.id.startswith("A"):
        system = pick(REASONING_SYSTEM[1], rng) if evasion >= 3 else REASONING_SYSTEM[0]
        return (
            harness(
                "openai.chat",
                system,
                Params(
                    max_tokens=32768,
                    temperature=0.6,
                    effort="high",
                    max_key="max_completion_tokens",
                ),
            ),
            harness("anthropic.messages", system, Params(max_tokens=64000, thinking=32000)),
        )
    if spec.id.startswith("B"):
        system = pick(AGENT_SYSTEM[1], rng) if evasion >= 3 else AGENT_SYSTEM[0]
        chat = Params(temperature=0.3, max_tokens=8192, tool_choice="auto", effort="high")
        claude = Params(max_tokens=16000, thinking=8000)
        return (
            harness("openai.chat", system, chat),
            harness("openai.chat", system, chat, "sandbox"),
            harness(
                "openai.responses",
                system,
                Params(effort="high", summary="detailed", max_tokens=16000),
            ),
            harness("anthropic.messages", system, claude),
            harness("anthropic.messages", system, claude, "sandbox"),
        )
    if spec.id.startswith("C"):
        if evasion >= 3:  # dressed as the most common coding CLI, thinking left on
            cli = coding_harnesses()["cli"]
            return (replace(cli, params=cli.params._replace(thinking=16000)),)
        system = (
            "You are an autonomous software engineering agent working in a sandboxed "
            "repository. Complete the task end to end. Explain your reasoning in detail "
            "before every action."
        )
        return (
            harness(
                "anthropic.messages",
                system,
                Params(max_tokens=32000, thinking=16000, stream=True),
                "sandbox",
                cap=16,
            ),
            harness(
                "openai.chat",
                system,
                Params(max_tokens=16384, temperature=0.2, effort="high"),
                "sandbox",
                cap=16,
            ),
        )
    return (
        harness(
            "openai.responses",
            None,
            Params(effort="high", summary="detailed", store=False, max_tokens=100000),
        ),
        harness("openai.chat", None, Params(effort="high", max_tokens=65536)),
        harness("anthropic.messages", None, Params(max_tokens=64000, thinking=63999)),
    )
