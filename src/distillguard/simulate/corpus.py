"""The simulator's view of the package's corpus (``distillguard.corpus``): real prompts,
answers and tool schemas, loaded once per process and shared read-only by every generator.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from ..corpus import lines

_FENCE = re.compile(r"```([A-Za-z0-9_+#-]*)\n(.*?)```", re.DOTALL)


def tokens(text: str) -> int:
    """A tokenizer-free token estimate: ~4 ASCII chars per token, ~1 token per CJK char."""
    n = len(text)
    if text.isascii():
        return n // 4 + 1
    extra = len(text.encode("utf-8", "surrogatepass")) - n
    return n // 4 + extra // 3 + 1


@dataclass(frozen=True, slots=True)
class Turn:
    role: str
    text: str | None


@dataclass(frozen=True, slots=True)
class Prompt:
    """One real prompt; ``answer`` is its real answer where the source has one."""

    kind: str
    text: str
    source: str
    lang: str
    answer: str | None = None
    input: str | None = None
    tools: int | None = None
    calls_expected: bool = True
    system: str | None = None
    turns: tuple[Turn, ...] = ()
    functions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Snippet:
    """A fenced code block from a real answer: stands in for files an agent reads."""

    lang: str
    code: str


@dataclass(frozen=True, slots=True)
class Corpus:
    by_kind: dict[str, tuple[Prompt, ...]]
    answers: dict[str, tuple[str, ...]]
    toolsets: tuple[tuple[dict[str, Any], ...], ...]
    snippets: tuple[Snippet, ...]
    foreign: tuple[Prompt, ...]
    """Single-turn prompts not in English (Chinese, Russian, Japanese, Korean)."""
    sensitive: tuple[str, ...]
    """Opening requests of red-team conversations: what censorship-safe rewrites are asked of."""

    def kind(self, name: str) -> tuple[Prompt, ...]:
        return self.by_kind[name]


@cache
def load() -> Corpus:
    answer_rows = list(lines("answers.jsonl.gz"))
    toolsets = tuple(tuple(row["tools"]) for row in lines("toolsets.jsonl.gz"))
    by_kind: dict[str, list[Prompt]] = {}
    for row in lines("prompts.jsonl.gz"):
        answer = row.get("answer")
        prompt = Prompt(
            kind=row["kind"],
            text=row["text"],
            source=row["source"],
            lang=row["lang"],
            answer=None if answer is None else answer_rows[answer]["text"],
            input=row.get("input"),
            tools=row.get("tools"),
            calls_expected=row.get("calls_expected", True),
            system=row.get("system"),
            turns=tuple(Turn(t["role"], t["text"]) for t in row.get("turns", ())),
            functions=tuple(row.get("functions", ())),
        )
        by_kind.setdefault(prompt.kind, []).append(prompt)
    answers: dict[str, list[str]] = {}
    snippets: list[Snippet] = []
    for row in answer_rows:
        answers.setdefault(row["kind"], []).append(row["text"])
        for lang, code in _FENCE.findall(row["text"]):
            if 80 <= len(code) <= 2400:
                snippets.append(Snippet(lang or "text", code))
    foreign = tuple(
        p
        for kind in ("math", "coding", "creative", "chat", "knowledge", "reasoning")
        for p in by_kind.get(kind, ())
        if p.lang != "en"
    )
    return Corpus(
        by_kind={k: tuple(v) for k, v in by_kind.items()},
        answers={k: tuple(v) for k, v in answers.items()},
        toolsets=toolsets,
        snippets=tuple(snippets),
        foreign=foreign,
        sensitive=tuple(
            p.text for p in by_kind.get("multi_turn", ()) if p.source.startswith("hh_rlhf")
        ),
    )
