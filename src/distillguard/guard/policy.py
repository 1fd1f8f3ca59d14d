"""The guard's policy file: YAML, validated, with errors that name the line.

A policy maps what is known about a request (its ``Context``) to graded actions::

    version: 1
    rules:                          # every rule that matches counts; the strictest wins
      - name: confirmed campaign
        when: verdict == "attack" and not trusted
        action: block
      - name: reasoning harvest
        when: verdict == "suspicious" and intent_cot_elicitation
        action: degrade
        shadow: true                # log what it would do, do not enforce
    limits:                         # token buckets, checked before and charged after
      - name: suspicious accounts
        scope: account              # account | cluster | payment | harness | api_key
        when: verdict != "benign"
        requests_per_minute: 20
        tokens_per_minute: 20000
    degrade: {max_tokens: 4096, thinking_budget: 1024, reasoning: withhold}

Conditions use the rule files' condition language (``signals.expr``) over the context's
names (``context.NAMES``). A policy that does not load raises ``ConfigError`` with the file
and line; the guard then keeps the policy it had.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Final, Literal

import yaml

from ..errors import ConfigError
from ..signals.expr import Condition, parse
from .context import NAMES

Action = Literal["allow", "watermark", "degrade", "throttle", "verify", "block"]
Scope = Literal["account", "cluster", "payment", "harness", "api_key"]

ACTIONS: Final[tuple[Action, ...]] = (
    "allow",
    "watermark",
    "degrade",
    "throttle",
    "verify",
    "block",
)
"""From mildest to strictest: the strictest enforced action of the matching rules wins."""
SERVED: Final = frozenset({"allow", "watermark", "degrade"})
"""Actions under which the request still reaches the model (watermark and degrade combine)."""
SCOPES: Final[tuple[Scope, ...]] = ("account", "cluster", "payment", "harness", "api_key")
MAX_BYTES: Final = 1024 * 1024
MAX_BODY_BYTES: Final = 8 * 1024 * 1024
ACCOUNT_HEADER: Final = "x-account-id"


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    when: Condition
    action: Action
    shadow: bool = False
    """Matched rules in shadow are logged with the decision but change nothing."""
    line: int = 0


@dataclass(frozen=True, slots=True)
class Limit:
    name: str
    scope: Scope
    when: Condition
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    burst: float = 1.0
    """Bucket size as minutes of the rate (1.0: one minute's worth may come at once)."""
    line: int = 0


@dataclass(frozen=True, slots=True)
class Degrade:
    """What ``degrade`` does to a request and its response."""

    max_tokens: int | None = 4096
    """Cap on the output tokens (under whichever name the request uses)."""
    thinking_budget: int | None = 1024
    """Cap on the thinking budget / reasoning effort."""
    reasoning: Literal["withhold", "summary"] = "withhold"
    """Raw reasoning or thinking content: removed, or replaced by a one-line note."""
    strip_logprobs: bool = True
    single_sample: bool = True
    """Force ``n = 1``."""


@dataclass(frozen=True, slots=True)
class Identity:
    account_header: str = ACCOUNT_HEADER
    """Header set by the provider's authentication layer with the account id."""
    keys: Path | None = None
    """CSV ``api_key_sha256,account_id``: accounts of keys when no header names them."""


@dataclass(frozen=True, slots=True)
class Policy:
    rules: tuple[Rule, ...] = ()
    limits: tuple[Limit, ...] = ()
    degrade: Degrade = field(default_factory=Degrade)
    identity: Identity = field(default_factory=Identity)
    unknown_paths: Literal["pass", "refuse"] = "pass"
    on_state_error: Literal["open", "closed"] = "open"
    """When the shared state (Redis) cannot be reached: serve (open) or refuse (closed)."""
    watchlist: Path | None = None
    """A hunt's output folder (``accounts.csv``) and/or an analyst ``watchlist.jsonl``."""
    registry: Path | None = None
    """The account registry (contract section 2): program, verification, trust, payment."""
    max_body_bytes: int = MAX_BODY_BYTES
    watermark_via: tuple[Literal["header", "vllm_xargs"], ...] = ("header",)
    """How the watermark key id reaches the model server: the ``x-distillguard-watermark-key``
    header, and/or vLLM's per-request ``vllm_xargs`` (OpenAI surfaces), which vLLM hands to
    logits processors (``distillguard.marks.vllm``)."""
    source: str = "<default>"


class _Node:
    """A YAML node with its line, for errors that say where."""

    __slots__ = ("line", "node", "path")

    def __init__(self, node: yaml.Node, path: str) -> None:
        self.node = node
        self.path = path
        self.line = node.start_mark.line + 1


def default_path() -> Path:
    """The policy shipped with the package (``guard/policies/default.yaml``)."""
    return Path(str(resources.files("distillguard.guard") / "policies" / "default.yaml"))


def load(path: Path, *, base: Path | None = None) -> Policy:
    """Read and validate a policy file; ``ConfigError`` names the file and line."""
    source = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the policy: {exc.strerror}", file=source) from None
    if len(raw) > MAX_BYTES:
        raise ConfigError(f"the policy is over {MAX_BYTES} bytes", file=source)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 at byte {exc.start}", file=source) from None
    return loads(text, source=source, base=base or path.parent)


def loads(text: str, *, source: str = "<policy>", base: Path | None = None) -> Policy:
    """Validate a policy given as YAML text."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        line = None if exc.problem_mark is None else exc.problem_mark.line + 1
        raise ConfigError(f"not valid YAML: {exc.problem}", file=source, line=line) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", file=source) from None
    if root is None:
        raise ConfigError("the policy is empty", file=source)
    return _Reader(source, base or Path.cwd()).policy(_Node(root, ""))


class _Reader:
    def __init__(self, source: str, base: Path) -> None:
        self.source = source
        self.base = base

    def error(self, node: _Node, message: str) -> ConfigError:
        where = f"{node.path}: " if node.path else ""
        return ConfigError(f"{where}{message}", file=self.source, line=node.line)

    def mapping(self, node: _Node, allowed: frozenset[str]) -> dict[str, _Node]:
        if not isinstance(node.node, yaml.MappingNode):
            raise self.error(node, "must be a mapping")
        out: dict[str, _Node] = {}
        for key, value in node.node.value:
            if not isinstance(key, yaml.ScalarNode):
                raise self.error(_Node(key, node.path), "keys must be plain names")
            name = str(key.value)
            path = f"{node.path}.{name}" if node.path else name
            if name not in allowed:
                known = ", ".join(sorted(allowed))
                raise self.error(_Node(key, path), f"unknown key (known: {known})")
            if name in out:
                raise self.error(_Node(key, path), "given twice")
            out[name] = _Node(value, path)
        return out

    def items(self, node: _Node) -> Iterator[_Node]:
        if not isinstance(node.node, yaml.SequenceNode):
            raise self.error(node, "must be a list")
        for i, item in enumerate(node.node.value):
            yield _Node(item, f"{node.path}[{i}]")

    def scalar(self, node: _Node) -> Any:
        if not isinstance(node.node, yaml.ScalarNode):
            raise self.error(node, "must be a single value")
        return yaml.safe_load(yaml.serialize(node.node))

    def string(self, node: _Node, choices: tuple[str, ...] | None = None) -> str:
        value = self.scalar(node)
        if not isinstance(value, str) or not value.strip():
            raise self.error(node, "must be a non-empty string")
        if choices is not None and value not in choices:
            raise self.error(node, f"{value!r} is not one of {', '.join(choices)}")
        return value

    def boolean(self, node: _Node) -> bool:
        value = self.scalar(node)
        if not isinstance(value, bool):
            raise self.error(node, "must be true or false")
        return value

    def number(self, node: _Node, *, positive: bool = True, whole: bool = False) -> float:
        value = self.scalar(node)
        kinds = (int,) if whole else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds):
            raise self.error(node, "must be a whole number" if whole else "must be a number")
        if positive and not value > 0:
            raise self.error(node, "must be greater than 0")
        return float(value)

    def condition(self, node: _Node) -> Condition:
        text = self.scalar(node)
        if isinstance(text, bool):
            text = "true_" if text else "false_"  # ``when: true`` always / never matches
        if not isinstance(text, str):
            raise self.error(node, 'must be a condition such as verdict == "attack"')
        if text in ("true_", "false_"):
            return parse("always" if text == "true_" else "never", columns=NAMES)
        try:
            return parse(text, columns=NAMES)
        except ConfigError as exc:
            raise self.error(node, str(exc)) from None

    def path(self, node: _Node) -> Path:
        value = Path(self.string(node))
        return value if value.is_absolute() else self.base / value

    def policy(self, node: _Node) -> Policy:
        top = self.mapping(
            node,
            frozenset(
                {
                    "version",
                    "rules",
                    "limits",
                    "degrade",
                    "identity",
                    "unknown_paths",
                    "on_state_error",
                    "watchlist",
                    "registry",
                    "max_body_bytes",
                    "watermark_via",
                }
            ),
        )
        if "version" not in top:
            raise self.error(node, "version is required (version: 1)")
        if self.scalar(top["version"]) != 1:
            raise self.error(top["version"], "only version 1 is known")
        rules = tuple(self.rule(n) for n in self.items(top["rules"])) if "rules" in top else ()
        names = [r.name for r in rules]
        limits = tuple(self.limit(n) for n in self.items(top["limits"])) if "limits" in top else ()
        for seen, kind in ((names, "rule"), ([lim.name for lim in limits], "limit")):
            duplicate = next((n for n in seen if seen.count(n) > 1), None)
            if duplicate is not None:
                raise self.error(node, f"two {kind}s are named {duplicate!r}")
        return Policy(
            rules=rules,
            limits=limits,
            degrade=self.degrade(top["degrade"]) if "degrade" in top else Degrade(),
            identity=self.identity(top["identity"]) if "identity" in top else Identity(),
            unknown_paths="refuse"
            if "unknown_paths" in top
            and self.string(top["unknown_paths"], ("pass", "refuse")) == "refuse"
            else "pass",
            on_state_error="closed"
            if "on_state_error" in top
            and self.string(top["on_state_error"], ("open", "closed")) == "closed"
            else "open",
            watchlist=self.path(top["watchlist"]) if "watchlist" in top else None,
            registry=self.path(top["registry"]) if "registry" in top else None,
            max_body_bytes=int(self.number(top["max_body_bytes"], whole=True))
            if "max_body_bytes" in top
            else MAX_BODY_BYTES,
            watermark_via=self.watermark_via(top["watermark_via"])
            if "watermark_via" in top
            else ("header",),
            source=self.source,
        )

    def watermark_via(self, node: _Node) -> tuple[Literal["header", "vllm_xargs"], ...]:
        out: list[Literal["header", "vllm_xargs"]] = []
        for item in self.items(node):
            out.append(
                "header"
                if self.string(item, ("header", "vllm_xargs")) == "header"
                else "vllm_xargs"
            )
        if not out:
            raise self.error(node, "must name header, vllm_xargs or both")
        return tuple(dict.fromkeys(out))

    def rule(self, node: _Node) -> Rule:
        keys = self.mapping(node, frozenset({"name", "when", "action", "shadow"}))
        for required in ("name", "when", "action"):
            if required not in keys:
                raise self.error(node, f"a rule needs {required!r}")
        return Rule(
            name=self.string(keys["name"]),
            when=self.condition(keys["when"]),
            action=_action(self.string(keys["action"], ACTIONS)),
            shadow=self.boolean(keys["shadow"]) if "shadow" in keys else False,
            line=node.line,
        )

    def limit(self, node: _Node) -> Limit:
        keys = self.mapping(
            node,
            frozenset(
                {"name", "scope", "when", "requests_per_minute", "tokens_per_minute", "burst"}
            ),
        )
        for required in ("name", "scope"):
            if required not in keys:
                raise self.error(node, f"a limit needs {required!r}")
        scope = _scope(self.string(keys["scope"], SCOPES))
        rpm = self.number(keys["requests_per_minute"]) if "requests_per_minute" in keys else None
        tpm = self.number(keys["tokens_per_minute"]) if "tokens_per_minute" in keys else None
        if rpm is None and tpm is None:
            raise self.error(node, "a limit needs requests_per_minute or tokens_per_minute")
        when = self.condition(keys["when"]) if "when" in keys else parse("always", columns=NAMES)
        return Limit(
            name=self.string(keys["name"]),
            scope=scope,
            when=when,
            requests_per_minute=rpm,
            tokens_per_minute=tpm,
            burst=self.number(keys["burst"]) if "burst" in keys else 1.0,
            line=node.line,
        )

    def degrade(self, node: _Node) -> Degrade:
        keys = self.mapping(
            node,
            frozenset(
                {"max_tokens", "thinking_budget", "reasoning", "strip_logprobs", "single_sample"}
            ),
        )
        default = Degrade()

        def cap(name: str, fallback: int | None) -> int | None:
            if name not in keys:
                return fallback
            if self.scalar(keys[name]) is None:
                return None
            return int(self.number(keys[name], whole=True))

        return Degrade(
            max_tokens=cap("max_tokens", default.max_tokens),
            thinking_budget=cap("thinking_budget", default.thinking_budget),
            reasoning="summary"
            if "reasoning" in keys
            and self.string(keys["reasoning"], ("withhold", "summary")) == "summary"
            else "withhold",
            strip_logprobs=self.boolean(keys["strip_logprobs"])
            if "strip_logprobs" in keys
            else True,
            single_sample=self.boolean(keys["single_sample"]) if "single_sample" in keys else True,
        )

    def identity(self, node: _Node) -> Identity:
        keys = self.mapping(node, frozenset({"account_header", "keys"}))
        header = (
            self.string(keys["account_header"]).lower()
            if "account_header" in keys
            else ACCOUNT_HEADER
        )
        return Identity(header, self.path(keys["keys"]) if "keys" in keys else None)


def _action(value: str) -> Action:
    for action in ACTIONS:
        if action == value:
            return action
    raise AssertionError(value)  # string() checked the choices


def _scope(value: str) -> Scope:
    for scope in SCOPES:
        if scope == value:
            return scope
    raise AssertionError(value)
