"""Bad input loses nothing: every rejected record is in the quarantine, counted by reason,
and the run goes on past it."""

from __future__ import annotations

import base64
import copy
import gzip
import json
import zlib
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from distillguard.cli import app
from distillguard.exchange.reader import LineChunk, read_lines
from distillguard.exchange.work import ParseOptions, process
from distillguard.hashing import DEFAULT_KEY, Hasher

if TYPE_CHECKING:
    from conftest import Ingested, Logs

QUARANTINE_KEYS = {"file", "line", "reason", "field", "message"}


def _balanced(result: Ingested) -> None:
    """The accounting every exchange-only ingest must satisfy."""
    s = result.summary
    assert s.records == s.exchanges + s.duplicates + s.rejected
    assert s.rejected == sum(s.rejected_by_reason.values())
    assert s.exchanges == len(result.rows)
    counted: Counter[str] = Counter()
    for entry in result.quarantine:
        assert entry.keys() >= QUARANTINE_KEYS
        counted[entry["reason"]] += entry.get("records", 1)
    assert dict(counted) == s.rejected_by_reason


def _raw_of(entry: dict[str, Any]) -> bytes:
    if "record" in entry:
        return str(entry["record"]).encode()
    return base64.b64decode(entry["record_base64"])


def _without(record: dict[str, Any], *path: str) -> dict[str, Any]:
    out = copy.deepcopy(record)
    holder: Any = out
    for key in path[:-1]:
        holder = holder[key]
    del holder[path[-1]]
    return out


def _with(record: dict[str, Any], value: object, *path: str | int) -> dict[str, Any]:
    out = copy.deepcopy(record)
    holder: Any = out
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = value
    return out


BASE: dict[str, Any] = {
    "id": "base",
    "ts": "2025-03-01T12:00:00Z",
    "account_id": "acct-1",
    "surface": "openai.chat",
    "request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]},
}
ANTHROPIC: dict[str, Any] = dict(
    BASE,
    surface="anthropic.messages",
    request={"model": "claude", "max_tokens": 10, "messages": [{"role": "user", "content": "Hi"}]},
)
RESPONSES: dict[str, Any] = dict(
    BASE, surface="openai.responses", request={"model": "o3", "input": "Hi"}
)

# (record, reason, field): each must be rejected with exactly this reason and field.
BAD_RECORDS: list[tuple[object, str, str | None]] = [
    (_without(BASE, "id"), "missing_field", "id"),
    (_with(BASE, 17, "id"), "wrong_type", "id"),
    (_with(BASE, "", "id"), "missing_field", "id"),
    (_without(BASE, "ts"), "missing_field", "ts"),
    (_with(BASE, 1740830400, "ts"), "wrong_type", "ts"),
    (_with(BASE, "yesterday", "ts"), "bad_timestamp", "ts"),
    (_with(BASE, "2025-03-01T12:00:00", "ts"), "bad_timestamp", "ts"),
    (_with(BASE, "2025-03-01", "ts"), "bad_timestamp", "ts"),
    (_with(BASE, "2025-02-30T12:00:00Z", "ts"), "bad_timestamp", "ts"),
    (_without(BASE, "account_id"), "missing_field", "account_id"),
    (_with(BASE, None, "account_id"), "missing_field", "account_id"),
    (_with(BASE, ["acct-1"], "account_id"), "wrong_type", "account_id"),
    (_without(BASE, "surface"), "missing_field", "surface"),
    (_with(BASE, "openai.completions", "surface"), "unknown_surface", "surface"),
    (_with(BASE, "OpenAI.Chat", "surface"), "unknown_surface", "surface"),
    (_without(BASE, "request"), "missing_field", "request"),
    (_with(BASE, '{"messages": []}', "request"), "wrong_type", "request"),
    (_without(BASE, "request", "messages"), "missing_field", "request.messages"),
    (
        _with(BASE, {"role": "user", "content": "Hi"}, "request", "messages"),
        "wrong_type",
        "request.messages",
    ),
    (_with(BASE, ["Hi"], "request", "messages"), "wrong_type", "request.messages[0]"),
    (
        _with(BASE, {"content": "Hi"}, "request", "messages", 0),
        "missing_field",
        "request.messages[0].role",
    ),
    (_with(BASE, 3, "request", "messages", 0, "role"), "wrong_type", "request.messages[0].role"),
    (
        _with(BASE, 42, "request", "messages", 0, "content"),
        "wrong_type",
        "request.messages[0].content",
    ),
    (_with(ANTHROPIC, "Hi", "request", "messages"), "wrong_type", "request.messages"),
    (
        _with(ANTHROPIC, {"content": "Hi"}, "request", "messages", 0),
        "missing_field",
        "request.messages[0].role",
    ),
    (_without(RESPONSES, "request", "input"), "missing_field", "request.input"),
    (_with(RESPONSES, {"role": "user"}, "request", "input"), "wrong_type", "request.input"),
    (["not", "an", "object"], "wrong_type", None),
    ("just a string", "wrong_type", None),
    (12.5, "wrong_type", None),
    (True, "wrong_type", None),
]


def test_each_bad_record_is_quarantined_with_reason_and_field(logs: Logs) -> None:
    lines: list[object] = []
    for i, (record, _, _) in enumerate(BAD_RECORDS):
        lines.append(dict(BASE, id=f"good-{i}"))
        lines.append(orjson.dumps(record))
    lines.append(dict(BASE, id="good-last"))
    result = logs.ingest(logs.jsonl("bad.jsonl", lines))
    _balanced(result)
    assert result.summary.exchanges == len(BAD_RECORDS) + 1
    assert len(result.quarantine) == len(BAD_RECORDS)
    for i, ((record, reason, field), entry) in enumerate(
        zip(BAD_RECORDS, result.quarantine, strict=True)
    ):
        assert entry["line"] == 2 * i + 2, entry
        assert (entry["reason"], entry["field"]) == (reason, field), entry
        assert Path(entry["file"]).name == "bad.jsonl"
        assert orjson.loads(_raw_of(entry)) == record
        assert entry["message"]
    expected = Counter(reason for _, reason, _ in BAD_RECORDS)
    assert result.summary.rejected_by_reason == dict(expected)
    # every good record around them is stored, at its own line
    assert result.row("good-0")["source_line"] == 1
    assert result.row("good-last")["source_line"] == 2 * len(BAD_RECORDS) + 1


