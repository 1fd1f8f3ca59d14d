"""Spans out of the JSON shapes OpenTelemetry data is exported in, as one ``Span`` value.

Shapes read (each documented by the project that writes it):

- OTLP/JSON, the protobuf JSON mapping of ``ExportTraceServiceRequest`` (opentelemetry-proto
  ``trace/v1``): ``resourceSpans[].scopeSpans[].spans[]`` (``instrumentationLibrarySpans``
  before proto 0.15), ids as hex strings, ``startTimeUnixNano`` as a decimal string,
  ``attributes`` as ``[{key, value: AnyValue}]``. The collector's ``file`` exporter writes one
  such object per line.
- A single span as the SDK console exporters print it. Python ``ReadableSpan.to_json()``:
  ``context.trace_id`` / ``span_id``, ISO ``start_time`` / ``end_time``, ``status.status_code``,
  ``attributes`` as a plain object. JavaScript ``ConsoleSpanExporter``: ``traceId``, ``id``,
  ``timestamp`` and ``duration`` in microseconds, ``events[].time`` as ``[seconds, nanos]``.
  A flat span with OTLP field names (``traceId``, ``spanId``, ``startTimeUnixNano``) is read too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from ._common import (
    as_float,
    as_int,
    from_unix_micros,
    from_unix_nanos,
    is_int,
    need_list,
    need_object,
    parse_instant,
    plus_micros,
    wrong_type,
)

Attributes = Mapping[str, Any]

_KINDS: Final = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
_ANY_KEYS: Final = frozenset(
    {
        "stringValue",
        "intValue",
        "doubleValue",
        "boolValue",
        "bytesValue",
        "arrayValue",
        "kvlistValue",
    }
)
_MAX_DEPTH: Final = 64  # AnyValue nesting deeper than this is not telemetry, it is an attack


@dataclass(frozen=True, slots=True)
class Event:
    name: str
    time: datetime | None
    attrs: Attributes
    body: Any = None


@dataclass(frozen=True, slots=True)
class Span:
    path: str
    """Where the span is in the input record, e.g. ``resourceSpans[0].scopeSpans[0].spans[2]``."""
    trace_id: str | None
    span_id: str | None
    name: str | None
    kind: str | None
    start: datetime | None
    end: datetime | None
    attrs: Attributes
    resource: Attributes
    scope: str | None
    events: tuple[Event, ...]
    error: bool
    status_message: str | None


def is_otlp_export(record: Mapping[str, Any]) -> bool:
    return "resourceSpans" in record


def looks_like_span(record: Mapping[str, Any]) -> bool:
    """A flat span: span identity fields next to a name and attributes."""
    if "attributes" not in record or "name" not in record:
        return False
    return any(key in record for key in ("traceId", "trace_id", "context", "spanId"))


@dataclass(frozen=True, slots=True)
class SpanSource:
    """A span not read yet: where it is, its raw JSON, and what its parents say.

    Reading a span fully (times, events) waits until its attributes show it is an exchange,
    so that a malformed span of no interest (an HTTP or database span) does not cost the
    GenAI spans exported with it.
    """

    path: str
    raw: Mapping[str, Any]
    resource: Attributes
    scope: str | None

    def attributes(self) -> dict[str, Any]:
        return attributes(self.raw.get("attributes"), self._at("attributes"))

    def _at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def read(self) -> Span:
        return _span(self.raw, self.path, self.resource, self.scope)


def iter_spans(record: Mapping[str, Any]) -> Iterator[SpanSource]:
    if is_otlp_export(record):
        yield from _otlp_spans(record)
    else:
        yield SpanSource("", record, {}, None)


def _otlp_spans(record: Mapping[str, Any]) -> Iterator[SpanSource]:
    for i, raw_rs in enumerate(need_list(record.get("resourceSpans"), "resourceSpans")):
        rs_path = f"resourceSpans[{i}]"
        rs = need_object(raw_rs, rs_path)
        resource_obj = rs.get("resource")
        resource: Attributes = {}
        if resource_obj is not None:
            resource_obj = need_object(resource_obj, f"{rs_path}.resource")
            resource = attributes(resource_obj.get("attributes"), f"{rs_path}.resource.attributes")
        key = "scopeSpans" if "scopeSpans" in rs else "instrumentationLibrarySpans"
        scope_spans = rs.get(key)
        if scope_spans is None:
            continue
        for j, raw_ss in enumerate(need_list(scope_spans, f"{rs_path}.{key}")):
            ss_path = f"{rs_path}.{key}[{j}]"
            ss = need_object(raw_ss, ss_path)
            scope_obj = ss.get("scope", ss.get("instrumentationLibrary"))
            scope = scope_obj.get("name") if isinstance(scope_obj, Mapping) else None
            spans = ss.get("spans")
            if spans is None:
                continue
            for k, raw_span in enumerate(need_list(spans, f"{ss_path}.spans")):
                path = f"{ss_path}.spans[{k}]"
                yield SpanSource(
                    path,
                    need_object(raw_span, path),
                    resource,
                    scope if isinstance(scope, str) else None,
                )


def _span(raw: Mapping[str, Any], path: str, resource: Attributes, scope: str | None) -> Span:
    def at(key: str) -> str:
        return f"{path}.{key}" if path else key

    context = raw.get("context")
    context = context if isinstance(context, Mapping) else {}
    resource_obj = raw.get("resource")
    if not resource and isinstance(resource_obj, Mapping):
        resource = attributes(resource_obj.get("attributes"), at("resource.attributes"))
    if scope is None:
        scope_obj = raw.get("instrumentationScope", raw.get("instrumentation_scope"))
        name = scope_obj.get("name") if isinstance(scope_obj, Mapping) else None
        scope = name if isinstance(name, str) else None
    start, end = _times(raw, at)
    error, message = _status(raw.get("status"))
    events_raw = raw.get("events")
    events: tuple[Event, ...] = ()
    if events_raw is not None:
        events = tuple(
            _event(item, at(f"events[{i}]"))
            for i, item in enumerate(need_list(events_raw, at("events")))
        )
    return Span(
        path=path,
        trace_id=_id(raw.get("traceId", context.get("trace_id", raw.get("trace_id")))),
        span_id=_id(raw.get("spanId", context.get("span_id", raw.get("id", raw.get("span_id"))))),
        name=raw.get("name") if isinstance(raw.get("name"), str) else None,
        kind=_kind(raw.get("kind"), javascript="timestamp" in raw),
        start=start,
        end=end,
        attrs=attributes(raw.get("attributes"), at("attributes")),
        resource=resource,
        scope=scope,
        events=events,
        error=error,
        status_message=message,
    )


def _times(
    raw: Mapping[str, Any], at: Callable[[str], str]
) -> tuple[datetime | None, datetime | None]:
    if "startTimeUnixNano" in raw:
        start = from_unix_nanos(raw["startTimeUnixNano"], at("startTimeUnixNano"))
        end_raw = raw.get("endTimeUnixNano")
        end = None if end_raw is None else from_unix_nanos(end_raw, at("endTimeUnixNano"))
        return start, end
    if "start_time" in raw:
        start = parse_instant(raw["start_time"], at("start_time"))
        end_raw = raw.get("end_time")
        end = None if end_raw is None else parse_instant(end_raw, at("end_time"))
        return start, end
    if "timestamp" in raw:  # JavaScript console exporter: microseconds
        start = from_unix_micros(raw["timestamp"], at("timestamp"))
        duration = as_float(raw.get("duration"))
        end = None
        if duration is not None and duration >= 0:
            end = plus_micros(start, duration, at("duration"))
        return start, end
    if "startTime" in raw:
        return _hr_or_iso(raw["startTime"], at("startTime")), _hr_or_iso(
            raw.get("endTime"), at("endTime")
        )
    return None, None


def _hr_or_iso(value: Any, path: str) -> datetime | None:
    """``[seconds, nanos]`` (JavaScript HrTime) or an ISO string."""
    if value is None:
        return None
    if isinstance(value, list) and len(value) == 2 and all(is_int(v) for v in value):
        return from_unix_nanos(value[0] * 1_000_000_000 + value[1], path)
    return parse_instant(value, path)


def _id(value: Any) -> str | None:
    """Hex ids; the Python console exporter writes them with a ``0x`` prefix."""
    if not isinstance(value, str) or not value:
        return None
    return value[2:] if value.startswith("0x") else value


def _kind(value: Any, javascript: bool) -> str | None:
    if is_int(value):
        # The JavaScript API's SpanKind enum starts at INTERNAL = 0; OTLP's at UNSPECIFIED = 0.
        return _KINDS.get(value + 1 if javascript else value)
    if isinstance(value, str):
        # "SPAN_KIND_CLIENT" (OTLP/JSON enum name), "SpanKind.CLIENT" (Python), "CLIENT".
        return value.rsplit(".", 1)[-1].removeprefix("SPAN_KIND_").lower() or None
    return None


def _status(status: Any) -> tuple[bool, str | None]:
    if not isinstance(status, Mapping):
        return False, None
    code = status.get("code", status.get("status_code"))
    error = code == 2 or (isinstance(code, str) and code.upper().endswith("ERROR"))
    message = status.get("message", status.get("description"))
    return error, message if isinstance(message, str) and message else None


def _event(raw: Any, path: str) -> Event:
    event = need_object(raw, path)
    name = event.get("name")
    if not isinstance(name, str):
        raise wrong_type(f"{path}.name", "a string")
    time: datetime | None = None
    if "timeUnixNano" in event:
        time = from_unix_nanos(event["timeUnixNano"], f"{path}.timeUnixNano")
    elif "timestamp" in event:
        stamp = event["timestamp"]
        time = (
            from_unix_nanos(stamp, f"{path}.timestamp")
            if as_int(stamp) is not None
            else parse_instant(stamp, f"{path}.timestamp")
        )
    elif "time" in event:
        time = _hr_or_iso(event["time"], f"{path}.time")
    body = event.get("body")
    return Event(
        name=name,
        time=time,
        attrs=attributes(event.get("attributes"), f"{path}.attributes"),
        body=any_value(body, f"{path}.body") if _is_any_value(body) else body,
    )


def attributes(raw: Any, path: str) -> dict[str, Any]:
    """``[{key, value: AnyValue}]`` (OTLP/JSON) or a plain object (console exporters)."""
    if raw is None:
        return {}
    if isinstance(raw, Mapping):
        return {str(key): value for key, value in raw.items()}
    if not isinstance(raw, list):
        raise wrong_type(path, "a list of key/value pairs or an object")
    out: dict[str, Any] = {}
    for i, item in enumerate(raw):
        pair = need_object(item, f"{path}[{i}]")
        key = pair.get("key")
        if not isinstance(key, str):
            raise wrong_type(f"{path}[{i}].key", "a string")
        out[key] = any_value(pair.get("value"), f"{path}[{i}].value")
    return out


def _is_any_value(value: Any) -> bool:
    """An event body may be an OTLP AnyValue or, from log-record-like exporters, plain JSON."""
    return isinstance(value, Mapping) and len(value) == 1 and next(iter(value)) in _ANY_KEYS


def any_value(value: Any, path: str, depth: int = 0) -> Any:
    """An OTLP/JSON ``AnyValue`` as a plain value. ``intValue`` is a decimal string in the
    JSON mapping (int64); an empty AnyValue is null. A plain value is returned as it is."""
    if not isinstance(value, Mapping):
        return value
    if depth > _MAX_DEPTH:
        raise wrong_type(path, f"nested at most {_MAX_DEPTH} levels deep")
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        number = as_int(value["intValue"])
        return value["intValue"] if number is None else number
    if "doubleValue" in value:
        return value["doubleValue"]
    if "boolValue" in value:
        return value["boolValue"]
    if "bytesValue" in value:
        return value["bytesValue"]
    if "arrayValue" in value:
        array = value["arrayValue"]
        items = array.get("values") if isinstance(array, Mapping) else None
        if items is None:
            return []
        if not isinstance(items, list):
            raise wrong_type(f"{path}.arrayValue.values", "a list")
        return [
            any_value(item, f"{path}.arrayValue.values[{i}]", depth + 1)
            for i, item in enumerate(items)
        ]
    if "kvlistValue" in value:
        kvlist = value["kvlistValue"]
        pairs = kvlist.get("values") if isinstance(kvlist, Mapping) else None
        return {} if pairs is None else _kvlist(pairs, f"{path}.kvlistValue.values", depth + 1)
    return None


def _kvlist(pairs: Any, path: str, depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, item in enumerate(need_list(pairs, path)):
        pair = need_object(item, f"{path}[{i}]")
        key = pair.get("key")
        if not isinstance(key, str):
            raise wrong_type(f"{path}[{i}].key", "a string")
        out[key] = any_value(pair.get("value"), f"{path}[{i}].value", depth)
    return out
