"""Harnesses: the client program behind an account's requests.

A harness fixes what detection calls a harness fingerprint: the surface, the parameter set,
the system prompt, the tool schemas and the message layout. Many unrelated customers share
a popular one (every user of the same coding CLI looks alike on this axis); a campaign's
accounts share its operator's.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Any, Final

import orjson

from ..types import Surface
from .agents import TOOLSETS
from .corpus import tokens
from .surfaces import tool_fragment
from .wire import Params

JSON = dict[str, Any]
PLAIN: Final = Params()


@dataclass(frozen=True, slots=True)
class Harness:
    surface: Surface
    system: str | None = None
    params: Params = PLAIN
    toolset: str = ""  # key into agents.TOOLSETS; "" = tools come with the task, if any
    flavour: str = ""  # layout habits, see surfaces.make_wire
    cap: int = 14  # messages kept before the context is compacted
    fragment: orjson.Fragment | None = None
    tool_tokens: int = 0
    roles: tuple[str, ...] = ()

    def with_system(self, system: str | None) -> Harness:
        return replace(self, system=system)


def harness(
    surface: Surface,
    system: str | None = None,
    params: Params | None = None,
    toolset: str = "",
    flavour: str = "",
    cap: int = 14,
) -> Harness:
    """A harness with its tool list serialised once for its surface."""
    fragment, tool_tokens, roles = None, 0, tuple[str, ...]()
    if toolset:
        tools = tuple(t for t, _ in TOOLSETS[toolset])
        roles = tuple(r for _, r in TOOLSETS[toolset])
        fragment = tool_fragment(tools, surface)
        tool_tokens = tokens(orjson.dumps(tools).decode())
    return Harness(
        surface, system, params or Params(), toolset, flavour, cap, fragment, tool_tokens, roles
    )


def jittered(p: Params, rng: random.Random) -> Params:
    """Per-request parameter noise (evasion 3): no two requests share an exact set."""
    temperature = (
        None
        if p.temperature is None
        else round(min(1.5, max(0.0, p.temperature + rng.uniform(-0.3, 0.3))), 2)
    )
    max_tokens = None if p.max_tokens is None else int(p.max_tokens * rng.uniform(0.25, 1.0))
    return p._replace(
        temperature=temperature,
        max_tokens=max_tokens,
        top_p=rng.choice((None, None, 0.9, 0.95, 1.0)),
    )


# Popular coding-agent harnesses that many unrelated developers run.
def coding_harnesses() -> dict[str, Harness]:
    cli_system = (
        "You are an interactive CLI tool that helps users with software engineering "
        "tasks. Use the tools available to you to read, search and edit code and to "
        "run commands. Keep your responses short. Never commit changes unless the "
        "user asks you to. When you finish, summarise what you changed."
    )
    return {
        "cli": harness(
            "anthropic.messages",
            cli_system,
            Params(max_tokens=32000, temperature=1.0, stream=True),
            "cli",
            "cache",
            cap=18,
        ),
        "ide": harness(
            "anthropic.messages",
            "You are a highly skilled software engineer with extensive knowledge in "
            "many programming languages. You work inside the user's editor. Use one "
            "tool per message and wait for its result before continuing.",
            Params(max_tokens=8192, temperature=0.0, stream=True),
            "ide",
            "cache",
            cap=16,
        ),
        "codex": harness(
            "openai.responses",
            "You are a coding agent running in a terminal. Keep going until the "
            "user's query is completely resolved. Use apply_patch to edit files.",
            Params(effort="medium", summary="auto", store=False, stream=True),
            "codex",
            "typed",
            cap=20,
        ),
        "inhouse": harness(
            "openai.chat",
            "You are DevBot, our internal engineering assistant. Follow the "
            "team's conventions in CONTRIBUTING.md. Use the tools to inspect "
            "and change the repository.",
            Params(
                temperature=0.2,
                max_tokens=4096,
                tool_choice="auto",
                max_key="max_completion_tokens",
            ),
            "inhouse",
            cap=12,
        ),
    }
