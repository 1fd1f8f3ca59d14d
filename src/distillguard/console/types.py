"""The console's shared vocabulary: roles, case states and the actions a decision enforces."""

from __future__ import annotations

from typing import Final, Literal, get_args

Role = Literal["viewer", "analyst", "admin"]
ROLES: Final[tuple[Role, ...]] = get_args(Role)
"""Ordered by power: each role may do everything the roles before it may."""

CaseState = Literal["new", "in_review", "confirmed", "false_positive", "dismissed"]
CASE_STATES: Final[tuple[CaseState, ...]] = get_args(CaseState)

DECIDED: Final[tuple[CaseState, ...]] = ("confirmed", "false_positive", "dismissed")
"""States that freeze a copy of the evidence as it stood."""

EnforceAction = Literal["throttle", "verify", "degrade", "block"]
ENFORCE_ACTIONS: Final[tuple[EnforceAction, ...]] = get_args(EnforceAction)
"""What confirming a campaign may ask the guard to do (a false positive writes ``allow``)."""


def role_at_least(role: str, needed: Role) -> bool:
    """Whether ``role`` may do what ``needed`` may (unknown roles may do nothing)."""
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)
