"""The guard as ASGI middleware inside the model server's own app, end to end over real HTTP.

This is the vLLM situation: the local model server from ``tests/upstream.py`` is wrapped by
``GuardMiddleware`` and served; the official ``openai`` and ``anthropic`` SDKs are the
clients. The model server records every request it receives (``app.state.seen``), so the
tests check what the guard let through to the app as well as what the client got back.
"""

from __future__ import annotations

import asyncio
import gzip
import importlib
import inspect
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request  # FastAPI's Request; module level, for its annotations
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Mount
from starlette.types import ASGIApp, Message

from distillguard.exchange import IngestOptions, ingest
from distillguard.guard import Guard, Policy, load, loads
from distillguard.guard.actions import NOTE
from distillguard.guard.log import ExchangeLog
from distillguard.guard.middleware import ENVIRONMENT, GuardMiddleware, surface_of
from distillguard.guard.policy import default_path
from distillguard.guard.responses import WATERMARK_HEADER
from hunted import write_watchlist
from upstream import FAULT_HEADER, REASONING_PREFIX, chat_completion, make_app, seen, serve

SECRET_KEY = "sk-live-this-must-never-be-logged-0123456789"
CHAT: dict[str, Any] = {
    "model": "o-test-reasoner",
    "messages": [{"role": "user", "content": "Explain photosynthesis step by step."}],
    "reasoning_effort": "high",
}
HI: dict[str, Any] = {"model": "gpt-test-mini", "messages": [{"role": "user", "content": "hi"}]}
THINKING: dict[str, Any] = {
    "model": "claude-test-sonnet",
    "max_tokens": 20_000,
    "thinking": {"type": "enabled", "budget_tokens": 16_000},
    "messages": [{"role": "user", "content": "Think hard: is 1001 prime?"}],
}


