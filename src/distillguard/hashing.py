"""Keyed 64-bit hashes: how customer values (IPs, prompts, key ids) are stored.

A store keeps ``hash64(value)`` instead of the value. The hash is BLAKE2b keyed with the
deployment's hash key, so equal values stay linkable inside one deployment (hunts and the
guard must share the key) while the values cannot be read back. Without a configured key
the public default key is used: that is pseudonymisation, not secrecy, and the docs say so.
"""

from __future__ import annotations

import os
from hashlib import blake2b
from typing import Final

DEFAULT_KEY: Final = b"distillguard/v1"
KEY_ENV: Final = "DISTILLGUARD_HASH_KEY"


def key_from_env() -> bytes:
    """The deployment's hash key: ``$DISTILLGUARD_HASH_KEY`` or the public default."""
    value = os.environ.get(KEY_ENV)
    return value.encode() if value else DEFAULT_KEY


class Hasher:
    """Maps strings to signed 64-bit ints under one key (signed: Arrow/DuckDB ``int64``)."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes = DEFAULT_KEY) -> None:
        if not 1 <= len(key) <= 64:
            raise ValueError("hash key must be 1 to 64 bytes")
        self._key = key

    def __call__(self, value: str) -> int:
        digest = blake2b(value.encode("utf-8", "surrogatepass"), digest_size=8, key=self._key)
        return int.from_bytes(digest.digest(), "little", signed=True)

    def maybe(self, value: str | None) -> int | None:
        return None if value is None else self(value)
