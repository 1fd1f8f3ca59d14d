"""Log-format adapters: OpenTelemetry GenAI spans, LiteLLM spend logs, Helicone exports.

The sample files in ``tests/data/adapters`` are written from each tool's documented format
(see the adapter modules' docstrings), not from distillguard's output. Every test checks
concrete fields of the contract records the adapters make, and the records go through the
contract's own validation (``RowBuffer``) or a real ingest.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distillguard.errors import RecordError
from distillguard.exchange import RowBuffer
from distillguard.exchange.adapters import (
    ADAPTERS,
    _csv,
    helicone,
    litellm,
    otel,
    sniff_format,
)
from distillguard.exchange.adapters._common import key_id
from distillguard.hashing import Hasher

if TYPE_CHECKING:
    from conftest import Logs

DATA: Final = Path(__file__).parent / "data" / "adapters"
OTLP_FILE: Final = DATA / "otel_export.json"
SPANS_FILE: Final = DATA / "otel_spans.jsonl"
LITELLM_JSON: Final = DATA / "litellm_spend_logs.json"
LITELLM_CSV: Final = DATA / "litellm_spend_logs.csv"
HELICONE_FILE: Final = DATA / "helicone_export.jsonl"

Record = dict[str, Any]


def _otlp() -> Record:
    value: Record = json.loads(OTLP_FILE.read_text())
    return value


def _spans() -> list[Record]:
    return [json.loads(line) for line in SPANS_FILE.read_text().splitlines() if line]


def _litellm_rows() -> list[Record]:
    value: list[Record] = json.loads(LITELLM_JSON.read_text())
    return value


def _csv_rows() -> list[tuple[int, Record]]:
    return list(litellm.read_csv_rows(LITELLM_CSV))


def _helicone_rows() -> list[Record]:
    return [json.loads(line) for line in HELICONE_FILE.read_text().splitlines() if line]


def _by_id(exchanges: list[Record]) -> dict[str, Record]:
    return {exchange["id"]: exchange for exchange in exchanges}


def _validated(exchanges: list[Record]) -> list[dict[str, Any]]:
    """The store rows the contract validation makes of ``exchanges`` (raises if it rejects)."""
    rows = RowBuffer(Hasher())
    for i, exchange in enumerate(exchanges):
        rows.append(exchange, "adapter-test", i + 1)
    stored: list[dict[str, Any]] = rows.take().to_pylist()
    return stored


# -- OpenTelemetry: OTLP/JSON export ------------------------------------------------------


@pytest.fixture(scope="module")
def otlp_exchanges() -> dict[str, Record]:
    return _by_id(list(otel.to_exchanges(_otlp())))


def test_otlp_export_yields_one_exchange_per_inference_span(
    otlp_exchanges: dict[str, Record],
) -> None:
    # Six spans: an HTTP server span and an embeddings span are not exchanges.
    assert sorted(otlp_exchanges) == [
        "1e223ff1f80f1c69f8f0b81c1a0fbb3e:3e9a7c0b5d4f2a18",
        "4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7",
        "5b8efff798038103d269b633813fc60c:eee19b7ec3c1b174",
        "a3ce929d0e0e47364bf92f3577b34da6:53995c3f42cd8ad8",
    ]


def test_otlp_chat_span_with_tool_calls(otlp_exchanges: dict[str, Record]) -> None:
    ex = otlp_exchanges["5b8efff798038103d269b633813fc60c:eee19b7ec3c1b174"]
    assert ex["surface"] == "openai.chat"
    assert ex["ts"] == "2025-03-01T12:00:00.123000Z"
    assert ex["latency_ms"] == pytest.approx(1750.0)
    assert ex["account_id"] == "acct-7731"
    assert ex["org_id"] == "org-acme"
    assert ex["end_user_id"] == "customer-user-19"
    assert ex["status"] == 200
    assert ex["client"] == {"ip": "203.0.113.45", "user_agent": "OpenAI/Python 1.54.3"}
    request = ex["request"]
    assert request["model"] == "gpt-4o"
    assert request["max_tokens"] == 512
    assert request["temperature"] == 0.2
    assert [m["role"] for m in request["messages"]] == [
        "system",
        "user",
        "assistant",
        "tool",
        "user",
    ]
    assert request["messages"][0]["content"].startswith("You are a travel assistant")
    call = request["messages"][2]["tool_calls"][0]
    assert call["id"] == "call_VSPygqKTWdrhaFErNvMV18Yl"
    assert json.loads(call["function"]["arguments"]) == {"location": "Paris"}
    assert request["messages"][3] == {
        "role": "tool",
        "tool_call_id": "call_VSPygqKTWdrhaFErNvMV18Yl",
        "content": "rainy, 57°F",
    }
    assert request["tools"][0]["function"]["name"] == "get_weather"
    response = ex["response"]
    assert response["id"] == "chatcmpl-AxPq3ZK8Lw"
    assert response["model"] == "gpt-4o-2024-08-06"
    choice = response["choices"][0]
    assert choice["finish_reason"] == "tool_calls"  # the conventions' "tool_call", in Chat terms
    assert choice["message"]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert response["usage"] == {"prompt_tokens": 182, "completion_tokens": 27, "total_tokens": 209}
    assert ex["meta"]["content_source"] == "attributes"
    assert ex["meta"]["account_source"] == "distillguard.account_id"


def test_otlp_api_key_attribute_is_hashed_never_kept(otlp_exchanges: dict[str, Record]) -> None:
    ex = otlp_exchanges["5b8efff798038103d269b633813fc60c:eee19b7ec3c1b174"]
    secret = "sk-proj-abc123XYZsecretkeydonotstore"
    assert ex["api_key_id"] == key_id(secret)
    assert ex["api_key_id"].startswith("sha256:") and len(ex["api_key_id"]) == 7 + 16
    assert secret not in json.dumps(list(otlp_exchanges.values()))


def test_otlp_anthropic_span_with_structured_messages(otlp_exchanges: dict[str, Record]) -> None:
    ex = otlp_exchanges["a3ce929d0e0e47364bf92f3577b34da6:53995c3f42cd8ad8"]
    assert ex["surface"] == "anthropic.messages"
    assert ex["account_id"] == "acct-claude-42"
    assert ex["meta"]["account_source"] == "enduser.id"
    assert "end_user_id" not in ex  # the account already is the end user
    request = ex["request"]
    assert request["system"] == "You are a meticulous math tutor."
    assert request["max_tokens"] == 4096
    assert request["top_k"] == 40
    assert [m["role"] for m in request["messages"]] == ["user"]
    response = ex["response"]
    assert [block["type"] for block in response["content"]] == ["thinking", "text"]
    assert response["stop_reason"] == "end_turn"
    # Anthropic counts cached input apart; the conventions include it in input_tokens.
    assert response["usage"] == {
        "input_tokens": 47,
        "output_tokens": 503,
        "cache_read_input_tokens": 2048,
        "cache_creation_input_tokens": 0,
    }


def test_otlp_legacy_event_span(otlp_exchanges: dict[str, Record]) -> None:
    ex = otlp_exchanges["1e223ff1f80f1c69f8f0b81c1a0fbb3e:3e9a7c0b5d4f2a18"]
    assert ex["surface"] == "openai.chat"  # gen_ai.system az.ai.inference speaks Chat Completions
    assert ex["meta"]["content_source"] == "events"
    # No account attribute at all: the resource's service.name stands in, and says so.
    assert ex["account_id"] == "batch-summarizer"
    assert ex["meta"]["account_source"] == "service.name"
    messages = ex["request"]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool"]
    assert messages[2]["tool_calls"][0]["function"]["name"] == "lookup_ticket"
    assert messages[3]["tool_call_id"] == "call_lookup_1"
    assert ex["request"]["max_tokens"] == 300
    choice = ex["response"]["choices"][0]
    assert choice["message"]["content"].startswith("Safari users cannot export")
    assert choice["finish_reason"] == "stop"
    # v1.26 token attribute names.
    assert ex["response"]["usage"]["prompt_tokens"] == 96
    assert ex["response"]["usage"]["completion_tokens"] == 41


def test_otlp_failed_responses_span(otlp_exchanges: dict[str, Record]) -> None:
    ex = otlp_exchanges["4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7"]
    assert ex["surface"] == "openai.responses"  # openai.api.type = responses
    assert ex["request"]["max_output_tokens"] == 2048
    assert ex["request"]["input"][0]["content"][0]["text"] == "Solve step by step: 17 * 23"
    assert ex["status"] == 429  # from error.type
    assert ex["response"]["status"] == "failed"
    assert ex["response"]["error"]["message"] == "Rate limit reached for gpt-4.1-mini"


def test_otlp_exchanges_pass_contract_validation(otlp_exchanges: dict[str, Record]) -> None:
    rows = {row["id"]: row for row in _validated(list(otlp_exchanges.values()))}
    chat = rows["5b8efff798038103d269b633813fc60c:eee19b7ec3c1b174"]
    assert chat["warnings"] == []
    assert chat["layout"] == "suactu"
    assert chat["n_tool_calls_in"] == 1 and chat["n_tool_results"] == 1
    assert chat["finish_reason"] == "tool_calls" and chat["n_tool_calls_out"] == 1
    assert chat["tool_names"] == ["get_weather"]
    claude = rows["a3ce929d0e0e47364bf92f3577b34da6:53995c3f42cd8ad8"]
    assert claude["cached_tokens"] == 2048
    assert claude["finish_reason"] == "stop"
    assert all(row["warnings"] == [] for row in rows.values())


# -- OpenTelemetry: console-exporter spans ---------------------------------------------------


def test_python_console_span_with_content_events() -> None:
    python_span = _spans()[0]
    (ex,) = otel.to_exchanges(python_span)
    assert ex["id"] == "9f3d1c0b2a4e4f6b8d7c6b5a49382716:1a2b3c4d5e6f7081"  # 0x prefix dropped
    assert ex["ts"] == "2025-03-01T12:05:00.250000Z"
    assert ex["latency_ms"] == pytest.approx(750.0)
    assert ex["surface"] == "openai.chat"
    assert ex["request"]["messages"] == [
        {"role": "system", "content": "Answer tersely."},
        {"role": "user", "content": "Capital of Australia?"},
    ]
    assert ex["response"]["choices"][0]["message"]["content"] == "Canberra."
    assert ex["meta"]["span_kind"] == "client"
    assert ex["meta"]["content_source"] == "events"


def test_javascript_console_span_with_indexed_attributes() -> None:
    js_span = _spans()[1]
    (ex,) = otel.to_exchanges(js_span)
    assert ex["surface"] == "anthropic.messages"  # gen_ai.system "Anthropic", any case
    assert ex["ts"] == "2025-03-01T12:01:40.000000Z"  # timestamp in microseconds
    assert ex["latency_ms"] == pytest.approx(2400.0)
    assert ex["meta"]["span_kind"] == "client"  # the JS enum: CLIENT = 2
    assert ex["meta"]["content_source"] == "legacy_attributes"
    assert ex["request"]["messages"][0]["content"][0]["text"].startswith("Write a Python")
    assert ex["response"]["content"][0]["text"].startswith("def reverse(head):")
    assert ex["response"]["stop_reason"] == "end_turn"
    assert ex["response"]["usage"] == {"input_tokens": 410, "output_tokens": 88}
    assert ex["account_id"] == "acct-dev-311"


def _chat_span(**attributes: Any) -> Record:
    base: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "distillguard.account_id": "acct-x",
    }
    base.update(attributes)
    return {
        "name": "chat gpt-4o",
        "traceId": "ab" * 16,
        "spanId": "cd" * 8,
        "startTimeUnixNano": "1740830400000000000",
        "endTimeUnixNano": "1740830401000000000",
        "attributes": {key: value for key, value in base.items() if value is not None},
    }


def test_span_without_captured_content_still_counts() -> None:
    (ex,) = otel.to_exchanges(
        _chat_span(**{"gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5})
    )
    assert ex["request"] == {"model": "gpt-4o", "messages": []}
    assert ex["response"]["usage"]["completion_tokens"] == 5
    assert ex["meta"]["content_source"] == "none"
    assert _validated([ex])[0]["output_tokens"] == 5


def test_account_attribute_option_comes_first() -> None:
    span = _chat_span(**{"tenant.id": "tenant-9"})
    (default,) = otel.to_exchanges(span)
    assert default["account_id"] == "acct-x"
    options = otel.OtelOptions(account_attribute="tenant.id")
    (configured,) = otel.to_exchanges(span, options)
    assert configured["account_id"] == "tenant-9"
    assert configured["meta"]["account_source"] == "tenant.id"


def test_span_without_any_account_is_rejected() -> None:
    span = _chat_span(**{"distillguard.account_id": None})
    span["resource"] = {"attributes": {"service.name": "unknown_service:python"}}
    with pytest.raises(RecordError) as caught:
        list(otel.to_exchanges(span))
    assert caught.value.reason == "missing_field"
    assert caught.value.field == "attributes.distillguard.account_id"


def test_unknown_provider_is_unsupported_unless_a_default_surface_is_set() -> None:
    span = _chat_span(**{"gen_ai.provider.name": "gcp.gemini"})
    with pytest.raises(RecordError) as caught:
        list(otel.to_exchanges(span))
    assert (caught.value.reason, caught.value.field) == (
        "unsupported",
        "attributes.gen_ai.provider.name",
    )
    (ex,) = otel.to_exchanges(span, otel.OtelOptions(default_surface="openai.chat"))
    assert ex["surface"] == "openai.chat"


def test_claude_on_bedrock_is_anthropic_messages() -> None:
    span = _chat_span(
        **{
            "gen_ai.provider.name": "aws.bedrock",
            "gen_ai.request.model": "anthropic.claude-3-5-sonnet-20240620-v1:0",
        }
    )
    (ex,) = otel.to_exchanges(span)
    assert ex["surface"] == "anthropic.messages"


def test_legacy_completions_span_is_unsupported_and_agent_span_skipped() -> None:
    with pytest.raises(RecordError) as caught:
        list(otel.to_exchanges(_chat_span(**{"gen_ai.operation.name": "text_completion"})))
    assert caught.value.reason == "unsupported"
    assert list(otel.to_exchanges(_chat_span(**{"gen_ai.operation.name": "invoke_agent"}))) == []


def test_older_otlp_and_event_shapes() -> None:
    """``instrumentationLibrarySpans`` (OTLP before proto 0.15) and an event body logged as
    JSON text, with a tool message whose result is plain text."""
    span = _chat_span(**{"gen_ai.response.finish_reasons": "stop"})
    span["events"] = [
        {"name": "gen_ai.user.message", "body": '{"content": "Lookup order 17"}'},
        {"name": "gen_ai.tool.message", "attributes": {"id": "call_1", "content": "shipped"}},
        {
            "name": "gen_ai.choice",
            "attributes": {"index": 0, "message": '{"content": "It shipped."}'},
        },
    ]
    export = {"resourceSpans": [{"instrumentationLibrarySpans": [{"spans": [span]}]}]}
    (ex,) = otel.to_exchanges(export)
    assert ex["request"]["messages"] == [
        {"role": "user", "content": "Lookup order 17"},
        {"role": "tool", "tool_call_id": "call_1", "content": "shipped"},
    ]
    choice = ex["response"]["choices"][0]
    assert choice["message"]["content"] == "It shipped."
    assert choice["finish_reason"] == "stop"  # from gen_ai.response.finish_reasons


# -- LiteLLM -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def litellm_exchanges() -> dict[str, Record]:
    return _by_id([ex for row in _litellm_rows() for ex in litellm.to_exchanges(row)])


def test_litellm_chat_row_with_tool_calls(litellm_exchanges: dict[str, Record]) -> None:
    ex = litellm_exchanges["chatcmpl-B3x9ZqQe1v7Lk2Jm4Nn8Tt0Aa"]
    assert ex["surface"] == "openai.chat"
    assert ex["ts"] == "2025-03-01T12:00:00.123000Z"
    assert ex["latency_ms"] == 1500  # request_duration_ms
    assert ex["account_id"] == "team-acme"  # team_id before user and key
    assert ex["meta"]["account_source"] == "team_id"
    assert ex["org_id"] == "org-acme"
    assert ex["end_user_id"] == "customer-user-19"
    assert ex["client"] == {"ip": "203.0.113.45"}
    # The stored hash of the virtual key is kept: it joins with LiteLLM's key table.
    assert ex["api_key_id"] == "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b"
    request = ex["request"]  # proxy_server_request: the body the client sent
    assert request["model"] == "gpt-4o"
    assert request["max_tokens"] == 512
    assert [m["role"] for m in request["messages"]] == [
        "system",
        "user",
        "assistant",
        "tool",
        "user",
    ]
    choice = ex["response"]["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert ex["response"]["usage"]["prompt_tokens"] == 187
    assert ex["meta"]["spend"] == pytest.approx(0.00071)
    assert ex["meta"]["request_tags"] == ["prod", "travel-app"]
    assert ex["meta"]["time_to_first_token_ms"] == pytest.approx(788.0)
    assert ex["meta"]["cache_hit"] is False


def test_litellm_anthropic_row(litellm_exchanges: dict[str, Record]) -> None:
    ex = litellm_exchanges["msg_01XFDUDYJgAACzvnptvVoYEL"]
    assert ex["surface"] == "anthropic.messages"
    assert ex["account_id"] == "user-42"  # no team: the internal user
    assert "end_user_id" not in ex  # end_user "" is absent
    assert ex["request"]["system"] == "You are a meticulous math tutor."
    assert ex["request"]["max_tokens"] == 4096
    assert ex["request"]["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert ex["response"]["stop_reason"] == "end_turn"
    assert ex["response"]["usage"]["cache_read_input_tokens"] == 2048
    assert ex["latency_ms"] == pytest.approx(6500.0)  # endTime - startTime


def test_litellm_responses_row_keyed_by_api_key(litellm_exchanges: dict[str, Record]) -> None:
    ex = litellm_exchanges["resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b"]
    assert ex["surface"] == "openai.responses"
    assert ex["account_id"] == ex["api_key_id"]
    assert ex["meta"]["account_source"] == "api_key"
    assert ex["request"]["max_output_tokens"] == 1024
    assert ex["request"]["instructions"] == "Show your work."
    assert ex["response"]["output"][0]["content"][0]["text"].startswith("17 * 23 = 391")


def test_litellm_failed_row(litellm_exchanges: dict[str, Record]) -> None:
    ex = litellm_exchanges["a5b1f7e2-3c4d-4e5f-8a9b-0c1d2e3f4a5b"]
    assert ex["status"] == 429
    assert ex["response"]["error"]["type"] == "RateLimitError"
    assert ex["response"]["error"]["code"] == "429"
    assert ex["meta"]["error_class"] == "RateLimitError"
    assert "traceback" not in json.dumps(ex["meta"]).lower()


def test_litellm_row_without_stored_prompts(litellm_exchanges: dict[str, Record]) -> None:
    ex = litellm_exchanges["chatcmpl-C7d2Hk5Lm9Pq3Rs6Tu8Vw0Xy1"]
    assert ex["request"] == {"model": "gpt-4o-mini", "messages": []}
    assert ex["response"]["usage"] == {
        "prompt_tokens": 31,
        "completion_tokens": 9,
        "total_tokens": 40,
    }
    assert "choices" not in ex["response"]  # nothing about the answer is made up
    assert ex["meta"]["content"] == "not_stored"


def test_litellm_exchanges_pass_contract_validation(litellm_exchanges: dict[str, Record]) -> None:
    rows = {row["id"]: row for row in _validated(list(litellm_exchanges.values()))}
    assert rows["a5b1f7e2-3c4d-4e5f-8a9b-0c1d2e3f4a5b"]["finish_reason"] == "error"
    assert rows["msg_01XFDUDYJgAACzvnptvVoYEL"]["thinking_type"] == "enabled"
    assert rows["chatcmpl-B3x9ZqQe1v7Lk2Jm4Nn8Tt0Aa"]["n_tools"] == 1
    assert all(row["warnings"] == [] for row in rows.values())


def test_litellm_csv_rows_decode_json_columns_and_numbers() -> None:
    rows = _csv_rows()
    assert [line for line, _ in rows] == [2, 3, 4, 5, 6, 7]
    first = rows[0][1]
    assert first["total_tokens"] == 301 and first["spend"] == pytest.approx(0.000934)
    assert isinstance(first["metadata"], dict) and isinstance(first["proxy_server_request"], dict)
    assert first["organization_id"] is None  # empty cell


def test_litellm_csv_export_converts() -> None:
    results: dict[str, Record] = {}
    errors: dict[int, RecordError] = {}
    for line, row in _csv_rows():
        try:
            results.update(_by_id(list(litellm.to_exchanges(row))))
        except RecordError as exc:
            errors[line] = exc
    assert [(line, e.reason, e.field) for line, e in errors.items()] == [
        (6, "unsupported", "call_type")  # the embeddings row
    ]
    tools = results["chatcmpl-D1a2B3c4D5e6F7g8H9i0"]
    assert tools["ts"] == "2025-03-02T08:00:00.125000Z"  # no offset in the dump: UTC
    assert tools["account_id"] == "team-gamma"
    assert tools["request"]["max_completion_tokens"] == 1024
    assert tools["request"]["messages"][2]["tool_calls"][0]["function"]["name"] == "read_file"
    assert tools["response"]["choices"][0]["message"]["tool_calls"][0]["id"] == "call_run_tests_2"
    claude = results["msg_01Gh7Jk2Lm4Np6Qr8St0Uv"]
    assert claude["surface"] == "anthropic.messages"
    assert claude["account_id"] == "user-77"
    assert claude["response"]["stop_reason"] == "max_tokens"
    assert claude["latency_ms"] == pytest.approx(9500.0)
    responses = results["resp_68aa11bb22cc33dd44ee55ff66007788"]
    assert responses["surface"] == "openai.responses"
    assert responses["end_user_id"] == "shopper-5"
    assert responses["response"]["output"][0]["type"] == "function_call"
    failed = results["e3c5a7b9-1d2f-4e6a-8b0c-d2e4f6a8b0c1"]
    assert failed["status"] == 400 and failed["response"]["error"]["type"] == "BadRequestError"
    # An older row: no proxy_server_request, the message list in ``messages``.
    old = results["chatcmpl-9zOldVersionRow0001"]
    assert old["request"]["messages"][0]["content"].startswith("Translate")
    assert old["request"]["model"] == "gpt-3.5-turbo"
    assert old["meta"]["cache_hit"] is True
    rows = {row["id"]: row for row in _validated(list(results.values()))}
    assert rows["chatcmpl-D1a2B3c4D5e6F7g8H9i0"]["max_tokens_field"] == "max_completion_tokens"
    assert rows["resp_68aa11bb22cc33dd44ee55ff66007788"]["finish_reason"] == "tool_calls"


def test_litellm_account_precedence_option() -> None:
    row = _litellm_rows()[0]
    options = litellm.LitellmOptions(account_precedence=("user", "team_id"))
    (ex,) = litellm.to_exchanges(row, options)
    assert ex["account_id"] == "internal-user-8"
    assert ex["meta"]["account_source"] == "user"


def test_litellm_raw_key_in_api_key_column_is_hashed() -> None:
    row = _litellm_rows()[4] | {"api_key": "sk-1234-master", "team_id": None, "metadata": {}}
    (ex,) = litellm.to_exchanges(row)
    assert ex["api_key_id"] == key_id("sk-1234-master") == ex["account_id"]
    assert "sk-1234" not in json.dumps(ex)


def test_litellm_credentials_in_the_request_body_are_dropped() -> None:
    row = _litellm_rows()[0]
    row["proxy_server_request"] = row["proxy_server_request"] | {"api_key": "sk-ant-secret-1"}
    (ex,) = litellm.to_exchanges(row)
    assert "api_key" not in ex["request"]
    assert "sk-ant-secret-1" not in json.dumps(ex)
    assert ex["meta"]["adapter_warnings"] == ["dropped_credential:api_key"]


def test_litellm_pass_through_anthropic_by_api_base() -> None:
    row = _litellm_rows()[1] | {
        "call_type": "pass_through_endpoint",
        "api_base": "https://api.anthropic.com/v1/messages",
    }
    (ex,) = litellm.to_exchanges(row)
    assert ex["surface"] == "anthropic.messages"


def test_litellm_csv_multiline_cells_gzip_and_large_cells(tmp_path: Path) -> None:
    header, *lines = LITELLM_CSV.read_text().splitlines()
    # A JSON cell with a line break spans two lines: the next row starts on line 4.
    row = lines[1].replace('"{""user_api_key"": ', '"{\n""user_api_key"": ', 1)
    # A cell over csv's default 128 KiB field limit.
    big = lines[5].replace("Translate", "Translate " + "y" * 150_000, 1)
    path = tmp_path / "spend.csv.gz"
    path.write_bytes(gzip.compress(("\n".join([header, row, big]) + "\n").encode()))
    rows = list(litellm.read_csv_rows(path))
    assert [line for line, _ in rows] == [2, 4]
    assert rows[0][1]["metadata"]["user_api_key"].startswith("4a6c8e0b")
    (ex,) = litellm.to_exchanges(rows[1][1])
    assert len(ex["request"]["messages"][0]["content"]) > 150_000


def test_litellm_csv_row_with_wrong_field_count_is_rejected_alone(tmp_path: Path) -> None:
    header, *lines = LITELLM_CSV.read_text().splitlines()
    path = tmp_path / "spend.csv"
    path.write_text("\n".join([header, "only,three,fields", lines[5]]) + "\n")
    rows = list(litellm.read_csv_rows(path))
    assert len(rows) == 2
    with pytest.raises(RecordError) as caught:
        list(litellm.to_exchanges(rows[0][1]))
    assert caught.value.reason == "malformed_row"
    assert len(list(litellm.to_exchanges(rows[1][1]))) == 1


def test_litellm_csv_invalid_json_cell_rejects_the_row_naming_the_column(tmp_path: Path) -> None:
    header, *lines = LITELLM_CSV.read_text().splitlines()
    broken = lines[5].replace('"{""user_api_key"": ', '"{""user_api_key"" ', 1)
    path = tmp_path / "spend.csv"
    path.write_text("\n".join([header, broken]) + "\n")
    ((_, row),) = litellm.read_csv_rows(path)
    assert isinstance(row["metadata"], str)  # left as text by the reader
    with pytest.raises(RecordError) as caught:
        list(litellm.to_exchanges(row))
    assert (caught.value.reason, caught.value.field) == ("invalid_json", "metadata")


def test_litellm_csv_reader_failure_is_a_value_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cell over the field limit stops the CSV reader; the ingest reports ValueError as an
    unreadable file, so the reader must not raise anything else (csv.Error is not one)."""
    header, *lines = LITELLM_CSV.read_text().splitlines()
    path = tmp_path / "spend.csv"
    path.write_text(header + "\n" + lines[5] + "\n" + '"' + "z" * 5000 + "\n")
    monkeypatch.setattr(_csv, "_FIELD_LIMIT", 4096)  # a small limit instead of a huge file
    previous = csv.field_size_limit(1024)
    try:
        rows = litellm.read_csv_rows(path)
        assert next(rows)[0] == 2
        with pytest.raises(ValueError, match="CSV line"):
            next(rows)
    finally:
        csv.field_size_limit(previous)


