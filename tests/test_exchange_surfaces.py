"""The three API surfaces of the contract, parsed into the store's columns.

Realistic request/response bodies go through a real ingest; every test then reads the stored
row back from the store and checks the columns a later stage depends on.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from distillguard.errors import RecordError
from distillguard.exchange import RowBuffer
from distillguard.exchange.reader import LineChunk
from distillguard.exchange.work import ParseOptions, process
from distillguard.hashing import DEFAULT_KEY, Hasher

if TYPE_CHECKING:
    from conftest import Ingested, Logs

# -- records -------------------------------------------------------------------------------

CHAT_FULL: dict[str, Any] = {
    "id": "chat-full",
    "ts": "2025-03-01T12:00:00+02:00",
    "account_id": "acct-chat",
    "org_id": "org-1",
    "api_key_id": "key-123",
    "surface": "openai.chat",
    "request": {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "developer", "content": [{"type": "text", "text": "Answer briefly."}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this image?"},
                    {"type": "image_url", "image_url": {"url": "sha256:abc", "detail": "low"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": '{"q":"cat"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "A cat."},
            {"role": "user", "content": "Explain step by step."},
        ],
        "tools": [
            {
                "type": "function",
                "function": {"name": "lookup", "parameters": {"type": "object"}},
            },
            {
                "type": "function",
                "function": {"name": "fetch_page", "parameters": {"type": "object"}},
            },
        ],
        "tool_choice": "auto",
        "max_completion_tokens": 512,
        "temperature": 0.2,
        "top_p": 0.9,
        "n": 2,
        "logprobs": True,
        "top_logprobs": 5,
        "reasoning_effort": "high",
        "stream": True,
        "user": "u-1",
        "response_format": {"type": "json_object"},
    },
    "response": {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Step 1: look.",
                    "reasoning_content": "Let me think.",
                },
                "finish_reason": "length",
            },
            {
                "index": 1,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c2",
                            "type": "function",
                            "function": {"name": "lookup", "arguments": "{}"},
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            },
        ],
        "usage": {
            "prompt_tokens": 100,
            "completion_tokens": 50,
            "total_tokens": 150,
            "completion_tokens_details": {"reasoning_tokens": 20},
            "prompt_tokens_details": {"cached_tokens": 64},
        },
    },
    "status": 200,
    "latency_ms": 1234.5,
    "client": {
        "ip": "203.0.113.7",
        "user_agent": "OpenAI/Python 1.54.0",
        "asn": 64500,
        "asn_org": "Example Hosting",
        "country": "de",
        "tls_fingerprint": "t13d1516h2_8daaf6152771_e5627efa2ab1",
    },
    "meta": {"region": "eu-west"},
}

CHAT_LEGACY: dict[str, Any] = {
    "id": "chat-legacy",
    "ts": "2025-03-01T13:00:00Z",
    "account_id": "acct-chat",
    "surface": "openai.chat",
    "request": {
        "model": "gpt-3.5-turbo-0613",
        "messages": [
            {"role": "user", "content": "Weather in Oslo?"},
            {
                "role": "assistant",
                "content": None,
                "function_call": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
            },
            {"role": "function", "name": "get_weather", "content": '{"temp": 3}'},
        ],
        "functions": [
            {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            }
        ],
        "max_tokens": 100,
        "safety_identifier": "sid-7",
    },
    "response": {
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "function_call": {"name": "get_weather", "arguments": '{"city": "Bergen"}'},
                },
                "finish_reason": "function_call",
            }
        ],
        "usage": {"prompt_tokens": 40, "completion_tokens": 12},
    },
}

CHAT_CJK: dict[str, Any] = {
    "id": "chat-cjk",
    "ts": "2025-03-02T00:30:00Z",
    "account_id": "acct-chat",
    "surface": "openai.chat",
    "request": {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "请解释一下量子计算的基本原理并举一个例子。"}],
        "max_tokens": 300,
        "max_completion_tokens": 200,
    },
    "response": {
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "量子计算…"},
                "finish_reason": "stop",
            }
        ]
    },
}

RESPONSES_FULL: dict[str, Any] = {
    "id": "resp-full",
    "ts": "2025-03-01T12:00:00Z",
    "account_id": "acct-resp",
    "surface": "openai.responses",
    "request": {
        "model": "o4-mini",
        "instructions": "Be terse.",
        "previous_response_id": "resp_0",
        "input": [
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Describe"},
                    {"type": "input_image", "image_url": "https://img.example/1.png"},
                ],
            },
            {
                "type": "function_call",
                "call_id": "fc1",
                "name": "get_weather",
                "arguments": '{"city":"Paris"}',
            },
            {"type": "function_call_output", "call_id": "fc1", "output": "sunny"},
            {"type": "message", "role": "user", "content": "And tomorrow?"},
        ],
        "tools": [
            {"type": "function", "name": "get_weather", "parameters": {}},
            {
                "type": "computer_use_preview",
                "display_width": 1024,
                "display_height": 768,
                "environment": "browser",
            },
        ],
        "reasoning": {"effort": "medium", "summary": "auto"},
        "include": ["message.output_text.logprobs"],
        "max_output_tokens": 256,
        "top_logprobs": 3,
        "safety_identifier": "sid-9",
        "text": {"format": {"type": "json_schema", "name": "x", "schema": {}}},
    },
    "response": {
        "id": "resp_1",
        "object": "response",
        "status": "incomplete",
        "incomplete_details": {"reason": "max_output_tokens"},
        "output": [
            {
                "type": "reasoning",
                "id": "rs1",
                "summary": [{"type": "summary_text", "text": "Thinking about weather."}],
            },
            {
                "type": "message",
                "id": "m1",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Rain likely.", "annotations": []}],
            },
            {
                "type": "function_call",
                "call_id": "fc2",
                "name": "get_weather",
                "arguments": "{}",
            },
        ],
        "usage": {
            "input_tokens": 80,
            "output_tokens": 256,
            "input_tokens_details": {"cached_tokens": 10},
            "output_tokens_details": {"reasoning_tokens": 100},
            "total_tokens": 336,
        },
    },
}

RESPONSES_STRING: dict[str, Any] = {
    "id": "resp-string",
    "ts": "2025-03-01T12:05:00Z",
    "account_id": "acct-resp",
    "surface": "openai.responses",
    "request": {"model": "gpt-4.1", "input": "Write a haiku about autumn.", "temperature": 1.0},
    "response": {
        "status": "completed",
        "output": [
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Leaves fall..."}],
            }
        ],
        "usage": {"input_tokens": 12, "output_tokens": 9},
    },
}

ANTHROPIC_FULL: dict[str, Any] = {
    "id": "anth-full",
    "ts": "2025-03-01T12:00:00Z",
    "account_id": "acct-anth",
    "surface": "anthropic.messages",
    "request": {
        "model": "claude-sonnet-4-5",
        "max_tokens": 4096,
        "system": [
            {"type": "text", "text": "You are Claude."},
            {"type": "text", "text": "Use tools.", "cache_control": {"type": "ephemeral"}},
        ],
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {
                            "type": "base64",
                            "media_type": "image/png",
                            "data": "sha256:ff",
                        },
                    },
                    {"type": "text", "text": "Click the button"},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Taking a screenshot."},
                    {
                        "type": "tool_use",
                        "id": "tu1",
                        "name": "computer",
                        "input": {"action": "screenshot"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "tu1",
                        "content": [
                            {"type": "text", "text": "done"},
                            {
                                "type": "image",
                                "source": {
                                    "type": "base64",
                                    "media_type": "image/png",
                                    "data": "sha256:ee",
                                },
                            },
                        ],
                    }
                ],
            },
        ],
        "tools": [
            {
                "type": "computer_20250124",
                "name": "computer",
                "display_width_px": 1024,
                "display_height_px": 768,
            }
        ],
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "top_k": 40,
        "metadata": {"user_id": "eu-1"},
    },
    "response": {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "Hmm.", "signature": "sig"},
            {"type": "redacted_thinking", "data": "xx"},
            {"type": "text", "text": "Clicking."},
            {
                "type": "tool_use",
                "id": "tu2",
                "name": "computer",
                "input": {"action": "left_click", "coordinate": [10, 20]},
            },
        ],
        "stop_reason": "tool_use",
        "usage": {
            "input_tokens": 900,
            "output_tokens": 70,
            "cache_read_input_tokens": 800,
            "cache_creation_input_tokens": 0,
        },
    },
}

ANTHROPIC_SIMPLE: dict[str, Any] = {
    "id": "anth-simple",
    "ts": "2025-03-01T12:10:00Z",
    "account_id": "acct-anth",
    "surface": "anthropic.messages",
    "request": {
        "model": "claude-3-5-haiku-latest",
        "max_tokens": 64,
        "system": "You are a pirate.",
        "messages": [{"role": "user", "content": "Say hi."}],
        "tools": [{"name": "get_time", "input_schema": {"type": "object"}}],
    },
    "response": {
        "content": [{"type": "text", "text": "Ahoy!"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 15, "output_tokens": 4},
    },
}

ALL = (
    CHAT_FULL,
    CHAT_LEGACY,
    CHAT_CJK,
    RESPONSES_FULL,
    RESPONSES_STRING,
    ANTHROPIC_FULL,
    ANTHROPIC_SIMPLE,
)


@pytest.fixture(scope="module")
def stored(make_logs: Callable[[str], Logs]) -> Ingested:
    logs = make_logs("surfaces")
    return logs.ingest(logs.jsonl("log.jsonl", ALL))


def _row(record: dict[str, Any]) -> dict[str, Any]:
    """One record through the normaliser alone (no store), for tables of small variants."""
    buffer = RowBuffer(Hasher())
    buffer.append(record, "mem", 1)
    rows: list[dict[str, Any]] = buffer.take().to_pylist()
    return rows[0]


def _with_request(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = copy.deepcopy(base)
    record["request"].update(changes)
    return record


def _with_response(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = copy.deepcopy(base)
    record["response"].update(changes)
    return record


# -- the whole file ------------------------------------------------------------------------


def test_every_record_is_stored_without_warnings(stored: Ingested) -> None:
    summary = stored.summary
    assert summary.records == len(ALL)
    assert summary.exchanges == len(ALL)
    assert summary.rejected == 0
    assert summary.duplicates == 0
    assert summary.warnings_by_reason == {}
    assert sorted(stored.ids) == sorted(r["id"] for r in ALL)
    assert all(row["warnings"] == [] for row in stored.rows)
    assert summary.accounts == 3
    assert summary.days == 2
    assert summary.first_ts == datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
    assert summary.last_ts == datetime(2025, 3, 2, 0, 30, tzinfo=UTC)


def test_source_location_and_day_partition(stored: Ingested) -> None:
    for line, record in enumerate(ALL, start=1):
        row = stored.row(record["id"])
        assert row["source_line"] == line
        assert Path(row["source_file"]).name == "log.jsonl"
    assert stored.row("chat-cjk")["day"] == date(2025, 3, 2)
    # 12:00 at +02:00 is 10:00 UTC, still 1 March.
    assert stored.row("chat-full")["ts"] == datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
    assert stored.row("chat-full")["day"] == date(2025, 3, 1)


# -- openai.chat ---------------------------------------------------------------------------


def test_chat_conversation_shape(stored: Ingested) -> None:
    row = stored.row("chat-full")
    assert row["surface"] == "openai.chat"
    assert row["model"] == "gpt-4o"
    assert row["layout"] == "ssuactu"
    assert row["n_messages"] == 7
    assert row["n_user_turns"] == 2
    assert row["n_assistant_turns"] == 1
    assert row["n_tool_calls_in"] == 1
    assert row["n_tool_results"] == 1
    assert row["n_images"] == 1
    assert row["images_hash"] is not None
    assert row["continues"] is True
    # system + developer, joined by a blank line: 28 + 2 + 15
    assert row["system_chars"] == 45
    assert row["prompt_chars"] == len("Explain step by step.")
    # system 45 + user 22 + tool-call arguments 11 + tool result 6 + last user 21
    assert row["input_chars"] == 105
    assert row["script"] == "latin"


def test_chat_parameters(stored: Ingested) -> None:
    row = stored.row("chat-full")
    assert row["n_tools"] == 2
    assert row["tool_names"] == ["fetch_page", "lookup"]
    assert row["tools_hash"] is not None
    assert row["computer_tool"] is False
    assert row["tool_choice"] == "auto"
    assert row["param_keys"] == (
        "logprobs,max_completion_tokens,messages,model,n,reasoning_effort,response_format,"
        "stream,temperature,tool_choice,tools,top_logprobs,top_p,user"
    )
    assert row["max_tokens"] == 512
    assert row["max_tokens_field"] == "max_completion_tokens"
    assert row["temperature"] == pytest.approx(0.2)
    assert row["top_p"] == pytest.approx(0.9)
    assert row["top_k"] is None
    assert row["n"] == 2
    assert row["logprobs"] is True
    assert row["top_logprobs"] == 5
    assert row["reasoning_effort"] == "high"
    assert row["thinking_type"] is None
    assert row["stream"] is True
    assert row["response_format"] == "json_object"


def test_chat_response_and_usage(stored: Ingested) -> None:
    row = stored.row("chat-full")
    assert row["n_choices"] == 2
    assert row["finish_reason"] == "length"  # the first choice's
    assert row["response_chars"] == len("Step 1: look.")
    assert row["response_hash"] is not None
    assert row["reasoning_returned"] is True
    assert row["reasoning_chars"] == len("Let me think.")
    assert row["n_tool_calls_out"] == 1
    assert row["input_tokens"] == 100
    assert row["output_tokens"] == 50
    assert row["reasoning_tokens"] == 20
    assert row["cached_tokens"] == 64


def test_chat_identity_and_client(stored: Ingested) -> None:
    row = stored.row("chat-full")
    hasher = Hasher()
    assert row["account_id"] == "acct-chat"
    assert row["org_id"] == "org-1"
    assert row["api_key_hash"] == hasher("key-123")
    assert row["end_user_hash"] == hasher("u-1")
    assert row["status"] == 200
    assert row["latency_ms"] == pytest.approx(1234.5)
    assert row["ip_hash"] == hasher("203.0.113.7")
    assert row["ip_prefix_hash"] == hasher("203.0.113.0/24")
    assert row["asn"] == 64500
    assert row["asn_org"] == "Example Hosting"
    assert row["country"] == "DE"
    assert row["user_agent_family"] == "OpenAI/Python"
    assert row["user_agent_hash"] == hasher("OpenAI/Python 1.54.0")
    assert row["tls_fingerprint"] == "t13d1516h2_8daaf6152771_e5627efa2ab1"
    assert json.loads(row["meta_json"]) == {"region": "eu-west"}


def test_chat_legacy_functions(stored: Ingested) -> None:
    row = stored.row("chat-legacy")
    assert row["layout"] == "uact"
    assert row["n_tool_calls_in"] == 1
    assert row["n_tool_results"] == 1
    assert row["continues"] is True
    assert row["n_tools"] == 1
    assert row["tool_names"] == ["get_weather"]
    assert row["max_tokens"] == 100
    assert row["max_tokens_field"] == "max_tokens"
    assert row["finish_reason"] == "tool_calls"
    assert row["end_user_hash"] == Hasher()("sid-7")
    assert row["prompt_chars"] == len("Weather in Oslo?")


def test_chat_legacy_function_call_in_response_counts_as_tool_call(stored: Ingested) -> None:
    assert stored.row("chat-legacy")["n_tool_calls_out"] == 1


def test_chat_cjk_prompt_and_max_tokens_precedence(stored: Ingested) -> None:
    row = stored.row("chat-cjk")
    assert row["script"] == "cjk"
    assert row["prompt_chars"] == len("请解释一下量子计算的基本原理并举一个例子。")
    # both names present: max_completion_tokens (the current name) wins
    assert row["max_tokens"] == 200
    assert row["max_tokens_field"] == "max_completion_tokens"
    assert row["continues"] is False
    assert row["layout"] == "u"
    assert row["system_hash"] is None
    assert row["system_chars"] == 0
    assert row["finish_reason"] == "stop"
    assert row["reasoning_returned"] is False
    assert row["input_tokens"] is None


def test_chat_user_field_is_the_end_user_when_no_safety_identifier() -> None:
    both = _with_request(CHAT_LEGACY, user="u-9")
    assert _row(both)["end_user_hash"] == Hasher()("sid-7")
    only_user = _with_request(CHAT_LEGACY, user="u-9")
    del only_user["request"]["safety_identifier"]
    assert _row(only_user)["end_user_hash"] == Hasher()("u-9")
    # the top-level end_user_id wins over the request body
    top = dict(only_user, end_user_id="top-user")
    assert _row(top)["end_user_hash"] == Hasher()("top-user")


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("stop", "stop"),
        ("length", "length"),
        ("tool_calls", "tool_calls"),
        ("function_call", "tool_calls"),
        ("content_filter", "content_filter"),
        ("something_new", "other"),
    ],
)
def test_chat_finish_reasons(reason: str, expected: str) -> None:
    record = _with_response(
        CHAT_LEGACY,
        choices=[
            {"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": reason}
        ],
    )
    assert _row(record)["finish_reason"] == expected


def test_chat_error_response() -> None:
    record = dict(CHAT_LEGACY, status=429, response={"error": {"message": "rate limited"}})
    row = _row(record)
    assert row["finish_reason"] == "error"
    assert row["status"] == 429
    assert row["n_choices"] is None
    assert row["response_chars"] == 0


# -- openai.responses ----------------------------------------------------------------------


def test_responses_items(stored: Ingested) -> None:
    row = stored.row("resp-full")
    assert row["layout"] == "suctu"
    assert row["n_user_turns"] == 2
    assert row["n_assistant_turns"] == 0
    assert row["n_tool_calls_in"] == 1
    assert row["n_tool_results"] == 1
    assert row["n_images"] == 1
    assert row["images_hash"] == Hasher()("https://img.example/1.png")
    assert row["continues"] is True  # previous_response_id
    assert row["system_chars"] == len("Be terse.")
    assert row["prompt_chars"] == len("And tomorrow?")
    # instructions 9 + "Describe" 8 + arguments 16 + "sunny" 5 + "And tomorrow?" 13
    assert row["input_chars"] == 51


def test_responses_parameters(stored: Ingested) -> None:
    row = stored.row("resp-full")
    assert row["tool_names"] == ["computer_use_preview", "get_weather"]
    assert row["n_tools"] == 2
    assert row["computer_tool"] is True
    assert row["max_tokens"] == 256
    assert row["max_tokens_field"] == "max_output_tokens"
    assert row["reasoning_effort"] == "medium"
    assert row["logprobs"] is True
    assert row["top_logprobs"] == 3
    assert row["response_format"] == "json_schema"
    assert row["end_user_hash"] == Hasher()("sid-9")
    assert row["param_keys"] == (
        "include,input,instructions,max_output_tokens,model,previous_response_id,"
        "reasoning,safety_identifier,text,tools,top_logprobs"
    )


def test_responses_output(stored: Ingested) -> None:
    row = stored.row("resp-full")
    assert row["finish_reason"] == "length"  # incomplete: max_output_tokens
    assert row["n_choices"] == 1
    assert row["response_chars"] == len("Rain likely.")
    assert row["reasoning_returned"] is True
    assert row["reasoning_chars"] == len("Thinking about weather.")
    assert row["n_tool_calls_out"] == 1
    assert row["input_tokens"] == 80
    assert row["output_tokens"] == 256
    assert row["reasoning_tokens"] == 100
    assert row["cached_tokens"] == 10


def test_responses_string_input(stored: Ingested) -> None:
    row = stored.row("resp-string")
    assert row["layout"] == "u"
    assert row["continues"] is False
    assert row["prompt_chars"] == len("Write a haiku about autumn.")
    assert row["temperature"] == pytest.approx(1.0)
    assert row["finish_reason"] == "stop"
    assert row["logprobs"] is None
    assert row["max_tokens"] is None
    assert row["max_tokens_field"] is None
    assert row["reasoning_returned"] is False
    assert row["n_tools"] == 0
    assert row["tool_names"] == []


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ({"status": "completed", "output": []}, "stop"),
        (
            {"status": "completed", "output": [{"type": "function_call", "arguments": "{}"}]},
            "tool_calls",
        ),
        ({"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}}, "length"),
        (
            {"status": "incomplete", "incomplete_details": {"reason": "content_filter"}},
            "content_filter",
        ),
        ({"status": "incomplete"}, "other"),
        ({"status": "failed", "error": {"code": "server_error"}}, "error"),
        ({"status": "cancelled"}, "error"),
    ],
)
def test_responses_finish_reasons(response: dict[str, Any], expected: str) -> None:
    record = dict(RESPONSES_STRING, response=response)
    assert _row(record)["finish_reason"] == expected


def test_responses_encrypted_reasoning_counts_as_returned() -> None:
    record = dict(
        RESPONSES_STRING,
        response={
            "status": "completed",
            "output": [{"type": "reasoning", "summary": [], "encrypted_content": "gAAAA"}],
        },
    )
    row = _row(record)
    assert row["reasoning_returned"] is True
    assert row["reasoning_chars"] == 0


def test_responses_previous_response_id_alone_is_enough() -> None:
    record = dict(
        RESPONSES_STRING,
        request={"model": "gpt-4.1", "previous_response_id": "resp_9"},
    )
    row = _row(record)
    assert row["continues"] is True
    assert row["layout"] == ""
    assert row["prompt_hash"] is None
    assert row["script"] == "none"


# -- anthropic.messages --------------------------------------------------------------------


def test_anthropic_conversation(stored: Ingested) -> None:
    row = stored.row("anth-full")
    assert row["layout"] == "suact"
    assert row["n_user_turns"] == 1  # the tool-result turn is the agent loop, not a person
    assert row["n_assistant_turns"] == 1
    assert row["n_tool_calls_in"] == 1
    assert row["n_tool_results"] == 1
    assert row["n_images"] == 2
    assert row["images_hash"] == Hasher()("sha256:ee\nsha256:ff")
    assert row["continues"] is True
    assert row["system_chars"] == len("You are Claude.\nUse tools.")
    assert row["prompt_chars"] == len("Click the button")
    # system 26 + user 16 + assistant 20 + tool input 23 + tool result 4
    assert row["input_chars"] == 89


def test_anthropic_parameters(stored: Ingested) -> None:
    row = stored.row("anth-full")
    assert row["tool_names"] == ["computer"]
    assert row["computer_tool"] is True
    assert row["max_tokens"] == 4096
    assert row["max_tokens_field"] == "max_tokens"
    assert row["thinking_type"] == "enabled"
    assert row["thinking_budget"] == 2048
    assert row["top_k"] == 40
    assert row["end_user_hash"] == Hasher()("eu-1")
    assert row["param_keys"] == "max_tokens,messages,metadata,model,system,thinking,tools,top_k"


def test_anthropic_response(stored: Ingested) -> None:
    row = stored.row("anth-full")
    assert row["finish_reason"] == "tool_calls"
    assert row["n_choices"] == 1
    assert row["response_chars"] == len("Clicking.")
    assert row["reasoning_returned"] is True
    assert row["reasoning_chars"] == len("Hmm.")
    assert row["n_tool_calls_out"] == 1
    assert row["input_tokens"] == 900
    assert row["output_tokens"] == 70
    assert row["cached_tokens"] == 800
    assert row["reasoning_tokens"] is None


def test_anthropic_string_system(stored: Ingested) -> None:
    row = stored.row("anth-simple")
    assert row["layout"] == "su"
    assert row["system_chars"] == len("You are a pirate.")
    assert row["system_hash"] == Hasher()("you are a pirate.")
    assert row["computer_tool"] is False
    assert row["tool_names"] == ["get_time"]
    assert row["thinking_type"] is None
    assert row["continues"] is False
    assert row["finish_reason"] == "stop"
    assert row["reasoning_returned"] is False


def test_anthropic_redacted_thinking_alone_counts_as_returned() -> None:
    record = _with_response(
        ANTHROPIC_SIMPLE,
        content=[{"type": "redacted_thinking", "data": "xx"}, {"type": "text", "text": "Hi"}],
    )
    row = _row(record)
    assert row["reasoning_returned"] is True
    assert row["reasoning_chars"] == 0


def test_anthropic_tool_result_with_text_is_also_a_user_turn() -> None:
    record = _with_request(
        ANTHROPIC_SIMPLE,
        messages=[
            {"role": "user", "content": "Start"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t", "name": "get_time", "input": {}}],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "t", "content": "12:00"},
                    {"type": "text", "text": "Now summarise."},
                ],
            },
        ],
    )
    row = _row(record)
    assert row["layout"] == "suactu"
    assert row["n_user_turns"] == 2
    assert row["prompt_chars"] == len("Now summarise.")


@pytest.mark.parametrize(
    ("stop", "expected"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "refusal"),
        ("pause_turn", "other"),
    ],
)
def test_anthropic_stop_reasons(stop: str, expected: str) -> None:
    assert _row(_with_response(ANTHROPIC_SIMPLE, stop_reason=stop))["finish_reason"] == expected


def test_anthropic_error_body() -> None:
    record = dict(
        ANTHROPIC_SIMPLE,
        status=529,
        response={"type": "error", "error": {"type": "overloaded_error"}},
    )
    assert _row(record)["finish_reason"] == "error"


# -- layout and text features --------------------------------------------------------------


def test_long_layout_is_cut_at_48_with_the_rest_counted() -> None:
    messages = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i}"} for i in range(60)
    ]
    row = _row(_with_request(CHAT_LEGACY, messages=messages))
    assert row["layout"] == "ua" * 24 + "+12"
    assert row["n_messages"] == 60
    assert row["n_user_turns"] == 30


def _prompt_row(prompt: str, *, system: str | None = None) -> dict[str, Any]:
    messages: list[dict[str, Any]] = (
        [] if system is None else [{"role": "system", "content": system}]
    )
    messages.append({"role": "user", "content": prompt})
    return _row(_with_request(CHAT_LEGACY, messages=messages))


def test_prompt_hash_ignores_case_and_white_space() -> None:
    a = _prompt_row("Explain  the theory of\nRelativity.", system="You are  HELPFUL.")
    b = _prompt_row("  explain the THEORY of relativity.\t", system="you are\nhelpful.")
    c = _prompt_row("Explain the theory of gravity.", system="You are terse.")
    assert a["prompt_hash"] == b["prompt_hash"]
    assert a["system_hash"] == b["system_hash"]
    assert a["prompt_hash"] != c["prompt_hash"]
    assert a["system_hash"] != c["system_hash"]
    assert a["prompt_hash"] == Hasher()("explain the theory of relativity.")


def test_hashes_depend_on_the_hash_key() -> None:
    record = _with_request(CHAT_LEGACY, messages=[{"role": "user", "content": "Same text"}])
    one = RowBuffer(Hasher(b"key-one"))
    two = RowBuffer(Hasher(b"key-two"))
    one.append(record, "f", 1)
    two.append(record, "f", 1)
    a, b = one.take().to_pylist()[0], two.take().to_pylist()[0]
    assert a["prompt_hash"] != b["prompt_hash"]
    assert a["end_user_hash"] != b["end_user_hash"]


TEMPLATE_A = (
    "Question: What is 12 * 7?\n"
    'Context: "the quick brown fox"\n'
    "Think step by step, then answer with the number only."
)
TEMPLATE_A2 = (
    "Question: What is 345 * 81.5?\n"
    'Context: "a slow dog jumped over it"\n'
    "Think step by step, then answer with the number only."
)
TEMPLATE_B = (
    "Translate into French: 12 apples.\n"
    "Keep the tone formal and do not add notes\n"
    "Output: the translation only, nothing else."
)


def test_template_views_ignore_filled_in_numbers_and_quotes() -> None:
    a, a2, b = (_prompt_row(p) for p in (TEMPLATE_A, TEMPLATE_A2, TEMPLATE_B))
    for view in ("prefix_fp", "suffix_fp", "skeleton_fp"):
        assert a[view] is not None
        assert a[view] == a2[view], view
        assert a[view] != b[view], view
    assert a["prompt_hash"] != a2["prompt_hash"]


def test_template_views_through_the_store(logs: Logs) -> None:
    records = [
        logs.record(
            1, request={"model": "m", "messages": [{"role": "user", "content": TEMPLATE_A}]}
        ),
        logs.record(
            2, request={"model": "m", "messages": [{"role": "user", "content": TEMPLATE_A2}]}
        ),
        logs.record(
            3, request={"model": "m", "messages": [{"role": "user", "content": TEMPLATE_B}]}
        ),
    ]
    result = logs.ingest(logs.jsonl("t.jsonl", records))
    one, two, three = (result.row(f"ex-{n}") for n in (1, 2, 3))
    assert (one["prefix_fp"], one["suffix_fp"], one["skeleton_fp"]) == (
        two["prefix_fp"],
        two["suffix_fp"],
        two["skeleton_fp"],
    )
    assert one["prefix_fp"] != three["prefix_fp"]
    assert one["skeleton_fp"] != three["skeleton_fp"]


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("How do I sort a list in Python?", "latin"),
        ("请解释一下量子计算的基本原理。", "cjk"),
        ("日本語で説明してください", "cjk"),
        ("Объясни квантовую механику", "cyrillic"),
        ("اشرح ميكانيكا الكم", "arabic"),
        ("क्वांटम यांत्रिकी समझाइए", "devanagari"),
        ("12345 + 678", "other"),
    ],
)
def test_script(prompt: str, expected: str) -> None:
    assert _prompt_row(prompt)["script"] == expected


def test_script_of_non_ascii_white_space_is_none() -> None:
    assert _prompt_row(" ")["script"] == "none"
    assert _prompt_row("\u00a0\u3000")["script"] == "none"


# -- privacy -------------------------------------------------------------------------------

SECRETS = {
    "system": "SYSTEM-zq4v You guard the vault",
    "prompt": "PROMPT-k7xw tell me the vault code",
    "response": "RESPONSE-p2mn the code is 0000",
    "reasoning": "REASONING-h8rt the user wants the code",
    "ip": "198.51.100.23",
    "signup_ip": "192.0.2.77",
    "api_key": "sk-proj-KEYID-b5yt",
    "end_user": "enduser-c3po",
    "payment": "PAYFP-r2d2",
}


def _private_record() -> dict[str, Any]:
    return {
        "id": "private-1",
        "ts": "2025-03-01T12:00:00Z",
        "account_id": "acct-private",
        "api_key_id": SECRETS["api_key"],
        "surface": "openai.chat",
        "request": {
            "model": "gpt-4o",
            "messages": [
                {"role": "system", "content": SECRETS["system"]},
                {"role": "user", "content": SECRETS["prompt"]},
            ],
            "user": SECRETS["end_user"],
        },
        "response": {
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": SECRETS["response"],
                        "reasoning_content": SECRETS["reasoning"],
                    },
                    "finish_reason": "stop",
                }
            ]
        },
        "client": {"ip": SECRETS["ip"], "user_agent": "curl/8.4.0"},
    }


def _private_inputs(logs: Logs) -> tuple[Path, Path]:
    log = logs.jsonl("private.jsonl", [_private_record()])
    accounts = logs.jsonl(
        "accounts.jsonl",
        [
            {
                "account_id": "acct-private",
                "created_at": "2024-12-01T00:00:00Z",
                "signup_ip": SECRETS["signup_ip"],
                "payment_fingerprint": SECRETS["payment"],
                "email_domain": "example.org",
            }
        ],
    )
    return log, accounts


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list | tuple):
        return [s for item in value for s in _strings(item)]
    return []


def test_default_store_keeps_no_raw_text_ip_or_key(logs: Logs) -> None:
    log, accounts = _private_inputs(logs)
    result = logs.ingest(log, accounts=accounts)
    assert result.summary.exchanges == 1
    assert result.summary.registry is not None and result.summary.registry.rows == 1
    files = [p for p in result.store.rglob("*") if p.is_file()]
    parquet = [p for p in files if p.suffix == ".parquet"]
    assert len(parquet) >= 2  # exchanges and accounts
    for path in files:
        data = path.read_bytes()
        for name, secret in SECRETS.items():
            assert secret.encode() not in data, f"{name} in {path.name}"
    for path in parquet:
        table = pq.read_table(path)
        values = _strings(table.to_pylist()) + _strings(
            {
                k.decode(errors="replace"): v.decode(errors="replace")
                for k, v in (table.schema.metadata or {}).items()
            }
        )
        for name, secret in SECRETS.items():
            assert not any(secret in value for value in values), f"{name} in {path.name}"
    row = result.row("private-1")
    assert all(
        row[c] is None for c in ("system_text", "prompt_text", "response_text", "reasoning_text")
    )
    # the hashes that stand in for the values are there
    assert row["ip_hash"] == Hasher()(SECRETS["ip"])
    assert row["api_key_hash"] == Hasher()(SECRETS["api_key"])


def test_keep_text_keeps_the_texts(logs: Logs) -> None:
    log, _ = _private_inputs(logs)
    result = logs.ingest(log, keep_text=True)
    row = result.row("private-1")
    assert row["system_text"] == SECRETS["system"]
    assert row["prompt_text"] == SECRETS["prompt"]
    assert row["response_text"] == SECRETS["response"]
    assert row["reasoning_text"] == SECRETS["reasoning"]
    # keep_text is about texts: IPs and key ids stay hashed
    table = pq.read_table(next((result.store / "exchanges").rglob("*.parquet")))
    values = _strings(table.to_pylist())
    assert not any(SECRETS["ip"] in v or SECRETS["api_key"] in v for v in values)
    marker = json.loads((result.store / "store.json").read_text())
    assert marker["keep_text"] is True


def test_texts_absent_from_the_exchange_are_null(logs: Logs) -> None:
    result = logs.ingest(logs.jsonl("l.jsonl", [CHAT_LEGACY]), keep_text=True)
    row = result.row("chat-legacy")
    assert row["prompt_text"] == "Weather in Oslo?"
    assert row["system_text"] is None
    assert row["response_text"] is None
    assert row["reasoning_text"] is None


class _SeenTexts:
    """An annotator that records which prompts it was shown and tags every row."""

    def __init__(self) -> None:
        self.prompts: list[str | None] = []

    def __call__(self, table: pa.Table) -> pa.Table:
        self.prompts.extend(table.column("prompt_text").to_pylist())
        index = table.schema.get_field_index("text_rules")
        tags = pa.array([["seen"]] * table.num_rows, table.schema.field(index).type)
        return table.set_column(index, table.schema.field(index), tags)


@pytest.mark.parametrize("keep_text", [False, True])
def test_annotator_sees_the_texts_that_are_then_dropped(keep_text: bool) -> None:
    annotate = _SeenTexts()
    data = orjson.dumps(_private_record()) + b"\n"
    options = ParseOptions(DEFAULT_KEY, keep_text=keep_text, annotate=annotate)
    result = process(LineChunk("mem.jsonl", 1, data), "contract", options)
    assert annotate.prompts == [SECRETS["prompt"]]
    (row,) = result.table.to_pylist()
    assert row["text_rules"] == ["seen"]
    texts = [row[c] for c in ("system_text", "prompt_text", "response_text", "reasoning_text")]
    if keep_text:
        assert texts == [SECRETS[k] for k in ("system", "prompt", "response", "reasoning")]
    else:
        assert texts == [None, None, None, None]


def test_row_buffer_rejects_without_changing_the_buffer() -> None:
    buffer = RowBuffer(Hasher())
    buffer.append(CHAT_LEGACY, "f", 1)
    bad = _with_request(CHAT_LEGACY, messages=[{"content": "no role"}])
    with pytest.raises(RecordError) as info:
        buffer.append(bad, "f", 2)
    assert info.value.reason == "missing_field"
    assert info.value.field == "request.messages[0].role"
    assert len(buffer) == 1
    assert buffer.take().column("source_line").to_pylist() == [1]
    assert len(buffer) == 0


def _prompted(n: int, prompt: str, system: str) -> dict[str, Any]:
    return _with_request(
        dict(CHAT_LEGACY, id=f"p{n}"),
        messages=[{"role": "system", "content": system}, {"role": "user", "content": prompt}],
    )


def test_values_remembered_across_chunks_are_the_values_computed_afresh() -> None:
    from distillguard.signals import TextSignals, load, match_columns

    prompts = [
        "Think step by step: what is 17 * 23?",
        "Write a haiku about the sea.",
        "Rewrite this paragraph so it sounds more formal.",
        "What is the capital of Peru?",
    ]
    systems = ["You are an agent. Use the provided tools.", "Be brief."]
    first = [_prompted(i, p, systems[i % 2]) for i, p in enumerate(prompts[:3])]
    # the second chunk repeats texts of the first (remembered) and brings new ones
    second = [_prompted(10 + i, p, systems[(i + 1) % 2]) for i, p in enumerate(prompts[::-1])]
    options = ParseOptions(DEFAULT_KEY, keep_text=True, annotate=TextSignals())
    rules = load().text
    for records in (first, second):
        data = b"".join(orjson.dumps(r) + b"\n" for r in records)
        table = process(LineChunk("mem.jsonl", 1, data), "contract", options).table
        fresh = RowBuffer(Hasher(DEFAULT_KEY))
        for i, record in enumerate(records):
            fresh.append(record, "mem.jsonl", i + 1)
        expected = fresh.take()
        columns = ["prompt_hash", "system_hash", "prefix_fp", "suffix_fp", "skeleton_fp"]
        for column in [*columns, "script", "tools_hash", "api_key_hash"]:
            assert table.column(column).equals(expected.column(column)), column
        fired = match_columns(rules, expected.column("prompt_text"), expected.column("system_text"))
        assert table.column("text_rules").to_pylist() == fired.to_pylist()
    assert any(table.column("text_rules").to_pylist())
