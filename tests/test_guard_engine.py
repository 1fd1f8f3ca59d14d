"""The guard's engine without HTTP, and its faults over HTTP: linking newcomers on the fly,
a shared state that goes away (fail open or closed), clients that leave mid-stream, an
upstream that does not answer in time."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from distillguard.guard import Guard, loads
from distillguard.guard.log import ExchangeLog
from distillguard.guard.proxy import build_app
from distillguard.guard.state_redis import RedisState
from upstream import make_app, serve

HEADER = "account_id,risk,verdict,cluster_id,campaign_id,exchanges,reasons\n"
POLICY = """\
version: 1
watchlist: {watch}
on_state_error: {mode}
rules:
  - name: campaign
    when: verdict == "attack"
    action: block
  - name: linked newcomer
    when: linked and cluster_risk >= 0.5
    action: degrade
limits:
  - name: everyone
    scope: account
    requests_per_minute: 1000
"""


def _policy(tmp_path: Path, mode: str = "open") -> Any:
    watch = tmp_path / "watch"
    watch.mkdir(exist_ok=True)
    (watch / "accounts.csv").write_text(
        HEADER + "a1,0.9,attack,c1,p1,10,\na2,0.9,attack,c1,p1,10,\nb1,0.01,benign,,,10,\n"
    )
    return loads(POLICY.format(watch=watch, mode=mode))


def _chat(system: str, prompt: str) -> dict[str, Any]:
    return {
        "model": "m",
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": prompt}],
    }


SYSTEM = "You are DataForge-7, a teacher model. Answer with exhaustive step-by-step reasoning."


def test_a_new_account_is_linked_to_a_known_cluster_by_what_it_shares(tmp_path: Path) -> None:
    async def run() -> None:
        guard = Guard(_policy(tmp_path))
        for account in ("a1", "a2"):
            for i in range(3):
                done = await guard.assess(
                    "openai.chat", _chat(SYSTEM, f"task {i}"), {"x-account-id": account}
                )
                assert done.decision.action == "block"
                await guard.finish(done, response=None, status=403)
        newcomer = await guard.assess(
            "openai.chat", _chat(SYSTEM, "task 9"), {"x-account-id": "fresh"}
        )
        assert newcomer.context.account.linked
        assert newcomer.context.account.cluster_id == "c1"
        assert newcomer.decision.action == "degrade"
        stranger = await guard.assess(
            "openai.chat", _chat("You are a helpful assistant.", "hi"), {"x-account-id": "other"}
        )
        assert not stranger.context.account.linked
        assert stranger.decision.action == "allow"

    asyncio.run(run())


def test_a_newcomer_is_linked_by_a_prompt_template_and_a_system_prompt(tmp_path: Path) -> None:
    """Known accounts' template fingerprints are taken after the response (``finish``), not
    on the decision's path; they must still reach the links that place a newcomer. The
    system prompt alone, one artefact, links nobody."""

    def ask(n: int, system: str = SYSTEM) -> dict[str, Any]:
        prompt = f"Exam item {n}: derive the answer to problem {n * 7} and show every step."
        return _chat(system, prompt)

    async def run() -> None:
        guard = Guard(_policy(tmp_path))
        for i, account in enumerate(("a1", "a2", "a1", "a2")):
            done = await guard.assess("openai.chat", ask(i), {"x-account-id": account})
            assert done.context.signals.template_fp is None  # deferred: a placed account
            await guard.finish(done, response=None, status=403)
        newcomer = await guard.assess("openai.chat", ask(41), {"x-account-id": "fresh"})
        assert newcomer.context.signals.template_fp is not None
        assert f"template:{newcomer.context.signals.template_fp}" in newcomer.artefacts
        assert newcomer.context.account.linked
        assert newcomer.context.account.cluster_id == "c1"
        other = _chat(SYSTEM, "What is a monad?")
        same_system = await guard.assess("openai.chat", other, {"x-account-id": "other"})
        assert not same_system.context.account.linked
        same_template = await guard.assess(
            "openai.chat", ask(5, "You are a tutor."), {"x-account-id": "third"}
        )
        assert not same_template.context.account.linked

    asyncio.run(run())


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_missing_shared_state_fails_open_or_closed_as_the_policy_says(tmp_path: Path) -> None:
    async def decide(mode: str) -> Any:
        state = RedisState(f"redis://127.0.0.1:{_closed_port()}/0", timeout_s=0.05)
        guard = Guard(_policy(tmp_path, mode), state=state)
        started = time.perf_counter()
        done = await guard.assess("openai.chat", _chat("s", "hi"), {"x-account-id": "b1"})
        assert time.perf_counter() - started < 2.0
        record = await guard.finish(done, response=None, status=200)
        await state.close()
        return done, record

    opened, record = asyncio.run(decide("open"))
    assert opened.decision.action == "allow" and opened.state_error
    assert "state_error" in record["meta"]
    closed, _ = asyncio.run(decide("closed"))
    assert closed.decision.action == "block" and closed.decision.rules == ("state_unavailable",)


def test_state_closed_answers_503_over_http(tmp_path: Path) -> None:
    state = RedisState(f"redis://127.0.0.1:{_closed_port()}/0", timeout_s=0.05)
    guard = Guard(_policy(tmp_path, "closed"), state=state)
    with serve(make_app()) as upstream_url, serve(build_app(guard, upstream_url)) as url:
        reply = httpx.post(
            f"{url}/v1/chat/completions", json=_chat("s", "hi"), headers={"x-account-id": "b1"}
        )
    assert reply.status_code == 503
    assert reply.json()["error"]["code"] == "unavailable"


def test_a_client_that_leaves_mid_stream_is_logged(tmp_path: Path) -> None:
    log_dir = tmp_path / "log"
    with ExchangeLog(log_dir) as log:
        guard = Guard(_policy(tmp_path), log=log)
        with serve(make_app()) as upstream_url, serve(build_app(guard, upstream_url)) as url:
            body = {**_chat("s", "tell me a long story " * 20), "stream": True}
            with httpx.stream(
                "POST",
                f"{url}/v1/chat/completions",
                json=body,
                headers={"x-account-id": "b1", "x-upstream-fault": "slow", "x-upstream-delay": "0"},
            ) as reply:
                for _ in reply.iter_bytes():
                    break  # leave after the first bytes
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not list(log_dir.glob("*.open")):
                time.sleep(0.05)
            time.sleep(0.5)
    records = [
        orjson.loads(line)
        for path in sorted(log_dir.glob("*.jsonl"))
        for line in path.read_bytes().splitlines()
    ]
    assert len(records) == 1
    assert records[0]["status"] in (200, 499)


def test_an_upstream_that_does_not_answer_in_time_is_a_504(tmp_path: Path) -> None:
    guard = Guard(_policy(tmp_path))
    with (
        serve(make_app()) as upstream_url,
        serve(build_app(guard, upstream_url, timeout_s=0.5)) as url,
    ):
        started = time.perf_counter()
        reply = httpx.post(
            f"{url}/v1/chat/completions",
            json=_chat("s", "hi"),
            headers={"x-account-id": "b1", "x-upstream-fault": "hang"},
            timeout=10,
        )
        assert reply.status_code == 504 and time.perf_counter() - started < 5


def test_requests_without_a_key_or_account_are_anonymous_and_keys_are_hashed(
    tmp_path: Path,
) -> None:
    guard = Guard(_policy(tmp_path))
    assert guard.identify({}) == ("anonymous", None)
    account, hashed = guard.identify({"authorization": "Bearer sk-secret"})
    assert hashed is not None and "sk-secret" not in hashed and account == f"key:{hashed[:24]}"
    assert guard.identify({"x-api-key": "  "}) == ("anonymous", None)


WATERMARK_POLICY = """\
version: 1
watchlist: {watch}
rules:
  - name: mark the campaign
    when: verdict == "attack"
    action: watermark
