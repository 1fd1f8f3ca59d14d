"""LiteLLM proxy spend logs (rows of ``LiteLLM_SpendLogs``) → contract exchanges, one per row.

Followed: the ``LiteLLM_SpendLogs`` model of LiteLLM's ``schema.prisma`` (request_id, call_type,
api_key, spend, total_tokens, prompt_tokens, completion_tokens, startTime, endTime,
request_duration_ms, completionStartTime, model, model_id, model_group, custom_llm_provider,
api_base, user, metadata, cache_hit, cache_key, request_tags, team_id, organization_id,
end_user, requester_ip_address, messages, response, session_id, status,
mcp_namespaced_tool_name, agent_id, proxy_server_request) and the payload builder that fills
it (``litellm/proxy/spend_tracking/spend_tracking_utils.py``, ``get_logging_payload``):
``api_key`` is ``sha256(virtual key)``; ``metadata`` is ``SpendLogsMetadata`` JSON
(``user_api_key_*``, ``requester_ip_address``, ``status``, ``error_information`` with
``error_code`` / ``error_class`` / ``error_message``); ``status`` is ``success`` or ``failure``;
``cache_hit`` is ``str(bool)``; ``proxy_server_request`` is the client's request body and
``response`` the response, both JSON and both ``{}`` unless the proxy runs with
``store_prompts_in_spend_logs`` (``messages`` is ``{}`` in current versions and held the message
list in older ones). Exports read: a JSON array or JSON Lines of rows (the ``/spend/logs`` API,
``row_to_json``), and CSV (``COPY ... TO ... CSV HEADER``) with JSON columns as text.

Mapping: ``call_type`` ``completion`` / ``acompletion`` → ``openai.chat``, ``responses`` /
``aresponses`` → ``openai.responses``, ``anthropic_messages`` → ``anthropic.messages``;
pass-through calls (``pass_through_endpoint``, ``llm_passthrough_route``) by the path of
``api_base``, then by provider and request body. Other call types (embeddings, images,
audio, files, batches) are rejected as ``unsupported``. The request is ``proxy_server_request``
when logged, else ``messages``; without either the exchange keeps an empty conversation and
``meta.content`` says ``not_stored`` (LiteLLM's default), since account, model, usage and timing
still count. ``ts`` is ``startTime`` (times without an offset are UTC, as LiteLLM stores them).

Account: the first non-empty of ``team_id``, ``user``, ``api_key`` (the precedence is
``LitellmOptions.account_precedence``): a team is the unit a LiteLLM admin gives keys and
budgets to, an internal user the next, and a bare key the last resort. ``meta.account_source``
says which one was used. ``api_key_id`` keeps the key hash LiteLLM stored (see
``_common.key_id``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from os import PathLike
from pathlib import Path
from typing import Any, Final

import orjson

from ...errors import RecordError
from ...types import Surface
from ._bodies import (
    bare_response,
    error_body,
    matches,
    request_or_empty,
    surface_of_body,
    with_usage,
    without_credentials,
)
from ._common import (
    Fields,
    JSONObj,
    as_float,
    as_int,
    compact,
    guarded,
    key_id,
    millis_between,
    missing,
    parse_instant,
    rfc3339,
    status_code,
    unsupported,
)
from ._csv import MALFORMED, read_rows

NAME: Final = "litellm"


@dataclass(frozen=True, slots=True)
class LitellmOptions:
    account_precedence: tuple[str, ...] = ("team_id", "user", "api_key")
    """Columns tried in order for ``account_id``."""


DEFAULT_OPTIONS: Final = LitellmOptions()
JSON_COLUMNS: Final = frozenset(
    {"metadata", "request_tags", "messages", "response", "proxy_server_request"}
)
_NUMBER_COLUMNS: Final = frozenset(
    {"spend", "total_tokens", "prompt_tokens", "completion_tokens", "request_duration_ms"}
)
_CALL_TYPES: Final[dict[str, Surface]] = {
    "completion": "openai.chat",
    "acompletion": "openai.chat",
    "responses": "openai.responses",
    "aresponses": "openai.responses",
    "anthropic_messages": "anthropic.messages",
}
_PASS_THROUGH: Final = frozenset(
    {"pass_through_endpoint", "llm_passthrough_route", "allm_passthrough_route"}
)
_ERROR_MESSAGE_CHARS: Final = 500


def sniff(record: Mapping[str, Any]) -> bool:
    return (
        "request_id" in record
        and "call_type" in record
        and ("startTime" in record or "spend" in record)
    )


def read_csv_rows(path: str | PathLike[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows of a CSV export, streamed, with the JSON columns decoded (a cell that is not JSON
    is left as text, and its row rejected by ``to_exchanges`` naming the column)."""
    return read_rows(Path(path), _cell)


