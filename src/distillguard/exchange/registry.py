"""Readers for the account registry (contract section 2) and model releases (section 3).

Both are small next to the exchange log, so they are read in one process. Rows are
validated strictly (these files come from the provider's own systems); a bad row goes to the
quarantine and the rest are kept. Customer values are hashed like the exchanges': the
payment fingerprint and the sign-up IP and network.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import RecordError
from ..hashing import Hasher
from .fields import encodable
from .normalise import ip_prefix, parse_ts
from .quarantine import Quarantine, Rejected
from .reader import _open

ACCOUNT_SCHEMA: Final = pa.schema(
    [
        ("account_id", pa.string()),
        ("org_id", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("country", pa.string()),
        ("email_domain", pa.string()),
        ("payment_hash", pa.int64()),
        ("program", pa.string()),
        ("verified", pa.bool_()),
        ("signup_ip_hash", pa.int64()),
        ("signup_prefix_hash", pa.int64()),
        ("trusted", pa.bool_()),
    ]
)
MODEL_SCHEMA: Final = pa.schema(
    [("model", pa.string()), ("released_at", pa.timestamp("us", tz="UTC"))]
)
_TRUE: Final = frozenset({"true", "1", "yes", "t", "y"})
_FALSE: Final = frozenset({"false", "0", "no", "f", "n"})


@dataclass(frozen=True, slots=True)
class TableStats:
    rows: int
    rejected: int
    duplicates: int


def _rows(path: Path, quarantine: Quarantine) -> Iterator[tuple[int, dict[str, Any], bytes]]:
    """(line, row, raw) for JSON Lines or CSV (by extension), rejecting unparsable lines."""
    name = str(path)
    try:
        stream = _open(path)
    except OSError as exc:
        quarantine.add(Rejected(name, None, "unreadable_file", str(exc)))
        return
    with stream:
        if path.name.endswith((".csv", ".csv.gz")):
            # Bytes that are not UTF-8 are carried through as surrogates, so that only the
            # rows holding them are rejected (with their bytes as they were).
            text = io.TextIOWrapper(stream, encoding="utf-8", errors="surrogateescape", newline="")
            try:
                reader = csv.DictReader(text)
                for row in reader:
                    raw = _csv_raw(row)
                    problem = _csv_problem(row)
                    if problem is not None:
                        reason, message = problem
                        quarantine.add(Rejected(name, reader.line_num, reason, message, None, raw))
                        continue
                    cells = {k: (v if v != "" else None) for k, v in row.items()}
                    yield reader.line_num, cells, raw
            except (csv.Error, EOFError, OSError) as exc:
                quarantine.add(Rejected(name, None, "unreadable_file", f"CSV read stopped: {exc}"))
            return
        try:
            for line, raw in enumerate(stream, start=1):
                if not raw.strip():
                    continue
                try:
                    value = orjson.loads(raw)
                except orjson.JSONDecodeError as exc:
                    quarantine.add(Rejected(name, line, "invalid_json", str(exc), None, raw))
                    continue
                if not isinstance(value, dict):
                    quarantine.add(
                        Rejected(name, line, "wrong_type", "row must be an object", None, raw)
                    )
                    continue
                yield line, value, raw
        except (EOFError, OSError) as exc:
            quarantine.add(Rejected(name, None, "truncated_gzip", f"read stopped: {exc}"))


def _csv_cells(row: dict[str | None, Any]) -> list[str]:
    """The cells of a CSV row in file order (extra cells last, under the key None)."""
    cells: list[str] = []
    for value in row.values():
        if isinstance(value, list):
            cells.extend(str(v) for v in value)
        elif value is not None:
            cells.append(str(value))
    return cells


def _csv_problem(row: dict[str | None, Any]) -> tuple[str, str] | None:
    """Why a CSV row cannot be read, as (reason, message); None if it can."""
    if None in row:
        return "wrong_type", "row has more cells than the header"
    for cell in _csv_cells(row):
        if not cell.isascii() and not encodable(cell):
            return "invalid_utf8", "row is not valid UTF-8"
    return None


def _csv_raw(row: dict[str | None, Any]) -> bytes:
    """A CSV row for the quarantine: as JSON, or as its CSV bytes where it is not UTF-8."""
    try:
        return orjson.dumps(row, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:
        buffer = io.StringIO()
        csv.writer(buffer).writerow(_csv_cells(row))
        return buffer.getvalue().rstrip("\r\n").encode("utf-8", "surrogateescape")


def _str(row: dict[str, Any], key: str) -> str | None:
    value = row.get(key)
    if value is None or isinstance(value, str):
        return value
    raise RecordError("wrong_type", f"{key} must be a string", field=key)


def _need_str(row: dict[str, Any], key: str) -> str:
    value = _str(row, key)
    if not value:
        raise RecordError("missing_field", f"{key} is required", field=key)
    return value


def _bool(row: dict[str, Any], key: str) -> bool | None:
    value = row.get(key)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    raise RecordError("wrong_type", f"{key} must be a boolean", field=key)


def _time(row: dict[str, Any], key: str) -> int | None:
    value = _str(row, key)
    return None if value is None else _parse_time(value, key)


def _parse_time(value: str, key: str) -> int:
    try:
        return parse_ts(value)
    except RecordError as exc:
        raise RecordError(
            exc.reason, f"{key} {value[:40]!r} is not RFC 3339 with an offset", field=key
        ) from exc


def read_accounts(path: Path, out: Path, hasher: Hasher, quarantine: Quarantine) -> TableStats:
    """Validate the registry at ``path`` and write it to ``out`` (Parquet)."""
    columns: dict[str, list[Any]] = {name: [] for name in ACCOUNT_SCHEMA.names}
    index: dict[str, int] = {}
    rejected_before = quarantine.total
    duplicates = 0
    for line, row, raw in _rows(path, quarantine):
        try:
            account = _need_str(row, "account_id")
            signup_ip = _str(row, "signup_ip")
            payment = _str(row, "payment_fingerprint")
            country = _str(row, "country")
            domain = _str(row, "email_domain")
            values = {
                "account_id": account,
                "org_id": _str(row, "org_id"),
                "created_at": _time(row, "created_at"),
                "country": country.upper() if country else None,
                "email_domain": domain.lower() if domain else None,
                "payment_hash": hasher.maybe(payment),
                "program": _str(row, "program"),
                "verified": _bool(row, "verified"),
                "signup_ip_hash": hasher.maybe(signup_ip),
                "signup_prefix_hash": hasher.maybe(ip_prefix(signup_ip) if signup_ip else None),
                "trusted": _bool(row, "trusted"),
            }
        except RecordError as exc:
            quarantine.add(Rejected(str(path), line, exc.reason, exc.message, exc.field, raw))
            continue
        if account in index:
            # A later row for the same account is a newer view of it: it replaces the older.
            duplicates += 1
            position = index[account]
            for name, value in values.items():
                columns[name][position] = value
            continue
        index[account] = len(columns["account_id"])
        for name, value in values.items():
            columns[name].append(value)
    table = pa.table(
        {f.name: pa.array(columns[f.name], f.type) for f in ACCOUNT_SCHEMA}, schema=ACCOUNT_SCHEMA
    )
    pq.write_table(table, out)
    return TableStats(table.num_rows, quarantine.total - rejected_before, duplicates)


def read_models(path: Path, out: Path, quarantine: Quarantine) -> TableStats:
    """Validate model releases at ``path`` and write them to ``out`` (Parquet)."""
    released: dict[str, int] = {}
    rejected_before = quarantine.total
    duplicates = 0
    for line, row, raw in _rows(path, quarantine):
        try:
            model = _need_str(row, "model")
            at = _parse_time(_need_str(row, "released_at"), "released_at")
        except RecordError as exc:
            quarantine.add(Rejected(str(path), line, exc.reason, exc.message, exc.field, raw))
            continue
        if model in released:
            duplicates += 1
            at = min(at, released[model])  # the earliest release date is the release
        released[model] = at
    table = pa.table(
        {
            "model": list(released),
            "released_at": pa.array(
                list(released.values()), MODEL_SCHEMA.field("released_at").type
            ),
        },
        schema=MODEL_SCHEMA,
    )
    pq.write_table(table, out)
    return TableStats(table.num_rows, quarantine.total - rejected_before, duplicates)