@pytest.mark.parametrize("name", ["null.jsonl", "null.json"])
def test_a_null_record_is_quarantined_not_lost(logs: Logs, name: str) -> None:
    path = logs.write(name, b"null\n")
    result = logs.ingest(path)
    _balanced(result)
    assert result.summary.records == 1
    assert [(e["line"], e["reason"]) for e in result.quarantine] == [(1, "wrong_type")]
    assert _raw_of(result.quarantine[0]).strip() == b"null"


def test_invalid_json_and_invalid_utf8(logs: Logs) -> None:
    bad_utf8 = b'{"id": "u", "note": "caf\xe9"}'
    path = logs.jsonl(
        "mixed.jsonl",
        [
            dict(BASE, id="a"),
            b'{"id": "x", "ts": ',
            b"NaN",
            b'{"id": "y"} trailing',
            b'"\\ud800"',
            bad_utf8,
            dict(BASE, id="b"),
        ],
    )
    result = logs.ingest(path)
    _balanced(result)
    assert result.ids == ["a", "b"]
    assert [(e["line"], e["reason"]) for e in result.quarantine] == [
        (2, "invalid_json"),
        (3, "invalid_json"),
        (4, "invalid_json"),
        (5, "invalid_json"),
        (6, "invalid_utf8"),
    ]
    assert result.quarantine[0]["record"] == '{"id": "x", "ts": '
    utf8 = result.quarantine[-1]
    assert "record" not in utf8
    assert base64.b64decode(utf8["record_base64"]) == bad_utf8


def test_duplicate_ids_keep_the_first_and_are_counted_not_quarantined(logs: Logs) -> None:
    first = logs.jsonl(
        "a.jsonl",
        [
            dict(BASE, id="dup", account_id="first"),
            dict(BASE, id="solo"),
            dict(BASE, id="dup", account_id="second"),
        ],
    )
    second = logs.jsonl("b.jsonl", [dict(BASE, id="dup", account_id="third")])
    result = logs.ingest(first, second)
    _balanced(result)
    assert result.summary.records == 4
    assert result.summary.duplicates == 2
    assert result.summary.exchanges == 2
    assert result.quarantine == []
    kept = result.row("dup")
    assert kept["account_id"] == "first"
    assert (Path(kept["source_file"]).name, kept["source_line"]) == ("a.jsonl", 1)
    # "second" and "third" went with their duplicates
    assert {r["account_id"] for r in result.rows} == {"first", "acct-1"}
    assert result.summary.accounts == 2


def test_blank_lines_and_crlf(logs: Logs) -> None:
    data = (
        b"\r\n"
        + orjson.dumps(dict(BASE, id="a"))
        + b"\r\n   \r\n\t\n"
        + orjson.dumps(dict(BASE, id="b"))
        + b"\r\n\r\n"
        + orjson.dumps(dict(BASE, id="c"))  # no final newline
    )
    result = logs.ingest(logs.write("crlf.jsonl", data))
    _balanced(result)
    assert result.summary.records == 3
    assert result.summary.rejected == 0
    assert [r["source_line"] for r in result.rows] == [2, 5, 7]


def test_json_document_with_an_array_and_with_one_object(logs: Logs) -> None:
    array = logs.write(
        "array.json",
        orjson.dumps([dict(BASE, id="a"), 5, _without(BASE, "ts"), dict(BASE, id="b")]),
    )
    single = logs.write("single.json", orjson.dumps(dict(BASE, id="c"), option=orjson.OPT_INDENT_2))
    result = logs.ingest(array, single)
    _balanced(result)
    assert result.summary.records == 5
    assert result.ids == ["a", "b", "c"]
    assert [(e["line"], e["reason"], e["field"]) for e in result.quarantine] == [
        (2, "wrong_type", None),
        (3, "missing_field", "ts"),
    ]
    assert result.quarantine[0]["message"].startswith("element 2")
    assert result.row("b")["source_line"] == 4


def test_json_extension_holding_json_lines(logs: Logs) -> None:
    path = logs.jsonl("export.json", [dict(BASE, id="a"), b"{broken", dict(BASE, id="b")])
    result = logs.ingest(path)
    _balanced(result)
    assert result.ids == ["a", "b"]
    assert [(e["line"], e["reason"]) for e in result.quarantine] == [(2, "invalid_json")]


def test_json_document_elements_obey_the_size_limit(logs: Logs) -> None:
    big = _with(BASE, [{"role": "user", "content": "x" * 5000}], "request", "messages")
    path = logs.write("array.json", orjson.dumps([dict(big, id="big"), dict(BASE, id="ok")]))
    result = logs.ingest(path, limit=1000)
    assert result.ids == ["ok"]
    assert result.summary.rejected_by_reason == {"too_large": 1}


# -- oversized records ---------------------------------------------------------------------


def _big(n: int, chars: int) -> dict[str, Any]:
    return _with(
        dict(BASE, id=f"big-{n}"), [{"role": "user", "content": "y" * chars}], "request", "messages"
    )


