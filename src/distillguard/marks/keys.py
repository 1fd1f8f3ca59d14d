"""Watermark keys: one master secret, keys derived per scope and time epoch, public key ids.

Derivation (HMAC-SHA256 throughout, labels versioned so they can change later)::

    key_id   = hex(HMAC(master, "distillguard/mark-key-id/v1" 0 scope 0 epoch)[:8])
    material = HMAC(master, "distillguard/mark-key/v1" 0 key_id)

A ``scope`` is ``cluster:<id>`` or ``account:<id>`` and an epoch is a whole number of
``epoch_days`` since 1970-01-01 UTC, so keys rotate on their own. The key id is a PRF output
of the master secret: it says nothing about the key material, the scope or the epoch to
anyone without the master secret, so it can travel in request headers. Because the material
depends on the id alone, the model server needs only the master secret and the id the guard
sent (``Keyring.for_id``); detection re-derives every (scope, epoch) key it wants to test
(``Keyring.candidates``).

Secrets and key material never appear in ``repr``, ``str``, exceptions or reports.
"""

from __future__ import annotations

import hmac
import os
import re
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from .errors import MarkKeyError

SECRET_ENV: Final = "DISTILLGUARD_MARK_SECRET"
"""Environment variable holding the master secret (text, at least 32 bytes)."""
MIN_SECRET_BYTES: Final = 32
EPOCH_DAYS: Final = 30
"""Default key lifetime: a new key per scope every 30 days."""
ACTIVE_EPOCHS: Final = 3
"""Default number of epochs detection tests: the current one and the two before."""
_ID_LABEL: Final = b"distillguard/mark-key-id/v1\x00"
_KEY_LABEL: Final = b"distillguard/mark-key/v1\x00"
_WORD_LABEL: Final = b"distillguard/mark-prf/v1\x00"
_KEY_ID: Final = re.compile(r"[0-9a-f]{16}")
_SCOPE: Final = re.compile(r"(cluster|account):\S+")


class MasterSecret:
    """The deployment's master secret. Its ``repr`` hides it; equality is constant-time."""

    __slots__ = ("_secret",)

    def __init__(self, secret: bytes) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise MarkKeyError(
                f"the master secret has {len(secret)} bytes; at least {MIN_SECRET_BYTES} "
                "are needed (e.g. 64 hex characters from a random source)"
            )
        self._secret = secret

    @classmethod
    def generate(cls) -> MasterSecret:
        """A fresh random secret (64 hex characters), for ``marks keygen`` and tests."""
        return cls(secrets.token_hex(32).encode())

    @classmethod
    def from_env(cls, name: str = SECRET_ENV) -> MasterSecret:
        value = os.environ.get(name)
        if not value:
            raise MarkKeyError(f"${name} is not set: no master secret for watermark keys")
        return cls(value.strip().encode())

    @classmethod
    def from_file(cls, path: Path) -> MasterSecret:
        """The secret is the file's bytes without surrounding whitespace."""
        try:
            data = path.read_bytes()
        except OSError as error:
            reason = error.strerror or type(error).__name__
            raise MarkKeyError(f"{path}: cannot read the master secret ({reason})") from None
        return cls(data.strip())

    def exposed(self) -> bytes:
        """The raw secret, for writing it to a secret store; never log what this returns."""
        return self._secret

    def mac(self, label: bytes, message: bytes) -> bytes:
        return hmac.new(self._secret, label + message, "sha256").digest()

    def __repr__(self) -> str:
        return "MasterSecret(<hidden>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MasterSecret):
            return NotImplemented
        return hmac.compare_digest(self._secret, other._secret)

    def __hash__(self) -> int:
        return hash(self.mac(b"hash", b""))

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a MasterSecret is not pickled: load it from the file or environment")


