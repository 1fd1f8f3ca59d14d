"""Detection content as data: load, validate and hold the rule files.

Rule files are TOML under ``distillguard/rules/``. Every rule has an ``id`` that is never
reused, a ``name``, a ``description``, a ``severity`` and fixtures it must fire on and stay
silent on. Three kinds:

``text``
    Patterns matched against the lower-cased prompt (the last user message) or the system
    prompt; ``sets`` names the intent or capability it signals. Patterns are regular
    expressions in the subset that Python's ``re`` and RE2 (Arrow, DuckDB) read alike: no
    look-around, no back-references, no ``\\b \\w \\d \\s`` classes (their Unicode meaning
    differs between the two engines) and no upper-case letters (text is lower-cased first).
``param``
    A condition (``expr``) over the normalised request columns of the store.
``correlation``
    A rule over groups of accounts: ``group_by`` an artefact column, a ``window``, and a
    ``condition`` over the group's aggregates (``accounts``, ``exchanges``, ``span_hours``).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final, Literal

from ..errors import ConfigError
from ..exchange.schema import COLUMNS
from ..types import CAPABILITIES
from .expr import Condition, parse

Kind = Literal["text", "param", "correlation"]
Severity = Literal["info", "low", "medium", "high"]
Target = Literal["prompt", "system"]

SEVERITIES: Final = ("info", "low", "medium", "high")
INTENTS: Final = (
    "cot_elicitation",
    "reasoning_reconstruction",
    "rubric_grading",
    "censorship_rewrite",
    "synthetic_data",
)
LABELS: Final = frozenset(INTENTS) | frozenset(f"cap:{c}" for c in CAPABILITIES)
_ID: Final = re.compile(r"^DG-[A-Z]{3}-[0-9]{4}$")
_NAME: Final = re.compile(r"^[a-z][a-z0-9_]*$")
_FORBIDDEN: Final = re.compile(r"\\[bBwWdDsS]|\(\?[=!<]|\\[1-9]|\(\?P=")
_WINDOW: Final = re.compile(r"^([0-9]+)([hd])$")
CORRELATION_COLUMNS: Final = frozenset({"accounts", "exchanges", "span_hours"})
ARTEFACTS: Final = frozenset(
    {
        "payment_hash",
        "ip_prefix_hash",
        "ip_hash",
        "asn",
        "email_domain",
        "signup_prefix_hash",
        "user_agent_hash",
        "tls_fingerprint",
        "harness_fp",
        "system_hash",
        "template_fp",
        "tools_hash",
        "api_key_hash",
    }
)
"""What accounts can be linked by: store and registry columns, and the hunt's fingerprints."""


@dataclass(frozen=True, slots=True)
class TextRule:
    id: str
    name: str
    description: str
    severity: Severity
    sets: str
    target: Target
    patterns: tuple[str, ...]
    languages: tuple[str, ...]
    fire: tuple[str, ...]
    silent: tuple[str, ...]

    @property
    def regex(self) -> str:
        """All patterns as one alternation, as both engines run it."""
        return "|".join(f"(?:{p})" for p in self.patterns)


@dataclass(frozen=True, slots=True)
class ParamRule:
    id: str
    name: str
    description: str
    severity: Severity
    condition: Condition
    fire: tuple[Mapping[str, Any], ...]
    silent: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True, slots=True)
class CorrelationRule:
    id: str
    name: str
    description: str
    severity: Severity
    group_by: str
    window_hours: int
    condition: Condition
    fire: tuple[Mapping[str, Any], ...]
    silent: tuple[Mapping[str, Any], ...]


Rule = TextRule | ParamRule | CorrelationRule


@dataclass(frozen=True, slots=True)
class RuleSet:
    text: tuple[TextRule, ...]
    param: tuple[ParamRule, ...]
    correlation: tuple[CorrelationRule, ...]

    def __iter__(self) -> Iterator[Rule]:
        yield from self.text
        yield from self.param
        yield from self.correlation

    def by_id(self) -> dict[str, Rule]:
        return {rule.id: rule for rule in self}


def _line_of(source: str, rule_id: str) -> int | None:
    """Line of ``id = "<rule_id>"`` in a rule file, so errors can point at the rule."""
    for number, line in enumerate(source.splitlines(), start=1):
        if rule_id and rule_id in line and line.lstrip().startswith("id"):
            return number
    return None


