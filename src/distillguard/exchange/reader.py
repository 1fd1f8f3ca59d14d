"""Streaming readers: files → chunks of raw records, with memory bounded by the chunk size.

JSON Lines (plain or gzip) are cut into chunks of whole lines without parsing them, so the
expensive part (parsing, normalising) can run in worker processes. A line longer than the
size limit is never held in memory: it is skipped as it streams past and reported with its
byte offset. A gzip stream that ends early yields everything before the break and then a
``truncated_gzip`` rejection. Parquet files are read batch by batch and checked against the
contract's top-level fields first; a file with the wrong schema is rejected as a whole.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final, cast

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import InputError
from .quarantine import EXCERPT_BYTES, Rejected

DEFAULT_LIMIT: Final = 8 * 1024 * 1024
CHUNK_BYTES: Final = 16 * 1024 * 1024
PARQUET_BATCH: Final = 4096
GZIP_MAGIC: Final = b"\x1f\x8b"
GZIP_BLOCK: Final = 256 * 1024


@dataclass(frozen=True, slots=True)
class LineChunk:
    """Consecutive lines of one file, starting at ``first_line`` (1-based) and at byte
    ``offset`` of the (decompressed) file, when known."""

    file: str
    first_line: int
    data: bytes
    offset: int | None = None


@dataclass(frozen=True, slots=True)
class DocumentChunk:
    """A whole JSON document (``.json`` file): one record or an array of records."""

    file: str
    data: bytes


@dataclass(frozen=True, slots=True)
class RowsChunk:
    """Rows already split into objects by a tabular reader (CSV), with their line numbers."""

    file: str
    rows: list[tuple[int, object]]


@dataclass(frozen=True, slots=True)
class BatchChunk:
    """Rows of a Parquet file, starting at row ``first_row`` (1-based)."""

    file: str
    first_row: int
    batch: pa.RecordBatch


Chunk = LineChunk | DocumentChunk | RowsChunk | BatchChunk


def expand(paths: list[Path]) -> list[Path]:
    """Files named, and the log files inside folders named, in a stable order."""
    out: list[Path] = []
    for path in paths:
        if not path.exists():
            raise InputError(f"{path}: no such file or folder")
        if path.is_dir():
            out.extend(
                sorted(
                    p
                    for p in path.rglob("*")
                    if p.is_file()
                    and p.name.endswith(
                        (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".parquet", ".csv")
                    )
                )
            )
        else:
            out.append(path)
    return out


def _open(path: Path) -> IO[bytes]:
    """The file's bytes, decompressed if it is gzip (by its magic number, not its name)."""
    with path.open("rb") as probe:
        head = probe.read(2)
    if head == GZIP_MAGIC:
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


class _BrokenStreamError(Exception):
    """A gzip stream that breaks off or is corrupt; everything before the break was read."""


def _blocks(raw: IO[bytes], size: int) -> Iterator[bytes]:
    """The bytes of a file in blocks of at most ``size``, decompressed if it is gzip.

    Gzip is decompressed here rather than by ``gzip``, whose ``read`` discards what it had
    decompressed in a call that meets the break: this yields every byte before the break,
    then raises ``_BrokenStreamError``. Members may follow each other, with zero padding between.
    """
    if raw.read(2) != GZIP_MAGIC:
        raw.seek(0)
        while block := raw.read(size):
            yield block
        return
    raw.seek(0)
    member = zlib.decompressobj(31)
    inside = False  # a member has started and not yet ended
    capped = False  # the last output was cut at ``size``: zlib may hold more
    pending = b""  # compressed bytes not yet handed to zlib
    while True:
        if not pending and not capped:
            pending = raw.read(GZIP_BLOCK)
            if not pending:
                if inside:
                    tail = member.flush()
                    if tail:
                        yield tail
                    raise _BrokenStreamError("the stream ends before its end marker")
                return
        if not inside:
            pending = pending.lstrip(b"\0")
            if not pending:
                continue
            member = zlib.decompressobj(31)
            inside = True
        saved = member.copy()
        try:
            out = member.decompress(pending, size)
        except zlib.error as exc:
            yield from _salvage(saved, pending, size)
            raise _BrokenStreamError(str(exc)) from None
        if member.eof:
            pending, inside, capped = member.unused_data, False, False
        else:
            pending, capped = member.unconsumed_tail, len(out) == size
        if out:
            yield out