class MarkKey:
    """One derived key: its public ``key_id`` and, when derived from a scope, which one.

    ``scope`` and ``epoch`` are ``None`` for a key resolved from its id alone (the model
    server's view). ``word(domain)`` gives the 64-bit PRF key of one watermark scheme.
    """

    __slots__ = ("_material", "epoch", "key_id", "scope")

    def __init__(
        self, key_id: str, material: bytes, scope: str | None = None, epoch: int | None = None
    ) -> None:
        self.key_id = key_id
        self.scope = scope
        self.epoch = epoch
        self._material = material

    def word(self, domain: str) -> int:
        """The unsigned 64-bit PRF key of ``domain`` (``gumbel``, ``greenlist``)."""
        digest = hmac.new(self._material, _WORD_LABEL + domain.encode(), "sha256").digest()
        return int.from_bytes(digest[:8], "little")

    def __repr__(self) -> str:
        return f"MarkKey(key_id={self.key_id!r}, scope={self.scope!r}, epoch={self.epoch!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MarkKey):
            return NotImplemented
        return hmac.compare_digest(self._material, other._material)

    def __hash__(self) -> int:
        return hash(self.key_id)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a MarkKey is not pickled: derive it again from the keyring")


def scope_for(*, cluster_id: str | None = None, account_id: str | None = None) -> str:
    """``cluster:<id>`` when the account is in a cluster, else ``account:<id>``.

    The same rule as the guard: a cluster shares one key, so a model distilled from any of
    its accounts points back to the campaign.
    """
    if cluster_id:
        return f"cluster:{cluster_id}"
    if account_id:
        return f"account:{account_id}"
    raise MarkKeyError("a watermark scope needs a cluster id or an account id")


def epoch_of(when: datetime, days: int = EPOCH_DAYS) -> int:
    """The epoch ``when`` falls in: whole ``days``-day periods since 1970-01-01 UTC."""
    if when.tzinfo is None:
        raise MarkKeyError("epoch_of needs an aware datetime (UTC), not a naive one")
    return int(when.timestamp() // (days * 86_400))


class Keyring:
    """Derives keys from the master secret; knows which epochs are active."""

    __slots__ = ("_master", "active_epochs", "epoch_days")

    def __init__(
        self,
        master: MasterSecret,
        *,
        epoch_days: int = EPOCH_DAYS,
        active_epochs: int = ACTIVE_EPOCHS,
    ) -> None:
        if epoch_days < 1 or active_epochs < 1:
            raise MarkKeyError("epoch_days and active_epochs must be at least 1")
        self._master = master
        self.epoch_days = epoch_days
        self.active_epochs = active_epochs

    def __repr__(self) -> str:
        return f"Keyring(epoch_days={self.epoch_days}, active_epochs={self.active_epochs})"

    def epoch(self, when: datetime | None = None) -> int:
        return epoch_of(when or datetime.now(UTC), self.epoch_days)

    def key_id(self, scope: str, epoch: int) -> str:
        """The public id of the key of ``scope`` in ``epoch`` (16 hex characters)."""
        if not _SCOPE.fullmatch(scope):
            raise MarkKeyError(f"scope {scope!r} is not cluster:<id> or account:<id>")
        message = scope.encode() + b"\x00" + str(epoch).encode()
        return self._master.mac(_ID_LABEL, message)[:8].hex()

    def current_id(self, scope: str, when: datetime | None = None) -> str:
        """What the guard sends upstream for a request of ``scope`` made at ``when``."""
        return self.key_id(scope, self.epoch(when))

    def for_id(self, key_id: str) -> MarkKey:
        """The key behind ``key_id``: all the model server needs besides the master secret."""
        if not _KEY_ID.fullmatch(key_id):
            raise MarkKeyError(f"watermark key id {key_id!r} is not 16 lowercase hex characters")
        return MarkKey(key_id, self._master.mac(_KEY_LABEL, key_id.encode()))

    def key(self, scope: str, epoch: int) -> MarkKey:
        key_id = self.key_id(scope, epoch)
        return MarkKey(key_id, self._master.mac(_KEY_LABEL, key_id.encode()), scope, epoch)

    def candidates(self, scopes: Iterable[str], when: datetime | None = None) -> list[MarkKey]:
        """Every active key of ``scopes``: the current epoch at ``when`` and those before."""
        last = self.epoch(when)
        epochs = range(last - self.active_epochs + 1, last + 1)
        keys = [self.key(scope, epoch) for scope in dict.fromkeys(scopes) for epoch in epochs]
        if not keys:
            raise MarkKeyError("no scope given: there is no watermark key to test")
        return keys
