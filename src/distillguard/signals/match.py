"""Text rules, executed two ways: per request (RE2 through ``google-re2``) and per column
(Arrow's RE2).

Both engines see the same text: lower-cased, and for long texts only the first
``HEAD_CHARS`` and last ``TAIL_CHARS`` characters joined by a newline (instructions sit at the
ends of a prompt; bounding the text bounds the cost). Both run RE2 (linear time, no
backtracking: Python's ``re`` took ten times as long on the rule corpus's alternations), on
the rule subset that Python's ``re`` reads alike too (see ``rules``);
``tests/test_rules.py`` runs both engines over the same real prompts and requires the same
result. Known difference: lower-casing of a few characters (Turkish dotted
capital I, Greek final sigma) differs between Python and Arrow.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc
import re2

from .rules import TextRule

HEAD_CHARS: Final = 2000
TAIL_CHARS: Final = 1000
_MEMO_CHARS: Final = 8 * 1024 * 1024  # texts remembered by a ColumnMatcher, in characters
MEMO_ENTRIES: Final = 4096  # system prompts remembered by an OnlineMatcher
SET_MEMORY: Final = 64 << 20  # bytes of DFA cache for one rule set


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
    """Runs text rules on one request's prompt and system prompt.

    The rules of each target run as one ``re2.Set`` and one ``re2.Filter`` (see ``_RuleSet``):
    a pass of each over the text finds every rule that fires. A pattern per rule took about
    75 µs a prompt on real prompts; the two passes take about 3 µs at the median once the
    set's DFA has the states that text needs (RE2 builds them lazily and keeps them, so the
    rules' own examples are run once at start). ``Set.Match`` cannot tell "no match" from
    a DFA failure, but a set's DFA never gives up: when its cache fills it is flushed and
    rebuilt (RE2 turns the slow-DFA bail-out off for sets, which have no fallback), and the
    only remaining failure, a single state too big for an empty cache, is ruled out when the
    set compiles. ``SET_MEMORY`` only bounds how often the cache is rebuilt.

    System prompts repeat (one per product or harness): what the rules found in one is
    remembered, up to ``MEMO_ENTRIES`` of them.
    """

    def __init__(self, rules: Sequence[TextRule]) -> None:
        self._order = {rule.id: i for i, rule in enumerate(rules)}
        self._prompt = _RuleSet([rule for rule in rules if rule.target == "prompt"])
        self._system = _RuleSet([rule for rule in rules if rule.target == "system"])
        self._systems: dict[str, list[str]] = {}
        # builds the states every rule's own examples need, up front
        self.warm(text for rule in rules for text in (*rule.fire, *rule.silent))

    def warm(self, texts: Iterable[str]) -> None:
        """Run the prompt rules over ``texts`` and forget the results: the DFA states real
        text needs are built now instead of on the first few thousand requests (RE2 keeps
        them; building one costs more than scanning a prompt with the states it has)."""
        for text in texts:
            self._prompt.ids(clip(text))

    def match(self, prompt: str, system: str = "") -> list[str]:
        """Ids of the rules that fire, in rule order."""
        fired = self._prompt.ids(clip(prompt))
        if self._system:
            known = self._systems.get(system)
            if known is None:
                known = self._system.ids(clip(system))
                if len(self._systems) >= MEMO_ENTRIES:
                    self._systems.clear()
                self._systems[system] = known
            if known:
                fired = sorted([*fired, *known], key=self._order.__getitem__)
        return fired


_GAP: Final = re.compile(r"\{\d*,\d+\}")
"""A bounded repetition, as in ``rewrite[^.]{0,100}censor``."""


class _RuleSet:
    """Rules of one target, compiled for one pass each of two RE2 engines.

    A rule fires when any of its patterns matches (its regex is their alternation). Patterns
    without bounded gaps run as one ``re2.Set``. Patterns with them (``A[^.]{0,100}B``) would
    make that set's lazy DFA track every recent ``A`` across all rules at once: its states
    multiply, the DFA cache keeps being rebuilt, and long prompts took up to 0.7 ms. They run
    through ``re2.Filter`` (RE2's FilteredRE2) instead: one pass over the text finds the
    literal atoms each pattern needs (texts are already lower-cased, as the atoms are), and
    only the patterns whose atoms are all there run, each on its own. Both report exact
    matches, so a rule fires here exactly when its alternation matches.
    """

    def __init__(self, rules: Sequence[TextRule]) -> None:
        self._ids = [rule.id for rule in rules]
        self._set: re2.Set | None = None
        self._set_rule: list[int] = []  # rule index of each pattern in the set
        self._filter: re2.Filter | None = None
        self._filter_rule: list[int] = []
        options = re2.Options()
        options.log_errors = False
        set_options = re2.Options()
        set_options.log_errors = False
        set_options.max_mem = SET_MEMORY
        for index, rule in enumerate(rules):
            for pattern in rule.patterns:
                if _GAP.search(pattern):
                    if self._filter is None:
                        self._filter = re2.Filter()
                    self._filter.Add(pattern, options)
                    self._filter_rule.append(index)
                else:
                    if self._set is None:
                        self._set = re2.Set.SearchSet(set_options)
                    self._set.Add(pattern)
                    self._set_rule.append(index)
        if self._set is not None:
            self._set.Compile()
        if self._filter is not None:
            self._filter.Compile()

    def __bool__(self) -> bool:
        return bool(self._ids)

    def ids(self, text: str) -> list[str]:
        """Ids of the rules that fire on ``text`` (clipped), in rule order."""
        data = text.encode()
        fired: set[int] = set()
        if self._set is not None:
            hits = self._set.Match(data)
            if hits:
                fired.update(self._set_rule[i] for i in hits)
        if self._filter is not None:
            hits = self._filter.Match(data)
            if hits:
                fired.update(self._filter_rule[i] for i in hits)
        return [self._ids[i] for i in sorted(fired)] if fired else []


def match_columns(
    rules: Sequence[TextRule],
    prompt: pa.Array | pa.ChunkedArray,
    system: pa.Array | pa.ChunkedArray,
) -> pa.Array:
    """Ids of the rules that fire on each row, as a ``list<string>`` column (rule order)."""
    return ColumnMatcher(rules).match(prompt, system)


class ColumnMatcher:
    """Runs text rules over columns of prompts and system prompts, chunk after chunk.

    Texts repeat (one system prompt per product, prompts resent by scripts and eval runs):
    each rule runs once per distinct text of a chunk, and what it found is remembered for
    the next chunks (up to a bound), so rows take the result of their text.
    """

    def __init__(self, rules: Sequence[TextRule]) -> None:
        self._rules = list(rules)
        self._ids: dict[int, list[str]] = {}
        self._seen: dict[str, dict[str, int]] = {"prompt": {}, "system": {}}
        self._chars = 0

    def match(
        self, prompt: pa.Array | pa.ChunkedArray, system: pa.Array | pa.ChunkedArray
    ) -> pa.Array:
        fired = [0] * len(prompt)  # per row, a bit per rule that fires
        for target, column in (("prompt", prompt), ("system", system)):
            targeted = [
                (1 << bit, rule) for bit, rule in enumerate(self._rules) if rule.target == target
            ]
            if not targeted:
                continue
            texts = pc.fill_null(column, "")
            distinct = pc.unique(texts)
            per_text = self._bits(target, targeted, distinct)
            positions = pc.index_in(texts, value_set=distinct).to_pylist()
            fired = [bits | per_text[i] for bits, i in zip(fired, positions, strict=True)]
        return pa.array([self._ids_of(bits) for bits in fired], type=pa.list_(pa.string()))

    def _bits(
        self, target: str, targeted: list[tuple[int, TextRule]], distinct: pa.Array
    ) -> list[int]:
        """The rules (as bits) that fire on each distinct text."""
        seen = self._seen[target]
        values: list[str] = distinct.to_pylist()
        per_text = [seen.get(value, -1) for value in values]
        new = [i for i, bits in enumerate(per_text) if bits < 0]
        if not new:
            return per_text
        for i in new:
            per_text[i] = 0
        clipped = clip_array(distinct.take(pa.array(new, type=pa.int64())))
        for bit, rule in targeted:
            hits = pc.match_substring_regex(clipped, rule.regex)
            for j in pc.indices_nonzero(hits).to_pylist():
                per_text[new[j]] |= bit
        if self._chars > _MEMO_CHARS:
            for memo in self._seen.values():
                memo.clear()
            self._chars = 0
        for i in new:
            seen[values[i]] = per_text[i]
            self._chars += len(values[i])
        return per_text

    def _ids_of(self, bits: int) -> list[str]:
        ids = self._ids.get(bits)
        if ids is None:
            ids = self._ids[bits] = [
                rule.id for bit, rule in enumerate(self._rules) if bits >> bit & 1
            ]
        return ids