def test_oversized_records_are_rejected_and_the_rest_kept(logs: Logs) -> None:
    lines = [
        dict(BASE, id="a"),
        _big(1, 1200),  # arrives whole in one read: rejected while parsing
        dict(BASE, id="b"),
        _big(2, 20_000),  # far over the limit: skipped while streaming
        dict(BASE, id="c"),
        _big(3, 3000),
    ]
    encoded = [orjson.dumps(x) for x in lines]
    path = logs.write("big.jsonl", b"\n".join(encoded))  # the last one has no newline
    result = logs.ingest(path, limit=1000)
    _balanced(result)
    assert result.ids == ["a", "b", "c"]
    assert [r["source_line"] for r in result.rows] == [1, 3, 5]
    assert [(e["line"], e["reason"]) for e in result.quarantine] == [
        (2, "too_large"),
        (4, "too_large"),
        (6, "too_large"),
    ]
    starts = [sum(len(x) + 1 for x in encoded[:i]) for i in range(len(encoded))]
    for entry in result.quarantine:
        index = entry["line"] - 1
        assert f"record of {len(encoded[index])} bytes" in entry["message"]
        assert encoded[index].startswith(_raw_of(entry))
        if "offset" in entry:
            assert entry["offset"] == starts[index]
    assert "offset" in result.quarantine[1]  # the streamed one says where it is


def test_oversized_excerpt_always_has_an_offset(logs: Logs) -> None:
    first = orjson.dumps(dict(BASE, id="a"))
    big = orjson.dumps(_big(1, 6000))
    path = logs.write("big.jsonl", first + b"\n" + big + b"\n")
    result = logs.ingest(path, limit=5000)
    (entry,) = result.quarantine
    assert entry["reason"] == "too_large"
    assert len(_raw_of(entry)) < len(big)
    assert entry.get("offset") == len(first) + 1


def test_streaming_skip_of_a_line_longer_than_the_read_chunk(tmp_path: Path) -> None:
    lines = [orjson.dumps(dict(BASE, id=f"r{i}")) for i in range(6)]
    lines[2] = orjson.dumps(_big(2, 5000))
    path = tmp_path / "log.jsonl"
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    items = list(read_lines(path, limit=1000, chunk_bytes=256))
    chunks = [i for i in items if isinstance(i, LineChunk)]
    rejected = [i for i in items if not isinstance(i, LineChunk)]
    assert len(rejected) == 1
    skip = rejected[0]
    assert (skip.reason, skip.line) == ("too_large", 3)
    assert skip.offset == len(lines[0]) + len(lines[1]) + 2
    assert f"record of {len(lines[2])} bytes" in skip.message
    assert skip.record is not None and lines[2].startswith(skip.record)
    assert len(skip.record) <= 4096
    # the other lines come through whole, each at its own line number
    seen: dict[int, bytes] = {}
    for chunk in chunks:
        for i, raw in enumerate(chunk.data.split(b"\n")[:-1]):
            seen[chunk.first_line + i] = raw
    assert seen == {n + 1: lines[n] for n in (0, 1, 3, 4, 5)}
    assert len(chunks) > 1  # chunk_bytes bounds the chunks


def test_read_lines_chunks_hold_whole_lines(tmp_path: Path) -> None:
    lines = [orjson.dumps(dict(BASE, id=f"r{i}", pad="z" * (i * 7))) for i in range(40)]
    path = tmp_path / "log.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    chunks = [c for c in read_lines(path, chunk_bytes=300) if isinstance(c, LineChunk)]
    assert len(chunks) > 3
    rebuilt: list[bytes] = []
    for chunk in chunks:
        assert chunk.first_line == len(rebuilt) + 1
        assert chunk.data.endswith(b"\n")
        rebuilt.extend(chunk.data.split(b"\n")[:-1])
    assert rebuilt == lines


# -- gzip ----------------------------------------------------------------------------------


def _truncated_gzip(records: int) -> tuple[bytes, list[bytes], int]:
    """A gzip stream cut in half, its lines, and how many whole lines precede the cut."""
    lines = [orjson.dumps(dict(BASE, id=f"g{i:04d}", pad=str(i) * 30)) for i in range(records)]
    data = gzip.compress(b"".join(line + b"\n" for line in lines))
    cut = data[: len(data) // 2]
    recoverable = zlib.decompressobj(31).decompress(cut).count(b"\n")
    assert 0 < recoverable < records
    return cut, lines, recoverable


def test_gzip_is_read_by_its_magic_number(logs: Logs) -> None:
    body = b"".join(orjson.dumps(dict(BASE, id=f"z{i}")) + b"\n" for i in range(3))
    result = logs.ingest(
        logs.write("log.jsonl.gz", gzip.compress(body)), logs.write("plain.jsonl.gz", body)
    )
    _balanced(result)
    assert result.summary.records == 6
    assert result.summary.duplicates == 3


def test_truncated_gzip_read_in_small_blocks(tmp_path: Path) -> None:
    cut, lines, recoverable = _truncated_gzip(400)
    path = tmp_path / "t.jsonl.gz"
    path.write_bytes(cut)
    items = list(read_lines(path, chunk_bytes=64))
    got = b"".join(i.data for i in items if isinstance(i, LineChunk)).split(b"\n")[:-1]
    (rejection,) = [i for i in items if not isinstance(i, LineChunk)]
    assert rejection.reason == "truncated_gzip"
    assert got == lines[: len(got)]
    assert len(got) >= recoverable - 1
    assert rejection.line == len(got) + 1
    assert rejection.offset == sum(len(line) + 1 for line in got)


def test_truncated_gzip_keeps_the_records_before_the_break(logs: Logs) -> None:
    cut, lines, recoverable = _truncated_gzip(400)
    result = logs.ingest(logs.write("t.jsonl.gz", cut))
    assert result.summary.rejected_by_reason == {"truncated_gzip": 1}
    assert result.summary.exchanges >= recoverable - 1
    assert result.ids == [orjson.loads(line)["id"] for line in lines[: len(result.ids)]]


def test_gzip_members_one_after_another_with_zero_padding(logs: Logs) -> None:
    parts = [
        b"".join(orjson.dumps(dict(BASE, id=f"m{m}-{i}")) + b"\n" for i in range(50))
        for m in range(3)
    ]
    data = gzip.compress(parts[0]) + gzip.compress(parts[1]) + b"\0" * 9
    data += gzip.compress(parts[2]) + b"\0" * 4
    result = logs.ingest(logs.write("members.jsonl.gz", data))
    _balanced(result)
    assert result.summary.rejected == 0
    assert result.summary.exchanges == 150


def test_gzip_with_a_bad_checksum_keeps_what_came_before(tmp_path: Path) -> None:
    lines = [orjson.dumps(dict(BASE, id=f"c{i}")) for i in range(20)]
    data = bytearray(gzip.compress(b"".join(line + b"\n" for line in lines)))
    data[-8] ^= 0xFF  # the CRC-32 of the member
    path = tmp_path / "crc.jsonl.gz"
    path.write_bytes(bytes(data))
    items = list(read_lines(path))
    got = b"".join(i.data for i in items if isinstance(i, LineChunk)).split(b"\n")[:-1]
    (rejection,) = [i for i in items if not isinstance(i, LineChunk)]
    assert rejection.reason == "truncated_gzip"
    assert got == lines


def test_truncated_gzip_is_quarantined_and_the_run_goes_on(logs: Logs) -> None:
    cut, _, _ = _truncated_gzip(50)
    broken = logs.write("t.jsonl.gz", cut)
    after = logs.jsonl("after.jsonl", [dict(BASE, id="after")])
    result = logs.ingest(broken, after)
    entries = [e for e in result.quarantine if e["reason"] == "truncated_gzip"]
    assert len(entries) == 1
    assert Path(entries[0]["file"]).name == "t.jsonl.gz"
    assert "offset" in entries[0]
    assert "after" in result.ids
    assert result.summary.rejected_by_reason["truncated_gzip"] == 1


# -- Parquet -------------------------------------------------------------------------------

PARQUET_RECORDS: list[dict[str, Any]] = [
    {
        "id": f"p{i}",
        "ts": f"2025-03-0{1 + i % 3}T0{i}:00:00Z",
        "account_id": f"acct-{i % 2}",
        "surface": "openai.chat",
        "request": {
            "model": "gpt-4o",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": f"Question {i}: why?"},
            ],
            "max_tokens": 100 + i,
            "temperature": 0.5,
        },
        "response": {
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Because."},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 20, "completion_tokens": 2},
        },
        "status": 200,
        "client": {"ip": f"203.0.113.{i}", "country": "us", "asn": 64500},
        "meta": {"region": "us-east"},
    }
    for i in range(5)
]
_SOURCE = ("source_file", "source_line", "day")


