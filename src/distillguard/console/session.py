"""Signed session cookies and the CSRF tokens bound to them.

A session is a small JSON payload (user, nonce, issue time) with an HMAC-SHA256 tag under a
key derived from the store's secret. The server keeps only the sessions that ended early:
logging out records a hash of the session's nonce until the session would have expired, so
a copied cookie is dead after its owner logs out. The user's role is read from the
database on every request, so a change of role or a disabled user takes effect at once.
Visitors who are not logged in get an anonymous session too, so the log-in form carries a
CSRF token like every other form. Logging in issues a new nonce (no fixation).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import orjson

from .db import Database

COOKIE: Final = "dg_session"
MAX_AGE: Final = 12 * 3600


def derive(secret: bytes, purpose: str) -> bytes:
    """A key for one purpose, so a tag made for one use is never valid for another."""
    return hmac.new(secret, purpose.encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class Session:
    user: str | None
    nonce: str
    issued: float


class Sessions:
    def __init__(
        self, secret: bytes, *, max_age: int = MAX_AGE, clock: Callable[[], float] = time.time
    ) -> None:
        self._key = derive(secret, "session")
        self._csrf = derive(secret, "csrf")
        self.max_age = max_age
        self._clock = clock

    def issue(self, user: str | None) -> tuple[Session, str]:
        """A new session and its cookie value."""
        session = Session(user, secrets.token_urlsafe(18), self._clock())
        body = orjson.dumps({"u": session.user, "n": session.nonce, "t": session.issued})
        tag = hmac.new(self._key, body, hashlib.sha256).digest()
        return session, f"{_b64(body)}.{_b64(tag)}"

    def read(self, cookie: str | None) -> Session | None:
        """The session in a cookie, or ``None`` if it is missing, forged or expired."""
        if not cookie or len(cookie) > 1024 or cookie.count(".") != 1:
            return None
        body_text, tag_text = cookie.split(".")
        try:
            body, tag = _unb64(body_text), _unb64(tag_text)
        except ValueError:
            return None
        if not hmac.compare_digest(hmac.new(self._key, body, hashlib.sha256).digest(), tag):
            return None
        try:
            value = orjson.loads(body)
            user, nonce, issued = value["u"], value["n"], float(value["t"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None
        if not 0 <= self._clock() - issued <= self.max_age:
            return None
        if not isinstance(nonce, str) or not (user is None or isinstance(user, str)):
            return None
        return Session(user, nonce, issued)

    def csrf(self, session: Session) -> str:
        """The CSRF token every state-changing form of this session must carry."""
        return _b64(hmac.new(self._csrf, session.nonce.encode(), hashlib.sha256).digest())

    def csrf_ok(self, session: Session | None, token: str | None) -> bool:
        if session is None or not token:
            return False
        return hmac.compare_digest(self.csrf(session), token)


class EndedSessions:
    """Sessions ended before their time (by logging out), kept until they would expire."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    @staticmethod
    def _hash(session: Session) -> str:
        return hashlib.sha256(session.nonce.encode()).hexdigest()

    def end(self, session: Session, max_age: int) -> None:
        now = self._clock()
        with self._db.connect() as conn:
            conn.execute("DELETE FROM ended_sessions WHERE expires < ?", (now,))
            conn.execute(
                "INSERT OR REPLACE INTO ended_sessions (nonce_hash, expires) VALUES (?, ?)",
                (self._hash(session), session.issued + max_age),
            )

    def ended(self, session: Session) -> bool:
        with self._db.connect() as conn:
            row = conn.execute(
                "SELECT 1 FROM ended_sessions WHERE nonce_hash = ?", (self._hash(session),)
            ).fetchone()
        return row is not None
