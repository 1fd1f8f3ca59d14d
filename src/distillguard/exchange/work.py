"""The per-chunk work of an ingest: parse, validate, normalise. Runs in worker processes.

Everything here is a pure function of its arguments so that chunks can be handled in any
process and the result is the same as handling them in order in one.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Protocol

import orjson
import pyarrow as pa

from ..errors import RecordError
from ..hashing import Hasher
from .normalise import RowBuffer
from .quarantine import EXCERPT_BYTES, Rejected
from .reader import BatchChunk, Chunk, DocumentChunk, LineChunk, RowsChunk
from .schema import TEXT_COLUMNS

CONTRACT: Final = "contract"
AUTO: Final = "auto"
_CONTRACT_KEYS: Final = ("id", "ts", "account_id", "surface", "request")


class Annotator(Protocol):
    """Adds signals to a chunk's table while its texts are still there.

    Must be picklable (a module-level class), since chunks are parsed in worker processes.
    It may fill columns of the schema (such as ``text_rules``) but not change the schema.
    """

    def __call__(self, table: pa.Table) -> pa.Table: ...


@dataclass(frozen=True, slots=True)
class ParseOptions:
    hash_key: bytes
    keep_text: bool = False
    limit: int = 8 * 1024 * 1024
    annotate: Annotator | None = None


@dataclass(slots=True)
class ChunkResult:
    table: pa.Table
    rejected: list[Rejected]
    records: int
    warnings: Counter[str] = field(default_factory=Counter)


def is_contract(record: object) -> bool:
    return isinstance(record, dict) and all(key in record for key in _CONTRACT_KEYS)


def _exchanges(record: object, fmt: str) -> list[Any]:
    """The contract records inside one input record (an adapter may yield several).

    With ``auto`` each record is recognised on its own: contract records by their required
    fields, others by the adapters' sniffers; what nobody recognises is validated as a
    contract record, so its rejection says which contract field is missing.
    """
    if fmt == CONTRACT or (fmt == AUTO and is_contract(record)):
        return [record]
    if not isinstance(record, dict):
        raise RecordError("wrong_type", "a record must be a JSON object")
    from .adapters import ADAPTERS, sniff_format

    name = sniff_format(record) if fmt == AUTO else fmt
    if name is None:
        return [record]
    return list(ADAPTERS[name].to_exchanges(record))


_BUFFERS: dict[tuple[bytes, bool], RowBuffer] = {}


def _buffer(key: bytes, keep_text: bool) -> RowBuffer:
    """A row buffer for one chunk. Each process keeps one per hash key, so that what its
    memos learnt (hashes of recurring values) carries over from chunk to chunk; the rows
    are the same either way. Output texts are held only when they are kept."""
    buffer = _BUFFERS.get((key, keep_text))
    if buffer is None or len(buffer):  # a chunk that failed half-way left rows behind
        buffer = _BUFFERS[key, keep_text] = RowBuffer(Hasher(key), output_text=keep_text)
    return buffer


class _Sink:
    """Feeds records into a row buffer and collects rejections for one chunk."""

    def __init__(self, file: str, fmt: str, options: ParseOptions) -> None:
        self.file = file
        self.fmt = fmt
        self.rows = _buffer(options.hash_key, options.keep_text)
        self.options = options
        self.rejected: list[Rejected] = []
        self.records = 0

    def record(self, record: object, line: int, raw: bytes | None, where: str = "") -> None:
        self.records += 1
        try:
            exchanges = _exchanges(record, self.fmt)
            for i, exchange in enumerate(exchanges):
                try:
                    self.rows.append(exchange, self.file, line)
                except RecordError as exc:
                    # Exchanges appended before this one stay: each is a record of its own.
                    many = len(exchanges) > 1
                    suffix = f" (exchange {i + 1} of {len(exchanges)})" if many else ""
                    raise RecordError(exc.reason, exc.message + suffix, field=exc.field) from exc
        except RecordError as exc:
            if raw is None:
                raw = _dump(record)
            self.reject(line, exc.reason, where + exc.message, raw, exc.field)

    def reject(
        self, line: int, reason: str, message: str, raw: bytes | None, field: str | None = None
    ) -> None:
        self.rejected.append(Rejected(self.file, line, reason, message, field, raw))

    def result(self) -> ChunkResult:
        warnings: Counter[str] = Counter()
        table = self.rows.take()
        if self.options.annotate is not None and table.num_rows:
            table = self.options.annotate(table)
        if not self.options.keep_text:
            for name in TEXT_COLUMNS:
                index = table.schema.get_field_index(name)
                field = table.schema.field(index)
                table = table.set_column(index, field, pa.nulls(table.num_rows, field.type))
        for items in table.column("warnings").to_pylist():
            warnings.update(item.split(":", 1)[0] for item in items or ())
        return ChunkResult(table, self.rejected, self.records, warnings)


def _dump(record: object) -> bytes | None:
    try:
        return orjson.dumps(record, default=str)
    except (TypeError, orjson.JSONEncodeError):
        return None


_FAILED: Final = object()  # JSON null is a value (a rejected record), not a failure


def _decode(raw: bytes, sink: _Sink, line: int) -> object:
    try:
        value: object = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as bad:
            sink.reject(line, "invalid_utf8", f"byte {bad.start} is not valid UTF-8", raw)
        else:
            sink.reject(line, "invalid_json", str(exc), raw)
        return _FAILED
    return value


def _lines(chunk: LineChunk, sink: _Sink, limit: int) -> None:
    lines = chunk.data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    for i, raw in enumerate(lines):
        line = chunk.first_line + i
        if not raw or raw.isspace():  # blank (no copy made, unlike strip)
            continue
        if len(raw) > limit:
            sink.records += 1
            sink.rejected.append(
                Rejected(
                    sink.file,
                    line,
                    "too_large",
                    f"record of {len(raw)} bytes is over the {limit}-byte limit",
                    record=raw[:EXCERPT_BYTES],
                    offset=_offset_of(chunk, lines, i),
                )
            )
            continue
        record = _decode(raw, sink, line)
        if record is _FAILED:
            sink.records += 1
        else:
            sink.record(record, line, raw)


def _offset_of(chunk: LineChunk, lines: list[bytes], i: int) -> int | None:
    """Byte offset of ``lines[i]`` in the file (rare: only oversized lines need it)."""
    if chunk.offset is None:
        return None
    return chunk.offset + sum(len(raw) + 1 for raw in lines[:i])


def _document(chunk: DocumentChunk, sink: _Sink, limit: int) -> None:
    value = _decode(chunk.data, sink, 1)
    if value is _FAILED:
        sink.records += 1
        return
    items: Iterable[object] = value if isinstance(value, list) else [value]
    for i, item in enumerate(items):
        raw = _dump(item)
        where = f"element {i + 1}: "
        if raw is not None and len(raw) > limit:
            sink.records += 1
            sink.reject(
                i + 1,
                "too_large",
                f"{where}record of {len(raw)} bytes is over the {limit}-byte limit",
                raw[:EXCERPT_BYTES],
            )
            continue
        sink.record(item, i + 1, raw, where=where)


def _json_cells(row: Mapping[str, Any]) -> dict[str, Any]:
    """A Parquet row as a contract record: JSON-string nested fields decoded, times as text,
    null members dropped (a struct column gives every row every member, null where absent)."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if value is None:
            continue
        if key in ("request", "response", "client", "meta") and isinstance(value, str):
            try:
                value = orjson.loads(value)
            except orjson.JSONDecodeError as exc:
                raise RecordError(
                    "invalid_json", f"{key} is not valid JSON: {exc}", field=key
                ) from None
        elif isinstance(value, datetime):
            value = value.isoformat()
        out[key] = _drop_nulls(value)
    return out


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _batch(chunk: BatchChunk, sink: _Sink) -> None:
    # Map columns come back as dicts (the last of repeated keys wins, as in a JSON object).
    for i, row in enumerate(chunk.batch.to_pylist(maps_as_pydicts="lossy")):
        line = chunk.first_row + i
        try:
            record: object = _json_cells(row)
        except RecordError as exc:
            sink.records += 1
            sink.reject(line, exc.reason, exc.message, _dump(row), exc.field)
            continue
        sink.record(record, line, None)


def process(chunk: Chunk, fmt: str, options: ParseOptions) -> ChunkResult:
    """Parse and normalise one chunk."""
    # Parsing allocates millions of small containers and none of them form cycles:
    # reference counting frees them all, while the cyclic collector, left on, would walk
    # the growing buffer again and again (it cost more than the parsing itself).
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _process(chunk, fmt, options)
    finally:
        if enabled:
            gc.enable()


def _process(chunk: Chunk, fmt: str, options: ParseOptions) -> ChunkResult:
    sink = _Sink(chunk.file, fmt, options)
    if isinstance(chunk, LineChunk):
        _lines(chunk, sink, options.limit)
    elif isinstance(chunk, DocumentChunk):
        _document(chunk, sink, options.limit)
    elif isinstance(chunk, RowsChunk):
        for line, row in chunk.rows:
            sink.record(row, line, None)
    else:
        _batch(chunk, sink)
    return sink.result()