def _cell(column: str, text: str) -> Any:
    if column in JSON_COLUMNS:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            return text
    if column in _NUMBER_COLUMNS:
        whole = as_int(text)
        if whole is not None:
            return whole
        number = as_float(text)
        return text if number is None else number
    return text


@guarded(NAME)
def to_exchanges(
    record: Mapping[str, Any], options: LitellmOptions = DEFAULT_OPTIONS
) -> Iterator[dict[str, Any]]:
    if MALFORMED in record:
        raise RecordError("malformed_row", str(record[MALFORMED]))
    yield _exchange(record, options)


def _object(f: Fields, key: str) -> Mapping[str, Any] | None:
    """A JSON column that must hold an object: ``{}`` counts as absent."""
    value = f.json(key)
    if value is None or (isinstance(value, Mapping) and not value):
        return None
    if not isinstance(value, Mapping):
        f.warnings.append(f"wrong_type:{key}")
        return None
    return value


def _exchange(record: Mapping[str, Any], options: LitellmOptions) -> JSONObj:
    warnings: list[str] = []
    f = Fields(record, "", warnings)
    request_id = f.need_str("request_id")
    call_type = f.need_str("call_type")
    start = parse_instant(record.get("startTime"), "startTime")
    end = None
    if f.raw("endTime") not in (None, ""):
        end = parse_instant(f.raw("endTime"), "endTime")
    metadata = _object(f, "metadata") or {}
    m = Fields(metadata, "metadata", warnings)
    body = without_credentials(_request_body(f), warnings)
    surface = _surface(call_type, f, body)
    if surface == "openai.responses" and body is not None and "input" not in body:
        # Older rows kept a Responses call's input list in the ``messages`` column.
        body = {key: value for key, value in body.items() if key != "messages"} | {
            "input": body.get("messages", [])
        }
    model = f.str_("model_group") or f.str_("model")

    error = m.obj("error_information") or {}
    failed = f.str_("status") == "failure" or m.str_("status") == "failure"
    response = _response(f, surface, failed, error, warnings)

    account, source = _account(f, m, options)
    api_key = f.str_("api_key") or m.str_("user_api_key")
    duration = f.float_("request_duration_ms")
    exchange: JSONObj = {
        "id": request_id,
        "ts": rfc3339(start),
        "account_id": account,
        "surface": surface,
        "request": request_or_empty(surface, body, model),
        "response": response,
        "status": status_code(error.get("error_code")) if failed else 200,
        "latency_ms": duration
        if duration is not None and duration >= 0
        else millis_between(start, end),
        "client": compact({"ip": f.str_("requester_ip_address") or m.str_("requester_ip_address")})
        or None,
        "org_id": f.str_("organization_id") or m.str_("user_api_key_org_id"),
        "api_key_id": None if api_key is None else key_id(api_key),
        "end_user_id": f.str_("end_user"),
    }
    exchange["meta"] = _meta(f, m, error, start, source, body is not None, warnings)
    return compact(exchange)


def _request_body(f: Fields) -> Mapping[str, Any] | None:
    body = _object(f, "proxy_server_request")
    if body is not None:
        # Some versions kept the whole proxy request ({url, method, headers, body}).
        inner = body.get("body")
        if isinstance(inner, Mapping) and "messages" not in body and "input" not in body:
            return inner
        return body
    messages = f.json("messages")
    if isinstance(messages, list) and messages:
        return {"messages": messages}
    if isinstance(messages, str) and messages:
        return {"input": messages}
    return None