class Records:
    """An in-memory exchange log (the ``Log`` protocol)."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def append(self, record: Any) -> None:
        self.items.append(orjson.loads(orjson.dumps(record)))

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.items) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.items


@dataclass
class Rig:
    url: str
    upstream: Any
    guard: Guard
    watchlist: Path

    def openai(self, account: str) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=f"{self.url}/v1",
            api_key=SECRET_KEY,
            default_headers={"x-account-id": account},
            max_retries=0,
        )

    def anthropic(self, account: str) -> anthropic.Anthropic:
        return anthropic.Anthropic(
            base_url=self.url,
            api_key=SECRET_KEY,
            default_headers={"x-account-id": account},
            max_retries=0,
        )

    def seen(self) -> list[Any]:
        return seen(self.upstream)

    def passed(self) -> Any:
        """The body of the last request the app received."""
        return seen(self.upstream)[-1].body


def _watchlist(folder: Path) -> Path:
    write_watchlist(folder)
    return folder


def _policy(watchlist: Path) -> Policy:
    return replace(load(default_path()), watchlist=watchlist)


def _read_log(folder: Path) -> list[dict[str, Any]]:
    """The finished files of an exchange log (``.jsonl`` / ``.jsonl.gz``; never ``.open``)."""
    out: list[dict[str, Any]] = []
    for path in sorted([*folder.glob("*.jsonl"), *folder.glob("*.jsonl.gz")]):
        opener: Callable[..., Any] = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rb") as f:
            out.extend(orjson.loads(line) for line in f if line.strip())
    return out


@pytest.fixture
def records() -> Records:
    return Records()


@pytest.fixture
def rig(tmp_path: Path, records: Records) -> Iterator[Rig]:
    upstream = make_app()
    watchlist = _watchlist(tmp_path / "watch")
    guard = Guard(_policy(watchlist), log=records)
    with serve(GuardMiddleware(upstream, guard=guard)) as url:
        yield Rig(url, upstream, guard, watchlist)


def _chat_stream(client: openai.OpenAI) -> tuple[str, str]:
    chunks = client.chat.completions.create(**CHAT, stream=True)
    text, reasoning = [], []
    for chunk in chunks:
        for choice in chunk.choices:
            text.append(choice.delta.content or "")
            reasoning.append(str((choice.delta.model_extra or {}).get("reasoning_content") or ""))
    return "".join(text), "".join(reasoning)


def test_paths_are_matched_by_suffix() -> None:
    assert surface_of("/v1/chat/completions") == "openai.chat"
    assert surface_of("/prefix/v1/responses/") == "openai.responses"
    assert surface_of("/api/v1/messages") == "anthropic.messages"
    assert surface_of("/v1/messages/count_tokens") is None
    assert surface_of("/xv1/messages") is None
    assert surface_of("/v1/models") is None


def test_benign_traffic_reaches_the_app_untouched(rig: Rig, records: Records) -> None:
    reply = rig.openai("acct-benign").chat.completions.create(
        **CHAT, logprobs=True, top_logprobs=3, n=2
    )
    assert len(reply.choices) == 2
    assert reply.choices[0].logprobs is not None
    extra = reply.choices[0].message.model_extra or {}
    assert str(extra.get("reasoning_content", "")).startswith(REASONING_PREFIX)
    passed = rig.passed()
    assert passed["n"] == 2 and passed["top_logprobs"] == 3
    assert WATERMARK_HEADER not in rig.seen()[-1].headers

    # Byte for byte, both ways; and a watermark header a client makes up never gets through.
    raw = b'{"model": "gpt-test-mini",   "messages": [{"role": "user", "content": "hi"}]}'
    headers = {
        "x-account-id": "acct-benign",
        "content-type": "application/json",
        WATERMARK_HEADER: "made-up",
    }
    answer = httpx.post(f"{rig.url}/v1/chat/completions", content=raw, headers=headers)
    assert answer.status_code == 200
    assert rig.seen()[-1].raw == raw
    assert WATERMARK_HEADER not in rig.seen()[-1].headers
    assert rig.seen()[-1].headers["content-length"] == str(len(raw))
    assert answer.headers["content-length"] == str(len(answer.content))
    assert records.items[-1]["response"] == answer.json()
    assert [r["meta"]["guard"]["action"] for r in records.items] == ["allow", "allow"]


def test_a_campaign_account_is_degraded_and_watermarked(rig: Rig) -> None:
    reply = rig.openai("acct-attack").chat.completions.create(
        **CHAT, logprobs=True, top_logprobs=5, n=3, max_tokens=100_000
    )
    passed = rig.passed()
    assert "logprobs" not in passed and "top_logprobs" not in passed
    assert passed["n"] == 1 and passed["max_tokens"] == 4096
    assert passed["reasoning_effort"] == "low"
    headers = rig.seen()[-1].headers
    assert len(headers[WATERMARK_HEADER]) == 16
    assert headers["content-length"] == str(len(rig.seen()[-1].raw))
    assert len(reply.choices) == 1
    assert reply.choices[0].logprobs is None
    extra = reply.choices[0].message.model_extra or {}
    assert "reasoning_content" not in extra
    assert reply.choices[0].message.content

    # The rewritten answer carries its own length.
    answer = httpx.post(
        f"{rig.url}/v1/chat/completions",
        json=CHAT,
        headers={"x-account-id": "acct-attack", "accept-encoding": "gzip"},
    )
    assert answer.headers["content-length"] == str(len(answer.content))
    assert "reasoning_content" not in answer.json()["choices"][0]["message"]
    assert "accept-encoding" not in rig.seen()[-1].headers  # the answer must stay readable


def test_reasoning_is_withheld_from_chat_streams(rig: Rig) -> None:
    text, reasoning = _chat_stream(rig.openai("acct-benign"))
    assert text and reasoning.startswith(REASONING_PREFIX)
    text, reasoning = _chat_stream(rig.openai("acct-attack"))
    assert text and reasoning == ""


def test_reasoning_is_withheld_from_responses_streamed_and_not(rig: Rig) -> None:
    def run(account: str) -> tuple[list[str], Any]:
        kinds: list[str] = []
        with rig.openai(account).responses.stream(
            model="o-test-reasoner",
            input="Walk me through the derivation of the quadratic formula.",
            reasoning={"effort": "high", "summary": "detailed"},
        ) as events:
            for event in events:
                kinds.append(event.type)
            final = events.get_final_response()
        return kinds, final

    kinds, final = run("acct-benign")
    assert any(k.startswith("response.reasoning_summary_text") for k in kinds)
    kinds, final = run("acct-attack")
    assert not any(k.startswith("response.reasoning") for k in kinds)
    assert final.output_text
    for item in final.output:
        if item.type == "reasoning":
            assert not item.summary and not item.content

    plain = rig.openai("acct-attack").responses.create(
        model="o-test-reasoner",
        input="Walk me through the derivation of the quadratic formula.",
        reasoning={"effort": "high", "summary": "detailed"},
    )
    assert plain.output_text
    reasoning = [item for item in plain.output if item.type == "reasoning"]
    assert reasoning and all(not item.summary and not item.content for item in reasoning)


def test_thinking_is_withheld_from_anthropic_messages_streamed_and_not(rig: Rig) -> None:
    with rig.anthropic("acct-benign").messages.stream(**THINKING) as stream:
        message = stream.get_final_message()
    thinking = [b for b in message.content if b.type == "thinking"]
    assert thinking and thinking[0].thinking.startswith(REASONING_PREFIX)

    attack = rig.anthropic("acct-attack")
    with attack.messages.stream(**THINKING) as stream:
        message = stream.get_final_message()
    passed = rig.passed()
    assert passed["max_tokens"] == 4096 and passed["thinking"]["budget_tokens"] == 1024
    assert all(b.thinking == "" for b in message.content if b.type == "thinking")
    assert any(b.type == "text" and b.text for b in message.content)

    plain = attack.messages.create(**THINKING)
    thinking = [b for b in plain.content if b.type == "thinking"]
    assert thinking and all(b.thinking == "" for b in thinking)


def test_summary_mode_replaces_reasoning_with_a_note(tmp_path: Path) -> None:
    policy = _policy(_watchlist(tmp_path / "watch"))
    policy = replace(policy, degrade=replace(policy.degrade, reasoning="summary"))
    with serve(GuardMiddleware(make_app(), guard=Guard(policy))) as url:
        client = openai.OpenAI(
            base_url=f"{url}/v1",
            api_key=SECRET_KEY,
            default_headers={"x-account-id": "acct-attack"},
            max_retries=0,
        )
        _, reasoning = _chat_stream(client)
        assert reasoning == NOTE


def test_refusals_never_reach_the_app(rig: Rig, records: Records) -> None:
    client = rig.openai("acct-benign")
    ask: dict[str, Any] = {
        "model": "gpt-test-mini",
        "messages": [{"role": "user", "content": "hi"}],
    }
    client.chat.completions.create(**ask)
    (rig.watchlist / "watchlist.jsonl").write_text(
        '{"scope": "account", "id": "acct-benign", "action": "block"}\n', encoding="utf-8"
    )
    assert rig.guard.reload() == []
    before = len(rig.seen())
    with pytest.raises(openai.PermissionDeniedError) as caught:
        client.chat.completions.create(**ask)
    assert caught.value.code == "access_denied"
    with pytest.raises(anthropic.PermissionDeniedError) as refused:
        rig.anthropic("acct-benign").messages.create(
            model="claude-test-sonnet", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        )
    assert refused.value.body == {
        "type": "error",
        "error": {
            "type": "permission_error",
            "message": "this account is not allowed to use this API",
            "code": "access_denied",
        },
    }
    assert len(rig.seen()) == before
    assert [(r["status"], r["meta"]["guard"]["action"]) for r in records.items] == [
        (200, "allow"),
        (403, "block"),
        (403, "block"),
    ]


def test_throttling_answers_429_with_retry_after(records: Records) -> None:
    policy = loads(
        "version: 1\nlimits:\n  - {name: tight, scope: account, requests_per_minute: 2}\n"
    )
    upstream = make_app()
    with serve(GuardMiddleware(upstream, guard=Guard(policy, log=records))) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=SECRET_KEY, max_retries=0)
        ask: dict[str, Any] = {
            "model": "gpt-test-mini",
            "messages": [{"role": "user", "content": "hi"}],
        }
        client.chat.completions.create(**ask)
        client.chat.completions.create(**ask)
        with pytest.raises(openai.RateLimitError) as caught:
            client.chat.completions.create(**ask)
        retry = int(caught.value.response.headers["retry-after"])
        assert 1 <= retry <= 30
        assert len(seen(upstream)) == 2
    assert [r["status"] for r in records.items] == [200, 200, 429]


def test_bad_bodies_get_clear_errors(rig: Rig, records: Records) -> None:
    url = f"{rig.url}/v1/chat/completions"
    headers = {"x-account-id": "acct-benign", "content-type": "application/json"}
    bad = httpx.post(url, content=b"{not json", headers=headers)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_json"
    wrong = httpx.post(url, content=b"[1, 2]", headers=headers)
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "invalid_json"
    huge = httpx.post(url, content=b"x" * (9 * 1024 * 1024), headers=headers)
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "body_too_large"
    messages = httpx.post(f"{rig.url}/v1/messages", content=b"\xff\xfe", headers=headers)
    assert messages.status_code == 400 and messages.json()["type"] == "error"
    assert rig.seen() == [] and records.items == []


def test_other_paths_and_methods_go_straight_to_the_app(rig: Rig, records: Records) -> None:
    listed = httpx.get(f"{rig.url}/v1/models")
    assert listed.status_code == 200 and listed.json()["data"]
    assert httpx.get(f"{rig.url}/v1/nothing-here").status_code == 404
    assert httpx.get(f"{rig.url}/v1/chat/completions").status_code == 404  # the app's answer
    embeddings = httpx.post(f"{rig.url}/v1/embeddings", content=b"{not json")
    assert embeddings.status_code == 405  # the app's router answers, not the guard (400)
    assert [(s.method, s.path) for s in rig.seen()] == [
        ("GET", "/v1/models"),
        ("GET", "/v1/nothing-here"),
        ("GET", "/v1/chat/completions"),
    ]
    assert records.items == []


def test_a_mount_prefix_is_guarded(tmp_path: Path, records: Records) -> None:
    upstream = make_app()
    guard = Guard(_policy(_watchlist(tmp_path / "watch")), log=records)
    app = GuardMiddleware(Starlette(routes=[Mount("/models/a", app=upstream)]), guard=guard)
    with serve(app) as url:
        client = openai.OpenAI(
            base_url=f"{url}/models/a/v1",
            api_key=SECRET_KEY,
            default_headers={"x-account-id": "acct-attack"},
            max_retries=0,
        )
        reply = client.chat.completions.create(**CHAT, n=3)
    assert len(reply.choices) == 1
    assert "reasoning_content" not in (reply.choices[0].message.model_extra or {})
    assert seen(upstream)[-1].body["n"] == 1
    assert records.items[-1]["meta"]["guard"]["action"] == "degrade"


def _fastapi_model_server() -> tuple[Any, list[tuple[dict[str, str], Any]]]:
    """A FastAPI model server (as vLLM's is) answering Chat Completions like the upstream."""
    pytest.importorskip("fastapi")
    from fastapi import FastAPI

    api = FastAPI()
    received: list[tuple[dict[str, str], Any]] = []

    @api.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        body = await request.json()
        received.append((dict(request.headers), body))
        answer = chat_completion(body)
        if isinstance(answer, list):
            return StreamingResponse(iter(answer), media_type="text/event-stream")
        return JSONResponse(answer)

    return api, received


async def _lifespan(app: ASGIApp) -> list[str]:
    """Start the app up and shut it down, as a server does; returns what the app sent."""
    incoming = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[str] = []

    async def receive() -> Message:
        return next(incoming)

    async def send(message: Message) -> None:
        sent.append(message["type"])

    await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
    return sent


def test_fastapi_add_middleware_with_a_guard(tmp_path: Path, records: Records) -> None:
    api, received = _fastapi_model_server()
    guard = Guard(_policy(_watchlist(tmp_path / "watch")), log=records)
    api.add_middleware(GuardMiddleware, guard=guard)
    with serve(api) as url:
        client = openai.OpenAI(
            base_url=f"{url}/v1",
            api_key=SECRET_KEY,
            default_headers={"x-account-id": "acct-attack"},
            max_retries=0,
        )
        reply = client.chat.completions.create(**CHAT, n=2)
        _, reasoning = _chat_stream(client)
    assert len(reply.choices) == 1 and reasoning == ""
    assert "reasoning_content" not in (reply.choices[0].message.model_extra or {})
    assert received[0][1]["n"] == 1
    assert all(len(headers[WATERMARK_HEADER]) == 16 for headers, _ in received)
    assert [r["status"] for r in records.items] == [200, 200]


def test_vllm_loads_it_by_import_path_and_it_builds_its_guard_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    watchlist = _watchlist(tmp_path / "watch")
    log_dir = tmp_path / "log"
    monkeypatch.setenv("DISTILLGUARD_POLICY", str(default_path()))
    monkeypatch.setenv("DISTILLGUARD_WATCHLIST", str(watchlist))
    monkeypatch.setenv("DISTILLGUARD_LOG_DIR", str(log_dir))
    monkeypatch.delenv("DISTILLGUARD_REDIS_URL", raising=False)
    api, received = _fastapi_model_server()

    # What `vllm serve --middleware distillguard.guard.middleware.GuardMiddleware` does.
    module_path, object_name = ["distillguard.guard.middleware", "GuardMiddleware"]
    imported = getattr(importlib.import_module(module_path), object_name)
    assert inspect.isclass(imported)
    api.add_middleware(imported)

    with serve(api) as url:
        client = openai.OpenAI(
            base_url=f"{url}/v1",
            api_key=SECRET_KEY,
            default_headers={"x-account-id": "acct-attack"},
            max_retries=0,
        )
        reply = client.chat.completions.create(**CHAT, n=3, max_tokens=100_000)
        _, reasoning = _chat_stream(client)
        httpx.post(f"{url}/v1/chat/completions", content=b"{", headers={"x-account-id": "a"})
    assert len(reply.choices) == 1 and reasoning == ""
    headers, body = received[0]
    assert body["n"] == 1 and body["max_tokens"] == 4096
    assert len(headers[WATERMARK_HEADER]) == 16
    assert _read_log(log_dir) == []  # still open: the middleware closes it at shutdown

    assert asyncio.run(_lifespan(api)) == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]
    logged = _read_log(log_dir)
    assert [r["meta"]["guard"]["action"] for r in logged] == ["degrade", "degrade"]
    assert logged[0]["request"]["n"] == 3  # the log keeps what the client asked for
    assert logged[1]["response"]["choices"][0]["message"]["content"]
    assert "reasoning_content" not in logged[1]["response"]["choices"][0]["message"]