# -- Helicone ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def helicone_exchanges() -> dict[str, Record]:
    return _by_id([ex for row in _helicone_rows() for ex in helicone.to_exchanges(row)])


def test_helicone_openai_row(helicone_exchanges: dict[str, Record]) -> None:
    ex = helicone_exchanges["8b2d4f6a-0c1e-4a3b-8d5f-7a9c1e3b5d7f"]
    assert ex["surface"] == "openai.chat"
    assert ex["ts"] == "2025-03-03T10:00:00.437000Z"  # ClickHouse time, UTC
    assert ex["account_id"] == "acct-helio-11"  # the Account-Id custom property
    assert ex["end_user_id"] == "end-user-301"  # Helicone-User-Id
    assert ex["meta"]["account_source"] == "properties.account-id"
    assert ex["meta"]["session_id"] == "sess-2f9a"
    assert ex["latency_ms"] == 1475
    assert ex["status"] == 200
    assert ex["client"] == {"country": "DE"}
    assert ex["request"]["max_tokens"] == 200
    assert [m["role"] for m in ex["request"]["messages"]] == ["system", "user"]
    assert ex["response"]["choices"][0]["finish_reason"] == "stop"
    assert ex["response"]["usage"]["prompt_tokens"] == 57


def test_helicone_anthropic_row_with_tool_use(helicone_exchanges: dict[str, Record]) -> None:
    ex = helicone_exchanges["9c3e5a7b-1d2f-4b4c-9e6a-8b0d2f4a6c8e"]
    assert ex["surface"] == "anthropic.messages"
    assert ex["account_id"] == "dev-team-7"  # no account property: request_user_id
    assert "end_user_id" not in ex
    assert ex["request"]["max_tokens"] == 1024
    assert ex["request"]["tools"][0]["name"] == "bash"
    assert ex["response"]["stop_reason"] == "tool_use"
    assert ex["response"]["content"][1]["input"]["command"].startswith("du -ah")
    assert ex["meta"]["prompt_cache_read_tokens"] == 1024