def _salvage(member: Any, data: bytes, size: int) -> Iterator[bytes]:
    """What ``member`` decompresses from ``data`` before the point where it fails (a bad
    checksum, corrupt data): fed a byte at a time, since a failing call returns nothing."""
    out: list[bytes] = []
    held = 0
    for i in range(len(data)):
        try:
            piece = member.decompress(data[i : i + 1])
        except zlib.error:
            break
        out.append(piece)
        held += len(piece)
        if held >= size:
            yield b"".join(out)
            out, held = [], 0
    if held:
        yield b"".join(out)


def read_lines(
    path: Path, *, limit: int = DEFAULT_LIMIT, chunk_bytes: int = CHUNK_BYTES
) -> Iterator[LineChunk | Rejected]:
    """Chunks of whole lines of a JSON Lines file (plain or gzip), and what was rejected."""
    name = str(path)
    line = 1  # number of the first line in ``pending``
    offset = 0  # byte offset of ``pending`` in the decompressed stream
    pending = b""  # an incomplete last line
    out: list[bytes | memoryview] = []  # complete lines not yet emitted, as blocks
    out_bytes = 0
    out_line = 1
    out_offset = 0
    skipping: Rejected | None = None  # an oversized line being skipped
    skipped = 0
    block_size = max(1, min(chunk_bytes, limit + 1))
    try:
        raw = path.open("rb")
    except OSError as exc:
        yield Rejected(name, None, "unreadable_file", str(exc))
        return
    with raw:
        blocks = _blocks(raw, block_size)
        while True:
            try:
                block = next(blocks, b"")
            except (_BrokenStreamError, OSError) as exc:
                if out:
                    yield LineChunk(name, out_line, b"".join(out), out_offset)
                broken = isinstance(exc, _BrokenStreamError)
                yield Rejected(
                    name,
                    line,
                    "truncated_gzip" if broken else "unreadable_file",
                    f"the {'compressed stream breaks off' if broken else 'read failed'} "
                    f"after line {line - 1} ({exc})",
                    record=pending[:EXCERPT_BYTES] or None,
                    offset=offset,
                )
                return
            if not block:
                break
            if skipping is not None:
                cut = block.find(b"\n")
                if cut < 0:
                    skipped += len(block)
                    continue
                skipped += cut
                yield Rejected(
                    skipping.file,
                    skipping.line,
                    skipping.reason,
                    f"record of {skipped} bytes is over the {limit}-byte limit",
                    record=skipping.record,
                    offset=skipping.offset,
                )
                offset += skipped + 1
                line += 1
                skipping = None
                block = block[cut + 1 :]
            cut = block.rfind(b"\n")
            if cut >= 0:
                # The complete lines are kept as views of the block: copied once, into the chunk.
                if not out:
                    out_line, out_offset = line, offset
                if pending:
                    out.append(pending)
                out.append(memoryview(block)[: cut + 1])
                complete = len(pending) + cut + 1
                out_bytes += complete
                line += block.count(b"\n")
                offset += complete
                pending = block[cut + 1 :]
                if out_bytes >= chunk_bytes:
                    yield LineChunk(name, out_line, b"".join(out), out_offset)
                    out, out_bytes = [], 0
            else:
                pending += block
            if len(pending) > limit:
                if out:
                    yield LineChunk(name, out_line, b"".join(out), out_offset)
                    out, out_bytes = [], 0
                skipping = Rejected(
                    name, line, "too_large", "", record=pending[:EXCERPT_BYTES], offset=offset
                )
                skipped = len(pending)
                pending = b""
        if skipping is not None:
            yield Rejected(
                name,
                line,
                skipping.reason,
                f"record of {skipped} bytes is over the {limit}-byte limit",
                record=skipping.record,
                offset=skipping.offset,
            )
            line += 1
        if pending.strip():
            if not out:
                out_line, out_offset = line, offset
            out.append(pending)
        if out:
            yield LineChunk(name, out_line, b"".join(out), out_offset)