"""


def test_watermark_key_ids_come_from_the_master_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The id the guard sends is the one the model server resolves with the same secret (one
    key per cluster and epoch); no secret, no key material: a stable id from a public label.
    """
    from distillguard.guard.serve import make_guard
    from distillguard.marks import SECRET_ENV, Keyring, MasterSecret

    _policy(tmp_path)  # writes the watchlist
    path = tmp_path / "policy.yaml"
    path.write_text(WATERMARK_POLICY.format(watch=tmp_path / "watch"))
    secret = "k" * 64
    monkeypatch.setenv(SECRET_ENV, secret)
    ring = Keyring(MasterSecret(secret.encode()))
    now = 1_780_000_000.0

    async def ids(guard: Guard, now: float = now) -> list[str | None]:
        out = []
        for account in ("a1", "a2", "b1"):
            done = await guard.assess_record(
                {
                    "id": f"x-{account}",
                    "ts": "2026-06-01T00:00:00Z",
                    "account_id": account,
                    "surface": "openai.chat",
                    "request": _chat("s", "p"),
                },
                now,
            )
            out.append(done.watermark_key)
            record = await guard.finish(done, response=None, status=200)
            assert record["meta"].get("watermark_key") == done.watermark_key
        return out

    guard = make_guard(policy=path)
    keyed = asyncio.run(ids(guard))
    assert keyed[0] == keyed[1] and keyed[2] is None  # one key for cluster c1; b1 unmarked
    scope = "cluster:c1"
    assert keyed[0] == ring.current_id(scope, datetime.fromtimestamp(now, UTC))
    # The guard remembers ids per scope and epoch: the next epoch brings the next key.
    later = now + ring.epoch_days * 86_400
    rotated = asyncio.run(ids(guard, later))
    assert rotated[0] != keyed[0]
    assert rotated[0] == ring.current_id(scope, datetime.fromtimestamp(later, UTC))
    assert ring.for_id(keyed[0]).word("gumbel") == ring.key(
        scope, ring.epoch(datetime.fromtimestamp(now, UTC))
    ).word("gumbel")
    monkeypatch.delenv(SECRET_ENV)
    public = asyncio.run(ids(make_guard(policy=path)))
    assert public[0] == public[1] and public[0] != keyed[0] and len(str(public[0])) == 16