def test_helicone_error_and_bodyless_rows(helicone_exchanges: dict[str, Record]) -> None:
    failed = helicone_exchanges["0d4f6b8c-2e3a-4c5d-8f7b-9c1e3a5b7d9f"]
    assert failed["status"] == 429
    assert failed["response"]["error"]["code"] == "rate_limit_exceeded"
    assert failed["request"]["n"] == 4
    bodyless = helicone_exchanges["1e5a7c9d-3f4b-4d6e-9a8c-0d2f4b6c8e0a"]
    assert bodyless["request"] == {"model": "gpt-4o-mini", "messages": []}
    assert bodyless["response"]["usage"]["completion_tokens"] == 600
    assert bodyless["meta"]["content"] == "not_exported"


def test_helicone_exchanges_pass_contract_validation(
    helicone_exchanges: dict[str, Record],
) -> None:
    rows = {row["id"]: row for row in _validated(list(helicone_exchanges.values()))}
    anthropic = rows["9c3e5a7b-1d2f-4b4c-9e6a-8b0d2f4a6c8e"]
    assert anthropic["finish_reason"] == "tool_calls" and anthropic["n_tool_calls_out"] == 1
    assert rows["0d4f6b8c-2e3a-4c5d-8f7b-9c1e3a5b7d9f"]["finish_reason"] == "error"
    assert all(row["warnings"] == [] for row in rows.values())