def _comparable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k not in _SOURCE} for row in rows]


def test_parquet_with_structs_or_json_strings_equals_json_lines(logs: Logs) -> None:
    from_lines = logs.ingest(logs.jsonl("log.jsonl", PARQUET_RECORDS))
    structs = logs.root / "structs.parquet"
    pq.write_table(pa.Table.from_pylist(PARQUET_RECORDS), structs)
    as_text = [
        {k: json.dumps(v) if isinstance(v, dict) else v for k, v in r.items()}
        for r in PARQUET_RECORDS
    ]
    strings = logs.root / "strings.parquet"
    pq.write_table(pa.Table.from_pylist(as_text), strings)
    assert pa.types.is_string(pq.read_schema(strings).field("request").type)
    for path in (structs, strings):
        result = logs.ingest(path)
        _balanced(result)
        assert result.summary.rejected == 0
        assert result.summary.warnings_by_reason == {}
        assert _comparable(result.rows) == _comparable(from_lines.rows)
        assert [r["source_line"] for r in result.rows] == [1, 2, 3, 4, 5]


def test_parquet_timestamp_column(logs: Logs) -> None:
    table = pa.Table.from_pylist(PARQUET_RECORDS)
    moments = pa.array(
        [1_740_830_400_000_000 + i * 3_600_000_000 for i in range(5)], pa.timestamp("us", tz="UTC")
    )
    aware = logs.root / "aware.parquet"
    pq.write_table(table.set_column(table.schema.get_field_index("ts"), "ts", moments), aware)
    result = logs.ingest(aware)
    _balanced(result)
    assert result.summary.exchanges == 5
    assert [r["ts"].hour for r in result.rows] == [12, 13, 14, 15, 16]
    naive = logs.root / "naive.parquet"
    pq.write_table(
        table.set_column(
            table.schema.get_field_index("ts"), "ts", moments.cast(pa.timestamp("us"))
        ),
        naive,
    )
    result = logs.ingest(naive)
    _balanced(result)
    assert result.summary.rejected_by_reason == {"bad_timestamp": 5}


def test_parquet_row_with_invalid_json_string(logs: Logs) -> None:
    rows = [
        {k: json.dumps(v) if isinstance(v, dict) else v for k, v in r.items()}
        for r in PARQUET_RECORDS[:3]
    ]
    rows[1]["request"] = '{"model": "gpt-4o", "messages": ['
    path = logs.root / "rows.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    result = logs.ingest(path)
    _balanced(result)
    assert result.ids == ["p0", "p2"]
    (entry,) = result.quarantine
    assert (entry["line"], entry["reason"], entry["field"]) == (2, "invalid_json", "request")
    assert orjson.loads(_raw_of(entry))["id"] == "p1"


def test_parquet_with_the_wrong_schema_is_rejected_whole(logs: Logs) -> None:
    path = logs.root / "wrong.parquet"
    table = pa.table(
        {
            "id": pa.array(range(7), pa.int64()),
            "ts": ["2025-03-01T00:00:00Z"] * 7,
            "surface": ["openai.chat"] * 7,
            "request": ["{}"] * 7,
        }
    )
    pq.write_table(table, path)
    good = logs.jsonl("good.jsonl", [dict(BASE, id="g")])
    result = logs.ingest(path, good)
    _balanced(result)
    assert result.summary.records == 8
    assert result.summary.rejected_by_reason == {"wrong_schema": 7}
    (entry,) = result.quarantine
    assert entry["records"] == 7
    assert entry["line"] is None
    assert "'id'" in entry["message"] and "'account_id'" in entry["message"]
    assert result.ids == ["g"]


