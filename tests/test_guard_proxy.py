"""The guard as a reverse proxy, end to end over real HTTP.

The official ``openai`` and ``anthropic`` SDKs are the clients; they talk to the guard, which
talks to a local model server that speaks all three APIs (``tests/upstream.py``), streamed
and not. Nothing is mocked: the upstream records what it received, so the tests check what
the guard forwarded as well as what the client got back.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest

from distillguard.errors import ConfigError
from distillguard.exchange import IngestOptions, ingest
from distillguard.guard import Guard, load, loads
from distillguard.guard.log import ExchangeLog
from distillguard.guard.policy import default_path
from distillguard.guard.proxy import WATERMARK_HEADER, build_app
from hunted import write_watchlist
from upstream import REASONING_PREFIX, make_app, seen, serve

ADMIN = "admin-token-for-tests"
SECRET_KEY = "sk-live-this-must-never-be-logged-0123456789"


@dataclass
class Rig:
    url: str
    upstream: Any
    guard: Guard
    log_dir: Path
    watchlist: Path
    log: ExchangeLog

    def openai(self, account: str, **kwargs: Any) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=f"{self.url}/v1",
            api_key=SECRET_KEY,
            default_headers={"x-account-id": account},
            max_retries=0,
            **kwargs,
        )

    def anthropic(self, account: str) -> anthropic.Anthropic:
        return anthropic.Anthropic(
            base_url=self.url,
            api_key=SECRET_KEY,
            default_headers={"x-account-id": account},
            max_retries=0,
        )

    def forwarded(self) -> Any:
        return seen(self.upstream)[-1].body

    def records(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for path in sorted(self.log_dir.glob("*.jsonl*")):
            opener = gzip.open if path.name.endswith(".gz") else open
            with opener(path, "rb") as f:
                out.extend(orjson.loads(line) for line in f if line.strip())
        return out


def _watchlist(folder: Path) -> Path:
    write_watchlist(folder)
    return folder


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    upstream = make_app()
    watchlist = _watchlist(tmp_path / "watch")
    log_dir = tmp_path / "log"
    policy = load(default_path())
    policy = replace(policy, watchlist=watchlist)
    with ExchangeLog(log_dir) as log, serve(upstream) as upstream_url:
        guard = Guard(policy, log=log)
        app = build_app(guard, upstream_url, admin_token=ADMIN)
        with serve(app) as url:
            yield Rig(url, upstream, guard, log_dir, watchlist, log)


def test_benign_traffic_passes_untouched(rig: Rig) -> None:
    client = rig.openai("acct-benign")
    reply = client.chat.completions.create(
        model="o-test-reasoner",
        messages=[{"role": "user", "content": "Explain photosynthesis step by step."}],
        reasoning_effort="high",
        logprobs=True,
        top_logprobs=3,
        n=2,
    )
    assert len(reply.choices) == 2
    assert reply.choices[0].logprobs is not None
    extra = reply.choices[0].message.model_extra or {}
    assert str(extra.get("reasoning_content", "")).startswith(REASONING_PREFIX)
    forwarded = rig.forwarded()
    assert forwarded["n"] == 2 and forwarded["top_logprobs"] == 3
    assert WATERMARK_HEADER not in seen(rig.upstream)[-1].headers


def test_a_campaign_account_is_degraded_and_watermarked(rig: Rig) -> None:
    client = rig.openai("acct-attack")
    reply = client.chat.completions.create(
        model="o-test-reasoner",
        messages=[{"role": "user", "content": "Explain photosynthesis step by step."}],
        reasoning_effort="high",
        logprobs=True,
        top_logprobs=5,
        n=3,
        max_tokens=100_000,
    )
    forwarded = rig.forwarded()
    assert "logprobs" not in forwarded and "top_logprobs" not in forwarded
    assert forwarded["n"] == 1 and forwarded["max_tokens"] == 4096
    assert forwarded["reasoning_effort"] == "low"
    assert len(seen(rig.upstream)[-1].headers[WATERMARK_HEADER]) == 16
    assert len(reply.choices) == 1
    assert reply.choices[0].logprobs is None
    extra = reply.choices[0].message.model_extra or {}
    assert "reasoning_content" not in extra
    assert reply.choices[0].message.content


def test_degrading_works_on_chat_streams(rig: Rig) -> None:
    def stream(account: str) -> tuple[str, str]:
        chunks = rig.openai(account).chat.completions.create(
            model="o-test-reasoner",
            messages=[
                {"role": "user", "content": "Prove that the square root of two is irrational."}
            ],
            reasoning_effort="high",
            stream=True,
        )
        text, reasoning = [], []
        for chunk in chunks:
            for choice in chunk.choices:
                text.append(choice.delta.content or "")
                reasoning.append(
                    str((choice.delta.model_extra or {}).get("reasoning_content") or "")
                )
        return "".join(text), "".join(reasoning)

    text, reasoning = stream("acct-benign")
    assert text and reasoning.startswith(REASONING_PREFIX)
    text, reasoning = stream("acct-attack")
    assert text and reasoning == ""


def test_degrading_works_on_responses_streams(rig: Rig) -> None:
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


def test_degrading_works_on_anthropic_messages_streamed_and_not(rig: Rig) -> None:
    request: dict[str, Any] = {
        "model": "claude-test-sonnet",
        "max_tokens": 20_000,
        "thinking": {"type": "enabled", "budget_tokens": 16_000},
        "messages": [{"role": "user", "content": "Think hard: is 1001 prime?"}],
    }
    benign = rig.anthropic("acct-benign")
    with benign.messages.stream(**request) as stream:
        message = stream.get_final_message()
    thinking = [b for b in message.content if b.type == "thinking"]
    assert thinking and thinking[0].thinking.startswith(REASONING_PREFIX)

    attack = rig.anthropic("acct-attack")
    with attack.messages.stream(**request) as stream:
        message = stream.get_final_message()
    forwarded = rig.forwarded()
    assert forwarded["max_tokens"] == 4096 and forwarded["thinking"]["budget_tokens"] == 1024
    assert all(b.thinking == "" for b in message.content if b.type == "thinking")
    assert any(b.type == "text" and b.text for b in message.content)

    plain = attack.messages.create(**request)
    assert all(b.thinking == "" for b in plain.content if b.type == "thinking")


def test_watchlist_block_and_reload_without_restart(rig: Rig) -> None:
    client = rig.openai("acct-benign")
    ask: dict[str, Any] = {
        "model": "gpt-test-mini",
        "messages": [{"role": "user", "content": "hi"}],
    }
    client.chat.completions.create(**ask)
    (rig.watchlist / "watchlist.jsonl").write_text(
        '{"scope": "account", "id": "acct-benign", "action": "block"}\n', encoding="utf-8"
    )
    reloaded = httpx.post(f"{rig.url}/_guard/reload", headers={"authorization": f"Bearer {ADMIN}"})
    assert reloaded.status_code == 200
    with pytest.raises(openai.PermissionDeniedError) as caught:
        client.chat.completions.create(**ask)
    assert caught.value.code == "access_denied"
    with pytest.raises(anthropic.PermissionDeniedError):
        rig.anthropic("acct-benign").messages.create(
            model="claude-test-sonnet", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        )


def test_a_policy_with_errors_leaves_the_running_one_in_force(tmp_path: Path, rig: Rig) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("version: 1\nrules:\n  - {name: all, when: always, action: block}\n")
    guard = Guard(load(path), policy_path=path)
    path.write_text("version: 1\nrules:\n  - {name: all, when: nonsense ==, action: block}\n")
    errors = guard.reload()
    assert errors and "policy.yaml:3" in errors[0]
    assert [r.name for r in guard.policy.rules] == ["all"]


def test_throttling_answers_429_with_retry_after(tmp_path: Path) -> None:
    policy = loads(
        "version: 1\nlimits:\n  - {name: tight, scope: account, requests_per_minute: 2}\n"
    )
    with serve(make_app()) as upstream_url:
        app = build_app(Guard(policy), upstream_url)
        with serve(app) as url:
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
            # Another API key is another account (the key's hash names it).
            other = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-other", max_retries=0)
            other.chat.completions.create(**ask)


def test_bad_bodies_get_clear_errors(rig: Rig) -> None:
    url = f"{rig.url}/v1/chat/completions"
    headers = {"x-account-id": "acct-benign", "content-type": "application/json"}
    bad = httpx.post(url, content=b"{not json", headers=headers)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_json"
    wrong = httpx.post(url, content=b"[1, 2]", headers=headers)
    assert wrong.status_code == 400
    invalid = httpx.post(url, json={"model": "m", "messages": "hello"}, headers=headers)
    assert invalid.status_code in (200, 400)  # passed on when it parses, never a crash
    huge = httpx.post(url, content=b"x" * (9 * 1024 * 1024), headers=headers)
    assert huge.status_code == 413
    messages = httpx.post(f"{rig.url}/v1/messages", content=b"\xff\xfe", headers=headers)
    assert messages.status_code == 400 and messages.json()["type"] == "error"


def test_unknown_paths_pass_through_or_are_refused(rig: Rig, tmp_path: Path) -> None:
    listed = httpx.get(f"{rig.url}/v1/models")
    assert listed.status_code == 200 and listed.json()["data"]
    missing = httpx.get(f"{rig.url}/v1/nothing-here")
    assert missing.status_code == 404
    strict = loads("version: 1\nunknown_paths: refuse\n")
    with serve(make_app()) as upstream_url, serve(build_app(Guard(strict), upstream_url)) as url:
        refused = httpx.get(f"{url}/v1/models")
        assert refused.status_code == 404
        assert refused.json()["error"]["code"] == "unknown_path"


def test_upstream_faults_become_clean_errors(rig: Rig) -> None:
    client = rig.openai("acct-benign")
    ask: dict[str, Any] = {
        "model": "gpt-test-mini",
        "messages": [{"role": "user", "content": "hi"}],
    }
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(**ask, extra_headers={"x-upstream-fault": "error500"})
    with pytest.raises(openai.APIError):
        stream = client.chat.completions.create(
            **ask, stream=True, extra_headers={"x-upstream-fault": "reset"}
        )
        for _ in stream:
            pass
    statuses = [r["status"] for r in rig.records()]
    assert 500 in statuses


def test_an_unreadable_stream_passes_as_is_unless_it_must_be_degraded(rig: Rig) -> None:
    """An event that is not UTF-8: a stream the guard only reads for its log reaches the
    client byte for byte (the log keeps what could be read, and says why it stopped); a
    stream it must degrade cannot be rewritten, so the client sees it break."""
    ask = {
        "model": "o-test-reasoner",
        "messages": [{"role": "user", "content": "Prove that 17 is prime, step by step."}],
        "stream": True,
    }

    def fetch(account: str) -> tuple[int, bytes, str | None]:
        headers = {"x-account-id": account, "x-upstream-fault": "garble"}
        with (
            httpx.Client(base_url=rig.url, timeout=30) as client,
            client.stream("POST", "/v1/chat/completions", json=ask, headers=headers) as reply,
        ):
            body = b""
            try:
                for chunk in reply.iter_raw():
                    body += chunk
            except httpx.HTTPError as exc:
                return reply.status_code, body, type(exc).__name__
            return reply.status_code, body, None

    status, body, broke = fetch("acct-benign")
    assert status == 200 and broke is None
    assert b"\xff\xfe not text" in body and body.rstrip().endswith(b"data: [DONE]")
    status, body, broke = fetch("acct-attack")
    assert broke is not None and b"[DONE]" not in body
    benign, attack = rig.records()[-2:]
    assert benign["account_id"] == "acct-benign" and "not UTF-8" in benign["meta"]["error"]
    assert benign["status"] == 200 and benign["response"]["choices"]
    assert attack["status"] == 502 and "stream broken" in attack["meta"]["error"]


def test_the_key_id_can_travel_in_vllm_xargs(tmp_path: Path) -> None:
    """``watermark_via: [vllm_xargs]``: the key id reaches vLLM's logits processors in the
    body, not in a header; a key id a client put there itself never reaches the upstream."""
    assert loads("version: 1\nwatermark_via: [vllm_xargs]\n").watermark_via == ("vllm_xargs",)
    policy = replace(
        load(default_path()),
        watchlist=_watchlist(tmp_path / "watch"),
        watermark_via=("vllm_xargs",),
    )
    upstream = make_app()
    with serve(upstream) as upstream_url, serve(build_app(Guard(policy), upstream_url)) as url:
        planted = {"vllm_xargs": {"distillguard_watermark_key": "0123456789abcdef", "other": 1}}
        for account in ("acct-attack", "acct-benign"):
            client = openai.OpenAI(
                base_url=f"{url}/v1",
                api_key=SECRET_KEY,
                default_headers={"x-account-id": account},
                max_retries=0,
            )
            client.chat.completions.create(
                model="gpt-test-mini",
                messages=[{"role": "user", "content": "hi"}],
                extra_body=planted,
            )
        attack, benign = seen(upstream)[-2:]
    assert WATERMARK_HEADER not in attack.headers and WATERMARK_HEADER not in benign.headers
    key = attack.body["vllm_xargs"]["distillguard_watermark_key"]
    assert len(key) == 16 and key != "0123456789abcdef"
    assert attack.body["vllm_xargs"]["other"] == 1
    assert benign.body["vllm_xargs"] == {"other": 1}
    with pytest.raises(ConfigError, match=r":2: watermark_via\[0\]"):
        loads("version: 1\nwatermark_via: [carrier_pigeon]\n")


def test_an_unreachable_upstream_is_a_502(tmp_path: Path) -> None:
    app = build_app(Guard(loads("version: 1\n")), "http://127.0.0.1:9")
    with serve(app) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=SECRET_KEY, max_retries=0)
        with pytest.raises(openai.APIStatusError) as caught:
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        assert caught.value.status_code == 502


def test_admin_endpoints_need_the_token(rig: Rig) -> None:
    for path in ("/_guard/status", "/_guard/metrics", "/_guard/accounts/acct-attack"):
        assert httpx.get(f"{rig.url}{path}").status_code == 401
        wrong = httpx.get(f"{rig.url}{path}", headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 401
    rig.openai("acct-attack").chat.completions.create(
        model="gpt-test-mini", messages=[{"role": "user", "content": "hi"}]
    )
    auth = {"authorization": f"Bearer {ADMIN}"}
    metrics = httpx.get(f"{rig.url}/_guard/metrics", headers=auth).text
    assert 'distillguard_decisions_total{action="degrade",surface="openai.chat"} 1.0' in metrics
    state = httpx.get(f"{rig.url}/_guard/accounts/acct-attack", headers=auth).json()
    assert state["verdict"] == "attack" and state["windows"]["account_requests_1h"] == 1


def test_the_log_is_an_exchange_log_without_secrets(rig: Rig, tmp_path: Path) -> None:
    rig.openai("acct-benign").chat.completions.create(
        model="gpt-test-mini", messages=[{"role": "user", "content": "hello there"}]
    )
    with rig.openai("acct-attack").chat.completions.create(
        model="gpt-test-mini",
        messages=[{"role": "user", "content": "hello again"}],
        stream=True,
    ) as stream:
        for _ in stream:
            pass
    rig.anthropic("acct-attack").messages.create(
        model="claude-test-sonnet", max_tokens=64, messages=[{"role": "user", "content": "hey"}]
    )
    rig.log.close()  # finishes the open file: readers take only finished ones
    records = rig.records()
    assert len(records) == 3
    assert {r["surface"] for r in records} == {"openai.chat", "anthropic.messages"}
    streamed = records[1]
    assert streamed["response"]["choices"][0]["message"]["content"]
    assert streamed["meta"]["guard"]["action"] == "degrade"
    for path in rig.log_dir.iterdir():
        assert SECRET_KEY.encode() not in path.read_bytes()
    summary = ingest([rig.log_dir], tmp_path / "store", options=IngestOptions(workers=1))
    assert (summary.exchanges, summary.rejected) == (3, 0)


def test_a_client_cannot_choose_the_watermark_key(rig: Rig) -> None:
    rig.openai("acct-benign").chat.completions.create(
        model="gpt-test-mini",
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={WATERMARK_HEADER: "chosen-by-client"},
    )
    assert WATERMARK_HEADER not in seen(rig.upstream)[-1].headers


def test_the_signup_endpoint(rig: Rig, tmp_path: Path) -> None:
    registry = tmp_path / "registry.jsonl"
    registry.write_text(
        '{"account_id": "acct-attack", "payment_fingerprint": "pf_campaign"}\n'
        '{"account_id": "acct-peer", "payment_fingerprint": "pf_campaign"}\n'
        '{"account_id": "acct-benign", "payment_fingerprint": "pf_own"}\n'
    )
    rig.guard.policy = replace(rig.guard.policy, registry=registry)
    url, auth = f"{rig.url}/_guard/signup", {"authorization": f"Bearer {ADMIN}"}
    assert httpx.post(url, json={"payment_fingerprint": "pf_campaign"}).status_code == 401
    verdict = httpx.post(url, json={"payment_fingerprint": "pf_campaign"}, headers=auth).json()
    assert verdict["recommendation"] == "verify" and verdict["clusters"] == ["cl-1"]
    fine = httpx.post(url, json={"payment_fingerprint": "pf_own"}, headers=auth).json()
    assert fine["recommendation"] == "allow"
    bad = httpx.post(url, json={"verified": "maybe"}, headers=auth)
    assert bad.status_code == 400 and "verified" in bad.json()["error"]
    assert httpx.post(url, content=b"{", headers=auth).status_code == 400