def test_helicone_account_property_option_and_prefix() -> None:
    row = _helicone_rows()[1] | {"properties": {"Helicone-Property-Customer": "cust-5"}}
    (ex,) = helicone.to_exchanges(row, helicone.HeliconeOptions(account_property="Customer"))
    assert ex["account_id"] == "cust-5"
    assert ex["end_user_id"] == "dev-team-7"


def test_helicone_embeddings_row_is_unsupported() -> None:
    row = _helicone_rows()[0] | {
        "request_path": "/v1/embeddings",
        "target_url": "https://api.openai.com/v1/embeddings",
        "request_body": {"model": "text-embedding-3-small", "input": ["hello"]},
        "response_body": {"helicone_message": "embeddings response omitted"},
    }
    with pytest.raises(RecordError) as caught:
        list(helicone.to_exchanges(row))
    assert (caught.value.reason, caught.value.field) == ("unsupported", "request_path")


# -- sniffing ------------------------------------------------------------------------------

SAMPLES: Final[dict[str, list[Record]]] = {
    "otel": [_otlp(), *_spans()],
    "litellm": [*_litellm_rows(), *(row for _, row in _csv_rows())],
    "helicone": _helicone_rows(),
}
CONTRACT_RECORD: Final[Record] = {
    "id": "ex-1",
    "ts": "2025-03-01T12:00:00Z",
    "account_id": "acct-1",
    "surface": "openai.chat",
    "request": {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]},
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_sample_sniffs_as_its_own_format_only(name: str) -> None:
    for record in SAMPLES[name]:
        assert sniff_format(record) == name
        for other, adapter in ADAPTERS.items():
            assert adapter.sniff(record) == (other == name), (other, record.get("request_id"))