def test_unreadable_parquet(logs: Logs) -> None:
    path = logs.write("broken.parquet", b"PAR1 this is not parquet")
    result = logs.ingest(path, logs.jsonl("good.jsonl", [BASE]))
    _balanced(result)
    assert result.summary.rejected_by_reason == {"unreadable_file": 1}
    assert result.ids == ["base"]


def test_parquet_map_column_is_read_as_an_object(logs: Logs) -> None:
    table = pa.table(
        {
            "id": ["m1"],
            "ts": ["2025-03-01T00:00:00Z"],
            "account_id": ["a"],
            "surface": ["openai.chat"],
            "request": [json.dumps(BASE["request"])],
            "meta": pa.array([[("region", "eu")]], pa.map_(pa.string(), pa.string())),
        }
    )
    path = logs.root / "map.parquet"
    pq.write_table(table, path)
    row = logs.ingest(path).row("m1")
    assert row["warnings"] == []
    assert json.loads(row["meta_json"]) == {"region": "eu"}


# -- optional fields of the wrong type -----------------------------------------------------


def test_optional_fields_of_the_wrong_type_are_warnings(logs: Logs) -> None:
    request = {
        "model": 4,
        "messages": [{"role": "user", "content": "Hi"}, {"role": "narrator", "content": "..."}],
        "temperature": "hot",
        "top_p": [1],
        "n": "2",
        "logprobs": "yes",
        "top_logprobs": 2.5,
        "max_tokens": "100",
        "max_completion_tokens": 1e30,
        "stream": 1,
        "reasoning_effort": 5,
        "user": 7,
        "response_format": "json",
        "tools": "none",
    }
    record = dict(
        BASE,
        id="w",
        request=request,
        org_id=5,
        api_key_id=["k"],
        status="200",
        latency_ms="fast",
        client={"ip": "not-an-ip", "asn": "AS64500", "country": 1},
        meta=[1, 2],
        response={"choices": "none", "usage": []},
    )
    result = logs.ingest(logs.jsonl("w.jsonl", [record]))
    _balanced(result)
    assert result.summary.rejected == 0
    row = result.row("w")
    expected = {
        "unknown_role:request.messages[1].role",
        "wrong_type:request.model",
        "wrong_type:request.temperature",
        "wrong_type:request.top_p",
        "wrong_type:request.n",
        "wrong_type:request.logprobs",
        "wrong_type:request.top_logprobs",
        "wrong_type:request.max_tokens",
        "out_of_range:request.max_completion_tokens",
        "wrong_type:request.stream",
        "wrong_type:request.reasoning_effort",
        "wrong_type:request.user",
        "wrong_type:request.response_format",
        "wrong_type:request.tools",
        "wrong_type:org_id",
        "wrong_type:api_key_id",
        "wrong_type:status",
        "wrong_type:latency_ms",
        "invalid:client.ip",
        "wrong_type:client.asn",
        "wrong_type:client.country",
        "wrong_type:meta",
        "wrong_type:response.choices",
        "wrong_type:response.usage",
    }
    assert set(row["warnings"]) == expected
    assert len(row["warnings"]) == len(expected)
    for column in (
        "model",
        "temperature",
        "top_p",
        "n",
        "logprobs",
        "top_logprobs",
        "max_tokens",
        "max_tokens_field",
        "stream",
        "reasoning_effort",
        "end_user_hash",
        "response_format",
        "org_id",
        "api_key_hash",
        "status",
        "latency_ms",
        "ip_prefix_hash",
        "asn",
        "country",
        "meta_json",
    ):
        assert row[column] is None, column
    assert row["ip_hash"] == Hasher()("not-an-ip")
    assert row["n_tools"] == 0
    assert row["layout"] == "u"
    summary = result.summary.warnings_by_reason
    assert summary == {"invalid": 1, "out_of_range": 1, "unknown_role": 1, "wrong_type": 21}


def test_values_out_of_column_range_are_warned_about() -> None:
    record = dict(BASE, status=1500)
    record["request"] = dict(BASE["request"], n=2**40, top_logprobs=2**33)
    from distillguard.exchange import RowBuffer

    buffer = RowBuffer(Hasher())
    buffer.append(record, "f", 1)
    (row,) = buffer.take().to_pylist()
    assert (row["status"], row["n"], row["top_logprobs"]) == (None, None, None)
    assert set(row["warnings"]) == {
        "out_of_range:status",
        "out_of_range:request.n",
        "out_of_range:request.top_logprobs",
    }


# -- whole-run accounting and the summary file ---------------------------------------------


def test_summary_file_matches_and_accounts_for_every_record(logs: Logs) -> None:
    path = logs.jsonl(
        "mix.jsonl",
        [
            dict(BASE, id="a"),
            dict(BASE, id="a"),
            b"{",
            _without(BASE, "ts"),
            b"",
            dict(BASE, id="b", ts="2025-03-04T00:00:00+05:00"),
        ],
    )
    result = logs.ingest(path)
    _balanced(result)
    s = result.summary
    assert (s.records, s.exchanges, s.duplicates, s.rejected) == (5, 2, 1, 2)
    assert s.files == 1
    assert not s.clean
    on_disk = json.loads((result.store / "summary.json").read_text())
    expected = s.to_json()
    del on_disk["seconds"], expected["seconds"]
    assert on_disk == expected
    assert on_disk["first_ts"] == "2025-03-01T12:00:00+00:00"
    assert on_disk["last_ts"] == "2025-03-03T19:00:00+00:00"


def test_folder_input_is_expanded(logs: Logs) -> None:
    logs.jsonl("in/a.jsonl", [dict(BASE, id="a")])
    logs.write("in/sub/b.jsonl.gz", gzip.compress(orjson.dumps(dict(BASE, id="b")) + b"\n"))
    logs.write("in/notes.txt", b"not a log")
    result = logs.ingest(logs.root / "in")
    assert result.summary.files == 2
    assert result.ids == ["a", "b"]


