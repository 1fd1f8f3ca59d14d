"""Streaming CSV rows (RFC 4180, header row) as dicts, one row in memory at a time.

A row that cannot be read as the header says (a different number of fields) is still yielded,
marked with ``MALFORMED``, so that the adapter rejects that one row with its line number
instead of the whole file stopping.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, Final

MALFORMED: Final = "__malformed_csv_row__"
_FIELD_LIMIT: Final = 256 * 1024 * 1024
"""Largest cell read. JSON columns (whole requests and responses) overflow csv's 128 KiB
default; the record-size limit of the ingest still applies to what this yields."""

Cell = Callable[[str, str], Any]


def _open(path: Path) -> IO[str]:
    if path.name.lower().endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return path.open(encoding="utf-8-sig", newline="")


def read_rows(path: Path, cell: Cell) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line where the row starts, row) pairs; ``cell(column, text)`` converts each value.

    Empty cells are None: a CSV dump cannot tell SQL NULL from an empty string, and the
    columns read here treat both as absent.
    """
    if csv.field_size_limit() < _FIELD_LIMIT:
        csv.field_size_limit(_FIELD_LIMIT)
    with _open(path) as handle:
        reader = csv.reader(handle, strict=False)
        try:
            yield from _rows(reader, cell)
        except csv.Error as exc:
            # The reader cannot resume after this (NUL byte, giant cell): the rest of the
            # file is lost, and the caller reports it as an unreadable file.
            raise ValueError(f"{path.name}: CSV line {reader.line_num}: {exc}") from None


def _rows(reader: Any, cell: Cell) -> Iterator[tuple[int, dict[str, Any]]]:
    header = next(reader, None)
    if header is None:
        return
    header = [name.strip() for name in header]
    line = reader.line_num + 1
    for fields in reader:
        start, line = line, reader.line_num + 1
        if not any(fields):
            continue
        row: dict[str, Any] = {}
        for name, text in zip(header, fields, strict=False):
            row[name] = None if text == "" else cell(name, text)
        if len(fields) != len(header):
            row[MALFORMED] = f"row has {len(fields)} fields, the header has {len(header)}"
        yield start, row