@pytest.mark.parametrize(
    "record",
    [
        CONTRACT_RECORD,
        {key: value for key, value in CONTRACT_RECORD.items() if key != "account_id"},
        {"request_id": "x"},
        {"name": "span", "attributes": {}},  # no span identity
        {"resource": {}, "scopeSpans": []},  # one ResourceSpans, not an export
        {},
    ],
)
def test_other_records_are_not_sniffed(record: Record) -> None:
    assert sniff_format(record) is None


def test_auto_ingest_reads_every_sample_file(logs: Logs) -> None:
    result = logs.ingest(
        OTLP_FILE, SPANS_FILE, LITELLM_JSON, LITELLM_CSV, HELICONE_FILE, fmt="auto"
    )
    assert result.summary.exchanges == 4 + 2 + 5 + 5 + 4
    assert [(e["reason"], e["field"], e["line"]) for e in result.quarantine] == [
        ("unsupported", "call_type", 6)
    ]
    row = result.row("msg_01Gh7Jk2Lm4Np6Qr8St0Uv")
    assert row["surface"] == "anthropic.messages" and row["max_tokens"] == 500


# -- malformed input -----------------------------------------------------------------------


def _raises(adapter: Any, record: Any) -> RecordError:
    with pytest.raises(RecordError) as caught:
        list(adapter.to_exchanges(record))
    return caught.value


