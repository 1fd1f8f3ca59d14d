"""The local test upstream, checked with the official OpenAI and Anthropic SDKs."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from typing import Any

import anthropic
import httpx
import openai
import pytest
from anthropic.types import MessageParam
from openai.types.chat import ChatCompletionMessageParam
from starlette.applications import Starlette

from upstream import (
    FAULT_HEADER,
    REASONING_HEADER,
    REASONING_PREFIX,
    RESET_AFTER_EVENTS,
    make_app,
    reasoning_words,
    reply_words,
    seen,
    serve,
)

PROMPT = "Tell me about tidal locking please"
USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": PROMPT}]
CLAUDE_USER: list[MessageParam] = [{"role": "user", "content": PROMPT}]
THINKING: Any = {"type": "enabled", "budget_tokens": 1024}


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[Starlette, str]]:
    app = make_app()
    with serve(app) as url:
        yield app, url


@pytest.fixture
def app(upstream: tuple[Starlette, str]) -> Starlette:
    return upstream[0]


@pytest.fixture
def oai(upstream: tuple[Starlette, str]) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{upstream[1]}/v1", api_key="test", max_retries=0)


@pytest.fixture
def claude(upstream: tuple[Starlette, str]) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=upstream[1], api_key="test", max_retries=0)


def _sse_events(body: str) -> list[tuple[str | None, str]]:
    """(event, data) for each SSE frame, checking the framing on the way."""
    assert body.endswith("\n\n")
    frames = []
    for frame in body[:-2].split("\n\n"):
        lines = frame.split("\n")
        event = lines[0].removeprefix("event: ") if lines[0].startswith("event: ") else None
        data = lines[-1]
        assert data.startswith("data: "), frame
        assert len(lines) == (2 if event else 1), frame
        frames.append((event, data.removeprefix("data: ")))
    return frames


# -- Chat Completions --------------------------------------------------------------------------


def test_chat_completion_with_choices_logprobs_and_reasoning(
    oai: openai.OpenAI, app: Starlette
) -> None:
    completion = oai.chat.completions.create(
        model="gpt-test-mini",
        messages=USER,
        n=2,
        logprobs=True,
        top_logprobs=3,
        reasoning_effort="low",
    )
    assert completion.object == "chat.completion"
    assert completion.model == "gpt-test-mini"
    assert [choice.index for choice in completion.choices] == [0, 1]
    assert completion.choices[0].message.content == " ".join(reply_words(PROMPT))
    assert completion.choices[1].message.content == " ".join(reply_words(PROMPT, 1))
    for choice in completion.choices:
        assert choice.finish_reason == "stop"
        assert choice.message.role == "assistant"
        assert "tidal locking" in (choice.message.content or "")
        extra = choice.message.model_extra or {}
        assert str(extra["reasoning_content"]).startswith(REASONING_PREFIX)
        assert choice.logprobs is not None and choice.logprobs.content is not None
        tokens = choice.logprobs.content
        assert "".join(token.token for token in tokens) == choice.message.content
        assert all(len(token.top_logprobs) == 3 for token in tokens)
        assert all(token.logprob < 0 and token.bytes for token in tokens)
        assert tokens[0].top_logprobs[0].token == tokens[0].token
    usage = completion.usage
    assert usage is not None and usage.completion_tokens_details is not None
    reasoning = usage.completion_tokens_details.reasoning_tokens
    assert reasoning == 2 * len(reasoning_words(PROMPT))
    words = len(reply_words(PROMPT)) + len(reply_words(PROMPT, 1))
    assert usage.completion_tokens == words + reasoning
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert seen(app)[-1].path == "/v1/chat/completions"
    assert seen(app)[-1].body["n"] == 2


def test_chat_completion_truncates_without_reasoning(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(model="m", messages=USER, max_tokens=5)
    (choice,) = completion.choices
    assert choice.finish_reason == "length"
    assert len((choice.message.content or "").split()) == 5
    assert "reasoning_content" not in (choice.message.model_extra or {})
    assert choice.logprobs is None
    assert completion.usage is not None and completion.usage.completion_tokens == 5

    # Reasoning is spent first, as upstream: a small limit leaves no room for the reply.
    limit = len(reasoning_words(PROMPT)) + 2
    completion = oai.chat.completions.create(
        model="m", messages=USER, max_completion_tokens=limit, reasoning_effort="high"
    )
    assert completion.choices[0].finish_reason == "length"
    assert completion.choices[0].message.content == "You said:"


def test_chat_completion_stream(oai: openai.OpenAI) -> None:
    chunks = list(
        oai.chat.completions.create(
            model="m",
            messages=USER,
            n=2,
            logprobs=True,
            reasoning_effort="low",
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    assert len({chunk.id for chunk in chunks}) == 1
    content: dict[int, list[str]] = {0: [], 1: []}
    reasoning: dict[int, list[str]] = {0: [], 1: []}
    finish: dict[int, str | None] = {}
    for chunk in chunks[:2]:
        assert chunk.choices[0].delta.role == "assistant"
    for chunk in chunks[:-1]:
        (choice,) = chunk.choices
        assert choice.index not in finish, "a delta after the finish chunk"
        if choice.delta.content:
            assert choice.logprobs is not None and choice.logprobs.content is not None
            assert choice.logprobs.content[0].token == choice.delta.content
            content[choice.index].append(choice.delta.content)
        extra = choice.delta.model_extra or {}
        if "reasoning_content" in extra:
            assert not content[choice.index], "reasoning after content"
            reasoning[choice.index].append(str(extra["reasoning_content"]))
        if choice.finish_reason is not None:
            finish[choice.index] = choice.finish_reason
    assert finish == {0: "stop", 1: "stop"}
    assert len(content[0]) >= 20
    assert "".join(content[0]) == " ".join(reply_words(PROMPT))
    assert "".join(content[1]) == " ".join(reply_words(PROMPT, 1))
    assert "".join(reasoning[0]).startswith(REASONING_PREFIX)
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None and last.usage.completion_tokens_details is not None
    assert last.usage.completion_tokens_details.reasoning_tokens == 2 * len(reasoning_words(PROMPT))
    assert all(chunk.usage is None for chunk in chunks[:-1])


def test_chat_completion_stream_helper_accumulates(oai: openai.OpenAI) -> None:
    with oai.chat.completions.stream(model="m", messages=USER, n=2, logprobs=True) as stream:
        final = stream.get_final_completion()
    assert [choice.finish_reason for choice in final.choices] == ["stop", "stop"]
    assert final.choices[1].message.content == " ".join(reply_words(PROMPT, 1))
    assert final.choices[0].logprobs is not None and final.choices[0].logprobs.content is not None
    assert len(final.choices[0].logprobs.content) == len(reply_words(PROMPT))


def test_chat_completion_wire_format(upstream: tuple[Starlette, str]) -> None:
    body = {"model": "m", "messages": USER, "stream": True}
    reply = httpx.post(f"{upstream[1]}/v1/chat/completions", json=body)
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert reply.headers["x-request-id"].startswith("req_")
    frames = _sse_events(reply.text)
    assert all(event is None for event, _ in frames)
    assert frames[-1] == (None, "[DONE]")
    assert "usage" not in json.loads(frames[0][1])


def test_chat_completion_rejects_bad_requests(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(model="m", messages=[])
    assert caught.value.param == "messages"
    with pytest.raises(openai.BadRequestError, match="top_logprobs"):
        oai.chat.completions.create(model="m", messages=USER, top_logprobs=2)


# -- Responses ---------------------------------------------------------------------------------


def test_response_with_reasoning(oai: openai.OpenAI) -> None:
    result = oai.responses.create(
        model="o-test-reasoner",
        input=[{"role": "user", "content": [{"type": "input_text", "text": PROMPT}]}],
        reasoning={"effort": "low", "summary": "auto"},
        include=["message.output_text.logprobs"],
        top_logprobs=2,
    )
    assert result.object == "response"
    assert result.status == "completed"
    assert result.incomplete_details is None
    reasoning, message = result.output
    assert reasoning.type == "reasoning"
    assert reasoning.summary[0].text.startswith(REASONING_PREFIX)
    assert message.type == "message" and message.status == "completed"
    assert message.content[0].type == "output_text"
    assert message.content[0].annotations == []
    assert message.content[0].logprobs is not None
    assert len(message.content[0].logprobs[0].top_logprobs) == 2
    assert result.output_text == " ".join(reply_words(PROMPT))
    usage = result.usage
    assert usage is not None
    assert usage.output_tokens_details.reasoning_tokens == len(reasoning_words(PROMPT))
    assert usage.input_tokens_details.cached_tokens == 0
    assert usage.output_tokens == len(reasoning_words(PROMPT)) + len(reply_words(PROMPT))
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens


def test_response_without_reasoning_truncated(oai: openai.OpenAI) -> None:
    result = oai.responses.create(model="m", input=PROMPT, max_output_tokens=16)
    assert result.status == "incomplete"
    assert result.incomplete_details is not None
    assert result.incomplete_details.reason == "max_output_tokens"
    assert [item.type for item in result.output] == ["message"]
    assert len(result.output_text.split()) == 16
    with pytest.raises(openai.BadRequestError, match="max_output_tokens"):
        oai.responses.create(model="m", input=PROMPT, max_output_tokens=15)


STREAM_ORDER = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.reasoning_summary_part.added",
    "response.reasoning_summary_text.delta",
    "response.reasoning_summary_text.done",
    "response.reasoning_summary_part.done",
    "response.output_item.done",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


def _collapse(kinds: Sequence[str]) -> list[str]:
    return [kind for i, kind in enumerate(kinds) if i == 0 or kinds[i - 1] != kind]


def test_response_stream_events(oai: openai.OpenAI) -> None:
    events = list(
        oai.responses.create(model="m", input=PROMPT, reasoning={"effort": "medium"}, stream=True)
    )
    kinds = [event.type for event in events]
    assert _collapse(kinds) == STREAM_ORDER
    assert [event.sequence_number for event in events] == list(range(len(events)))
    assert kinds.count("response.output_text.delta") == len(reply_words(PROMPT))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    summary = "".join(e.delta for e in events if e.type == "response.reasoning_summary_text.delta")
    assert summary.startswith(REASONING_PREFIX)
    created, final = events[0], events[-1]
    assert created.type == "response.created" and created.response.status == "in_progress"
    assert final.type == "response.completed"
    assert final.response.id == created.response.id
    assert final.response.output_text == text == " ".join(reply_words(PROMPT))
    reasoning = final.response.output[0]
    assert reasoning.type == "reasoning" and reasoning.summary[0].text == summary
    assert final.response.usage is not None
    assert final.response.usage.output_tokens_details.reasoning_tokens > 0


def test_response_stream_helper(oai: openai.OpenAI) -> None:
    with oai.responses.stream(model="m", input=PROMPT, reasoning={"effort": "low"}) as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert len(deltas) >= 20
    assert final.output_text == "".join(deltas)
    assert final.output[0].type == "reasoning"


def test_response_stream_raw_reasoning_text(oai: openai.OpenAI) -> None:
    events = list(
        oai.responses.create(
            model="m",
            input=PROMPT,
            reasoning={"effort": "low"},
            stream=True,
            extra_headers={REASONING_HEADER: "text"},
        )
    )
    kinds = _collapse([event.type for event in events])
    assert kinds[2:8] == [
        "response.output_item.added",
        "response.content_part.added",
        "response.reasoning_text.delta",
        "response.reasoning_text.done",
        "response.content_part.done",
        "response.output_item.done",
    ]
    final = events[-1]
    assert final.type == "response.completed"
    reasoning = final.response.output[0]
    assert reasoning.type == "reasoning" and reasoning.summary == []
    assert reasoning.content is not None
    assert reasoning.content[0].text.startswith(REASONING_PREFIX)


def test_response_stream_truncated_ends_incomplete(upstream: tuple[Starlette, str]) -> None:
    body = {"model": "m", "input": PROMPT, "max_output_tokens": 20, "stream": True}
    reply = httpx.post(f"{upstream[1]}/v1/responses", json=body)
    frames = _sse_events(reply.text)
    for event, data in frames:
        assert json.loads(data)["type"] == event
    assert frames[-1][0] == "response.incomplete"
    final = json.loads(frames[-1][1])["response"]
    assert final["incomplete_details"] == {"reason": "max_output_tokens"}
    assert final["output"][0]["status"] == "incomplete"
    assert len(final["output"][0]["content"][0]["text"].split()) == 20


# -- Anthropic Messages ------------------------------------------------------------------------


def test_message_with_thinking(claude: anthropic.Anthropic, app: Starlette) -> None:
    result = claude.messages.create(
        model="claude-test-sonnet",
        max_tokens=2048,
        thinking=THINKING,
        messages=CLAUDE_USER,
    )
    assert result.type == "message" and result.role == "assistant"
    thinking, text = result.content
    assert thinking.type == "thinking"
    assert thinking.thinking.startswith(REASONING_PREFIX)
    assert thinking.signature
    assert text.type == "text"
    assert text.text == " ".join(reply_words(PROMPT))
    assert result.stop_reason == "end_turn"
    assert result.stop_sequence is None
    words = len(reasoning_words(PROMPT)) + len(reply_words(PROMPT))
    assert result.usage.output_tokens == words
    assert result.usage.input_tokens == len(PROMPT.split())
    assert seen(app)[-1].headers["anthropic-version"]
    assert seen(app)[-1].headers["authorization"] == "Bearer test"


def test_message_truncated_without_thinking(claude: anthropic.Anthropic) -> None:
    result = claude.messages.create(model="c", max_tokens=5, messages=CLAUDE_USER)
    assert result.stop_reason == "max_tokens"
    assert [block.type for block in result.content] == ["text"]
    assert result.usage.output_tokens == 5
    with pytest.raises(anthropic.BadRequestError, match="budget_tokens"):
        claude.messages.create(
            model="c",
            max_tokens=1024,
            thinking=THINKING,
            messages=CLAUDE_USER,
        )


def test_message_stream_with_thinking(claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(
        model="c",
        max_tokens=4096,
        thinking=THINKING,
        messages=CLAUDE_USER,
    ) as stream:
        kinds: list[str] = []
        thinking: list[str] = []
        texts: list[str] = []
        for event in stream:
            kinds.append(event.type)
            if event.type == "content_block_delta" and event.delta.type == "thinking_delta":
                thinking.append(event.delta.thinking)
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                texts.append(event.delta.text)
        final = stream.get_final_message()
    assert kinds[0] == "message_start"
    assert kinds[-2:] == ["message_delta", "message_stop"]
    assert "signature" in kinds
    assert len(texts) >= 20
    block, text = final.content
    assert block.type == "thinking"
    assert block.thinking == "".join(thinking)
    assert block.thinking.startswith(REASONING_PREFIX)
    assert block.signature
    assert text.type == "text" and text.text == "".join(texts)
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == len(reasoning_words(PROMPT)) + len(reply_words(PROMPT))


def test_message_stream_wire_format(upstream: tuple[Starlette, str]) -> None:
    body = {
        "model": "c",
        "max_tokens": 2048,
        "thinking": THINKING,
        "messages": USER,
        "stream": True,
    }
    reply = httpx.post(f"{upstream[1]}/v1/messages", json=body)
    assert reply.headers["content-type"] == "text/event-stream; charset=utf-8"
    frames = _sse_events(reply.text)
    for event, data in frames:
        assert json.loads(data)["type"] == event
    kinds = _collapse([str(event) for event, _ in frames])
    assert kinds[:4] == ["message_start", "ping", "content_block_start", "content_block_delta"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert kinds.count("ping") >= 2
    deltas = [json.loads(data)["delta"]["type"] for e, data in frames if e == "content_block_delta"]
    assert _collapse(deltas) == ["thinking_delta", "signature_delta", "text_delta"]
    start = json.loads(frames[0][1])["message"]
    assert start["content"] == [] and start["stop_reason"] is None


# -- models, unknown paths ---------------------------------------------------------------------


def test_models_and_unknown_paths(
    oai: openai.OpenAI, claude: anthropic.Anthropic, upstream: tuple[Starlette, str]
) -> None:
    assert "gpt-test-mini" in [model.id for model in oai.models.list()]
    assert oai.models.retrieve("gpt-test-mini").object == "model"
    assert "claude-test-sonnet" in [model.id for model in claude.models.list()]
    with pytest.raises(openai.NotFoundError):
        oai.models.retrieve("no-such-model")
    reply = httpx.get(f"{upstream[1]}/v1/nope")
    assert reply.status_code == 404
    assert reply.json() == {
        "error": {
            "message": "Invalid URL (GET /v1/nope)",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }


# -- faults and recording ----------------------------------------------------------------------


def test_fault_error500(oai: openai.OpenAI, claude: anthropic.Anthropic) -> None:
    fault = {FAULT_HEADER: "error500"}
    with pytest.raises(openai.InternalServerError) as openai_error:
        oai.chat.completions.create(model="m", messages=USER, extra_headers=fault)
    assert openai_error.value.status_code == 500
    assert openai_error.value.type == "server_error"
    with pytest.raises(anthropic.InternalServerError) as anthropic_error:
        claude.messages.create(model="c", max_tokens=64, messages=CLAUDE_USER, extra_headers=fault)
    assert anthropic_error.value.body == {
        "type": "error",
        "error": {
            "type": "api_error",
            "message": "The server had an error while processing your request. Sorry about that!",
        },
    }


def test_fault_slow(oai: openai.OpenAI) -> None:
    started = time.monotonic()
    oai.responses.create(
        model="m", input=PROMPT, extra_headers={FAULT_HEADER: "slow", "x-upstream-delay": "0.3"}
    )
    assert time.monotonic() - started >= 0.3


def test_fault_reset_mid_stream(oai: openai.OpenAI, claude: anthropic.Anthropic) -> None:
    fault = {FAULT_HEADER: "reset"}
    received: list[object] = []
    stream = oai.chat.completions.create(model="m", messages=USER, stream=True, extra_headers=fault)
    with pytest.raises(openai.APIConnectionError):
        received.extend(stream)
    assert len(received) == RESET_AFTER_EVENTS
    with pytest.raises(openai.APIConnectionError):
        oai.responses.create(model="m", input=PROMPT, extra_headers=fault)
    with pytest.raises(Exception, match="incomplete chunked read"):
        list(
            claude.messages.create(
                model="c", max_tokens=64, messages=CLAUDE_USER, stream=True, extra_headers=fault
            )
        )


def test_fault_hang(oai: openai.OpenAI, app: Starlette) -> None:
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        oai.with_options(timeout=0.3).chat.completions.create(
            model="m", messages=USER, extra_headers={FAULT_HEADER: "hang"}
        )
    assert time.monotonic() - started < 5
    assert seen(app)[-1].headers[FAULT_HEADER] == "hang"


def test_records_what_it_received(upstream: tuple[Starlette, str], app: Starlette) -> None:
    client = openai.OpenAI(
        base_url=f"{upstream[1]}/v1",
        api_key="secret",
        max_retries=0,
        default_headers={"x-watermark": "wm-1"},
    )
    before = len(seen(app))
    client.chat.completions.create(model="m", messages=USER, max_tokens=64, logprobs=False)
    (request,) = seen(app)[before:]
    assert request.method == "POST" and request.path == "/v1/chat/completions"
    assert request.headers["x-watermark"] == "wm-1"
    assert request.headers["authorization"] == "Bearer secret"
    assert request.body == {"model": "m", "messages": USER, "max_tokens": 64, "logprobs": False}
    assert json.loads(request.raw) == request.body
