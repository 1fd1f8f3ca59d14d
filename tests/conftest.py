"""Shared fixtures: write input logs into a temporary folder, ingest them, read the result."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from distillguard.exchange import IngestOptions, IngestSummary, Store, ingest


def _line(item: object) -> bytes:
    if isinstance(item, bytes):
        return item
    if isinstance(item, str):
        return item.encode()
    return orjson.dumps(item)


@dataclass(frozen=True)
class Ingested:
    """What one ingest produced: its summary, its rows (sorted by id) and its quarantine."""

    summary: IngestSummary
    store: Path
    rows: list[dict[str, Any]]
    quarantine: list[dict[str, Any]]

    def row(self, id_: str) -> dict[str, Any]:
        found = [row for row in self.rows if row["id"] == id_]
        assert len(found) == 1, f"{id_}: {len(found)} rows"
        return found[0]

    @property
    def ids(self) -> list[str]:
        return [row["id"] for row in self.rows]

    def reasons(self) -> list[str]:
        return [entry["reason"] for entry in self.quarantine]


class Logs:
    """A folder of input logs and a way to ingest them into a fresh store."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._stores = 0

    @staticmethod
    def record(n: int = 1, **changes: Any) -> dict[str, Any]:
        """A small valid ``openai.chat`` exchange with id ``ex-<n>``; ``changes`` replace or
        add top-level fields."""
        record: dict[str, Any] = {
            "id": f"ex-{n}",
            "ts": "2025-03-01T12:00:00Z",
            "account_id": "acct-1",
            "surface": "openai.chat",
            "request": {
                "model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": f"Question number {n}?"}],
            },
            "response": {
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Yes."}}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 1},
            },
        }
        record.update(changes)
        return record

    def write(self, name: str, data: bytes) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    def jsonl(self, name: str, items: Iterable[object], *, newline: bytes = b"\n") -> Path:
        """Each item is one line: bytes and str as they are, anything else as JSON."""
        return self.write(name, b"".join(_line(item) + newline for item in items))

    def ingest(
        self,
        *inputs: Path,
        accounts: Path | None = None,
        models: Path | None = None,
        **options: Any,
    ) -> Ingested:
        """Ingest into a new store; by default in this process and as contract records."""
        options.setdefault("workers", 1)
        options.setdefault("fmt", "contract")
        self._stores += 1
        out = self.root / f"store-{self._stores}"
        summary = ingest(
            list(inputs), out, accounts=accounts, models=models, options=IngestOptions(**options)
        )
        rows = Store(out).exchanges().to_table().to_pylist()
        rows.sort(key=lambda row: (row["id"], row["source_file"], row["source_line"]))
        quarantine_file = out / "quarantine.jsonl"
        quarantine = (
            [orjson.loads(line) for line in quarantine_file.read_bytes().splitlines()]
            if quarantine_file.exists()
            else []
        )
        return Ingested(summary, out, rows, quarantine)


@pytest.fixture
def logs(tmp_path: Path) -> Logs:
    return Logs(tmp_path)


@pytest.fixture(scope="session")
def make_logs(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Logs]:
    """For module-scoped fixtures: a ``Logs`` in a new temporary folder."""
    return lambda name: Logs(tmp_path_factory.mktemp(name))