def test_otlp_structural_errors_name_the_field() -> None:
    error = _raises(otel, {"resourceSpans": {"not": "a list"}})
    assert (error.reason, error.field) == ("wrong_type", "resourceSpans")
    export = _otlp()
    export["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"] = "oops"
    error = _raises(otel, export)
    assert error.field == "resourceSpans[0].scopeSpans[0].spans[0].attributes"
    export = _otlp()
    del export["resourceSpans"][1]["scopeSpans"][0]["spans"][0]["startTimeUnixNano"]
    error = _raises(otel, export)
    assert (error.reason, error.field) == (
        "missing_field",
        "resourceSpans[1].scopeSpans[0].spans[0].startTimeUnixNano",
    )


def test_a_malformed_span_of_no_interest_does_not_cost_the_export() -> None:
    export = _otlp()
    http_span = export["resourceSpans"][0]["scopeSpans"][0]["spans"][1]
    assert http_span["name"] == "POST /v1/chat/completions"
    http_span["startTimeUnixNano"] = "not a time"
    http_span["events"] = "not a list"
    assert len(list(otel.to_exchanges(export))) == 4


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_a_record_of_another_format_is_rejected_not_dropped(name: str) -> None:
    """With ``--format NAME`` every record goes to that adapter, whatever it is."""
    for other, records in SAMPLES.items():
        if other != name:
            error = _raises(ADAPTERS[name], records[0])
            assert error.reason == "missing_field" and error.field


