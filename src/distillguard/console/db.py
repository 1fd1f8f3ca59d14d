"""The console's embedded database: one SQLite file in the store folder, no server.

Users, cases, notes, decisions (each with the evidence frozen as it stood), the audit log
and the sessions ended by logging out before they expired. Notes, decisions and the audit
log are append-only: triggers abort any UPDATE or DELETE on them, so a mistake is
corrected by a new row, never by rewriting history. (A user
with write access to the file can still drop a table; the triggers guard against the
application and careless hands, not against the file's owner.)
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from .errors import StoreError

DATABASE: Final = "console.sqlite"
SECRET: Final = "console.secret"
SECRET_BYTES: Final = 32
APPEND_ONLY: Final = ("audit", "decisions", "notes")

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('viewer', 'analyst', 'admin')),
    salt BLOB NOT NULL,
    hash BLOB NOT NULL,
    params TEXT NOT NULL,
    created TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS cases (
    campaign_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    owner TEXT,
    action TEXT,
    updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id TEXT NOT NULL,
    author TEXT NOT NULL,
    at TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS notes_campaign ON notes (campaign_id);
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id TEXT NOT NULL,
    state TEXT NOT NULL,
    action TEXT,
    actor TEXT NOT NULL,
    at TEXT NOT NULL,
    why TEXT NOT NULL,
    evidence TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_campaign ON decisions (campaign_id);
CREATE TABLE IF NOT EXISTS ended_sessions (
    nonce_hash TEXT PRIMARY KEY,
    expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    why TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '{}'
);
"""

_TRIGGER: Final = """
CREATE TRIGGER IF NOT EXISTS {table}_no_{verb} BEFORE {verb} ON {table}
BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END;
"""


class Database:
    """The SQLite file of one store; a short-lived connection per unit of work, so request
    handlers in different threads never share one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            # Password hashes live here: readable by the owner only, from the first byte.
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
            with self.connect() as conn:
                conn.executescript(SCHEMA)
                for table in APPEND_ONLY:
                    for verb in ("UPDATE", "DELETE"):
                        conn.executescript(_TRIGGER.format(table=table, verb=verb))
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"{path}: cannot open the console database ({exc})") from None

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection inside one transaction: committed on success, rolled back on error."""
        conn = sqlite3.connect(self.path, timeout=10.0)
        conn.row_factory = sqlite3.Row
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            with conn:
                yield conn
        finally:
            conn.close()


def load_secret(store: Path) -> bytes:
    """The store's signing secret, generated on first use (readable by the owner only)."""
    path = store / SECRET
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        value = path.read_bytes()
        if len(value) < SECRET_BYTES:
            raise StoreError(f"{path}: secret is shorter than {SECRET_BYTES} bytes") from None
        return value
    value = secrets.token_bytes(SECRET_BYTES)
    try:
        os.write(fd, value)
        os.fsync(fd)
    finally:
        os.close(fd)
    return value
