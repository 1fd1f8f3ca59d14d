"""API tokens: for scripts that read the console (or change cases) without a browser.

A token acts as the user it was issued to, with that user's current role. Only its SHA-256
is stored (a token is 256 random bits, so a plain hash is enough), it is shown once when
issued, and it can be revoked. A request with a token carries no cookie, so it needs no
CSRF token: a browser never attaches one by itself.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from .audit import record
from .db import Database
from .errors import UserError
from .users import User, Users

PREFIX: Final = "dgc_"
MAX_LABEL: Final = 100


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: int
    user: str
    label: str
    created: str
    revoked: bool


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Tokens:
    def __init__(self, db: Database, users: Users) -> None:
        self.db = db
        self.users = users
        with db.connect() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS tokens (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                "user TEXT NOT NULL, digest TEXT NOT NULL UNIQUE, label TEXT NOT NULL, "
                "created TEXT NOT NULL, revoked INTEGER NOT NULL DEFAULT 0)"
            )

    def issue(self, user: str, label: str, *, actor: str) -> str:
        """A new token for ``user``; the only time its value is seen."""
        if self.users.get(user) is None:
            raise UserError(f"no user {user[:64]!r}")
        label = label.strip()[:MAX_LABEL] or "token"
        token = PREFIX + secrets.token_urlsafe(32)
        with self.db.connect() as conn:
            cursor = conn.execute(
                "INSERT INTO tokens (user, digest, label, created) VALUES (?, ?, ?, ?)",
                (user, _digest(token), label, datetime.now(UTC).isoformat(timespec="seconds")),
            )
            record(conn, actor, "token.issue", user, detail={"token": cursor.lastrowid})
        return token

    def revoke(self, token_id: int, *, actor: str) -> None:
        with self.db.connect() as conn:
            row = conn.execute("SELECT user FROM tokens WHERE id = ?", (token_id,)).fetchone()
            if row is None:
                raise UserError(f"no token {token_id}")
            conn.execute("UPDATE tokens SET revoked = 1 WHERE id = ?", (token_id,))
            record(conn, actor, "token.revoke", row["user"], detail={"token": token_id})

    def user(self, token: str) -> User | None:
        """The enabled user a live token acts as, else ``None``."""
        if not token.startswith(PREFIX) or len(token) > 100:
            return None
        with self.db.connect() as conn:
            row = conn.execute(
                "SELECT user FROM tokens WHERE digest = ? AND revoked = 0", (_digest(token),)
            ).fetchone()
        found = None if row is None else self.users.get(row["user"])
        return None if found is None or found.disabled else found

    def all(self) -> list[TokenInfo]:
        with self.db.connect() as conn:
            rows = conn.execute(
                "SELECT id, user, label, created, revoked FROM tokens ORDER BY id"
            ).fetchall()
        return [TokenInfo(r[0], r[1], r[2], r[3], bool(r[4])) for r in rows]