def test_existing_folder_that_is_not_a_store_is_refused(logs: Logs) -> None:
    from distillguard.errors import InputError
    from distillguard.exchange import IngestOptions, ingest

    target = logs.root / "taken"
    target.mkdir()
    (target / "precious.txt").write_text("keep me")
    log = logs.jsonl("a.jsonl", [BASE])
    with pytest.raises(InputError):
        ingest([log], target, options=IngestOptions(workers=1))
    assert (target / "precious.txt").read_text() == "keep me"
    ingest([log], logs.root / "s", options=IngestOptions(workers=1))
    with pytest.raises(InputError):
        ingest([log], logs.root / "s", options=IngestOptions(workers=1))
    again = ingest([log], logs.root / "s", options=IngestOptions(workers=1, overwrite=True))
    assert again.exchanges == 1


# -- crashes -------------------------------------------------------------------------------


def _nested(depth: int) -> object:
    value: object = "leaf"
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("where", ["meta", "tools", "tool_arguments", "json_document"])
def test_deeply_nested_values_do_not_crash_the_ingest(logs: Logs, where: str) -> None:
    deep = _nested(300)
    record = dict(BASE, id="deep")
    if where in ("meta", "json_document"):
        record["meta"] = {"x": deep}
    elif where == "tools":
        record["request"] = dict(
            BASE["request"],
            tools=[{"type": "function", "function": {"name": "f", "parameters": deep}}],
        )
    elif where == "tool_arguments":
        record = _with(ANTHROPIC, "deep", "id")
        record["request"]["messages"] = [
            {"role": "user", "content": "Go"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {"a": deep}}],
            },
        ]
    inputs = [dict(BASE, id="before"), record, dict(BASE, id="after")]
    # orjson refuses to write such depth; the standard library does, and orjson reads it
    if where == "json_document":
        path = logs.write("deep.json", json.dumps(inputs).encode())
    else:
        path = logs.jsonl("deep.jsonl", [json.dumps(x).encode() for x in inputs])
    result = logs.ingest(path)
    _balanced(result)
    assert result.summary.records == 3
    assert result.ids == ["after", "before", "deep"]
    warnings = result.row("deep")["warnings"]
    if where in ("meta", "json_document"):
        assert warnings == ["unserialisable:meta"]
        assert result.row("deep")["meta_json"] is None
    elif where == "tools":
        assert warnings == ["unserialisable:request.tools"]
        assert result.row("deep")["tools_hash"] is None
        assert result.row("deep")["tool_names"] == ["f"]
    else:
        assert result.row("deep")["n_tool_calls_in"] == 1


@pytest.mark.parametrize(
    ("base", "path"),
    [
        (BASE, ("request", "messages", 0, "content")),
        (RESPONSES, ("request", "input")),
        (ANTHROPIC, ("request", "system")),
    ],
    ids=["chat-content", "responses-input", "anthropic-system"],
)
def test_a_part_type_that_is_not_a_string_is_ignored(
    logs: Logs, base: dict[str, Any], path: tuple[str | int, ...]
) -> None:
    parts = [
        {"type": ["text"], "text": "Hidden"},
        {"type": {"a": 1}},
        {"type": "text", "text": "Hi"},
    ]
    value: object = [{"role": "user", "content": parts}] if path[-1] == "input" else parts
    record = _with(dict(base, id="odd"), value, *path)
    result = logs.ingest(logs.jsonl("a.jsonl", [dict(BASE, id="before"), record]))
    _balanced(result)
    assert result.ids == ["before", "odd"]
    odd = result.row("odd")
    chars = odd["system_chars"] if path[-1] == "system" else odd["prompt_chars"]
    assert chars == len("Hi")


@pytest.mark.parametrize("value", [1, True, 2.5])
def test_reasoning_item_with_scalar_summary_does_not_crash(logs: Logs, value: object) -> None:
    record = dict(
        RESPONSES,
        id="odd",
        response={"status": "completed", "output": [{"type": "reasoning", "summary": value}]},
    )
    result = logs.ingest(logs.jsonl("a.jsonl", [dict(BASE, id="before"), record]))
    _balanced(result)
    assert result.ids == ["before", "odd"]
    assert result.row("odd")["reasoning_returned"] is False