def test_settings_and_a_guard_do_not_mix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ENVIRONMENT.values():
        monkeypatch.delenv(variable, raising=False)
    guard = Guard(loads("version: 1\n"))
    with pytest.raises(TypeError):
        GuardMiddleware(make_app(), guard=guard, log_dir=str(tmp_path))
    with pytest.raises(TypeError):
        GuardMiddleware(make_app(), log_folder=str(tmp_path))
    built = GuardMiddleware(make_app(), log_dir=tmp_path / "log")
    assert built.owns_guard and isinstance(built.guard.log, ExchangeLog)
    asyncio.run(built.aclose())


def test_failures_and_disconnects_are_logged(rig: Rig, records: Records) -> None:
    client = rig.openai("acct-attack")
    ask: dict[str, Any] = {
        "model": "gpt-test-mini",
        "messages": [{"role": "user", "content": "hi"}],
    }
    with pytest.raises(openai.APIError):
        for _ in client.chat.completions.create(
            **ask, stream=True, extra_headers={FAULT_HEADER: "reset"}
        ):
            pass
    with pytest.raises(openai.APIError):
        client.chat.completions.create(**ask, extra_headers={FAULT_HEADER: "reset"})
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(**ask, extra_headers={FAULT_HEADER: "error500"})
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{rig.url}/v1/chat/completions",
            json=ask,
            headers={"x-account-id": "acct-benign", FAULT_HEADER: "hang"},
            timeout=0.5,
        )
    logged = records.wait_for(4)
    assert [r["status"] for r in logged] == [500, 500, 500, 499]
    broken_stream, broken_json, error, gone = logged
    assert broken_stream["meta"]["error"] and broken_stream["response"]["choices"]
    assert broken_json["meta"]["error"] and broken_json["response"] is None
    assert "error" not in error["meta"] and error["response"]["error"]["message"]
    assert gone["meta"]["error"] == "client disconnected"


