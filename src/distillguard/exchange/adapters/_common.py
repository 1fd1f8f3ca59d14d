"""What the adapters share: typed reads that name the field, times, key ids, JSON cells.

Input logs are untrusted. A value the adapter cannot do without (an id, a time, the account)
raises ``RecordError`` naming the field; an optional value of the wrong type is dropped and
noted as ``wrong_type:<field>`` in the exchange's ``meta.adapter_warnings``, so a log with a
surprise in some side column still yields its exchanges.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from typing import Any, Final, ParamSpec, TypeVar

import orjson

from ...errors import RecordError

JSONObj = dict[str, Any]
P = ParamSpec("P")
T = TypeVar("T")

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_HEX_DIGEST: Final = re.compile(r"[0-9a-f]{64}")
_DECIMAL: Final = re.compile(r"[+-]?[0-9]{1,40}")
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
KEY_ID_CHARS: Final = 16
"""Hex characters of the sha256 kept in a key id: 64 bits, enough to tell keys apart."""


def wrong_type(path: str, expected: str) -> RecordError:
    return RecordError("wrong_type", f"{path} must be {expected}", field=path)


def missing(path: str, why: str = "is required") -> RecordError:
    return RecordError("missing_field", f"{path} {why}", field=path)


def unsupported(path: str, message: str) -> RecordError:
    """A well-formed record this adapter does not turn into an exchange (embeddings, ...)."""
    return RecordError("unsupported", message, field=path)


def need_object(value: Any, path: str) -> Mapping[str, Any]:
    if value is None:
        raise missing(path)
    if not isinstance(value, Mapping):
        raise wrong_type(path, "an object")
    return value


def need_list(value: Any, path: str) -> list[Any]:
    if value is None:
        raise missing(path)
    if not isinstance(value, list):
        raise wrong_type(path, "a list")
    return value


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class Fields:
    """Typed reads of one input object; ``path`` prefixes the field names in errors."""

    __slots__ = ("_obj", "_path", "warnings")

    def __init__(self, obj: Mapping[str, Any], path: str = "", warnings: list[str] | None = None):
        self._obj = obj
        self._path = path
        self.warnings: list[str] = [] if warnings is None else warnings

    def path(self, key: str) -> str:
        return f"{self._path}.{key}" if self._path else key

    def raw(self, key: str) -> Any:
        return self._obj.get(key)

    def _bad(self, key: str) -> None:
        self.warnings.append(f"wrong_type:{self.path(key)}")

    def need_str(self, key: str) -> str:
        value = self._obj.get(key)
        if value is None or value == "":
            raise missing(self.path(key))
        if not isinstance(value, str):
            raise wrong_type(self.path(key), "a string")
        return value

    def str_(self, key: str) -> str | None:
        """A non-empty string, or None (absent, empty, or of the wrong type: noted)."""
        value = self._obj.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, str):
            return value
        # Numbers are common in CSV exports and in ids logged by loosely typed code.
        if is_int(value):
            return str(value)
        self._bad(key)
        return None

    def int_(self, key: str) -> int | None:
        value = self._obj.get(key)
        if value is None or value == "":
            return None
        number = as_int(value)
        if number is None:
            self._bad(key)
        return number

    def float_(self, key: str) -> float | None:
        value = self._obj.get(key)
        if value is None or value == "":
            return None
        number = as_float(value)
        if number is None:
            self._bad(key)
        return number

    def bool_(self, key: str) -> bool | None:
        value = self._obj.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return value
        # CSV cells and Python ``str(bool)`` columns (LiteLLM's cache_hit) carry booleans as text.
        if isinstance(value, str) and value.lower() in ("true", "false", "t", "f"):
            return value.lower() in ("true", "t")
        self._bad(key)
        return None

    def obj(self, key: str) -> Mapping[str, Any] | None:
        value = self._obj.get(key)
        if value is None or isinstance(value, Mapping):
            return value
        self._bad(key)
        return None

    def json(self, key: str) -> Any:
        """A value that exports keep either as JSON or as a string holding JSON."""
        return json_cell(self._obj.get(key), self.path(key))


def as_int(value: Any) -> int | None:
    """A 64-bit integer from an int, an integral float or a decimal string; None otherwise
    (the store's integers are int64, and JSON cannot carry larger ones reliably)."""
    number: int | None = None
    if is_int(value) or (isinstance(value, float) and value.is_integer()):
        number = int(value)
    elif isinstance(value, str):
        text = value.strip()
        if _DECIMAL.fullmatch(text):
            number = int(text)
        else:
            decimal = as_float(text)
            if decimal is not None and decimal.is_integer():
                number = int(decimal)
    return number if number is not None and _INT64_MIN <= number <= _INT64_MAX else None


def as_float(value: Any) -> float | None:
    """A finite float from a number or a numeric string; None otherwise."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float):
            result = float(value)
        elif isinstance(value, str) and len(value) <= 64:
            result = float(value.strip())
        else:
            return None
    except (ValueError, OverflowError):
        return None
    return result if result - result == 0 else None  # NaN and infinities fail this


def json_cell(value: Any, path: str) -> Any:
    """Decode a string holding JSON; other values are returned as they are. "" is None."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return value
    if not value.strip():
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise RecordError("invalid_json", f"{path} is not valid JSON: {exc}", field=path) from None


def maybe_json(value: Any, path: str) -> Any:
    """JSON text when it looks like a JSON array or object, else the value itself: attributes
    that are arrays by the conventions arrive as JSON text from SDKs without array support,
    and as a bare string from others (``"stop"`` for ``["stop"]``)."""
    if isinstance(value, str) and value.lstrip()[:1] in ("[", "{"):
        return json_cell(value, path)
    return value


# -- times ---------------------------------------------------------------------------------


def parse_instant(value: Any, path: str) -> datetime:
    """An ISO 8601 / RFC 3339 time. Without an offset it is taken as UTC: the databases these
    exports come from (Postgres ``timestamp(3)`` for LiteLLM, ClickHouse for Helicone) store
    UTC and print it without one."""
    if value is None or value == "":
        raise missing(path)
    if not isinstance(value, str):
        raise wrong_type(path, "an RFC 3339 time string")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise RecordError(
            "bad_timestamp", f"{path} {value[:40]!r} is not an ISO 8601 time", field=path
        ) from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before datetime.min in UTC
        raise RecordError("bad_timestamp", f"{path} is out of range", field=path) from None


def from_unix_nanos(value: Any, path: str) -> datetime:
    """A time given as nanoseconds since the epoch (OTLP ``*TimeUnixNano``, int or string)."""
    nanos = _whole(value)
    if nanos is None:
        if value is None:
            raise missing(path)
        raise wrong_type(path, "nanoseconds since the epoch")
    return _after_epoch(nanos // 1000, path)


def from_unix_micros(value: Any, path: str) -> datetime:
    micros = _whole(value)
    if micros is None:
        number = as_float(value)
        if number is None:
            raise wrong_type(path, "microseconds since the epoch")
        micros = int(number)
    return _after_epoch(micros, path)


def _whole(value: Any) -> int | None:
    """An integer of any size (a time far out of range is a bad time, not a wrong type)."""
    if is_int(value):
        return int(value)
    if isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
        return int(value.strip())
    return as_int(value)


def plus_micros(moment: datetime, micros: float, path: str) -> datetime:
    try:
        return moment + timedelta(microseconds=micros)
    except OverflowError:
        raise RecordError("bad_timestamp", f"{path} is out of range", field=path) from None


def _after_epoch(micros: int, path: str) -> datetime:
    try:
        return _EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        raise RecordError("bad_timestamp", f"{path} is out of range", field=path) from None


def rfc3339(moment: datetime) -> str:
    """``2025-03-01T12:00:00.123000Z`` for a UTC time (every time the adapters make is UTC)."""
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def millis_between(start: datetime | None, end: datetime | None) -> float | None:
    """Duration in milliseconds; None when unknown or negative (clock skew, bad rows)."""
    if start is None or end is None:
        return None
    millis = (end - start) / timedelta(milliseconds=1)
    return millis if millis >= 0 else None


# -- ids -----------------------------------------------------------------------------------


def key_id(value: str) -> str:
    """An API key identifier that is never the secret.

    A value that already is a sha256 hex digest (LiteLLM stores ``sha256(key)``) is kept, so it
    still joins with the tool's own key table. Anything else is hashed with sha256 and the first
    ``KEY_ID_CHARS`` hex characters kept, prefixed ``sha256:``: whatever the column holds (a raw
    ``sk-...`` key logged by mistake, an alias), only the hash leaves the adapter.
    """
    lowered = value.lower()
    if _HEX_DIGEST.fullmatch(lowered):
        return lowered
    digest = sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    return f"sha256:{digest[:KEY_ID_CHARS]}"


def status_code(value: Any) -> int | None:
    """An HTTP status, or None when the value is not one (Helicone's -1 for pending, ...)."""
    code = as_int(value)
    return code if code is not None and 100 <= code <= 599 else None


def compact(obj: Mapping[str, Any]) -> JSONObj:
    """The object without its None members (meta and client stay small and readable)."""
    return {key: value for key, value in obj.items() if value is not None}


def dumps_text(value: Any) -> str:
    """Tool arguments and results as the APIs carry them: JSON text (strings stay as they are)."""
    if isinstance(value, str):
        return value
    try:
        return orjson.dumps(value).decode()
    except (TypeError, orjson.JSONEncodeError):
        return str(value)


def guarded(adapter: str) -> Callable[[Callable[P, Iterator[T]]], Callable[P, Iterator[T]]]:
    """Turn any other exception of an adapter into ``RecordError("adapter_error")``.

    Defence in depth: the ingest quarantines a ``RecordError`` and carries on, but any other
    exception would stop the file. The adapters are written not to need this (the property
    tests feed them garbage and fail if this net is ever reached); it keeps one unforeseen
    record from costing the rest of the input.
    """

    def decorate(fn: Callable[P, Iterator[T]]) -> Callable[P, Iterator[T]]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> Iterator[T]:
            try:
                yield from fn(*args, **kwargs)
            except RecordError:
                raise
            except (
                KeyError,
                TypeError,
                ValueError,
                AttributeError,
                IndexError,
                OverflowError,
                RecursionError,
            ) as exc:
                message = (
                    f"the {adapter} adapter failed on this record: {type(exc).__name__}: {exc}"
                )
                raise RecordError("adapter_error", message[:300]) from exc

        return wrapper

    return decorate
