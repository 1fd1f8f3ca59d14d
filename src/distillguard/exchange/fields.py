"""Typed access to a JSON record, with errors and warnings that name the field.

Required structure that is missing or of the wrong type rejects the record
(``RecordError``). Optional parameters of the wrong type are dropped with a warning
``wrong_type:<field>`` kept in the row, because real logs carry requests that the API
itself refused (status 400) and those exchanges still count.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from ..errors import RecordError

JSON = dict[str, Any]


def dumps(value: Any, *, sort_keys: bool = False) -> bytes | None:
    """JSON bytes of a parsed value, or None where JSON cannot express it (nesting deeper
    than the serialiser allows, non-string keys, integers beyond 64 bits, lone surrogates)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS if sort_keys else 0)
    except (TypeError, orjson.JSONEncodeError):
        return None


def require_str(obj: Mapping[str, Any], key: str, path: str) -> str:
    value = obj.get(key)
    if value is None:
        raise RecordError("missing_field", f"{path} is required", field=path)
    if not isinstance(value, str):
        raise RecordError("wrong_type", f"{path} must be a string", field=path)
    if not value:
        raise RecordError("missing_field", f"{path} is empty", field=path)
    if not value.isascii() and not encodable(value):
        raise RecordError("invalid_utf8", f"{path} holds a lone surrogate", field=path)
    return value


def encodable(text: str) -> bool:
    """False for a string with a lone surrogate, which UTF-8 (and so Arrow) cannot hold."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def require_object(obj: Mapping[str, Any], key: str, path: str) -> JSON:
    value = obj.get(key)
    if value is None:
        raise RecordError("missing_field", f"{path} is required", field=path)
    if not isinstance(value, dict):
        raise RecordError("wrong_type", f"{path} must be an object", field=path)
    return value


def optional_object(obj: Mapping[str, Any], key: str, path: str) -> JSON | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise RecordError("wrong_type", f"{path} must be an object or null", field=path)
    return value


def require_list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise RecordError("wrong_type", f"{path} must be a list", field=path)
    return value


def require_item_object(value: Any, path: str) -> JSON:
    if not isinstance(value, dict):
        raise RecordError("wrong_type", f"{path} must be an object", field=path)
    return value


class Warnings:
    """Collects ``reason:field`` warnings for one record."""

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, reason: str, path: str) -> None:
        self.items.append(f"{reason}:{path}")

    def str_(self, obj: Mapping[str, Any], key: str, path: str) -> str | None:
        value = obj.get(key)
        if value is None or isinstance(value, str):
            return value
        self.add("wrong_type", path)
        return None

    def int_(self, obj: Mapping[str, Any], key: str, path: str) -> int | None:
        value = obj.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.add("wrong_type", path)
            return None
        if isinstance(value, float):
            if not value.is_integer():
                self.add("wrong_type", path)
                return None
            value = int(value)
        if not -(2**63) <= value < 2**63:
            self.add("out_of_range", path)
            return None
        return value

    def float_(self, obj: Mapping[str, Any], key: str, path: str) -> float | None:
        value = obj.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.add("wrong_type", path)
            return None
        result = float(value)
        if result != result or result in (float("inf"), float("-inf")):
            self.add("out_of_range", path)
            return None
        return result

    def bool_(self, obj: Mapping[str, Any], key: str, path: str) -> bool | None:
        value = obj.get(key)
        if value is None or isinstance(value, bool):
            return value
        self.add("wrong_type", path)
        return None

    def obj(self, obj: Mapping[str, Any], key: str, path: str) -> JSON | None:
        value = obj.get(key)
        if value is None or isinstance(value, dict):
            return value
        self.add("wrong_type", path)
        return None
