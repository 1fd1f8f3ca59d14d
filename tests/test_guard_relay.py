"""The stream relay: what a streamed answer becomes on its way to the client, and in the log.

The streams are the ones the tests' model server (``tests/upstream.py``) sends on the wire,
for each of the three APIs, with reasoning or thinking on and log-probabilities asked for.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable
from typing import Any

import orjson
import pytest

import upstream
from distillguard.guard.actions import NOTE, degrade_request
from distillguard.guard.policy import Degrade
from distillguard.guard.relay import StreamRelay
from distillguard.guard.sse import MAX_EVENT, Splitter, SSEError

PROMPT = "Explain step by step why the sky is blue and what Rayleigh scattering has to do with it"
REQUESTS: dict[str, tuple[Callable[[Any], Any], dict[str, Any]]] = {
    "openai.chat": (
        upstream.chat_completion,
        {
            "model": "m",
            "messages": [{"role": "user", "content": PROMPT}],
            "stream": True,
            "stream_options": {"include_usage": True},
            "reasoning_effort": "high",
            "logprobs": True,
            "top_logprobs": 2,
            "max_tokens": 400,
        },
    ),
    "openai.responses": (
        upstream.response,
        {
            "model": "m",
            "input": PROMPT,
            "stream": True,
            "reasoning": {"effort": "high", "summary": "auto"},
            "include": ["message.output_text.logprobs"],
            "top_logprobs": 2,
            "max_output_tokens": 400,
        },
    ),
    "anthropic.messages": (
        upstream.message,
        {
            "model": "m",
            "max_tokens": 2000,
            "messages": [{"role": "user", "content": PROMPT}],
            "stream": True,
            "thinking": {"type": "enabled", "budget_tokens": 1500},
        },
    ),
}
SURFACES = list(REQUESTS)
TEXT_DELTA = {
    "openai.chat": b'"content":',
    "openai.responses": b"event: response.output_text.delta",
    "anthropic.messages": b"text_delta",
}
"""What marks an event carrying a piece of the answer's text."""


def frames(surface: str, degrade: Degrade | None = None) -> list[bytes]:
    """The stream the model server sends, for the request as the guard forwards it."""
    maker, body = REQUESTS[surface]
    request = copy.deepcopy(body)
    if degrade is not None:
        request = degrade_request(surface, request, degrade)
    stream = maker(request)
    assert isinstance(stream, list) and len(stream) > 10
    return stream


def relay(surface: str, pieces: Iterable[bytes], degrade: Degrade | None) -> tuple[bytes, Any]:
    relayed = StreamRelay(surface, degrade)
    sent = b"".join(relayed.feed(piece) for piece in pieces)
    return sent, relayed.result()


def in_pieces(stream: list[bytes], size: int) -> list[bytes]:
    whole = b"".join(stream)
    return [whole[i : i + size] for i in range(0, len(whole), size)]


def answer_text(surface: str, result: dict[str, Any]) -> str:
    if surface == "openai.chat":
        return str(result["choices"][0]["message"]["content"])
    if surface == "openai.responses":
        return "".join(
            part.get("text", "")
            for item in result["output"]
            if item["type"] == "message"
            for part in item["content"]
        )
    return "".join(block.get("text", "") for block in result["content"])


@pytest.mark.parametrize("surface", SURFACES)
def test_a_stream_not_degraded_passes_byte_for_byte_and_is_reassembled(surface: str) -> None:
    stream = frames(surface)
    sent, result = relay(surface, stream, None)
    assert sent == b"".join(stream)
    assert upstream.REASONING_PREFIX in orjson.dumps(result).decode()
    assert answer_text(surface, result).startswith("You said:")


