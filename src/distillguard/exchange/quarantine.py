"""Rejected records: what was rejected, where, and why.

Nothing is dropped silently. Every rejected record becomes one line of ``quarantine.jsonl``
with its file, line, reason code, field and message, and the record itself (as text, or
base64 where it is not valid UTF-8; only the first bytes of an oversized record, with its
byte offset so it can be cut out of the source).
"""

from __future__ import annotations

import base64
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final

import orjson

EXCERPT_BYTES: Final = 4096


@dataclass(frozen=True, slots=True)
class Rejected:
    file: str
    line: int | None
    reason: str
    message: str
    field: str | None = None
    record: bytes | None = None
    offset: int | None = None
    count: int = 1
    """How many records this entry stands for (a whole unreadable Parquet file: its rows)."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "file": self.file,
            "line": self.line,
            "reason": self.reason,
            "field": self.field,
            "message": self.message,
        }
        if self.offset is not None:
            out["offset"] = self.offset
        if self.count != 1:
            out["records"] = self.count
        if self.record is not None:
            try:
                out["record"] = self.record.decode("utf-8")
            except UnicodeDecodeError:
                out["record_base64"] = base64.b64encode(self.record).decode("ascii")
        return out


class Quarantine:
    """Appends rejected records to a JSON Lines file and counts them by reason."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.by_reason: Counter[str] = Counter()
        self._out: IO[bytes] | None = None

    @property
    def total(self) -> int:
        return sum(self.by_reason.values())

    def add(self, rejected: Rejected) -> None:
        if self._out is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._out = self.path.open("ab")
        self._out.write(orjson.dumps(rejected.to_json()) + b"\n")
        self.by_reason[rejected.reason] += rejected.count

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None

    def __enter__(self) -> Quarantine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
