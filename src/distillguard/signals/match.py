"""Text rules, executed two ways: per request (Python ``re``) and per column (Arrow, RE2).

Both engines see the same text: lower-cased, and for long texts only the first
``HEAD_CHARS`` and last ``TAIL_CHARS`` characters joined by a newline (instructions sit at the
ends of a prompt; bounding the text bounds the cost). The rule subset (see ``rules``) is read
alike by both regex engines; ``tests/test_rules.py`` runs both over the same real prompts and
requires the same result. Known difference: lower-casing of a few characters (Turkish dotted
capital I, Greek final sigma) differs between Python and Arrow.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc

from .rules import TextRule

HEAD_CHARS: Final = 2000
TAIL_CHARS: Final = 1000


def clip(text: str) -> str:
    """The part of a text that rules look at, lower-cased."""
    if len(text) > HEAD_CHARS + TAIL_CHARS:
        text = text[:HEAD_CHARS] + "\n" + text[-TAIL_CHARS:]
    return text.lower()


def clip_array(texts: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """``clip`` for a whole string column."""
    long = pc.greater(pc.utf8_length(texts), HEAD_CHARS + TAIL_CHARS)
    if pc.any(long).as_py():
        joined = pc.binary_join_element_wise(
            pc.utf8_slice_codeunits(texts, 0, HEAD_CHARS),
            pc.utf8_slice_codeunits(texts, -TAIL_CHARS),
            pa.scalar("\n", type=texts.type),
        )
        texts = pc.if_else(long, joined, texts)
    return pc.utf8_lower(texts)


class OnlineMatcher:
    """Runs text rules on one request's prompt and system prompt."""

    def __init__(self, rules: Sequence[TextRule]) -> None:
        self._rules = [(rule, re.compile(rule.regex)) for rule in rules]

    def match(self, prompt: str, system: str = "") -> list[str]:
        """Ids of the rules that fire, in rule order."""
        texts = {"prompt": clip(prompt), "system": clip(system)}
        return [rule.id for rule, regex in self._rules if regex.search(texts[rule.target])]


def match_columns(
    rules: Sequence[TextRule],
    prompt: pa.Array | pa.ChunkedArray,
    system: pa.Array | pa.ChunkedArray,
) -> pa.Array:
    """Ids of the rules that fire on each row, as a ``list<string>`` column (rule order)."""
    n = len(prompt)
    columns = {
        "prompt": clip_array(pc.fill_null(prompt, "")),
        "system": clip_array(pc.fill_null(system, "")),
    }
    fired: list[list[str]] = [[] for _ in range(n)]
    for rule in rules:
        hits = pc.match_substring_regex(columns[rule.target], rule.regex)
        for i in pc.indices_nonzero(hits).to_pylist():
            fired[i].append(rule.id)
    return pa.array(fired, type=pa.list_(pa.string()))
