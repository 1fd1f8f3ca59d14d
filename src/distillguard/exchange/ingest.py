"""Ingest: exchange logs (+ registry, model releases) → a store, with nothing lost.

Files are cut into chunks in this process and parsed in worker processes (``work``); results
come back in input order, so the store is the same whatever the number of workers. At most
a few chunks are in flight at once, which bounds memory whatever the size of the input.
"""

from __future__ import annotations

import os
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import orjson

from ..errors import InputError, RecordError
from ..hashing import DEFAULT_KEY, Hasher
from .quarantine import Quarantine, Rejected
from .reader import (
    DEFAULT_LIMIT,
    Chunk,
    RowsChunk,
    expand,
    read_document,
    read_lines,
    read_parquet,
)
from .registry import TableStats, read_accounts, read_models
from .store import ACCOUNTS, MODELS, QUARANTINE, SUMMARY, StoreWriter, prepare
from .work import AUTO, Annotator, ChunkResult, ParseOptions, process

Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class IngestOptions:
    keep_text: bool = False
    """Keep raw system prompt, prompt, response and reasoning text (off: hashes only)."""
    limit: int = DEFAULT_LIMIT
    """Largest record accepted, in bytes."""
    workers: int = 0
    """Worker processes; 0 means one per core (at most 4), 1 parses in this process."""
    fmt: str = AUTO
    """Input format: auto (per record), contract, or an adapter name (otel, litellm, helicone)."""
    hash_key: bytes = DEFAULT_KEY
    overwrite: bool = False
    annotate: Annotator | None = None
    """Signals computed per chunk from the texts before they are dropped (e.g. text rules)."""


@dataclass(frozen=True, slots=True)
class IngestSummary:
    store: Path
    files: int
    records: int
    exchanges: int
    duplicates: int
    rejected: int
    rejected_by_reason: dict[str, int]
    warnings_by_reason: dict[str, int]
    accounts: int
    days: int
    first_ts: datetime | None
    last_ts: datetime | None
    registry: TableStats | None
    models: TableStats | None
    quarantine: Path
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        """True when nothing at all was rejected (exchanges, registry or model rows)."""
        return self.rejected == 0

    def to_json(self) -> dict[str, Any]:
        def stats(t: TableStats | None) -> dict[str, int] | None:
            return (
                None
                if t is None
                else {"rows": t.rows, "rejected": t.rejected, "duplicates": t.duplicates}
            )

        return {
            "store": str(self.store),
            "files": self.files,
            "records": self.records,
            "exchanges": self.exchanges,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "rejected_by_reason": self.rejected_by_reason,
            "warnings_by_reason": self.warnings_by_reason,
            "accounts": self.accounts,
            "days": self.days,
            "first_ts": None if self.first_ts is None else self.first_ts.isoformat(),
            "last_ts": None if self.last_ts is None else self.last_ts.isoformat(),
            "registry": stats(self.registry),
            "models": stats(self.models),
            "quarantine": str(self.quarantine),
            "seconds": round(self.seconds, 3),
        }


def _chunks(paths: Sequence[Path], limit: int) -> Iterator[Chunk | Rejected]:
    for path in paths:
        name = path.name.lower()
        if name.endswith(".parquet"):
            yield from read_parquet(path)
        elif name.endswith((".csv", ".csv.gz")):
            yield from _csv_chunks(path)
        elif name.endswith((".json", ".json.gz")):
            yield from read_document(path)
        else:
            yield from read_lines(path, limit=limit)


_CSV_ROWS: Final = 2000
_QUEUED_MAX: Final = 1024  # reader rejections held back behind unfinished chunks


def _csv_chunks(path: Path) -> Iterator[Chunk | Rejected]:
    """LiteLLM spend-log CSV exports (the one CSV log format read), in chunks of rows."""
    from .adapters.litellm import read_csv_rows

    rows: list[tuple[int, object]] = []
    try:
        for line, row in read_csv_rows(path):
            rows.append((line, row))
            if len(rows) == _CSV_ROWS:
                yield RowsChunk(str(path), rows)
                rows = []
    except (OSError, EOFError, ValueError, RecordError) as exc:
        if rows:
            yield RowsChunk(str(path), rows)
            rows = []
        yield Rejected(str(path), None, "unreadable_file", f"CSV read stopped: {exc}")
    if rows:
        yield RowsChunk(str(path), rows)


def _workers(requested: int) -> int:
    if requested > 0:
        return requested
    return max(1, min(os.cpu_count() or 1, 4))


def ingest(
    logs: Sequence[Path],
    out: Path,
    *,
    accounts: Path | None = None,
    models: Path | None = None,
    options: IngestOptions = IngestOptions(),
    progress: Progress | None = None,
) -> IngestSummary:
    """Read exchange logs (files or folders) into a new store at ``out``."""
    started = time.perf_counter()
    files = expand(list(logs))
    for table in (accounts, models):
        if table is not None and not table.is_file():
            raise InputError(f"{table}: no such file")
    prepare(out, overwrite=options.overwrite)
    hasher = Hasher(options.hash_key)
    parse = ParseOptions(options.hash_key, options.keep_text, options.limit, options.annotate)
    writer = StoreWriter(out, keep_text=options.keep_text, hasher=hasher)
    records = 0
    warnings: Counter[str] = Counter()

    with Quarantine(out / QUARANTINE) as quarantine:

        def take(result: ChunkResult) -> None:
            nonlocal records
            writer.write(result.table)
            for rejected in result.rejected:
                quarantine.add(rejected)
            records += result.records
            warnings.update(result.warnings)
            if progress is not None:
                progress(result.records)

        workers = _workers(options.workers)
        chunks = _chunks(files, options.limit)
        if workers == 1:
            for item in chunks:
                if isinstance(item, Rejected):
                    quarantine.add(item)
                    records += item.count
                else:
                    take(process(item, options.fmt, parse))
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                # The reader's own rejections wait in line behind the chunks before them,
                # so the quarantine is in input order whatever the number of workers.
                inflight: deque[Future[ChunkResult] | Rejected] = deque()
                running = 0

                def settle() -> None:
                    nonlocal records, running
                    head = inflight.popleft()
                    if isinstance(head, Rejected):
                        quarantine.add(head)
                        records += head.count
                    else:
                        running -= 1
                        take(head.result())

                for item in chunks:
                    if isinstance(item, Rejected):
                        inflight.append(item)
                        while len(inflight) > _QUEUED_MAX:
                            settle()
                        continue
                    inflight.append(pool.submit(process, item, options.fmt, parse))
                    running += 1
                    while running > 2 * workers:
                        settle()
                while inflight:
                    settle()
        stats = writer.finish()
        registry = (
            None
            if accounts is None
            else read_accounts(accounts, out / ACCOUNTS, hasher, quarantine)
        )
        releases = None if models is None else read_models(models, out / MODELS, quarantine)
        by_reason = dict(sorted(quarantine.by_reason.items()))
        rejected = quarantine.total

    summary = IngestSummary(
        store=out,
        files=len(files),
        records=records,
        exchanges=stats.exchanges,
        duplicates=stats.duplicates,
        rejected=rejected,
        rejected_by_reason=by_reason,
        warnings_by_reason=dict(sorted(warnings.items())),
        accounts=stats.accounts,
        days=stats.days,
        first_ts=stats.first_ts,
        last_ts=stats.last_ts,
        registry=registry,
        models=releases,
        quarantine=out / QUARANTINE,
        seconds=time.perf_counter() - started,
    )
    (out / SUMMARY).write_bytes(orjson.dumps(summary.to_json(), option=orjson.OPT_INDENT_2))
    return summary