DOCUMENT_LIMIT: Final = 1024 * 1024 * 1024


def read_document(path: Path, *, limit: int = DOCUMENT_LIMIT) -> Iterator[Chunk | Rejected]:
    """A ``.json`` file: one JSON document (object or array of objects) if it parses as one,
    else JSON Lines (exporters often write JSON Lines under a ``.json`` name)."""
    try:
        with _open(path) as stream:
            data = stream.read(limit + 1)
    except (OSError, EOFError, zlib.error):
        yield from read_lines(path)  # reports where and how the file breaks
        return
    if len(data) <= limit:
        try:
            orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
        else:
            yield DocumentChunk(str(path), data)
            return
    del data
    yield from read_lines(path)


def first_record(path: Path) -> object | None:
    """The first JSON value of a JSON Lines file, for format sniffing; None if unreadable."""
    try:
        with _open(path) as stream:
            for raw in stream:
                if raw.strip():
                    if len(raw) > DEFAULT_LIMIT:
                        return None
                    value: object = orjson.loads(raw)
                    return value
    except (OSError, EOFError, zlib.error, orjson.JSONDecodeError):
        return None
    return None


# -- Parquet -----------------------------------------------------------------------------

_REQUIRED: Final = {
    "id": ("string",),
    "ts": ("string", "timestamp"),
    "account_id": ("string",),
    "surface": ("string",),
    "request": ("struct", "string"),
}
_OPTIONAL_NESTED: Final = ("response", "client", "meta")


def _kind(type_: pa.DataType) -> str:
    if pa.types.is_string(type_) or pa.types.is_large_string(type_):
        return "string"
    if pa.types.is_timestamp(type_):
        return "timestamp"
    if pa.types.is_struct(type_) or pa.types.is_map(type_):
        return "struct"
    return str(type_)


def parquet_schema_problems(schema: pa.Schema) -> list[str]:
    """What is wrong with a Parquet file's schema for the contract, empty if nothing."""
    problems = []
    for name, kinds in _REQUIRED.items():
        index = schema.get_field_index(name)
        if index < 0:
            problems.append(f"column {name!r} is missing")
        elif _kind(schema.field(index).type) not in kinds:
            problems.append(
                f"column {name!r} is {schema.field(index).type}, expected {' or '.join(kinds)}"
            )
    for name in _OPTIONAL_NESTED:
        index = schema.get_field_index(name)
        if index >= 0 and _kind(schema.field(index).type) not in ("struct", "string"):
            problems.append(f"column {name!r} is {schema.field(index).type}, expected struct")
    return problems


def read_parquet(path: Path, *, batch_rows: int = PARQUET_BATCH) -> Iterator[BatchChunk | Rejected]:
    """Batches of a contract Parquet file, or one rejection for the whole file."""
    name = str(path)
    try:
        parquet = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as exc:
        yield Rejected(name, None, "unreadable_file", f"not a readable Parquet file: {exc}")
        return
    rows = parquet.metadata.num_rows
    problems = parquet_schema_problems(parquet.schema_arrow)
    if problems:
        yield Rejected(name, None, "wrong_schema", "; ".join(problems), count=max(rows, 1))
        return
    row = 1
    try:
        for batch in parquet.iter_batches(batch_size=batch_rows):
            yield BatchChunk(name, row, batch)
            row += batch.num_rows
    except (OSError, pa.ArrowException) as exc:
        yield Rejected(
            name,
            row,
            "unreadable_file",
            f"Parquet read failed at row {row}: {exc}",
            count=max(rows - row + 1, 1),
        )