@pytest.mark.parametrize("ts", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_timestamps_beyond_the_datetime_range_do_not_crash(logs: Logs, ts: str) -> None:
    result = logs.ingest(
        logs.jsonl("ts.jsonl", [dict(BASE, id="edge", ts=ts), dict(BASE, id="ok")])
    )
    _balanced(result)
    assert "ok" in result.ids


def test_rfc3339_lower_case_z(logs: Logs) -> None:
    result = logs.ingest(logs.jsonl("z.jsonl", [dict(BASE, ts="2025-03-01T12:00:00z")]))
    assert result.summary.rejected == 0


def test_timestamp_offsets_are_normalised_to_utc(logs: Logs) -> None:
    times = {
        "z": "2025-03-01T12:00:00Z",
        "plus": "2025-03-01T17:30:00+05:30",
        "minus": "2025-03-01T04:00:00-08:00",
        "frac": "2025-03-01T12:00:00.250Z",
        "t-lower": "2025-03-01t12:00:00Z",
    }
    result = logs.ingest(logs.jsonl("t.jsonl", [dict(BASE, id=k, ts=v) for k, v in times.items()]))
    assert result.summary.rejected == 0
    stamps = {r["id"]: r["ts"] for r in result.rows}
    assert stamps["z"] == stamps["plus"] == stamps["minus"] == stamps["t-lower"]
    assert (stamps["frac"] - stamps["z"]).total_seconds() == 0.25


# -- CLI -----------------------------------------------------------------------------------


def _cli(*args: str) -> int:
    result = CliRunner().invoke(app, ["ingest", *args, "--workers", "1"])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code


def test_cli_exit_codes(logs: Logs) -> None:
    clean = logs.jsonl("clean.jsonl", [BASE])
    dirty = logs.jsonl("dirty.jsonl", [BASE, b"{oops"])
    assert _cli(str(clean), "--out", str(logs.root / "s1")) == 0
    assert _cli(str(dirty), "--out", str(logs.root / "s2"), "--format", "contract") == 1
    assert _cli(str(logs.root / "missing.jsonl"), "--out", str(logs.root / "s3")) == 2
    # an existing store is not replaced without --overwrite
    assert _cli(str(clean), "--out", str(logs.root / "s1")) == 2
    assert _cli(str(clean), "--out", str(logs.root / "s1"), "--overwrite") == 0
    # a rejected registry row also makes the run unclean
    accounts = logs.jsonl("accounts.jsonl", [{"account_id": "a", "created_at": "soon"}])
    assert _cli(str(clean), "--out", str(logs.root / "s4"), "--accounts", str(accounts)) == 1


def test_cli_missing_accounts_file_is_an_input_error(logs: Logs) -> None:
    clean = logs.jsonl("clean.jsonl", [BASE])
    code = _cli(str(clean), "--out", str(logs.root / "s"), "--accounts", str(logs.root / "no.csv"))
    assert code == 2


# -- registry and model releases -----------------------------------------------------------


def test_registry_json_lines_with_bad_rows(logs: Logs) -> None:
    accounts = logs.jsonl(
        "accounts.jsonl",
        [
            {"account_id": "a", "created_at": "2024-01-01T00:00:00Z", "verified": "maybe"},
            {"account_id": 5},
            [1],
            b"{bad",
            {"country": "us"},
            {"account_id": "z", "created_at": "2024-01-01T00:00:00"},
            {"account_id": "b", "created_at": "2024-01-01T00:00:00Z", "trusted": 1},
            {
                "account_id": "ok",
                "org_id": "org-9",
                "created_at": "2024-01-01T00:00:00+01:00",
                "country": "gb",
                "email_domain": "Example.ORG",
                "payment_fingerprint": "pf-1",
                "program": "education",
                "verified": True,
                "signup_ip": "192.0.2.5",
                "trusted": False,
            },
            b"",
            {
                "account_id": "ok",
                "created_at": "2024-02-01T00:00:00Z",
                "country": "fr",
                "verified": "no",
            },
        ],
    )
    result = logs.ingest(logs.jsonl("log.jsonl", [BASE]), accounts=accounts)
    registry = result.summary.registry
    assert registry is not None
    assert (registry.rows, registry.rejected, registry.duplicates) == (1, 7, 1)
    assert [(e["line"], e["reason"], e["field"]) for e in result.quarantine] == [
        (1, "wrong_type", "verified"),
        (2, "wrong_type", "account_id"),
        (3, "wrong_type", None),
        (4, "invalid_json", None),
        (5, "missing_field", "account_id"),
        (6, "bad_timestamp", "created_at"),
        (7, "wrong_type", "trusted"),
    ]
    assert all(Path(e["file"]).name == "accounts.jsonl" for e in result.quarantine)
    assert result.summary.rejected == 7
    assert result.summary.rejected_by_reason == {
        "bad_timestamp": 1,
        "invalid_json": 1,
        "missing_field": 1,
        "wrong_type": 4,
    }
    (row,) = pq.read_table(result.store / "accounts.parquet").to_pylist()
    # the later row for "ok" replaced the earlier one as a whole
    assert row["account_id"] == "ok"
    assert row["country"] == "FR"
    assert row["verified"] is False
    assert row["created_at"].isoformat().startswith("2024-02-01T00:00:00")
    assert row["org_id"] is None
    assert row["payment_hash"] is None


def test_registry_values_are_normalised_and_hashed(logs: Logs) -> None:
    accounts = logs.jsonl(
        "accounts.jsonl",
        [
            {
                "account_id": "ok",
                "org_id": "org-9",
                "created_at": "2024-01-01T00:00:00+01:00",
                "country": "gb",
                "email_domain": "Example.ORG",
                "payment_fingerprint": "pf-1",
                "program": "education",
                "verified": True,
                "signup_ip": "192.0.2.5",
                "trusted": False,
            }
        ],
    )
    result = logs.ingest(logs.jsonl("log.jsonl", [BASE]), accounts=accounts, hash_key=b"k2")
    (row,) = pq.read_table(result.store / "accounts.parquet").to_pylist()
    h = Hasher(b"k2")
    assert row["created_at"].isoformat().startswith("2023-12-31T23:00:00")
    assert (row["country"], row["email_domain"], row["program"]) == (
        "GB",
        "example.org",
        "education",
    )
    assert (row["verified"], row["trusted"]) == (True, False)
    assert row["payment_hash"] == h("pf-1")
    assert row["signup_ip_hash"] == h("192.0.2.5")
    assert row["signup_prefix_hash"] == h("192.0.2.0/24")
    assert result.summary.clean


def test_registry_csv_with_bad_rows(logs: Logs) -> None:
    accounts = logs.write(
        "accounts.csv",
        b"account_id,created_at,country,verified,signup_ip,payment_fingerprint\r\n"
        b"acct,2024-01-01T00:00:00Z,us,yes,198.51.100.1,pf\r\n"
        b"b,notatime,us,,,\r\n"
        b",2024-01-01T00:00:00Z,,,,\r\n"
        b"c,2024-01-01T00:00:00Z,de,perhaps,,\r\n"
        b"short\r\n"
        b"acct,2024-02-01T00:00:00Z,de,no,,\r\n",
    )
    result = logs.ingest(logs.jsonl("log.jsonl", [BASE]), accounts=accounts)
    registry = result.summary.registry
    assert registry is not None
    assert (registry.rows, registry.rejected, registry.duplicates) == (2, 3, 1)
    assert [(e["line"], e["reason"], e["field"]) for e in result.quarantine] == [
        (3, "bad_timestamp", "created_at"),
        (4, "missing_field", "account_id"),
        (5, "wrong_type", "verified"),
    ]
    assert orjson.loads(_raw_of(result.quarantine[0]))["account_id"] == "b"
    rows = {
        r["account_id"]: r for r in pq.read_table(result.store / "accounts.parquet").to_pylist()
    }
    assert set(rows) == {"acct", "short"}
    assert (rows["acct"]["country"], rows["acct"]["verified"]) == ("DE", False)
    assert rows["acct"]["signup_ip_hash"] is None  # the later row had none
    assert rows["short"]["created_at"] is None


def test_registry_csv_row_with_extra_cells_is_quarantined(logs: Logs) -> None:
    accounts = logs.write(
        "accounts.csv",
        b"account_id,country\na,us\nb,de,extra\nc,fr\n",
    )
    result = logs.ingest(logs.jsonl("log.jsonl", [BASE]), accounts=accounts)
    assert [(e["line"], e["reason"]) for e in result.quarantine] == [(3, "wrong_type")]
    registry = result.summary.registry
    assert registry is not None and registry.rows == 2


def test_registry_csv_invalid_utf8_loses_only_that_row(logs: Logs) -> None:
    accounts = logs.write("accounts.csv", b"account_id,country\na,us\nb,de\nc\xff,fr\nd,it\n")
    result = logs.ingest(logs.jsonl("log.jsonl", [BASE]), accounts=accounts)
    ids = pq.read_table(result.store / "accounts.parquet").column("account_id").to_pylist()
    assert sorted(ids) == ["a", "b", "d"]
    assert [e["line"] for e in result.quarantine] == [4]


def test_model_releases(logs: Logs) -> None:
    models = logs.jsonl(
        "models.jsonl",
        [
            {"model": "m1", "released_at": "2025-01-02T00:00:00Z"},
            {"model": "m1", "released_at": "2025-01-01T00:00:00Z"},
            {"model": "m1", "released_at": "2025-01-03T00:00:00Z"},
            {"model": "m2"},
            {"model": 3, "released_at": "2025-01-01T00:00:00Z"},
            {"model": "m3", "released_at": "January"},
            {"model": "m4", "released_at": "2025-05-01T00:00:00-04:00"},
        ],
    )
    result = logs.ingest(logs.jsonl("log.jsonl", [BASE]), models=models)
    stats = result.summary.models
    assert stats is not None
    assert (stats.rows, stats.rejected, stats.duplicates) == (2, 3, 2)
    assert [(e["line"], e["reason"], e["field"]) for e in result.quarantine] == [
        (4, "missing_field", "released_at"),
        (5, "wrong_type", "model"),
        (6, "bad_timestamp", "released_at"),
    ]
    table = {
        r["model"]: r["released_at"].isoformat()[:19]
        for r in pq.read_table(result.store / "models.parquet").to_pylist()
    }
    assert table == {"m1": "2025-01-01T00:00:00", "m4": "2025-05-01T04:00:00"}
    # registry and model rows are not exchange records
    assert result.summary.records == 1
    assert result.summary.rejected == 3


# -- workers -------------------------------------------------------------------------------


def _worker_inputs(logs: Logs) -> list[Path]:
    files = []
    for f in range(4):
        lines: list[object] = []
        for i in range(30):
            n = f * 100 + i
            if i % 7 == 3:
                lines.append(b"{not json")
            elif i % 11 == 5:
                lines.append(_without(dict(BASE, id=f"w{n}"), "ts"))
            elif i % 13 == 8:
                lines.append(_big(n, 3000))
            else:
                lines.append(dict(BASE, id=f"w{n % 150}", account_id=f"acct-{n % 9}"))
        files.append(logs.jsonl(f"part-{f}.jsonl", lines))
    files.append(logs.write("arr.json", orjson.dumps([dict(BASE, id="j1"), dict(BASE, id="j2")])))
    return files


def test_one_or_two_workers_give_the_same_store(logs: Logs) -> None:
    files = _worker_inputs(logs)
    one = logs.ingest(*files, workers=1, limit=2000)
    two = logs.ingest(*files, workers=2, limit=2000)
    _balanced(one)
    _balanced(two)
    assert one.summary.rejected > 0 and one.summary.duplicates > 0
    assert one.rows == two.rows
    key = json.dumps
    assert sorted(map(key, one.quarantine)) == sorted(map(key, two.quarantine))
    s1, s2 = one.summary.to_json(), two.summary.to_json()
    for s in (s1, s2):
        del s["seconds"], s["store"], s["quarantine"]
    assert s1 == s2


def test_quarantine_order_does_not_depend_on_workers(logs: Logs) -> None:
    first = logs.jsonl("a.jsonl", [BASE, b"{bad"])
    second = logs.jsonl("b.jsonl", [_big(1, 5000), dict(BASE, id="x")])
    one = logs.ingest(first, second, workers=1, limit=1000)
    two = logs.ingest(first, second, workers=2, limit=1000)
    assert one.quarantine == two.quarantine


def test_process_is_a_pure_function_of_its_chunk() -> None:
    data = b"".join(orjson.dumps(dict(BASE, id=f"r{i}")) + b"\n" for i in range(5)) + b"{x\n"
    chunk = LineChunk("f.jsonl", 10, data)
    options = ParseOptions(DEFAULT_KEY)
    a = process(chunk, "contract", options)
    b = process(chunk, "contract", options)
    assert a.table.equals(b.table)
    assert a.records == 6
    assert a.table.column("source_line").to_pylist() == [10, 11, 12, 13, 14]
    assert [(r.line, r.reason) for r in a.rejected] == [(15, "invalid_json")]


def test_auto_format_still_rejects_a_record_missing_a_contract_field(logs: Logs) -> None:
    adapters = pytest.importorskip("distillguard.exchange.adapters")
    if not hasattr(adapters, "sniff_format"):
        pytest.skip("the adapters are not written yet")
    result = logs.ingest(logs.jsonl("a.jsonl", [BASE, _without(BASE, "account_id")]), fmt="auto")
    _balanced(result)
    assert [(e["reason"], e["field"]) for e in result.quarantine] == [
        ("missing_field", "account_id")
    ]
