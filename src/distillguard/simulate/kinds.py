"""The session kinds an account's mix names, and how many exchanges each makes on average.

The averages turn an account's exchanges-per-day into sessions-per-day for the schedule.
"""

from __future__ import annotations

from functools import cache
from typing import Final

from .accounts import Traffic
from .agentic import agent_loop, agent_task, computer, tool_task
from .asks import asks, harvest
from .chats import chatter, classroom, dialogue, single, vision
from .corpus import load
from .jobs import batch, eval_run
from .session import Gen

KINDS: Final[dict[str, Gen]] = {
    "single": single,
    "dialogue": dialogue,
    "chatter": chatter,
    "vision": vision,
    "classroom": classroom,
    "tool_task": tool_task,
    "agent_task": agent_task,
    "agent_loop": agent_loop,
    "computer": computer,
    "batch": batch,
    "eval_run": eval_run,
    "asks": asks,
    "harvest": harvest,
}


@cache
def _corpus_means() -> tuple[float, float, float]:
    """Mean exchanges of a dialogue, a tool task and an agent task in the shipped corpus."""
    corpus = load()
    turns = [min(8, sum(t.role == "user" for t in p.turns)) for p in corpus.kind("multi_turn")]
    tools = corpus.kind("function_calling")
    tasks = corpus.kind("agent_task")
    return (
        sum(turns) / len(turns),
        1.0 + sum(p.calls_expected for p in tools) / len(tools),
        2.0 * sum(len(p.turns) for p in tasks) / len(tasks),
    )


def _steps(traffic: Traffic, default: float, lo: float) -> float:
    return max(lo, traffic.extra.get("steps", default))


def mean_length(kind: str, traffic: Traffic) -> float:
    """Expected exchanges in one session of ``kind`` for an account with ``traffic``."""
    dialogue_len, tool_len, task_len = _corpus_means()
    if kind == "single":
        return 1.3
    if kind == "dialogue":
        return dialogue_len
    if kind == "chatter":
        return 0.3 * dialogue_len + 0.7 * 1.3
    if kind == "vision":
        return 1.0
    if kind == "classroom":
        return 1.6
    if kind == "tool_task":
        return tool_len
    if kind == "agent_task":
        return task_len
    if kind == "agent_loop":
        return (1.0 if traffic.machine else 1.3) * _steps(traffic, 10.0, 2.0)
    if kind == "computer":
        return 7.0
    if kind == "batch":
        return _steps(traffic, 30.0, 3.0)
    if kind == "eval_run":
        return _steps(traffic, 40.0, 5.0)
    return _steps(traffic, 4.0, 1.0)  # asks, harvest


def mean_session(traffic: Traffic) -> float:
    """Expected exchanges per session over the account's mix."""
    total = sum(w for _, w in traffic.mix) or 1.0
    return sum(w * mean_length(k, traffic) for k, w in traffic.mix) / total
