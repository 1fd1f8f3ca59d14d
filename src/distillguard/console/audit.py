"""The audit log: who changed what, when and why; rows are only ever added."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from .db import Database

PAGE: Final = 100
MAX_WHY: Final = 4000


@dataclass(frozen=True, slots=True)
class AuditRow:
    id: int
    at: str
    actor: str
    action: str
    target: str
    why: str
    detail: dict[str, Any]


def record(
    conn: sqlite3.Connection,
    actor: str,
    action: str,
    target: str,
    *,
    why: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one row inside the caller's transaction, so the change and its record commit
    together or not at all. ``target`` names a user or campaign, never a customer account."""
    conn.execute(
        "INSERT INTO audit (at, actor, action, target, why, detail) VALUES (?, ?, ?, ?, ?, ?)",
        (
            datetime.now(UTC).isoformat(timespec="seconds"),
            actor,
            action,
            target,
            why[:MAX_WHY],
            orjson.dumps(detail or {}).decode(),
        ),
    )


def page(db: Database, number: int, size: int = PAGE) -> tuple[list[AuditRow], int]:
    """Newest first: the rows of page ``number`` (from 1) and the total row count."""
    with db.connect() as conn:
        total = int(conn.execute("SELECT count(*) FROM audit").fetchone()[0])
        rows = conn.execute(
            "SELECT * FROM audit ORDER BY id DESC LIMIT ? OFFSET ?",
            (size, (number - 1) * size),
        ).fetchall()
    return [
        AuditRow(
            row["id"],
            row["at"],
            row["actor"],
            row["action"],
            row["target"],
            row["why"],
            orjson.loads(row["detail"]),
        )
        for row in rows
    ], total
