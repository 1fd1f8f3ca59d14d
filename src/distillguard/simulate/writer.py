"""Files the simulator writes: gzip JSON Lines, the registry, model releases, labels."""

from __future__ import annotations

import csv
import io
import zlib
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson

from .accounts import Account
from .ids import rfc3339
from .models import Lineup

FLUSH_BYTES = 1 << 22


class GzipLines:
    """Appends lines to a gzip file. Level 1: most of the saving at a fraction of the CPU.

    zlib's own gzip framing carries no file name and no time stamp, so equal input gives
    equal bytes.
    """

    def __init__(self, path: Path, level: int = 1) -> None:
        self._file = path.open("wb")
        self._zip = zlib.compressobj(level, zlib.DEFLATED, 31)
        self._buf: list[bytes] = []
        self._size = 0

    def write(self, line: bytes) -> None:
        self._buf.append(line)
        self._size += len(line)
        if self._size >= FLUSH_BYTES:
            self._flush()

    def _flush(self) -> None:
        self._file.write(self._zip.compress(b"".join(self._buf)))
        self._buf.clear()
        self._size = 0

    def close(self) -> None:
        self._flush()
        self._file.write(self._zip.flush())
        self._file.close()

    def __enter__(self) -> GzipLines:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def registry_row(account: Account) -> dict[str, Any]:
    i = account.identity
    return {
        "account_id": i.account_id,
        "org_id": i.org_id,
        "created_at": rfc3339(i.created_at),
        "country": i.country,
        "email_domain": i.email_domain,
        "payment_fingerprint": i.payment,
        "program": i.program,
        "verified": i.verified,
        "signup_ip": i.signup_ip,
        "trusted": i.trusted,
    }


def _by_id(accounts: Iterable[Account]) -> list[Account]:
    # Sorted by the random ids: file order says nothing about how accounts were made.
    return sorted(accounts, key=lambda a: a.identity.account_id)


def write_registry(path: Path, accounts: Iterable[Account]) -> None:
    rows = (registry_row(a) for a in _by_id(accounts) if a.identity.in_registry)
    path.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in rows))


def write_models(path: Path, lineup: Lineup) -> None:
    rows = ({"model": m.name, "released_at": rfc3339(m.released_at)} for m in lineup.models)
    path.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in rows))


def write_labels(path: Path, accounts: Iterable[Account]) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("account_id", "label", "population", "campaign_id", "actor"))
    for a in _by_id(accounts):
        t = a.truth
        writer.writerow((a.identity.account_id, t.label, t.population, t.campaign_id, t.actor))
    path.write_text(out.getvalue(), encoding="utf-8")