class _Reader:
    """Reads one rule table, raising ConfigError that names file, line and field."""

    def __init__(self, file: str, source: str, table: Mapping[str, Any]) -> None:
        self.file = file
        rid = table.get("id")
        self.id = rid if isinstance(rid, str) else ""
        self.line = _line_of(source, self.id)
        self.table = table

    def error(self, message: str) -> ConfigError:
        prefix = f"rule {self.id}: " if self.id else "rule: "
        return ConfigError(prefix + message, file=self.file, line=self.line)

    def str_(self, key: str, *, choices: Iterable[str] | None = None) -> str:
        value = self.table.get(key)
        if not isinstance(value, str) or not value:
            raise self.error(f"'{key}' must be a non-empty string")
        if choices is not None and value not in set(choices):
            raise self.error(f"'{key}' is {value!r}, expected one of {sorted(set(choices))}")
        return value

    def list_(self, key: str, item: type, *, required: bool = True) -> tuple[Any, ...]:
        value = self.table.get(key, None if required else [])
        if not isinstance(value, list) or (required and not value):
            raise self.error(f"'{key}' must be a non-empty list")
        for x in value:
            if not isinstance(x, item):
                raise self.error(f"'{key}' must hold {item.__name__} values, not {x!r}")
        return tuple(value)


def _text_rule(r: _Reader, common: dict[str, Any]) -> TextRule:
    patterns = r.list_("patterns", str)
    for pattern in patterns:
        if _FORBIDDEN.search(pattern):
            raise r.error(f"pattern {pattern!r} uses a construct the engines read differently")
        if re.sub(r"\\.", "", pattern) != re.sub(r"\\.", "", pattern).lower():
            raise r.error(f"pattern {pattern!r} has upper-case letters (text is lower-cased)")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise r.error(f"pattern {pattern!r} does not compile: {exc}") from None
    return TextRule(
        sets=r.str_("sets", choices=LABELS),
        target=r.str_("target", choices=("prompt", "system")),  # type: ignore[arg-type]
        patterns=patterns,
        languages=r.list_("languages", str),
        fire=r.list_("fire", str),
        silent=r.list_("silent", str),
        **common,
    )


def _param_rule(r: _Reader, common: dict[str, Any]) -> ParamRule:
    condition = parse(r.str_("expr"), columns=frozenset(COLUMNS), where=f"rule {r.id}: ")
    return ParamRule(
        condition=condition,
        fire=r.list_("fire", dict),
        silent=r.list_("silent", dict),
        **common,
    )


def _correlation_rule(r: _Reader, common: dict[str, Any]) -> CorrelationRule:
    window = _WINDOW.match(r.str_("window"))
    if window is None:
        raise r.error("'window' must look like '24h' or '30d'")
    hours = int(window.group(1)) * (24 if window.group(2) == "d" else 1)
    condition = parse(r.str_("condition"), columns=CORRELATION_COLUMNS, where=f"rule {r.id}: ")
    return CorrelationRule(
        group_by=r.str_("group_by", choices=ARTEFACTS),
        window_hours=hours,
        condition=condition,
        fire=r.list_("fire", dict),
        silent=r.list_("silent", dict),
        **common,
    )


def load_file(path: Path | str, source: str) -> list[Rule]:
    """Parse one rule file's text; ``path`` names it in errors."""
    file = str(path)
    try:
        document = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=file) from None
    tables = document.get("rule")
    if not isinstance(tables, list):
        raise ConfigError("a rule file holds [[rule]] tables", file=file)
    rules: list[Rule] = []
    for table in tables:
        r = _Reader(file, source, table)
        if not _ID.match(r.id):
            raise r.error("'id' must look like DG-ABC-0001")
        name = r.str_("name")
        if not _NAME.match(name):
            raise r.error("'name' must be snake_case")
        common = {
            "id": r.id,
            "name": name,
            "description": r.str_("description"),
            "severity": r.str_("severity", choices=SEVERITIES),
        }
        kind = r.str_("kind", choices=("text", "param", "correlation"))
        if kind == "text":
            rules.append(_text_rule(r, common))
        elif kind == "param":
            rules.append(_param_rule(r, common))
        else:
            rules.append(_correlation_rule(r, common))
    return rules


def load(paths: Iterable[Path] | None = None) -> RuleSet:
    """The shipped rule corpus, or the rule files given; ids must be unique across files."""
    sources: list[tuple[str, str]] = []
    if paths is None:
        folder = resources.files("distillguard") / "rules"
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".toml"):
                sources.append((f"rules/{entry.name}", entry.read_text(encoding="utf-8")))
    else:
        for path in paths:
            sources.append((str(path), Path(path).read_text(encoding="utf-8")))
    seen: dict[str, str] = {}
    text: list[TextRule] = []
    param: list[ParamRule] = []
    correlation: list[CorrelationRule] = []
    for file, source in sources:
        for rule in load_file(file, source):
            if rule.id in seen:
                raise ConfigError(
                    f"rule id {rule.id} is also used in {seen[rule.id]}",
                    file=file,
                    line=_line_of(source, rule.id),
                )
            seen[rule.id] = file
            if isinstance(rule, TextRule):
                text.append(rule)
            elif isinstance(rule, ParamRule):
                param.append(rule)
            else:
                correlation.append(rule)
    return RuleSet(tuple(text), tuple(param), tuple(correlation))
