"""Local users: names, roles and scrypt-hashed passwords with a per-user random salt.

The scrypt parameters are stored with each hash, so they can be raised later without
locking anyone out. A failed look-up still spends one hash, so response time does not tell
which user names exist.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import orjson

from .audit import record
from .db import DATABASE, Database
from .errors import UserError
from .types import ROLES, Role

SCRYPT: Final = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
NAME: Final = re.compile(r"[A-Za-z0-9._@-]{1,64}")
MIN_PASSWORD: Final = 10
MAX_PASSWORD: Final = 1024
_DUMMY_SALT: Final = b"\0" * 16


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: Role
    disabled: bool = False


def hash_password(password: str, salt: bytes, params: dict[str, int]) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=params["n"],
        r=params["r"],
        p=params["p"],
        dklen=params["dklen"],
        maxmem=256 * params["r"] * params["n"],
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _check(name: str, password: str | None, role: str | None) -> None:
    if not NAME.fullmatch(name):
        raise UserError(f"user name {name[:64]!r} must be 1 to 64 of A-Z a-z 0-9 . _ @ -")
    if password is not None and not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise UserError(f"password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    if role is not None and role not in ROLES:
        raise UserError(f"role {role[:32]!r} is not one of {', '.join(ROLES)}")


class Users:
    """The users of one console database; every change is audited."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, name: str, password: str, role: str, *, actor: str = "cli") -> User:
        _check(name, password, role)
        salt = secrets.token_bytes(16)
        digest = hash_password(password, salt, SCRYPT)
        with self.db.connect() as conn:
            if conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
                raise UserError(f"user {name!r} already exists")
            conn.execute(
                "INSERT INTO users (name, role, salt, hash, params, created) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (name, role, salt, digest, orjson.dumps(SCRYPT).decode(), _now()),
            )
            record(conn, actor, "user.add", name, detail={"role": role})
        return User(name, role)  # type: ignore[arg-type]

    def set_role(self, name: str, role: str, *, actor: str) -> None:
        _check(name, None, role)
        with self.db.connect() as conn:
            if not conn.execute("UPDATE users SET role = ? WHERE name = ?", (role, name)).rowcount:
                raise UserError(f"no user {name!r}")
            record(conn, actor, "user.role", name, detail={"role": role})

    def set_disabled(self, name: str, disabled: bool, *, actor: str) -> None:
        with self.db.connect() as conn:
            changed = conn.execute(
                "UPDATE users SET disabled = ? WHERE name = ?", (int(disabled), name)
            ).rowcount
            if not changed:
                raise UserError(f"no user {name!r}")
            record(conn, actor, "user.disable" if disabled else "user.enable", name)

    def get(self, name: str) -> User | None:
        with self.db.connect() as conn:
            row = conn.execute(
                "SELECT name, role, disabled FROM users WHERE name = ?", (name,)
            ).fetchone()
        return None if row is None else User(row["name"], row["role"], bool(row["disabled"]))

    def all(self) -> list[User]:
        with self.db.connect() as conn:
            rows = conn.execute("SELECT name, role, disabled FROM users ORDER BY name").fetchall()
        return [User(row["name"], row["role"], bool(row["disabled"])) for row in rows]

    def count(self) -> int:
        with self.db.connect() as conn:
            return int(conn.execute("SELECT count(*) FROM users").fetchone()[0])

    def verify(self, name: str, password: str) -> User | None:
        """The user if the password is right and the account enabled, else ``None``."""
        with self.db.connect() as conn:
            row = conn.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
        if row is None or len(password) > MAX_PASSWORD:
            hash_password("x", _DUMMY_SALT, SCRYPT)  # same cost as a real check
            return None
        digest = hash_password(password, row["salt"], orjson.loads(row["params"]))
        if not hmac.compare_digest(digest, row["hash"]) or row["disabled"]:
            return None
        return User(row["name"], row["role"])


def add_user(store: Path, name: str, password: str, role: str) -> User:
    """Add a console user to the store's database (created if needed)."""
    return Users(Database(store / DATABASE)).add(name, password, role)