def _surface(call_type: str, f: Fields, body: Mapping[str, Any] | None) -> Surface:
    surface = _CALL_TYPES.get(call_type)
    if surface is not None:
        return surface
    if call_type in _PASS_THROUGH:
        path = (f.str_("api_base") or "").split("?", 1)[0].rstrip("/").lower()
        if path.endswith("/messages"):
            return "anthropic.messages"
        if path.endswith("/responses"):
            return "openai.responses"
        if path.endswith("/chat/completions"):
            return "openai.chat"
        if body is not None:
            if f.str_("custom_llm_provider") == "anthropic" and "messages" in body:
                return "anthropic.messages"
            guess = surface_of_body(body)
            if guess is not None:
                return guess
        raise unsupported("call_type", f"pass-through call to {path[:80]!r} is not a chat exchange")
    raise unsupported("call_type", f"call_type {call_type[:40]!r} is not a chat exchange")


def _response(
    f: Fields,
    surface: Surface,
    failed: bool,
    error: Mapping[str, Any],
    warnings: list[str],
) -> JSONObj | None:
    raw = _object(f, "response")
    if raw is not None:
        if not matches(surface, raw):
            warnings.append(f"shape_mismatch:response is not {surface}")
            return None
        response = dict(raw)
    elif failed:
        message = error.get("error_message")
        return error_body(
            surface,
            _text(error.get("error_class")),
            message[:_ERROR_MESSAGE_CHARS] if isinstance(message, str) and message else None,
            _text(error.get("error_code")),
        )
    else:
        response = bare_response(surface, f.str_("model"))
    if failed:
        return response
    return with_usage(surface, response, f.int_("prompt_tokens"), f.int_("completion_tokens"))


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return value
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _account(f: Fields, m: Fields, options: LitellmOptions) -> tuple[str, str]:
    fallback = {"team_id": "user_api_key_team_id", "user": "user_api_key_user_id"}
    for column in options.account_precedence:
        value = f.str_(column)
        if value is None and column in fallback:
            value = m.str_(fallback[column])
        if value is None and column == "api_key":
            value = m.str_("user_api_key")
        if value:
            return (key_id(value) if column == "api_key" else value), column
    first = options.account_precedence[0] if options.account_precedence else "team_id"
    raise missing(first, f"is required (or one of {', '.join(options.account_precedence[1:])})")


def _meta(
    f: Fields,
    m: Fields,
    error: Mapping[str, Any],
    start: datetime,
    source: str,
    has_content: bool,
    warnings: list[str],
) -> JSONObj:
    first_token_ms = None
    first = f.raw("completionStartTime")
    if isinstance(first, str) and first:
        try:
            first_token_ms = millis_between(start, parse_instant(first, "completionStartTime"))
        except RecordError:
            warnings.append("bad_timestamp:completionStartTime")
    tags = f.json("request_tags")
    api_base = f.str_("api_base")
    message = error.get("error_message")
    return compact(
        {
            "source_format": NAME,
            "call_type": f.str_("call_type"),
            "model": f.str_("model"),
            "model_group": f.str_("model_group"),
            "model_id": f.str_("model_id"),
            "custom_llm_provider": f.str_("custom_llm_provider"),
            "api_base": api_base.split("?", 1)[0] if api_base else None,
            "spend": f.float_("spend"),
            "total_tokens": f.int_("total_tokens"),
            "cache_hit": f.bool_("cache_hit"),
            "request_tags": tags if isinstance(tags, list) and tags else None,
            "session_id": f.str_("session_id"),
            "litellm_status": f.str_("status"),
            "key_alias": m.str_("user_api_key_alias"),
            "team_alias": m.str_("user_api_key_team_alias"),
            "mcp_tool": f.str_("mcp_namespaced_tool_name"),
            "agent_id": f.str_("agent_id"),
            "time_to_first_token_ms": first_token_ms,
            "error_class": _text(error.get("error_class")),
            "error_code": _text(error.get("error_code")),
            "error_message": message[:_ERROR_MESSAGE_CHARS]
            if isinstance(message, str) and message
            else None,
            "account_source": source,
            "content": "logged" if has_content else "not_stored",
            "adapter_warnings": list(dict.fromkeys(warnings)) or None,
        }
    )
