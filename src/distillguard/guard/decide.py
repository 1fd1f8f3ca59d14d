"""``decide(policy, context) -> Decision``: the guard's judgement, with no I/O.

Every rule whose condition holds is a match. The strictest action among the enforced matches
wins (``policy.ACTIONS`` orders them); an empty token bucket among the limits that apply is a
``throttle``. When the request is still served, ``degrade`` and ``watermark`` combine: a
request can be both. Rules in shadow are evaluated the same way and reported beside the
decision (what would have happened), without changing it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from .context import Context
from .policy import ACTIONS, SERVED, Action, Degrade, Limit, Policy

_RANK: Final = {action: rank for rank, action in enumerate(ACTIONS)}

CODES: Final[dict[Action, str]] = {
    "throttle": "rate_limited",
    "verify": "verification_required",
    "block": "access_denied",
}
"""Machine-readable error codes for actions that refuse the request."""


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    rules: tuple[str, ...] = ()
    """Enforced rules that matched, in policy order."""
    degrade: Degrade | None = None
    watermark: bool = False
    retry_after: float | None = None
    """Seconds, for ``throttle``."""
    limits: tuple[str, ...] = ()
    """Limits whose buckets were empty, for ``throttle``."""
    shadow_action: Action | None = None
    """What the shadow rules that matched would have done, if it differs."""
    shadow_rules: tuple[str, ...] = ()

    @property
    def served(self) -> bool:
        return self.action in SERVED

    @property
    def code(self) -> str | None:
        return CODES.get(self.action)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"action": self.action, "rules": list(self.rules)}
        if self.degrade is not None:
            out["degraded"] = True
        if self.watermark:
            out["watermark"] = True
        if self.retry_after is not None:
            out["retry_after"] = round(self.retry_after, 3)
            out["limits"] = list(self.limits)
        if self.shadow_action is not None:
            out["shadow_action"] = self.shadow_action
            out["shadow_rules"] = list(self.shadow_rules)
        return out


ALLOW: Final = Decision("allow")


def applicable_limits(policy: Policy, row: dict[str, Any]) -> list[Limit]:
    """The limits whose condition holds for this request (their buckets are checked)."""
    return [limit for limit in policy.limits if limit.when.test(row)]


def decide(policy: Policy, context: Context, *, row: dict[str, Any] | None = None) -> Decision:
    """The decision for ``context``; ``row`` is ``context.row()`` when the caller has it."""
    row = context.row() if row is None else row
    enforced: list[tuple[str, Action]] = []
    shadow: list[tuple[str, Action]] = []
    for rule in policy.rules:
        if rule.when.test(row):
            (shadow if rule.shadow else enforced).append((rule.name, rule.action))
    empty = tuple(name for name, wait in context.waits.items() if wait > 0)
    actions: list[Action] = [action for _, action in enforced]
    if empty:
        actions.append("throttle")
    action = _strictest(actions)
    decision = Decision(
        action=action,
        rules=tuple(name for name, _ in enforced),
        degrade=policy.degrade
        if action in SERVED and any(a == "degrade" for a in actions)
        else None,
        watermark=action in SERVED and any(a == "watermark" for a in actions),
        retry_after=max(context.waits[name] for name in empty) if action == "throttle" else None,
        limits=empty if action == "throttle" else (),
    )
    if shadow:
        would = _strictest(actions + [a for _, a in shadow])
        if would != action or any(a in ("degrade", "watermark") for _, a in shadow):
            return replace(
                decision,
                shadow_action=would,
                shadow_rules=tuple(name for name, _ in shadow),
            )
    return decision


def _strictest(actions: Sequence[Action]) -> Action:
    return max(actions, key=_RANK.__getitem__, default="allow")
