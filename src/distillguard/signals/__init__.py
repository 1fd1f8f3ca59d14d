"""Per-exchange signals, compiled from the rule files: one definition, two engines."""

from .annotate import TextSignals
from .match import OnlineMatcher, match_columns
from .rules import RuleSet, load

__all__ = ["OnlineMatcher", "RuleSet", "TextSignals", "load", "match_columns"]