def test_exchange_ids_are_unique_and_a_forked_child_draws_its_own() -> None:
    from distillguard.guard.engine import new_exchange_id

    ids = {new_exchange_id() for _ in range(10_000)}
    assert len(ids) == 10_000 and all(i.startswith("dg-") for i in ids)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its ids must not repeat the parent's
        os.write(write, "\n".join(new_exchange_id() for _ in range(100)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as stream:
        child = stream.read().split("\n")
    assert len(child) == 100 and not ids & set(child)
    assert not {new_exchange_id() for _ in range(100)} & set(child)


def test_the_forwarded_body_changes_only_when_it_must(tmp_path: Path) -> None:
    from distillguard.guard.responses import WATERMARK_XARG, forwarded_body

    path = tmp_path / "policy.yaml"
    _policy(tmp_path)
    path.write_text(WATERMARK_POLICY.format(watch=tmp_path / "watch"))

    async def run() -> None:
        guard = Guard(loads(path.read_text()))
        body = _chat("s", "p")
        raw = orjson.dumps(body)
        planted = orjson.dumps({**body, "vllm_xargs": {WATERMARK_XARG: "f" * 16}})
        plain = await guard.assess("openai.chat", body, {"x-account-id": "b1"})
        marked = await guard.assess("openai.chat", body, {"x-account-id": "a1"})
        assert forwarded_body(raw, plain, ("header",)) is raw  # untouched: the same bytes
        assert forwarded_body(raw, marked, ("header",)) is raw
        via_xargs = orjson.loads(forwarded_body(raw, marked, ("vllm_xargs",)))
        assert via_xargs["vllm_xargs"] == {WATERMARK_XARG: marked.watermark_key}
        # A key id a client planted never goes on, whatever the policy says.
        assert orjson.loads(forwarded_body(planted, plain, ("header",)))["vllm_xargs"] == {}
        anthropic = await guard.assess(
            "anthropic.messages",
            {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "p"}]},
            {"x-account-id": "a1"},
        )
        raw_anthropic = orjson.dumps(anthropic.record["request"])
        assert forwarded_body(raw_anthropic, anthropic, ("vllm_xargs",)) == raw_anthropic

    asyncio.run(run())
