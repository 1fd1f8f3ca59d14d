"""Decisions handed to the guard: lines in its ``watchlist.jsonl``, written atomically.

Each line the console writes carries ``"source": "console"`` and the campaign (``case``)
it enforces. Deciding a case again first withdraws that case's earlier lines, so the file
says what the analysts decide now; lines written by hand or by other tools are kept as they
are. The whole file is rewritten to a temporary file and renamed over the old one, under
an exclusive lock, so the guard (which reloads the file when it changes) never reads half
a decision and two console processes never lose each other's lines.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import orjson

ENTRIES: Final = "watchlist.jsonl"
LOCK: Final = ".watchlist.lock"
SOURCE: Final = "console"


def entries(
    campaign_id: str,
    clusters: Iterable[str],
    accounts: Iterable[str],
    action: str,
    *,
    actor: str,
) -> list[dict[str, Any]]:
    """The guard's entries for a decision: the campaign, its clusters and its accounts."""
    at = datetime.now(UTC).isoformat(timespec="seconds")
    common = {"action": action, "source": SOURCE, "case": campaign_id, "by": actor, "at": at}
    out: list[dict[str, Any]] = [{"scope": "campaign", "id": campaign_id, **common}]
    out += [{"scope": "cluster", "id": c, **common} for c in sorted(set(clusters)) if c]
    out += [{"scope": "account", "id": a, **common} for a in sorted(set(accounts)) if a]
    return out


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _ours(line: bytes, campaign_id: str) -> bool:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return (
        isinstance(value, dict)
        and value.get("source") == SOURCE
        and value.get("case") == campaign_id
    )


def replace_case(folder: Path, campaign_id: str, new: list[dict[str, Any]]) -> int:
    """Withdraw the case's earlier lines and append ``new`` ones; the number withdrawn."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ENTRIES
    with _locked(folder):
        try:
            old = path.read_bytes().splitlines()
        except FileNotFoundError:
            old = []
        kept = [line for line in old if line.strip() and not _ours(line, campaign_id)]
        body = b"".join(line + b"\n" for line in kept)
        body += b"".join(orjson.dumps(entry) + b"\n" for entry in new)
        tmp = folder / f".{ENTRIES}.{os.getpid()}.tmp"
        with tmp.open("wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    return len(old) - len(kept) - sum(1 for line in old if not line.strip())
