"""One contract record → one row of the store (``schema.EXCHANGE_SCHEMA``).

``RowBuffer.append`` validates the record's top level, hands the bodies to the surface
parser and derives the stored features; ``RowBuffer.take`` turns what it holds into an
Arrow table. A rejected record raises ``RecordError`` and leaves the buffer unchanged.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Final, Generic, TypeVar

import pyarrow as pa

from ..errors import RecordError
from ..hashing import Hasher
from ..types import SURFACES
from .conversation import Conversation
from .fields import (
    JSON,
    Warnings,
    dumps,
    encodable,
    optional_object,
    require_object,
    require_str,
)
from .schema import EXCHANGE_SCHEMA
from .surfaces import PARSERS
from .text import (
    TEMPLATE_LONG_CHARS,
    frame_views,
    normalise,
    script,
    template_view,
    user_agent_family,
)

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
# An offset can move a time just outside the years 1..9999 that datetimes (and DuckDB's
# conversions of the stored column back to them) can hold.
_TS_MIN: Final = (datetime(1, 1, 1, tzinfo=UTC) - _EPOCH) // _MICROSECOND
_TS_MAX: Final = (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC) - _EPOCH) // _MICROSECOND
_LAYOUT_MAX: Final = 48
_PARAM_KEYS_MAX: Final = 64
_ROW_TYPE: Final = pa.struct(list(EXCHANGE_SCHEMA))
_MEMO_ENTRIES: Final = 65536
_MEMO_CHARS: Final = 8 * 1024 * 1024
V = TypeVar("V")


def parse_ts(value: str) -> int:
    """RFC 3339 timestamp with offset or ``Z`` → microseconds since the epoch (UTC).

    RFC 3339 allows lower-case ``t`` and ``z`` (section 5.6); ``fromisoformat`` takes the
    first but not the second."""
    text = value[:-1] + "Z" if value.endswith("z") else value
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise RecordError(
            "bad_timestamp", f"ts {value[:40]!r} is not RFC 3339", field="ts"
        ) from None
    if moment.tzinfo is None:
        raise RecordError("bad_timestamp", f"ts {value[:40]!r} has no UTC offset", field="ts")
    micros = (moment - _EPOCH) // _MICROSECOND
    if not _TS_MIN <= micros <= _TS_MAX:
        raise RecordError(
            "bad_timestamp", f"ts {value[:40]!r} is outside the years 1 to 9999 UTC", field="ts"
        )
    return micros


@lru_cache(maxsize=65536)
def ip_prefix(ip: str) -> str | None:
    """The network an address belongs to, IPv4 /24 or IPv6 /48; None if not an address."""
    parts = ip.split(".")
    if len(parts) == 4 and all(p.isdigit() and len(p) <= 3 and int(p) < 256 for p in parts):
        return f"{parts[0]}.{parts[1]}.{parts[2]}.0/24"
    try:
        address = ipaddress.ip_address(ip.strip("[]"))
    except ValueError:
        return None
    if address.version == 4:
        return str(ipaddress.ip_network(f"{address}/24", strict=False))
    return str(ipaddress.ip_network(f"{address}/48", strict=False))


class _Memo(Generic[V]):
    """``compute`` remembered for values that recur from record to record (keys, addresses,
    agents, system prompts, prompts resent by scripts); bounded in entries and characters."""

    __slots__ = ("_chars", "_compute", "_seen")

    def __init__(self, compute: Callable[[str], V]) -> None:
        self._compute = compute
        self._seen: dict[str, V] = {}
        self._chars = 0

    def __call__(self, value: str) -> V:
        found = self._seen.get(value)
        if found is None:
            if len(self._seen) >= _MEMO_ENTRIES or self._chars >= _MEMO_CHARS:
                self._seen.clear()
                self._chars = 0
            found = self._seen[value] = self._compute(value)
            self._chars += len(value)
        return found

    def maybe(self, value: str | None) -> V | None:
        return None if value is None else self(value)


class RowBuffer:
    """Accumulates store rows; ``take`` converts them to Arrow in one go.

    The prompt and system prompt texts are always held (signals are computed from them
    before a chunk is stored); the response and reasoning texts only with ``output_text``.
    With ``online`` (one request at a time, in the guard) a row leaves out what the
    per-request signals do not read, the costliest being the prompt's hash, script and the
    template views other than the one its fingerprint is taken of.
    """

    def __init__(self, hasher: Hasher, *, output_text: bool = True, online: bool = False) -> None:
        self._hash = hasher
        self._output_text = output_text
        self._online = online
        self._memo = _Memo(hasher)
        self._normalised = _Memo(lambda text: hasher(normalise(text)))
        self._views = _Memo(self._prompt_views)
        self._template = _Memo(lambda text: self._memo(template_view(text)))
        self._rows: list[dict[str, Any]] = []

    def __len__(self) -> int:
        return len(self._rows)

    def take(self) -> pa.Table:
        """The rows held so far as an Arrow table; the buffer is emptied."""
        # Arrow converts a list of dicts to a struct array in C++: far cheaper than filling
        # one Python list per column. Keys a row does not have become nulls.
        try:
            rows = pa.array(self._rows, type=_ROW_TYPE)
        except UnicodeEncodeError:
            # Parsed JSON cannot hold a lone surrogate, but a record built in Python can;
            # the required strings reject it, any other string is repaired with a warning.
            rows = pa.array([_repaired(row) for row in self._rows], type=_ROW_TYPE)
        self._rows = []
        batch = pa.RecordBatch.from_struct_array(rows)
        return pa.Table.from_batches([batch]).replace_schema_metadata(EXCHANGE_SCHEMA.metadata)

    def append(self, record: Mapping[str, Any], source_file: str, source_line: int) -> None:
        row = self._row(record)
        row["source_file"] = source_file
        row["source_line"] = source_line
        self._rows.append(row)

    def row(self, record: Mapping[str, Any], *, template: bool = True) -> dict[str, Any]:
        """One record's store row, not kept (the guard normalises one request at a time).
        Without ``template`` an online row leaves out the template fingerprint; ``template``
        gives it later."""
        return self._row(record, template)

    def template(self, prompt: str) -> tuple[str, int]:
        """The template fingerprint column an online row holds for ``prompt`` (non-empty)."""
        view = "skeleton_fp" if len(prompt) > TEMPLATE_LONG_CHARS else "prefix_fp"
        return view, self._template(prompt)

    def _row(self, record: Mapping[str, Any], template: bool = True) -> dict[str, Any]:
        if not isinstance(record, dict):
            raise RecordError("wrong_type", "a record must be a JSON object")
        w = Warnings()
        surface = require_str(record, "surface", "surface")
        if surface not in SURFACES:
            raise RecordError(
                "unknown_surface",
                f"surface {surface[:40]!r} is not one of {SURFACES}",
                field="surface",
            )
        row: dict[str, Any] = {
            "id": require_str(record, "id", "id"),
            "ts": parse_ts(require_str(record, "ts", "ts")),
            "account_id": require_str(record, "account_id", "account_id"),
            "surface": surface,
        }
        request = require_object(record, "request", "request")
        response = optional_object(record, "response", "response")
        conv = Conversation()
        PARSERS[surface](request, response, conv, w)

        h = self._memo
        row["org_id"] = w.str_(record, "org_id", "org_id")
        row["api_key_hash"] = h.maybe(w.str_(record, "api_key_id", "api_key_id"))
        end_user = w.str_(record, "end_user_id", "end_user_id") or conv.end_user
        row["end_user_hash"] = h.maybe(end_user)
        row["model"] = w.str_(request, "model", "request.model")
        status = w.int_(record, "status", "status")
        if status is not None and not 0 <= status < 1000:
            w.add("out_of_range", "status")
            status = None
        row["status"] = status
        row["latency_ms"] = w.float_(record, "latency_ms", "latency_ms")
        self._client(record, row, w)
        self._conversation(request, conv, row, w, template)
        meta = w.obj(record, "meta", "meta")
        if meta is not None:
            encoded = dumps(meta)
            if encoded is None:
                w.add("unserialisable", "meta")
            else:
                row["meta_json"] = encoded.decode()
        row["warnings"] = w.items
        return row

    def _prompt_views(self, prompt: str) -> tuple[int, int, int, str]:
        """The template fingerprints and the script of a prompt."""
        prefix, suffix, skeleton = frame_views(prompt)
        h = self._memo
        return h(prefix), h(suffix), h(skeleton), script(prompt)

    def _client(self, record: Mapping[str, Any], row: dict[str, Any], w: Warnings) -> None:
        client = w.obj(record, "client", "client")
        if client is None:
            return
        h = self._memo
        ip = w.str_(client, "ip", "client.ip")
        if ip:
            row["ip_hash"] = h(ip)
            prefix = ip_prefix(ip)
            if prefix is None:
                w.add("invalid", "client.ip")
            row["ip_prefix_hash"] = h.maybe(prefix)
        row["asn"] = w.int_(client, "asn", "client.asn")
        row["asn_org"] = w.str_(client, "asn_org", "client.asn_org")
        country = w.str_(client, "country", "client.country")
        row["country"] = country.upper()[:8] if country else None
        agent = w.str_(client, "user_agent", "client.user_agent")
        if agent:
            row["user_agent_family"] = user_agent_family(agent)
            row["user_agent_hash"] = h(agent)
        tls = w.str_(client, "tls_fingerprint", "client.tls_fingerprint")
        row["tls_fingerprint"] = tls[:128] if tls else None

    def _conversation(
        self, request: JSON, conv: Conversation, row: dict[str, Any], w: Warnings, template: bool
    ) -> None:
        h = self._memo
        layout = conv.layout
        n = len(layout)
        row["n_messages"] = n
        row["n_user_turns"] = conv.n_user
        row["n_assistant_turns"] = conv.n_assistant
        row["n_tool_calls_in"] = conv.n_tool_calls_in
        row["n_tool_results"] = conv.n_tool_results
        row["n_images"] = len(conv.image_refs)
        images = conv.image_refs
        row["images_hash"] = self._hash("\n".join(sorted(images))) if images else None
        text = "".join(layout[:_LAYOUT_MAX])
        row["layout"] = text if n <= _LAYOUT_MAX else f"{text}+{n - _LAYOUT_MAX}"
        row["continues"] = conv.continues

        system = conv.system_text
        row["system_hash"] = self._normalised(system) if conv.system_parts else None
        row["system_chars"] = len(system)
        prompt = conv.prompt
        row["prompt_chars"] = len(prompt)
        row["input_chars"] = conv.input_chars + len(system)
        if self._online:
            if prompt and template:
                view, fingerprint = self.template(prompt)
                row[view] = fingerprint
        elif prompt:
            row["prompt_hash"] = self._normalised(prompt)
            views = self._views(prompt)
            row["prefix_fp"], row["suffix_fp"], row["skeleton_fp"], row["script"] = views
        else:
            row["script"] = script(prompt)

        row["n_tools"] = len(conv.tools)
        if conv.tools:
            schemas = dumps(conv.tools, sort_keys=True)
            if schemas is None:
                w.add("unserialisable", "request.tools")
            else:
                row["tools_hash"] = h(schemas.decode())
        row["tool_names"] = sorted(name[:128] for name in conv.tool_names[:256])
        row["computer_tool"] = conv.computer_tool
        row["tool_choice"] = conv.tool_choice

        keys = sorted(str(k)[:64] for k in request)
        row["param_keys"] = ",".join(keys[:_PARAM_KEYS_MAX])
        row["max_tokens"] = conv.max_tokens
        row["max_tokens_field"] = conv.max_tokens_field
        row["temperature"] = conv.temperature
        row["top_p"] = conv.top_p
        row["top_k"] = conv.top_k
        row["n"] = _int32(conv.n, "request.n", w)
        row["logprobs"] = conv.logprobs
        row["top_logprobs"] = _int32(conv.top_logprobs, "request.top_logprobs", w)
        row["reasoning_effort"] = _short(conv.reasoning_effort)
        row["thinking_type"] = _short(conv.thinking_type)
        row["thinking_budget"] = conv.thinking_budget
        row["stream"] = conv.stream
        row["response_format"] = _short(conv.response_format)

        response = "\n".join(conv.response_parts)
        reasoning = "\n".join(conv.reasoning_parts)
        row["finish_reason"] = conv.finish_reason
        row["n_choices"] = conv.n_choices
        row["response_chars"] = len(response)
        row["response_hash"] = self._hash(response) if response else None
        row["reasoning_chars"] = len(reasoning)
        row["reasoning_returned"] = conv.reasoning_returned
        row["n_tool_calls_out"] = conv.n_tool_calls_out
        row["input_tokens"] = conv.input_tokens
        row["output_tokens"] = conv.output_tokens
        row["reasoning_tokens"] = conv.reasoning_tokens
        row["cached_tokens"] = conv.cached_tokens
        # The input texts always go into the buffer: signals are computed from them before
        # the chunk is stored, and only then are they dropped unless the user keeps text.
        row["system_text"] = system or None
        row["prompt_text"] = prompt or None
        if self._output_text:
            row["response_text"] = response or None
            row["reasoning_text"] = reasoning or None


def _repaired(row: dict[str, Any]) -> dict[str, Any]:
    """The row with lone surrogates replaced (U+FFFD), each column so changed warned about."""
    out = dict(row)
    warnings = list(row.get("warnings") or ())
    for key, value in row.items():
        if isinstance(value, str) and not encodable(value):
            out[key] = _replace_surrogates(value)
            warnings.append(f"invalid_utf8:{key}")
        elif isinstance(value, list) and any(
            isinstance(item, str) and not encodable(item) for item in value
        ):
            out[key] = [
                _replace_surrogates(item) if isinstance(item, str) else item for item in value
            ]
            warnings.append(f"invalid_utf8:{key}")
    out["warnings"] = warnings
    return out


def _replace_surrogates(text: str) -> str:
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _int32(value: int | None, path: str, w: Warnings) -> int | None:
    if value is None or -(2**31) <= value < 2**31:
        return value
    w.add("out_of_range", path)
    return None


def _short(value: str | None) -> str | None:
    return None if value is None else value[:64]
