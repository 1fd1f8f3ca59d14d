"""Helicone request exports (JSON Lines) → contract exchanges, one per request.

Followed: the records of Helicone's export tool (``@helicone/export``, the repository's
``examples/export/typescript``: one ``HeliconeRequest`` per line, bodies fetched from
``signed_body_url`` and put in ``request_body`` / ``response_body`` with ``--include-body``),
as returned by ``POST /v1/request/query-clickhouse`` (jawn ``getRequestsClickhouse``):
request_id, request_created_at, request_body, request_path, request_user_id,
request_properties / properties (custom ``Helicone-Property-*`` headers), request_model,
model_override, provider, target_url, response_id, response_created_at, response_body,
response_status, response_model, delay_ms (latency), time_to_first_token, prompt_tokens,
completion_tokens, prompt_cache_read_tokens, prompt_cache_write_tokens, country_code,
cache_reference_id, cache_enabled, request_referrer, cost, prompt_id. ``latency`` and
``user_id`` (names in the dashboard's CSV export) are read as synonyms.

Without ``--include-body`` the bodies are the placeholder ``{"helicone_message": ...}``: the
exchange then keeps an empty conversation (``meta.content`` is ``not_exported``) with its
account, model, usage and timing. Times without an offset (ClickHouse prints
``2024-08-01 12:34:56.789``) are UTC.

Surface: by ``request_path`` (or ``target_url``): ``.../messages`` → ``anthropic.messages``,
``.../responses`` → ``openai.responses``, ``.../chat/completions`` → ``openai.chat``; otherwise by
provider and body. Paths of other endpoints (embeddings, images, audio) are ``unsupported``.

Account: Helicone has no account of its own for the caller, so the account is a custom
property when the provider sets one (``HeliconeOptions.account_property``, else a property
named ``account_id``, ``account-id``, ``accountid`` or ``account``, case-insensitive, with or
without the ``Helicone-Property-`` prefix), else ``request_user_id`` (the ``Helicone-User-Id``
header). When the account comes from a property, ``request_user_id`` is the end user.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from ...types import Surface
from ._bodies import (
    bare_response,
    matches,
    request_or_empty,
    surface_of_body,
    with_usage,
    without_credentials,
)
from ._common import (
    Fields,
    JSONObj,
    compact,
    guarded,
    missing,
    parse_instant,
    rfc3339,
    status_code,
    unsupported,
    wrong_type,
)

NAME: Final = "helicone"


@dataclass(frozen=True, slots=True)
class HeliconeOptions:
    account_property: str | None = None
    """Custom property (``Helicone-Property-<name>``) holding the account id."""


DEFAULT_OPTIONS: Final = HeliconeOptions()
ACCOUNT_PROPERTIES: Final = ("account_id", "account-id", "accountid", "account")
_PROPERTY_PREFIX: Final = "helicone-property-"
_NO_CACHE: Final = "00000000-0000-0000-0000-000000000000"
_SESSION_PROPERTY: Final = "helicone-session-id"
_OTHER_ENDPOINTS: Final = (
    "/embeddings",
    "/completions",
    "/images/",
    "/audio/",
    "/moderations",
    "/files",
    "/batches",
    "/rerank",
)


def sniff(record: Mapping[str, Any]) -> bool:
    return (
        "request_id" in record
        and "request_created_at" in record
        and any(key in record for key in ("request_body", "response_body", "response_status"))
    )


@guarded(NAME)
def to_exchanges(
    record: Mapping[str, Any], options: HeliconeOptions = DEFAULT_OPTIONS
) -> Iterator[dict[str, Any]]:
    yield _exchange(record, options)


def _body(f: Fields, key: str) -> Mapping[str, Any] | None:
    """A body column; None when absent or when Helicone put a placeholder in its place."""
    value = f.json(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise wrong_type(key, "a JSON object")
    if "helicone_message" in value and len(value) == 1:
        return None
    # Helicone keeps the raw stream chunks next to the reassembled body; they add nothing.
    return {k: v for k, v in value.items() if k != "streamed_data"} or None


def _exchange(record: Mapping[str, Any], options: HeliconeOptions) -> JSONObj:
    warnings: list[str] = []
    f = Fields(record, "", warnings)
    request_id = f.need_str("request_id")
    start = parse_instant(record.get("request_created_at"), "request_created_at")
    request = without_credentials(_body(f, "request_body"), warnings)
    provider = (f.str_("provider") or "").upper()
    surface = _surface(f, provider, request)
    properties = _properties(f)
    account, source = _account(f, properties, options)
    model = f.str_("request_model") or f.str_("model") or f.str_("response_model")
    latency = f.float_("delay_ms")
    if latency is None:
        latency = f.float_("latency")

    response = _response(f, surface, warnings)
    user = f.str_("request_user_id") or f.str_("user_id")
    country = f.str_("country_code")
    exchange: JSONObj = {
        "id": request_id,
        "ts": rfc3339(start),
        "account_id": account,
        "surface": surface,
        "request": request_or_empty(surface, request, model),
        "response": response,
        "status": status_code(f.raw("response_status")),
        "latency_ms": latency if latency is not None and latency >= 0 else None,
        "client": {"country": country.upper()} if country and len(country) == 2 else None,
        "end_user_id": user if source != "request_user_id" else None,
    }
    cache_ref = f.str_("cache_reference_id")
    target = f.str_("target_url")
    exchange["meta"] = compact(
        {
            "source_format": NAME,
            "provider": provider or None,
            "request_path": f.str_("request_path"),
            "target_url": target.split("?", 1)[0] if target else None,
            "response_id": f.str_("response_id"),
            "response_model": f.str_("response_model"),
            "model_override": f.str_("model_override"),
            "time_to_first_token_ms": f.float_("time_to_first_token"),
            "cost_usd": f.float_("cost") if f.raw("cost") is not None else f.float_("costUSD"),
            "cache_hit": None if cache_ref is None else cache_ref != _NO_CACHE,
            "prompt_cache_read_tokens": f.int_("prompt_cache_read_tokens"),
            "prompt_cache_write_tokens": f.int_("prompt_cache_write_tokens"),
            "prompt_id": f.str_("prompt_id"),
            "request_referrer": f.str_("request_referrer"),
            "session_id": properties.get(_SESSION_PROPERTY),
            "properties": properties or None,
            "account_source": source,
            "content": "exported" if request is not None else "not_exported",
            "adapter_warnings": list(dict.fromkeys(warnings)) or None,
        }
    )
    return compact(exchange)


def _surface(f: Fields, provider: str, request: Mapping[str, Any] | None) -> Surface:
    path = (f.str_("request_path") or f.str_("target_url") or "").split("?", 1)[0]
    path = path.rstrip("/").lower()
    if path.endswith("/messages") and "/threads/" not in path:
        return "anthropic.messages"
    if path.endswith("/responses"):
        return "openai.responses"
    if path.endswith("/chat/completions"):
        return "openai.chat"
    # An embeddings body ({"model", "input"}) looks like a Responses one: the path decides.
    if any(endpoint in path for endpoint in _OTHER_ENDPOINTS):
        raise unsupported("request_path", f"request to {path[:80]!r} is not a chat exchange")
    if request is not None:
        if provider == "ANTHROPIC" and "messages" in request:
            return "anthropic.messages"
        guess = surface_of_body(request)
        if guess is not None:
            return guess
    elif not path:
        raise missing("request_path", "is required when the request body was not exported")
    raise unsupported("request_path", f"request to {path[:80]!r} is not a chat exchange")


def _properties(f: Fields) -> dict[str, str]:
    """Custom properties, keys lower-cased and without the ``Helicone-Property-`` prefix."""
    out: dict[str, str] = {}
    for key in ("properties", "request_properties"):
        value = f.json(key)
        if value is None:
            continue
        if not isinstance(value, Mapping):
            f.warnings.append(f"wrong_type:{key}")
            continue
        for name, item in value.items():
            if isinstance(item, str | int | float) and not isinstance(item, bool):
                out.setdefault(str(name).lower().removeprefix(_PROPERTY_PREFIX), str(item))
    return out


def _account(f: Fields, properties: Mapping[str, str], options: HeliconeOptions) -> tuple[str, str]:
    names: tuple[str, ...] = ACCOUNT_PROPERTIES
    if options.account_property:
        wanted = options.account_property.lower().removeprefix(_PROPERTY_PREFIX)
        names = (wanted, *names)
    for name in names:
        value = properties.get(name)
        if value:
            return value, f"properties.{name}"
    user = f.str_("request_user_id") or f.str_("user_id")
    if user:
        return user, "request_user_id"
    raise missing("request_user_id", "is required (or an account property)")


def _response(f: Fields, surface: Surface, warnings: list[str]) -> JSONObj | None:
    body = _body(f, "response_body")
    if body is not None and not matches(surface, body):
        warnings.append(f"shape_mismatch:response_body is not {surface}")
        return None
    status = status_code(f.raw("response_status"))
    if body is None:
        if status is not None and status >= 400:
            return None  # failed, and the error body was not exported: nothing to say
        if status is None and f.raw("response_created_at") in (None, ""):
            return None  # no response was ever logged
        body = bare_response(surface, f.str_("response_model"))
    if "error" in body or body.get("type") == "error":
        return dict(body)
    return with_usage(surface, dict(body), f.int_("prompt_tokens"), f.int_("completion_tokens"))
