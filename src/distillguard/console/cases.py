"""Cases: one per campaign, with a state, an owner, notes and the decisions taken.

A campaign no one has touched is a case in state ``new`` without a row. Deciding a case
(confirmed, false positive, dismissed) stores the evidence as it stood (the campaign's
record and its accounts' rows) in an append-only ``decisions`` row, so the decision can be
judged later against what the analyst saw, and tells the guard: confirming writes the
chosen action for the campaign, its clusters and accounts; a false positive writes
``allow`` for them (and stays as a labelled example); dismissing or reopening withdraws
what the case had written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import orjson

from .audit import record
from .db import Database
from .enforce import entries, replace_case
from .errors import CaseError
from .hunt_index import AccountRow, Campaign
from .types import CASE_STATES, DECIDED, ENFORCE_ACTIONS

MAX_NOTE: Final = 10_000


@dataclass(frozen=True, slots=True)
class Decision:
    id: int
    state: str
    action: str | None
    actor: str
    at: str
    why: str


@dataclass(frozen=True, slots=True)
class Note:
    author: str
    at: str
    body: str


@dataclass(frozen=True, slots=True)
class Case:
    campaign_id: str
    state: str = "new"
    owner: str | None = None
    action: str | None = None
    updated: str | None = None
    notes: tuple[Note, ...] = ()
    decisions: tuple[Decision, ...] = field(default=())


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def frozen_evidence(campaign: Campaign, accounts: list[AccountRow]) -> dict[str, Any]:
    return {
        "campaign": campaign.raw,
        "accounts": [
            {
                "account_id": a.account_id,
                "risk": a.risk,
                "verdict": a.verdict,
                "cluster_id": a.cluster_id,
                "exchanges": a.exchanges,
                "reasons": list(a.reasons),
            }
            for a in accounts
        ],
    }


class Cases:
    def __init__(self, db: Database, watchlist: Path) -> None:
        self.db = db
        self.watchlist = watchlist

    def states(self) -> dict[str, str]:
        with self.db.connect() as conn:
            return {r[0]: r[1] for r in conn.execute("SELECT campaign_id, state FROM cases")}

    def get(self, campaign_id: str) -> Case:
        with self.db.connect() as conn:
            row = conn.execute(
                "SELECT * FROM cases WHERE campaign_id = ?", (campaign_id,)
            ).fetchone()
            notes = conn.execute(
                "SELECT author, at, body FROM notes WHERE campaign_id = ? ORDER BY id",
                (campaign_id,),
            ).fetchall()
            decisions = conn.execute(
                "SELECT id, state, action, actor, at, why FROM decisions "
                "WHERE campaign_id = ? ORDER BY id DESC",
                (campaign_id,),
            ).fetchall()
        base = (
            Case(campaign_id)
            if row is None
            else Case(campaign_id, row["state"], row["owner"], row["action"], row["updated"])
        )
        return Case(
            base.campaign_id,
            base.state,
            base.owner,
            base.action,
            base.updated,
            tuple(Note(*n) for n in notes),
            tuple(Decision(*d) for d in decisions),
        )

    def _upsert(self, conn: Any, campaign_id: str, **values: str | None) -> None:
        conn.execute(
            "INSERT INTO cases (campaign_id, state, updated) VALUES (?, 'new', ?) "
            "ON CONFLICT (campaign_id) DO NOTHING",
            (campaign_id, _now()),
        )
        for name, value in values.items():
            conn.execute(
                f"UPDATE cases SET {name} = ?, updated = ? WHERE campaign_id = ?",
                (value, _now(), campaign_id),
            )

    def assign(self, campaign: Campaign, owner: str, *, actor: str) -> None:
        with self.db.connect() as conn:
            self._upsert(conn, campaign.id, owner=owner)
            record(conn, actor, "case.assign", campaign.id, detail={"owner": owner})

    def note(self, campaign: Campaign, body: str, *, actor: str) -> None:
        body = body.strip()
        if not body:
            raise CaseError("a note cannot be empty")
        if len(body) > MAX_NOTE:
            raise CaseError(f"a note is at most {MAX_NOTE} characters")
        with self.db.connect() as conn:
            self._upsert(conn, campaign.id)
            conn.execute(
                "INSERT INTO notes (campaign_id, author, at, body) VALUES (?, ?, ?, ?)",
                (campaign.id, actor, _now(), body),
            )
            record(conn, actor, "case.note", campaign.id, detail={"chars": len(body)})

    def set_state(
        self,
        campaign: Campaign,
        accounts: list[AccountRow],
        state: str,
        *,
        actor: str,
        why: str,
        action: str | None = None,
    ) -> None:
        """Move the case to ``state``; decisions need a reason, confirming an action."""
        if state not in CASE_STATES or state == "new":
            raise CaseError(f"state {state[:32]!r} is not one a case can be moved to")
        why = why.strip()
        if state in DECIDED and not why:
            raise CaseError("a decision needs a reason")
        if state == "confirmed" and action not in ENFORCE_ACTIONS:
            raise CaseError(f"confirming needs an action: {', '.join(ENFORCE_ACTIONS)}")
        watch = action if state == "confirmed" else "allow" if state == "false_positive" else None
        with self.db.connect() as conn:
            self._upsert(conn, campaign.id, state=state, action=watch)
            detail: dict[str, Any] = {"state": state, "action": watch}
            if state in DECIDED:
                evidence = orjson.dumps(frozen_evidence(campaign, accounts)).decode()
                conn.execute(
                    "INSERT INTO decisions (campaign_id, state, action, actor, at, why, evidence)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (campaign.id, state, watch, actor, _now(), why, evidence),
                )
            lines = (
                []
                if watch is None
                else entries(
                    campaign.id,
                    campaign.clusters,
                    campaign.accounts,
                    watch,
                    actor=actor,
                )
            )
            # Written inside the transaction: if the file cannot be written, no state changes.
            detail["withdrawn"] = replace_case(self.watchlist, campaign.id, lines)
            detail["written"] = len(lines)
            record(conn, actor, f"case.{state}", campaign.id, why=why, detail=detail)

    def evidence(self, decision_id: int) -> dict[str, Any] | None:
        with self.db.connect() as conn:
            row = conn.execute(
                "SELECT evidence FROM decisions WHERE id = ?", (decision_id,)
            ).fetchone()
        return None if row is None else dict(orjson.loads(row[0]))

    def labelled(self) -> list[tuple[str, str, list[str]]]:
        """The latest decision per campaign: (campaign, state, the campaign's reason codes)."""
        with self.db.connect() as conn:
            rows = conn.execute(
                "SELECT d.campaign_id, d.state, d.evidence FROM decisions d "
                "JOIN (SELECT max(id) AS id FROM decisions GROUP BY campaign_id) m ON d.id = m.id"
            ).fetchall()
        out = []
        for campaign_id, state, evidence in rows:
            reasons = orjson.loads(evidence).get("campaign", {}).get("reasons") or []
            out.append((campaign_id, state, [str(r) for r in reasons]))
        return out