def test_otlp_truncated_message_json_is_invalid_json() -> None:
    export = _otlp()
    span = export["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    for attribute in span["attributes"]:
        if attribute["key"] == "gen_ai.input.messages":
            attribute["value"]["stringValue"] = attribute["value"]["stringValue"][:60]
    error = _raises(otel, export)
    assert error.reason == "invalid_json"
    assert error.field == (
        "resourceSpans[0].scopeSpans[0].spans[0].attributes.gen_ai.input.messages"
    )


def test_otlp_wrongly_typed_message_parts() -> None:
    span = _chat_span(**{"gen_ai.input.messages": [{"role": "user", "parts": "text"}]})
    error = _raises(otel, span)
    assert (error.reason, error.field) == (
        "wrong_type",
        "attributes.gen_ai.input.messages[0].parts",
    )
    span = _chat_span(**{"gen_ai.input.messages": [{"parts": []}]})
    assert _raises(otel, span).field == "attributes.gen_ai.input.messages[0].role"


def test_otlp_timestamp_out_of_range() -> None:
    span = _chat_span() | {"startTimeUnixNano": "9" * 30}
    error = _raises(otel, span)
    assert (error.reason, error.field) == ("bad_timestamp", "startTimeUnixNano")


@pytest.mark.parametrize(
    ("change", "reason", "field"),
    [
        ({"request_id": None}, "missing_field", "request_id"),
        ({"request_id": 7.5}, "wrong_type", "request_id"),
        ({"call_type": ["acompletion"]}, "wrong_type", "call_type"),
        ({"startTime": "yesterday"}, "bad_timestamp", "startTime"),
        ({"startTime": None}, "missing_field", "startTime"),
        ({"endTime": "2025-13-01"}, "bad_timestamp", "endTime"),
        ({"metadata": '{"user_api_key": "abc'}, "invalid_json", "metadata"),
        ({"proxy_server_request": "[1, 2"}, "invalid_json", "proxy_server_request"),
        ({"call_type": "aimage_generation"}, "unsupported", "call_type"),
        (
            {"team_id": None, "user": None, "api_key": "", "metadata": {}},
            "missing_field",
            "team_id",
        ),
    ],
)
def test_litellm_bad_rows(change: Record, reason: str, field: str) -> None:
    row = _litellm_rows()[0] | change
    error = _raises(litellm, row)
    assert (error.reason, error.field) == (reason, field)


def test_litellm_response_of_another_surface_is_dropped_with_a_warning() -> None:
    rows = _litellm_rows()
    row = rows[1] | {"response": rows[0]["response"]}  # a chat body on an anthropic row
    (ex,) = litellm.to_exchanges(row)
    assert "response" not in ex
    assert ex["meta"]["adapter_warnings"] == ["shape_mismatch:response is not anthropic.messages"]


@pytest.mark.parametrize(
    ("change", "reason", "field"),
    [
        ({"request_id": None}, "missing_field", "request_id"),
        ({"request_created_at": 1740996000}, "wrong_type", "request_created_at"),
        ({"request_created_at": "03/03/2025"}, "bad_timestamp", "request_created_at"),
        ({"request_body": "[1, 2, 3]"}, "wrong_type", "request_body"),
        ({"request_body": '{"model": "gpt-4o", "messa'}, "invalid_json", "request_body"),
        (
            {"request_user_id": None, "properties": {}, "request_properties": {}},
            "missing_field",
            "request_user_id",
        ),
    ],
)
def test_helicone_bad_rows(change: Record, reason: str, field: str) -> None:
    row = _helicone_rows()[0] | change
    error = _raises(helicone, row)
    assert (error.reason, error.field) == (reason, field)


def test_optional_side_columns_of_the_wrong_type_become_warnings() -> None:
    row = _helicone_rows()[0] | {"delay_ms": "slow", "country_code": ["DE"]}
    (ex,) = helicone.to_exchanges(row)
    assert "latency_ms" not in ex and "client" not in ex
    assert ex["meta"]["adapter_warnings"] == ["wrong_type:delay_ms", "wrong_type:country_code"]


# -- property tests: garbage in, RecordError out --------------------------------------------

GARBAGE = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Values a JSON parser (orjson, as the ingest uses) can produce: 64-bit integers, finite
# floats, text without lone surrogates.
_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT
    | st.sampled_from(
        [
            "",
            "{}",
            "[]",
            "{",
            "null",
            "2025-03-01T12:00:00Z",
            "2025-03-01 12:00:00.123",
            "1740830400000000000",
            "-1",
            "1e400",
            "NaN",
            "chat",
            "openai",
            "anthropic",
            "acompletion",
            "aresponses",
            "anthropic_messages",
            "pass_through_endpoint",
            "failure",
            "/v1/messages",
            "/v1/responses",
            "0x1a2b",
            "[{",
            '[{"role": "user"}]',
            '[{"role": "user", "parts": [{"type": "tool_call"}]}]',
            '{"helicone_message": "x"}',
        ]
    )
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=20,
)


