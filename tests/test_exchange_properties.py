"""Property tests: garbage of every kind thrown at the reader.

Whatever the input, an ingest returns a summary (it never raises), every non-blank input line
is accounted for as an exchange, a duplicate or a rejection, every rejection has a known
reason and its own quarantine line, and ``RowBuffer.append`` lets only ``RecordError`` out.

Two crashes found earlier are in the generators now and also pinned by deterministic tests
(a property test finds a case only when Hypothesis happens to draw it): a number or boolean
as the ``summary`` / ``content`` of a Responses reasoning item (test_exchange_bad_input.py),
and a lone surrogate in a string handed to ``RowBuffer`` directly (the end of this file).
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import math
import tempfile
from pathlib import Path
from typing import Any, Final

import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from distillguard.errors import RecordError
from distillguard.exchange import EXCHANGE_SCHEMA, IngestOptions, IngestSummary, RowBuffer, ingest
from distillguard.exchange.reader import GZIP_MAGIC, LineChunk
from distillguard.exchange.work import ParseOptions, process
from distillguard.hashing import DEFAULT_KEY, Hasher

KNOWN_REASONS: Final = frozenset(
    {
        "invalid_json",
        "invalid_utf8",
        "missing_field",
        "wrong_type",
        "unknown_surface",
        "bad_timestamp",
        "too_large",
        "truncated_gzip",
        "unreadable_file",
        "wrong_schema",
    }
)
LIMIT: Final = 4000
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- valid records to start from -----------------------------------------------------------

CHAT: dict[str, Any] = {
    "id": "chat",
    "ts": "2025-03-01T12:00:00Z",
    "account_id": "acct-1",
    "org_id": "org-1",
    "api_key_id": "key-1",
    "surface": "openai.chat",
    "request": {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Look"},
                    {"type": "image_url", "image_url": {"url": "sha256:1"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{}"}}],
            },
            {"role": "tool", "tool_call_id": "c", "content": "ok"},
        ],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
        "max_tokens": 100,
        "temperature": 0.7,
        "n": 1,
        "logprobs": False,
        "stream": False,
        "user": "u",
    },
    "response": {
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1},
    },
    "status": 200,
    "latency_ms": 12.5,
    "client": {"ip": "192.0.2.1", "user_agent": "curl/8", "asn": 1, "country": "us"},
    "meta": {"k": "v"},
}
RESPONSES: dict[str, Any] = {
    "id": "resp",
    "ts": "2025-03-01T12:00:00+01:00",
    "account_id": "acct-2",
    "surface": "openai.responses",
    "request": {
        "model": "o3",
        "instructions": "Think.",
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "Go"}]},
            {"type": "function_call", "call_id": "x", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "x", "output": "done"},
        ],
        "reasoning": {"effort": "low"},
        "include": ["message.output_text.logprobs"],
        "max_output_tokens": 50,
        "text": {"format": {"type": "text"}},
    },
    "response": {
        "status": "completed",
        "output": [
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "hm"}]},
            {"type": "message", "content": [{"type": "output_text", "text": "Done"}]},
        ],
        "usage": {"input_tokens": 5, "output_tokens": 2, "output_tokens_details": {}},
    },
}
ANTHROPIC: dict[str, Any] = {
    "id": "anth",
    "ts": "2025-03-01T12:00:00Z",
    "account_id": "acct-3",
    "surface": "anthropic.messages",
    "request": {
        "model": "claude",
        "max_tokens": 1000,
        "system": [{"type": "text", "text": "Sys"}],
        "messages": [
            {"role": "user", "content": "Do it"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t", "name": "computer", "input": {}}],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t", "content": "ok"}],
            },
        ],
        "tools": [{"type": "computer_20250124", "name": "computer"}],
        "thinking": {"type": "enabled", "budget_tokens": 500},
        "top_k": 5,
        "metadata": {"user_id": "e"},
    },
    "response": {
        "content": [{"type": "thinking", "thinking": "t"}, {"type": "text", "text": "Ok"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 1, "output_tokens": 1, "cache_read_input_tokens": 0},
    },
}
BASES: Final = (CHAT, RESPONSES, ANTHROPIC)

Path_ = tuple[str | int, ...]


def _paths(value: object, prefix: Path_ = ()) -> list[Path_]:
    out: list[Path_] = []
    if isinstance(value, dict):
        for key, item in value.items():
            out.append((*prefix, key))
            out.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out.append((*prefix, i))
            out.extend(_paths(item, (*prefix, i)))
    return out


def _replace(record: dict[str, Any], path: Path_, value: object) -> dict[str, Any]:
    """A copy of ``record`` with the value at ``path`` replaced (missing objects created)."""
    out = copy.deepcopy(record)
    holder: Any = out
    for key in path[:-1]:
        holder = holder.setdefault(key, {}) if isinstance(key, str) else holder[key]
    holder[path[-1]] = value
    return out


# Fields read leniently: any value there leaves the exchange stored (with a warning at most).
LENIENT_TOP: Final = frozenset(
    {"org_id", "api_key_id", "end_user_id", "status", "latency_ms", "client", "meta"}
)
LENIENT_REQUEST: Final = frozenset(
    {
        "model",
        "tools",
        "max_tokens",
        "max_completion_tokens",
        "max_output_tokens",
        "temperature",
        "top_p",
        "top_k",
        "n",
        "logprobs",
        "top_logprobs",
        "stream",
        "user",
        "safety_identifier",
        "response_format",
        "tool_choice",
        "reasoning",
        "reasoning_effort",
        "include",
        "text",
        "instructions",
        "thinking",
        "metadata",
    }
)


def _lenient(path: Path_) -> bool:
    if path[0] in LENIENT_TOP:
        return True
    if path[0] == "request" and len(path) > 1 and path[1] in LENIENT_REQUEST:
        return True
    return path[:2] == ("response", "usage")


# -- strategies ----------------------------------------------------------------------------

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(["NaN", "Infinity", "-inf", "1e999", "", " ", "null", "2025-03-01T00:00:00Z"])
)
json_like = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _dumps(value: object) -> bytes:
    """JSON as a careless producer writes it: NaN, Infinity and lone surrogates included."""
    return json.dumps(value, allow_nan=True).encode()


lone_surrogate = st.integers(min_value=0xD800, max_value=0xDFFF).map(chr)
hostile_text = st.text(
    alphabet=st.characters(codec=None, categories=None) | lone_surrogate, max_size=20
)
hostile_meta = st.fixed_dictionaries(
    {},
    optional={
        "meta": st.dictionaries(
            st.text(max_size=5) | st.integers(),
            hostile_text | st.integers(min_value=2**63, max_value=2**70) | json_like,
            max_size=3,
        )
    },
).map(lambda extra: {**CHAT, **extra})
huge_numbers = st.sampled_from(
    [
        "9223372036854775807",
        "9223372036854775808",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775809",
        "1e308",
        "1e309",
        "-1e400",
        "1" + "0" * 400,
        "0.0000000000000000000000001",
        "-0.0",
        "1.5",
        "NaN",
        "Infinity",
        '"NaN"',
        '"inf"',
        '"1e999"',
    ]
)
NUMERIC_FIELDS: Final = (
    ("status",),
    ("latency_ms",),
    ("request", "max_tokens"),
    ("request", "temperature"),
    ("request", "n"),
    ("request", "top_logprobs"),
    ("client", "asn"),
    ("response", "usage", "prompt_tokens"),
)

# -- running -------------------------------------------------------------------------------


def _ingest_bytes(
    data: bytes, name: str = "log.jsonl"
) -> tuple[IngestSummary, list[dict[str, Any]]]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = root / name
        path.write_bytes(data)
        summary = ingest(
            [path], root / "store", options=IngestOptions(workers=1, fmt="contract", limit=LIMIT)
        )
        quarantine = root / "store" / "quarantine.jsonl"
        entries = (
            [orjson.loads(line) for line in quarantine.read_bytes().splitlines()]
            if quarantine.exists()
            else []
        )
    return summary, entries


def _records_in(data: bytes) -> list[tuple[int, bytes]]:
    """(line number, line) of every non-blank line: what the reader must account for."""
    return [(i + 1, line) for i, line in enumerate(data.split(b"\n")) if line.strip()]


def _check_accounting(
    summary: IngestSummary, entries: list[dict[str, Any]], lines: list[tuple[int, bytes]]
) -> None:
    assert summary.records == len(lines)
    assert summary.records == summary.exchanges + summary.duplicates + summary.rejected
    assert set(summary.rejected_by_reason) <= KNOWN_REASONS
    assert len(entries) == summary.rejected
    by_line = dict(lines)
    for entry in entries:
        assert entry["reason"] in KNOWN_REASONS
        assert entry["line"] in by_line
        raw = (
            entry["record"].encode()
            if "record" in entry
            else base64.b64decode(entry["record_base64"])
        )
        if entry["reason"] == "too_large":
            assert by_line[entry["line"]].startswith(raw)
        else:
            assert raw == by_line[entry["line"]]
    assert len({e["line"] for e in entries}) == len(entries)


def _process(data: bytes) -> tuple[int, int, list[str]]:
    result = process(LineChunk("mem.jsonl", 1, data), "contract", ParseOptions(DEFAULT_KEY))
    assert result.table.schema.names == EXCHANGE_SCHEMA.names
    return result.records, result.table.num_rows, [r.reason for r in result.rejected]


# -- the properties ------------------------------------------------------------------------


@FAST
@given(st.lists(st.binary(max_size=200), max_size=15))
def test_arbitrary_bytes_in_a_chunk(lines: list[bytes]) -> None:
    data = b"\n".join(lines)
    records, stored, reasons = _process(data)
    assert records == len(_records_in(data))
    assert records == stored + len(reasons)
    assert set(reasons) <= KNOWN_REASONS


@SLOW
@given(st.lists(st.binary(max_size=200), max_size=12), st.booleans())
def test_arbitrary_bytes_through_ingest(lines: list[bytes], crlf: bool) -> None:
    data = (b"\r\n" if crlf else b"\n").join(lines)
    assume(not data.startswith(GZIP_MAGIC))  # that is a (broken) gzip file: tested elsewhere
    summary, entries = _ingest_bytes(data)
    _check_accounting(summary, entries, _records_in(data))
    assert summary.exchanges == 0  # random bytes are never a contract record


@FAST
@given(st.lists(json_like, max_size=10))
def test_arbitrary_json_values_in_a_chunk(values: list[object]) -> None:
    data = b"\n".join(_dumps(v) for v in values)
    records, stored, reasons = _process(data)
    assert records == len(values)
    assert records == stored + len(reasons)
    assert set(reasons) <= KNOWN_REASONS


@SLOW
@given(st.lists(json_like, max_size=8))
def test_arbitrary_json_values_through_ingest(values: list[object]) -> None:
    data = b"\n".join(_dumps(v) for v in values)
    summary, entries = _ingest_bytes(data)
    _check_accounting(summary, entries, _records_in(data))


@st.composite
def mutated(draw: st.DrawFn) -> tuple[dict[str, Any], Path_, bytes]:
    base = draw(st.sampled_from(BASES))
    path = draw(st.sampled_from(_paths(base)))
    value = draw(json_like)
    record = _replace(base, path, value)
    if path[0] != "id":
        record["id"] = draw(st.sampled_from(["m1", "m2", "m3", base["id"]]))
    return record, path, _dumps(record)


@FAST
@given(st.lists(mutated(), min_size=1, max_size=6))
def test_valid_records_with_a_field_replaced_in_a_chunk(
    items: list[tuple[Any, Path_, bytes]],
) -> None:
    sentinel = orjson.dumps(dict(CHAT, id="sentinel"))
    data = b"\n".join([*(line for _, _, line in items), sentinel])
    result = process(LineChunk("mem.jsonl", 1, data), "contract", ParseOptions(DEFAULT_KEY))
    assert result.records == len(items) + 1
    assert result.records == result.table.num_rows + len(result.rejected)
    rejected_lines = {r.line: r.reason for r in result.rejected}
    assert set(rejected_lines.values()) <= KNOWN_REASONS
    assert len(items) + 1 not in rejected_lines  # the untouched record after them is stored
    for line, (_, path, raw) in enumerate(items, start=1):
        if line in rejected_lines and _lenient(path):
            if b"NaN" in raw or b"Infinity" in raw:
                assert rejected_lines[line] == "invalid_json"
            else:
                pytest.fail(
                    f"{path} is optional but the record was rejected: {rejected_lines[line]}"
                )


@SLOW
@given(st.lists(mutated(), min_size=1, max_size=6))
def test_valid_records_with_a_field_replaced_through_ingest(
    items: list[tuple[Any, Path_, bytes]],
) -> None:
    data = b"\n".join(line for _, _, line in items)
    summary, entries = _ingest_bytes(data)
    _check_accounting(summary, entries, _records_in(data))


@FAST
@given(
    st.sampled_from(BASES),
    st.sampled_from(["meta", "tools", "client", "request.metadata"]),
    st.integers(min_value=1, max_value=200) | st.integers(min_value=1025, max_value=3000),
    st.sampled_from("[{"),
)
def test_deeply_nested_values(base: dict[str, Any], where: str, depth: int, bracket: str) -> None:
    opening, closing = ("[", "]") if bracket == "[" else ('{"a":', "}")
    nested = opening * depth + "1" + closing * depth
    path: Path_ = tuple(where.split("."))
    raw = _dumps(_replace(base, path, "@@NESTED@@")).replace(b'"@@NESTED@@"', nested.encode())
    records, stored, reasons = _process(raw)
    assert records == 1
    if depth > 1000:
        assert reasons == ["invalid_json"]
    else:
        assert stored == 1, reasons


@FAST
@given(st.sampled_from(BASES), st.sampled_from(NUMERIC_FIELDS), huge_numbers)
def test_huge_and_nan_like_numbers(base: dict[str, Any], field: Path_, number: str) -> None:
    raw = _dumps(_replace(base, field, "@@N@@")).replace(b'"@@N@@"', number.encode())
    result = process(LineChunk("mem.jsonl", 1, raw), "contract", ParseOptions(DEFAULT_KEY))
    assert result.records == 1
    if result.rejected:
        assert [r.reason for r in result.rejected] == ["invalid_json"]
        assert number in {"NaN", "Infinity", "1e309", "-1e400"} or number.startswith("1000")
        return
    (row,) = result.table.to_pylist()
    for value in row.values():
        if isinstance(value, float):
            assert math.isfinite(value)


def _has_lone_surrogate(text: str) -> bool:
    """True if ``text`` holds a surrogate that is not half of a pair (JSON escapes of a
    proper pair decode to one character; a lone one is not valid JSON text)."""
    try:
        text.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    except UnicodeDecodeError:
        return True
    return False


@FAST
@given(
    st.sampled_from(BASES),
    st.sampled_from([("id",), ("account_id",), ("meta", "k"), ("request", "model")]),
    hostile_text,
)
def test_lone_surrogates_and_odd_text(base: dict[str, Any], field: Path_, text: str) -> None:
    raw = _dumps(_replace(base, field, text))
    records, stored, reasons = _process(raw)
    assert records == 1
    if _has_lone_surrogate(text):
        assert reasons == ["invalid_json"]
    elif field in (("id",), ("account_id",)) and not text:
        assert reasons == ["missing_field"]
    else:
        assert (stored, reasons) == (1, [])


@pytest.mark.parametrize("base", BASES, ids=lambda b: str(b["id"]))
def test_raw_surrogate_bytes_are_invalid_utf8(base: dict[str, Any]) -> None:
    raw = orjson.dumps(_replace(base, ("meta", "k"), "@@T@@"))
    raw = raw.replace(b"@@T@@", "x\ud800y".encode("utf-8", "surrogatepass"))
    assert _process(raw)[2] == ["invalid_utf8"]


hostile_strings = st.tuples(
    st.sampled_from(BASES),
    st.sampled_from([("id",), ("account_id",), ("org_id",), ("request", "model"), ("ts",)]),
    hostile_text,
).map(lambda item: _replace(item[0], item[1], item[2]))


@FAST
@given(
    st.lists(
        json_like | hostile_meta | hostile_strings | mutated().map(lambda item: item[0]),
        max_size=8,
    )
)
def test_row_buffer_lets_only_record_errors_out(values: list[object]) -> None:
    buffer = RowBuffer(Hasher())
    stored = 0
    for i, value in enumerate(values):
        before = len(buffer)
        try:
            buffer.append(value, "mem", i + 1)  # type: ignore[arg-type]
        except RecordError as exc:
            assert exc.reason in KNOWN_REASONS
            assert len(buffer) == before
        else:
            stored += 1
            assert len(buffer) == before + 1
    table = buffer.take()
    assert table.num_rows == stored
    assert table.schema.equals(EXCHANGE_SCHEMA)
    assert len(buffer) == 0


# -- what the generators leave out, pinned ------------------------------------------------


@pytest.mark.parametrize(
    "meta",
    [{"k": "\ud800"}, {1: "x"}, {"k": 2**64}, {"k": json.loads("[" * 300 + "]" * 300)}],
    ids=["surrogate", "int-key", "u64-overflow", "deep"],
)
def test_row_buffer_unserialisable_meta_is_a_warning(meta: dict[Any, Any]) -> None:
    buffer = RowBuffer(Hasher())
    buffer.append(dict(CHAT, meta=meta), "mem", 1)
    (row,) = buffer.take().to_pylist()
    assert row["meta_json"] is None
    assert "unserialisable:meta" in row["warnings"]


def test_row_buffer_take_never_fails_after_append() -> None:
    buffer = RowBuffer(Hasher())
    buffer.append(CHAT, "mem", 1)
    with contextlib.suppress(RecordError):
        buffer.append(dict(CHAT, id="bad\udc00"), "mem", 2)
    assert buffer.take().num_rows >= 1


@pytest.mark.parametrize("field", ["id", "account_id"])
def test_row_buffer_rejects_a_required_string_with_a_lone_surrogate(field: str) -> None:
    buffer = RowBuffer(Hasher())
    with pytest.raises(RecordError) as caught:
        buffer.append(dict(CHAT, **{field: "x\ud800"}), "mem", 1)
    assert (caught.value.reason, caught.value.field) == ("invalid_utf8", field)
    assert len(buffer) == 0


def test_row_buffer_repairs_a_lone_surrogate_in_an_optional_string() -> None:
    buffer = RowBuffer(Hasher())
    buffer.append(CHAT, "mem", 1)
    odd = _replace(dict(CHAT, id="odd", org_id="org\udc80"), ("request", "model"), "m\ud800")
    buffer.append(odd, "mem", 2)
    good, repaired = buffer.take().to_pylist()
    assert good["org_id"] == "org-1" and good["warnings"] == []
    assert repaired["org_id"].startswith("org\ufffd")
    assert repaired["model"].startswith("m\ufffd")
    assert {"invalid_utf8:org_id", "invalid_utf8:model"} <= set(repaired["warnings"])


_PROMPTISH = st.text(
    alphabet=st.sampled_from(list("ab Z9\n\"'`@:/.,-“”字")) | st.characters(), max_size=900
)


@given(_PROMPTISH)
def test_template_view_is_the_view_the_fingerprint_is_taken_of(text: str) -> None:
    """The guard computes one template view; the hunt picks one of all three by length."""
    from distillguard.exchange.text import TEMPLATE_LONG_CHARS, frame_views, template_view

    prefix, _, skeleton = frame_views(text)
    assert template_view(text) == (skeleton if len(text) > TEMPLATE_LONG_CHARS else prefix)


@given(st.lists(_PROMPTISH, min_size=1, max_size=4))
def test_an_online_row_agrees_with_a_stored_row_on_what_it_keeps(prompts: list[str]) -> None:
    """``RowBuffer(online=True)`` leaves columns out; the ones it keeps are the same."""
    hasher = Hasher(DEFAULT_KEY)
    full, online = RowBuffer(hasher), RowBuffer(hasher, output_text=False, online=True)
    record = {
        "id": "x",
        "ts": "2026-01-01T00:00:00Z",
        "account_id": "a",
        "surface": "openai.chat",
        "request": {"model": "m", "messages": [{"role": "user", "content": p} for p in prompts]},
    }
    stored, kept = full.row(record), online.row(record)
    assert stored.get("prompt_hash") is not None or not stored["prompt_text"]
    assert "prompt_hash" not in kept
    for column, value in kept.items():
        assert stored.get(column) == value, column
