"""Signals computed at ingest, while the text is at hand: the text rules.

``TextSignals`` is what ``distillguard ingest`` hands to the reader as its annotator: for
each parsed chunk it runs the text rules over the prompt and system prompt columns (the
column engine) and fills ``text_rules``; the reader then drops the texts unless the user
keeps them. Everything else the hunt needs is computed later from the stored columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pyarrow as pa

from .match import ColumnMatcher
from .rules import RuleSet, load


@lru_cache(maxsize=4)
def _rules(paths: tuple[str, ...] | None) -> RuleSet:
    return load(None if paths is None else [Path(p) for p in paths])


@lru_cache(maxsize=4)
def _matcher(paths: tuple[str, ...] | None) -> ColumnMatcher:
    """One matcher per rule set and process: what it learnt carries over between chunks."""
    return ColumnMatcher(_rules(paths).text)


@dataclass(frozen=True, slots=True)
class TextSignals:
    """Fills ``text_rules``; picklable, so it runs in ingest's worker processes."""

    rule_files: tuple[str, ...] | None = None
    """Rule files to use instead of the shipped corpus."""

    def __call__(self, table: pa.Table) -> pa.Table:
        matcher = _matcher(self.rule_files)
        fired = matcher.match(table.column("prompt_text"), table.column("system_text"))
        index = table.schema.get_field_index("text_rules")
        return table.set_column(index, table.schema.field(index), fired)