def _keys_of(records: list[Record]) -> list[str]:
    keys: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                keys.add(key)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for record in records:
        walk(record)
    return sorted(keys)


_ANY_VALUE_KEYS: Final = [
    "stringValue",
    "intValue",
    "doubleValue",
    "boolValue",
    "arrayValue",
    "kvlistValue",
    "values",
    "key",
    "value",
]


def _garbage_for(name: str) -> st.SearchStrategy[Record]:
    known = _keys_of(SAMPLES[name]) + _ANY_VALUE_KEYS
    keys = st.sampled_from(known) | _TEXT
    nested = st.recursive(
        _SCALARS,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=5),
        max_leaves=25,
    )
    return st.dictionaries(keys, nested, max_size=12)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths(item, (*prefix, i))


def _replace(record: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copied = copy.deepcopy(record)
    target = copied
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return copied


def _only_record_errors(name: str, record: Record) -> None:
    """The adapter yields contract records or raises RecordError, and never needs its net."""
    try:
        exchanges = list(ADAPTERS[name].to_exchanges(record))
    except RecordError as exc:
        assert exc.reason != "adapter_error", exc
        return
    for exchange in exchanges:
        assert orjson.dumps(exchange)  # plain JSON values only
        # The contract may reject what garbage made; only RecordError may leave.
        with contextlib.suppress(RecordError):
            _validated([exchange])


@pytest.mark.parametrize("name", sorted(ADAPTERS))
@GARBAGE
@given(data=st.data())
def test_garbage_records_raise_only_record_errors(name: str, data: st.DataObject) -> None:
    _only_record_errors(name, data.draw(_garbage_for(name)))


@pytest.mark.parametrize("name", sorted(ADAPTERS))
@GARBAGE
@given(data=st.data())
def test_samples_with_one_value_replaced_raise_only_record_errors(
    name: str, data: st.DataObject
) -> None:
    record = data.draw(st.sampled_from(SAMPLES[name]))
    path = data.draw(st.sampled_from(list(_paths(record))[1:]))
    value = data.draw(_JSON)
    _only_record_errors(name, _replace(record, path, value))


@given(value=_JSON)
@GARBAGE
def test_sniffing_never_raises(value: Any) -> None:
    if isinstance(value, dict):
        assert sniff_format(value) in (None, *ADAPTERS)