def spaced(stream: list[bytes]) -> list[bytes]:
    """The stream as a server writing JSON with spaces after ``,`` and ``:`` would send it."""
    out = []
    for frame in stream:
        lines = []
        for line in frame.decode().split("\n"):
            if line.startswith("data: {"):
                line = "data: " + json.dumps(json.loads(line[6:]), ensure_ascii=False)
            lines.append(line)
        out.append("\n".join(lines).encode())
    return out


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize("reasoning", ["withhold", "summary"])
@pytest.mark.parametrize("layout", ["compact", "spaced"])
def test_a_degraded_stream_withholds_reasoning_and_passes_the_rest_as_it_came(
    surface: str, reasoning: Any, layout: str
) -> None:
    degrade = Degrade(reasoning=reasoning)
    stream = frames(surface, degrade)
    if layout == "spaced":
        stream = spaced(stream)
    _, upstream_answer = relay(surface, stream, None)
    assert upstream.REASONING_PREFIX in orjson.dumps(upstream_answer).decode()
    sent, result = relay(surface, stream, degrade)
    _, client_answer = relay(surface, [sent], None)  # the answer as the client reads it
    assert client_answer == result
    assert upstream.REASONING_PREFIX not in orjson.dumps(result).decode()
    assert (NOTE in sent.decode()) == (reasoning == "summary")
    assert answer_text(surface, result).startswith("You said:")
    # Events that carry no reasoning (the answer's text deltas) go on as the upstream wrote them.
    untouched = [frame for frame in stream if TEXT_DELTA[surface] in frame]
    assert untouched
    assert all(frame in sent for frame in untouched)


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize("size", [1, 7, 1000])
def test_how_the_stream_is_cut_into_pieces_changes_nothing(surface: str, size: int) -> None:
    degrade = Degrade(reasoning="summary")
    stream = frames(surface, degrade)
    whole_sent, whole_result = relay(surface, stream, degrade)
    sent, result = relay(surface, in_pieces(stream, size), degrade)
    assert sent == whole_sent
    assert result == whole_result
    plain, _ = relay(surface, in_pieces(stream, size), None)
    assert plain == b"".join(stream)


def test_crlf_line_ends_are_read_even_when_cut_between_cr_and_lf() -> None:
    surface = "anthropic.messages"
    degrade = Degrade()
    stream = frames(surface, degrade)
    crlf = [frame.replace(b"\n", b"\r\n") for frame in stream]
    expected, expected_result = relay(surface, stream, degrade)
    for size in (1, 2, 3, 5):
        sent, result = relay(surface, in_pieces(crlf, size), degrade)
        assert sent == expected
        assert result == expected_result


def test_reasoning_spelled_with_json_escapes_is_still_withheld() -> None:
    event = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"reasoning_content": "Step 1: secret"}}],
    }
    escaped = orjson.dumps(event).replace(b"reasoning_content", b"reasoning_conten\\u0074")
    text = {"id": "c1", "choices": [{"index": 0, "delta": {"content": "hello"}}]}
    stream = [b"data: " + escaped + b"\n\n", b"data: " + orjson.dumps(text) + b"\n\n"]
    sent, result = relay("openai.chat", stream, Degrade())
    assert b"secret" not in sent
    assert result["choices"][0]["message"] == {"role": "assistant", "content": "hello"}


def test_a_long_answer_is_reassembled_whole() -> None:
    deltas = 20_000
    stream = [
        b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","role":'
        b'"assistant","content":[],"usage":{"input_tokens":3}}}\n\n',
        b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
        b'"content_block":{"type":"text","text":""}}\n\n',
    ]
    delta = (
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"text_delta","text":"ab"}}\n\n'
    )
    stream += [delta] * deltas
    _, result = relay("anthropic.messages", stream, None)
    assert result["content"] == [{"type": "text", "text": "ab" * deltas}]


def test_a_stream_that_is_not_sse_breaks_only_a_degraded_answer() -> None:
    good = frames("openai.chat")
    bad = [*good[:3], b"data: \xff\xfe not utf-8\n\n", *good[3:]]
    passed = StreamRelay("openai.chat", None)
    sent = b"".join(passed.feed(piece) for piece in bad)
    assert sent == b"".join(bad)  # passed on as it came, no longer read
    assert passed.error is not None and "UTF-8" in passed.error
    degraded = StreamRelay("openai.chat", Degrade())
    with pytest.raises(SSEError, match="UTF-8"):
        for piece in bad:
            degraded.feed(piece)
    assert degraded.error is not None


def test_an_event_that_never_ends_is_refused_once_over_the_limit() -> None:
    splitter = Splitter()
    piece = b"x" * 65_536
    fed = 0
    with pytest.raises(SSEError, match="over"):
        while fed <= MAX_EVENT + len(piece):
            list(splitter.feed(piece))
            fed += len(piece)
    assert fed > MAX_EVENT - len(piece)


def test_a_large_event_in_small_pieces_comes_out_whole() -> None:
    text = "y" * 2_000_000
    raw = b"data: " + orjson.dumps({"type": "x", "text": text}) + b"\n\n"
    splitter = Splitter()
    events = [event for i in range(0, len(raw), 512) for event in splitter.feed(raw[i : i + 512])]
    assert len(events) == 1
    assert orjson.loads(events[0].data)["text"] == text
    assert events[0].raw + b"\n\n" == raw
    assert splitter.rest() == b""
