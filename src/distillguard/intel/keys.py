"""The sharing group's key: HMAC-SHA256 over artefact values, so partners can match them.

Every member of a sharing group holds the same secret. An exported indicator carries
``HMAC(key, kind | value)`` instead of the value: a partner with the key computes the same
digest over its own artefacts and compares; anyone else can neither read the value back nor
test guesses against it. The bundle also carries the key's id (an HMAC of a fixed label,
never the key), so a partner holding another key is told why nothing matches instead of
silently finding nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from .errors import IntelError

KEY_ENV: Final = "DISTILLGUARD_INTEL_KEY"
MIN_KEY_BYTES: Final = 16
_KEY_ID_LABEL: Final = b"distillguard/intel/key-id/v1"


@dataclass(frozen=True)
class SharingKey:
    """A sharing group's secret. Its ``repr`` never shows the secret."""

    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_KEY_BYTES:
            raise IntelError(f"a sharing key needs at least {MIN_KEY_BYTES} bytes")

    @property
    def key_id(self) -> str:
        """Public id of the key: equal ids mean partners can match each other's digests."""
        return hmac.new(self.secret, _KEY_ID_LABEL, hashlib.sha256).hexdigest()[:16]

    def digest(self, kind: str, value: str) -> str:
        """The shared digest of one artefact: hex HMAC-SHA256 over ``kind``, a separator and
        ``value`` (the kind is bound in, so a value never matches across kinds)."""
        message = f"{kind}\x1f{value}".encode("utf-8", "surrogatepass")
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()

    @classmethod
    def from_env(cls) -> SharingKey:
        """The key in ``$DISTILLGUARD_INTEL_KEY``; there is no default, on purpose."""
        value = os.environ.get(KEY_ENV)
        if not value:
            raise IntelError(f"no sharing key: set {KEY_ENV} or pass --key-file")
        return cls(value.encode())

    @classmethod
    def from_file(cls, path: Path) -> SharingKey:
        """The key in ``path`` (its bytes, one trailing newline dropped)."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise IntelError(f"{path}: cannot read the sharing key: {exc.strerror}") from None
        return cls(data.removesuffix(b"\n"))