def test_every_exchange_is_logged_without_secrets(tmp_path: Path) -> None:
    log_dir = tmp_path / "log"
    upstream = make_app()
    with ExchangeLog(log_dir) as log:
        guard = Guard(_policy(_watchlist(tmp_path / "watch")), log=log)
        with serve(GuardMiddleware(upstream, guard=guard)) as url:
            rig = Rig(url, upstream, guard, tmp_path / "watch")
            rig.openai("acct-benign").chat.completions.create(
                model="gpt-test-mini", messages=[{"role": "user", "content": "hello there"}]
            )
            _chat_stream(rig.openai("acct-attack"))
            rig.anthropic("acct-attack").messages.create(**THINKING)
            with rig.openai("acct-attack").responses.stream(
                model="o-test-reasoner", input="hey", reasoning={"summary": "auto"}
            ) as events:
                for _ in events:
                    pass
    records = _read_log(log_dir)
    assert len(records) == 4
    assert [r["surface"] for r in records] == [
        "openai.chat",
        "openai.chat",
        "anthropic.messages",
        "openai.responses",
    ]
    assert [r["meta"]["guard"]["action"] for r in records] == [
        "allow",
        "degrade",
        "degrade",
        "degrade",
    ]
    streamed = records[1]["response"]["choices"][0]["message"]
    assert streamed["content"] and "reasoning_content" not in streamed
    thinking = [b for b in records[2]["response"]["content"] if b["type"] == "thinking"]
    assert thinking and all(b["thinking"] == "" for b in thinking)
    assert records[3]["response"]["status"] == "completed"
    assert all(r["account_id"] for r in records) and all(r["api_key_id"] for r in records)
    for path in log_dir.iterdir():
        assert SECRET_KEY.encode() not in path.read_bytes()
    summary = ingest([log_dir], tmp_path / "store", options=IngestOptions(workers=1))
    assert (summary.exchanges, summary.rejected) == (4, 0)
