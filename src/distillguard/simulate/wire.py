"""The neutral conversation a session builds, and the base of the surface shapes.

A session talks to a ``Wire``: it adds user turns, the model's replies and tool results in
a neutral form, and the wire keeps the conversation in its surface's own shape (OpenAI Chat
Completions, OpenAI Responses, Anthropic Messages), so each step only renders what is new.
Long agent conversations are windowed (first user turn plus the latest rounds), the way
agent harnesses compact their context.
"""

from __future__ import annotations

import random
from typing import Any, Final, NamedTuple

import orjson

from ..types import Surface
from .corpus import tokens
from .ids import b58, b62
from .models import Model

JSON = dict[str, Any]
COMPUTER: Final = "computer"  # the computer-use tool: actions in, screenshots out


class Call(NamedTuple):
    id: str
    name: str
    args: JSON


class Reply(NamedTuple):
    """What the model produced, before it is put in a surface's shape."""

    text: str | None
    reasoning: str | None = None
    calls: tuple[Call, ...] = ()
    finish: str = "stop"  # stop, length, tool_calls
    out_tokens: int = 0
    reasoning_tokens: int = 0
    choices: int = 1


class Params(NamedTuple):
    """Request parameters, named neutrally; each wire writes the ones its API has."""

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stream: bool = False
    effort: str | None = None
    thinking: int | None = None
    n: int | None = None
    top_logprobs: int | None = None
    json_mode: bool = False
    tool_choice: str | None = None
    summary: str | None = None
    store: bool | None = None
    include_usage: bool = True
    max_key: str = "max_tokens"
    top_k: int | None = None


def call_id(surface: Surface, rng: random.Random) -> str:
    if surface == "anthropic.messages":
        return "toolu_01" + b58(rng, 22)
    return "call_" + b62(rng, 24)


class Wire:
    """A conversation in one surface's shape; subclasses know the shape."""

    surface: Surface

    def __init__(
        self, system: str | None, tools: orjson.Fragment | None, tool_tokens: int, cap: int = 14
    ) -> None:
        self.system = system
        self.tools = tools
        self.msgs: list[JSON] = []
        self.toks: list[int] = []
        self.rounds: list[int] = []
        self.head = 0
        self.cap = cap
        self.fixed_tokens = tool_tokens + (tokens(system) if system else 0) + 3
        self.last_input = 0

    def _add(self, msg: JSON, n: int) -> None:
        self.msgs.append(msg)
        self.toks.append(n + 4)

    def _mark_round(self) -> None:
        if not self.head:
            self.head = len(self.msgs)
        self.rounds.append(len(self.msgs))

    def window(self) -> tuple[list[JSON], int]:
        """The messages a harness would send now, and their token count."""
        msgs, toks = self.msgs, self.toks
        if len(msgs) <= self.cap or not self.rounds:
            # A copy: the caller serialises it after the conversation has moved on.
            return msgs[:], self.fixed_tokens + sum(toks)
        tail = len(msgs) - self.cap + self.head
        start = next((r for r in self.rounds if r >= tail), self.rounds[-1])
        return msgs[: self.head] + msgs[start:], self.fixed_tokens + sum(toks[: self.head]) + sum(
            toks[start:]
        )

    def cached(self, input_tokens: int) -> int:
        """Prompt-cache hit: the previous request's prompt is a prefix of this one."""
        hit = self.last_input if self.last_input <= input_tokens else 0
        self.last_input = input_tokens
        return (hit // 128) * 128 if hit >= 1024 else 0

    def user(self, text: str, images: tuple[str, ...] = ()) -> None:
        raise NotImplementedError

    def assistant(self, reply: Reply, model: Model) -> None:
        raise NotImplementedError

    def results(self, outputs: list[tuple[Call, str]]) -> None:
        raise NotImplementedError

    def request(self, model: str, p: Params, end_user: str | None) -> tuple[JSON, int]:
        raise NotImplementedError

    def response(
        self,
        reply: Reply,
        model: Model,
        created: int,
        input_tokens: int,
        p: Params,
        rng: random.Random,
    ) -> JSON:
        raise NotImplementedError


def _variant(text: str | None, i: int) -> str | None:
    """Another sample for n > 1: same material, paragraphs in another order."""
    if not text or i == 0:
        return text
    parts = text.split("\n\n")
    k = i % len(parts)
    return "\n\n".join(parts[k:] + parts[:k])


def _args(args: JSON) -> str:
    return orjson.dumps(args).decode()


_ALTERNATIVES = (
    "the",
    "a",
    "and",
    "to",
    "is",
    "1",
    "2",
    "3",
    "4",
    "5",
    "6",
    "7",
    "8",
    "9",
    "10",
    "A",
    "B",
    " yes",
    " no",
    ".",
    ",",
    "\n",
)


def _alternatives(piece: str) -> tuple[str, ...]:
    if piece.isdigit():
        return tuple("0123456789")
    if len(piece) == 1 and piece.isupper():
        return tuple("ABCDE")
    return _ALTERNATIVES


def logprobs(text: str, top: int, rng: random.Random) -> list[JSON]:
    """Token log-probabilities as Chat Completions returns them (short outputs only)."""
    out = []
    pieces = [text[i : i + 4] for i in range(0, min(len(text), 256), 4)]
    for piece in pieces:
        lp = -(rng.random() ** 3) * 2.5
        entry: JSON = {
            "token": piece,
            "logprob": round(lp, 6),
            "bytes": list(piece.encode()),
            "top_logprobs": [],
        }
        if top:
            # Near-misses of the same kind first (other digits for a score), then anything.
            same = rng.sample(_alternatives(piece), len(_alternatives(piece)))
            rest = rng.sample(_ALTERNATIVES, len(_ALTERNATIVES))
            alts = list(dict.fromkeys((piece, *same, *rest)))[:top]
            entry["top_logprobs"] = [
                {
                    "token": a,
                    "logprob": round(lp - 1.5 * k - rng.random(), 6),
                    "bytes": list(a.encode()),
                }
                if k
                else {"token": a, "logprob": round(lp, 6), "bytes": list(a.encode())}
                for k, a in enumerate(alts)
            ]
        out.append(entry)
    return out
