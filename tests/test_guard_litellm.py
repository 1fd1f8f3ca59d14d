"""The guard as a LiteLLM guardrail, with LiteLLM's own types and calls.

The hooks are called the way LiteLLM 1.110.2's proxy calls them (``ProxyLogging`` in
``litellm/proxy/utils.py``: keyword arguments, a real ``UserAPIKeyAuth`` and ``DualCache``,
real ``ModelResponse`` and ``ModelResponseStream`` objects); the proxy itself cannot be
installed at this version (``litellm[proxy]``). End to end, ``litellm.acompletion`` talks to
the local model server (``tests/upstream.py``), both with the guardrail as an SDK callback
(LiteLLM runs its hooks as deployment hooks) and with the proxy's sequence of calls around it.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network at import
litellm = pytest.importorskip(
    "litellm", reason="LiteLLM is an optional extra: pip install 'distillguard[litellm]'"
)

from litellm.caching.dual_cache import DualCache  # noqa: E402
from litellm.exceptions import GuardrailRaisedException  # noqa: E402
from litellm.integrations.custom_guardrail import is_guardrail_intervention  # noqa: E402
from litellm.proxy._types import UserAPIKeyAuth  # noqa: E402
from litellm.proxy.common_utils.openai_error_payload import (  # noqa: E402
    error_status_code,
    openai_error_type,
)
from litellm.types.guardrails import GuardrailEventHooks  # noqa: E402
from litellm.types.utils import (  # noqa: E402
    Delta,
    ModelResponse,
    ModelResponseStream,
    StreamingChoices,
)

from distillguard.guard import Guard, load, loads  # noqa: E402
from distillguard.guard.actions import NOTE  # noqa: E402
from distillguard.guard.litellm import (  # noqa: E402
    METADATA_KEY,
    DistillguardGuardrail,
    GuardRefusal,
)
from distillguard.guard.log import ExchangeLog  # noqa: E402
from distillguard.guard.policy import default_path  # noqa: E402
from distillguard.guard.responses import WATERMARK_HEADER  # noqa: E402
from hunted import write_watchlist  # noqa: E402
from upstream import REASONING_PREFIX, make_app, seen, serve  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    "ignore:Items? .* using the `ReadOnly` qualifier:UserWarning"  # LiteLLM's TypedDicts
)

if TYPE_CHECKING:
    from litellm.types.utils import CallTypesLiteral

SECRET_KEY = "sk-live-this-must-never-be-logged-0123456789"
PLAIN_KEY = "plain-key-that-litellm-does-not-hash-9876543210"
ASK = "Explain photosynthesis step by step."


def _watchlist(folder: Path) -> Path:
    write_watchlist(folder)
    (folder / "watchlist.jsonl").write_text(
        '{"scope": "account", "id": "acct-blocked", "action": "block"}\n', encoding="utf-8"
    )
    return folder


def _registry(path: Path) -> Path:
    """The customer is a verified organisation's account; the campaign's are not verified."""
    rows = [
        {"account_id": "acct-benign", "created_at": "2024-01-01T00:00:00Z", "verified": True},
        {"account_id": "acct-attack", "created_at": "2025-02-01T00:00:00Z", "verified": False},
    ]
    path.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in rows))
    return path


@dataclass
class Rig:
    guardrail: DistillguardGuardrail
    log: ExchangeLog
    log_dir: Path

    def records(self) -> list[dict[str, Any]]:
        self.log.close()  # finishes the open file: readers take only finished ones
        out: list[dict[str, Any]] = []
        for path in sorted(self.log_dir.glob("*.jsonl*")):
            opener = gzip.open if path.name.endswith(".gz") else open
            with opener(path, "rb") as f:
                out.extend(orjson.loads(line) for line in f if line.strip())
        return out

    def raw_log(self) -> bytes:
        self.log.close()
        return b"".join(p.read_bytes() for p in sorted(self.log_dir.iterdir()))


def _rig(tmp_path: Path, policy_text: str | None = None) -> Iterator[Rig]:
    if policy_text is None:
        policy = replace(
            load(default_path()),
            watchlist=_watchlist(tmp_path / "watch"),
            registry=_registry(tmp_path / "accounts.jsonl"),
        )
    else:
        policy = loads(policy_text)
    with ExchangeLog(tmp_path / "log") as log:
        guardrail = DistillguardGuardrail(Guard(policy, log=log))
        yield Rig(guardrail, log, tmp_path / "log")


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    yield from _rig(tmp_path)


def user(account: str | None, key: str = SECRET_KEY) -> UserAPIKeyAuth:
    """What LiteLLM's auth hands the hooks for a virtual key (the key is hashed by it)."""
    return UserAPIKeyAuth(api_key=key, user_id=account)


def chat(**params: Any) -> dict[str, Any]:
    """A chat request as LiteLLM's proxy hands it to a pre-call hook: the OpenAI fields plus
    LiteLLM's metadata (the proxy puts the caller's address and agent there)."""
    return {
        "model": "o-test-reasoner",
        "messages": [{"role": "user", "content": ASK}],
        **params,
        "metadata": {
            "requester_ip_address": "203.0.113.7",
            "user_agent": "OpenAI/Python 1.0",
            "user_api_key_hash": hashlib.sha256(SECRET_KEY.encode()).hexdigest(),
        },
        "litellm_call_id": "call-1",
        "proxy_server_request": {"headers": {"authorization": f"Bearer {SECRET_KEY}"}},
    }


async def pre_call(
    guardrail: DistillguardGuardrail,
    auth: UserAPIKeyAuth,
    data: dict[str, Any],
    call_type: CallTypesLiteral = "acompletion",
) -> dict[str, Any]:
    """``ProxyLogging._execute_guardrail_hook(hook_type="pre_call")``, then what
    ``process_pre_call_hook_response`` does with a returned dict."""
    result = await guardrail.async_pre_call_hook(
        user_api_key_dict=auth, cache=DualCache(), data=data, call_type=call_type
    )
    return result if isinstance(result, dict) else data


def refused(guardrail: DistillguardGuardrail, auth: UserAPIKeyAuth) -> GuardRefusal:
    with pytest.raises(GuardrailRaisedException) as caught:
        asyncio.run(pre_call(guardrail, auth, chat()))
    assert isinstance(caught.value, GuardRefusal)
    return caught.value


def reasoning_response(**extra: Any) -> ModelResponse:
    return ModelResponse(
        model="o-test-reasoner",
        choices=[
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {
                    "role": "assistant",
                    "content": "The answer.",
                    "reasoning_content": f"{REASONING_PREFIX} think hard",
                    "thinking_blocks": [
                        {"type": "thinking", "thinking": "think hard", "signature": "sig"}
                    ],
                },
                "logprobs": {"content": [{"token": "The", "logprob": -0.1, "top_logprobs": []}]},
            }
        ],
        usage={"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
        **extra,
    )


# -- pre-call ------------------------------------------------------------------------------


def test_benign_requests_pass_untouched(rig: Rig) -> None:
    # A verified customer asking for everything a distiller would: served as asked (from an
    # account nobody verified, maximal thinking with a saturated output is degraded).
    data = chat(reasoning_effort="high", logprobs=True, top_logprobs=3, n=2, max_tokens=50_000)
    before = {k: v for k, v in data.items() if k != "metadata"}
    out = asyncio.run(pre_call(rig.guardrail, user("acct-benign"), data))
    assert out is data
    assert {k: v for k, v in data.items() if k != "metadata"} == before
    assert data["metadata"][METADATA_KEY]["action"] == "allow"


def test_a_campaign_account_is_degraded_in_place(rig: Rig) -> None:
    data = chat(
        reasoning_effort="high",
        logprobs=True,
        top_logprobs=5,
        n=3,
        max_tokens=100_000,
        extra_headers={WATERMARK_HEADER.upper(): "forged-by-the-client"},
    )
    asyncio.run(pre_call(rig.guardrail, user("acct-attack"), data))
    assert "logprobs" not in data and "top_logprobs" not in data
    assert data["n"] == 1 and data["max_tokens"] == 4096
    assert data["reasoning_effort"] == "low"
    assert data["messages"] == [{"role": "user", "content": ASK}]
    headers = data["extra_headers"]
    assert list(headers) == [WATERMARK_HEADER] and len(headers[WATERMARK_HEADER]) == 16
    stash = data["metadata"][METADATA_KEY]
    assert stash["action"] == "degrade" and stash["degraded"] is True
    assert stash["exchange_id"].startswith("dg-")
    # max_completion_tokens is capped under its own name
    newer = chat(max_completion_tokens=90_000)
    asyncio.run(pre_call(rig.guardrail, user("acct-attack"), newer))
    assert newer["max_completion_tokens"] == 4096 and "max_tokens" not in newer


def test_a_blocked_account_is_refused_with_403(rig: Rig) -> None:
    error = refused(rig.guardrail, user("acct-blocked"))
    # What the proxy's handle_llm_api_exception reads off the exception:
    assert error_status_code(error, 500) == 403
    assert openai_error_type(error, 403) == "permission_error"
    assert error.code == "access_denied" and error.headers == {}
    assert error.provider_specific_fields == {"code": "access_denied"}
    assert is_guardrail_intervention(error)  # not a failing deployment: no cooldown
    # Another call type of the same account is refused too: no way around the guard.
    responses = {"model": "o-test-reasoner", "input": ASK, "metadata": {}}
    with pytest.raises(GuardRefusal):
        asyncio.run(pre_call(rig.guardrail, user("acct-blocked"), responses, "aresponses"))
    records = rig.records()
    assert [r["status"] for r in records] == [403, 403]
    assert records[1]["surface"] == "openai.responses"


def test_throttling_raises_429_with_retry_after(tmp_path: Path) -> None:
    policy = "version: 1\nlimits:\n  - {name: tight, scope: account, requests_per_minute: 1}\n"
    for rig in _rig(tmp_path, policy):
        asyncio.run(pre_call(rig.guardrail, user("acct-a"), chat()))
        error = refused(rig.guardrail, user("acct-a"))
        assert error_status_code(error, 500) == 429
        assert openai_error_type(error, 429) == "rate_limit_error"
        assert error.code == "rate_limited"
        retry = int(error.headers["retry-after"])
        assert 1 <= retry <= 60 and error.retry_after == retry
        assert error.provider_specific_fields == {"code": "rate_limited", "retry_after": retry}
        # Another user is another account.
        asyncio.run(pre_call(rig.guardrail, user("acct-b"), chat()))
        throttled = [r for r in rig.records() if r["status"] == 429]
        assert len(throttled) == 1 and throttled[0]["meta"]["guard"]["action"] == "throttle"


def test_the_account_comes_from_user_then_team_then_key(rig: Rig) -> None:
    g = rig.guardrail
    hashed = hashlib.sha256(SECRET_KEY.encode()).hexdigest()
    assert g.identify(UserAPIKeyAuth(api_key=SECRET_KEY, user_id="u", team_id="t")) == (
        "u",
        hashed,
    )
    assert g.identify(UserAPIKeyAuth(api_key=SECRET_KEY, team_id="t")) == ("t", hashed)
    assert g.identify(UserAPIKeyAuth(api_key=SECRET_KEY)) == (f"key:{hashed[:24]}", hashed)
    # LiteLLM leaves a key without the sk- prefix unhashed; the guard hashes it.
    plain = UserAPIKeyAuth(api_key=PLAIN_KEY)
    assert plain.token == PLAIN_KEY
    assert g.identify(plain)[1] == hashlib.sha256(PLAIN_KEY.encode()).hexdigest()
    assert g.identify(UserAPIKeyAuth()) == ("anonymous", None)
    teams = DistillguardGuardrail(g.guard, account_by=("team_id", "user_id"))
    assert teams.identify(UserAPIKeyAuth(user_id="u", team_id="t"))[0] == "t"
    with pytest.raises(ValueError, match="account_by"):
        DistillguardGuardrail(g.guard, account_by=("email",))  # type: ignore[arg-type]


def test_built_from_settings_as_the_proxy_config_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``GuardrailRegistry.initialize_custom_guardrail`` passes the name, ``mode`` as
    ``event_hook``, ``default_on`` and the other ``litellm_params`` as keywords."""
    for name in ("POLICY", "WATCHLIST", "LOG_DIR", "REDIS_URL"):
        monkeypatch.delenv(f"DISTILLGUARD_{name}", raising=False)
    g = DistillguardGuardrail(
        guardrail_name="dg",
        event_hook=["pre_call", "post_call"],
        default_on=True,
        watchlist=str(_watchlist(tmp_path / "watch")),
        log_dir=str(tmp_path / "log"),
    )
    data = chat(n=3)
    for hook in (GuardrailEventHooks.pre_call, GuardrailEventHooks.post_call):
        assert g.should_run_guardrail(data=data, event_type=hook)
    asyncio.run(pre_call(g, user("acct-attack"), data))
    assert data["n"] == 1
    asyncio.run(
        g.async_post_call_success_hook(
            data=data, user_api_key_dict=user("acct-attack"), response=reasoning_response()
        )
    )
    assert isinstance(g.guard.log, ExchangeLog)
    g.guard.log.close()
    (record,) = Rig(g, g.guard.log, tmp_path / "log").records()
    assert record["account_id"] == "acct-attack" and record["status"] == 200
    with pytest.raises(ValueError, match="supported event hooks"):
        DistillguardGuardrail(guardrail_name="dg", event_hook="during_call", default_on=True)


# -- post-call -----------------------------------------------------------------------------


def test_the_success_hook_withholds_reasoning_and_logprobs(rig: Rig) -> None:
    g = rig.guardrail
    attack = chat(logprobs=True)
    asyncio.run(pre_call(g, user("acct-attack"), attack))
    response = reasoning_response()
    out = asyncio.run(
        g.async_post_call_success_hook(
            data=attack, user_api_key_dict=user("acct-attack"), response=response
        )
    )
    assert out is response
    message = response.choices[0].message
    assert getattr(message, "reasoning_content", None) is None
    assert getattr(message, "thinking_blocks", None) is None
    assert getattr(response.choices[0], "logprobs", None) is None
    assert message.content == "The answer."
    wire = response.model_dump_json()
    assert REASONING_PREFIX not in wire and "think hard" not in wire

    benign = chat()
    asyncio.run(pre_call(g, user("acct-benign"), benign))
    kept = reasoning_response()
    asyncio.run(
        g.async_post_call_success_hook(
            data=benign, user_api_key_dict=user("acct-benign"), response=kept
        )
    )
    assert str(kept.choices[0].message.reasoning_content).startswith(REASONING_PREFIX)
    assert kept.choices[0].logprobs is not None

    records = rig.records()
    assert [r["account_id"] for r in records] == ["acct-attack", "acct-benign"]
    logged = records[0]["response"]["choices"][0]["message"]
    assert logged["content"] == "The answer." and "reasoning_content" not in logged
    assert records[1]["response"]["choices"][0]["message"]["reasoning_content"]
    assert records[0]["status"] == 200 and records[0]["meta"]["guard"]["action"] == "degrade"


def test_summary_mode_leaves_a_note(tmp_path: Path) -> None:
    shipped = default_path().read_text(encoding="utf-8")
    text = shipped.replace("reasoning: withhold", "reasoning: summary")
    policy = replace(loads(text), watchlist=_watchlist(tmp_path / "watch"))
    g = DistillguardGuardrail(Guard(policy))
    data = chat()
    asyncio.run(pre_call(g, user("acct-attack"), data))
    response = reasoning_response()
    asyncio.run(
        g.async_post_call_success_hook(
            data=data, user_api_key_dict=user("acct-attack"), response=response
        )
    )
    assert response.choices[0].message.reasoning_content == NOTE
    assert getattr(response.choices[0].message, "thinking_blocks", None) is None


def test_each_exchange_is_finished_once(rig: Rig) -> None:
    """The SDK's deployment hook and the proxy's hook can both run on one request."""
    g = rig.guardrail
    data = chat()
    asyncio.run(pre_call(g, user("acct-attack"), data))
    for _ in range(2):
        response = reasoning_response()
        asyncio.run(
            g.async_post_call_success_hook(
                data=data, user_api_key_dict=user("acct-attack"), response=response
            )
        )
    failed = chat()
    asyncio.run(pre_call(g, user("acct-benign"), failed))
    asyncio.run(
        g.async_post_call_failure_hook(
            request_data=failed,
            original_exception=litellm.BadGatewayError("down", "o-test-reasoner", "openai"),
            user_api_key_dict=user("acct-benign"),
        )
    )
    # A request the guard refused reaches the failure hook too: it is not logged twice.
    blocked = chat()
    with pytest.raises(GuardRefusal) as caught:
        asyncio.run(pre_call(g, user("acct-blocked"), blocked))
    asyncio.run(
        g.async_post_call_failure_hook(
            request_data=blocked,
            original_exception=caught.value,
            user_api_key_dict=user("acct-blocked"),
        )
    )
    assert [r["status"] for r in rig.records()] == [200, 502, 403]


def test_anthropic_messages_are_degraded_both_ways(rig: Rig) -> None:
    g = rig.guardrail
    data: dict[str, Any] = {
        "model": "claude-test-sonnet",
        "max_tokens": 20_000,
        "thinking": {"type": "enabled", "budget_tokens": 16_000},
        "messages": [{"role": "user", "content": "Think hard: is 1001 prime?"}],
        "litellm_metadata": {},
    }
    asyncio.run(pre_call(g, user("acct-attack"), data, "anthropic_messages"))
    assert data["max_tokens"] == 4096 and data["thinking"]["budget_tokens"] == 1024
    assert METADATA_KEY in data["litellm_metadata"] and "metadata" not in data
    response: Any = {  # LiteLLM's Anthropic Messages response is a TypedDict
        "type": "message",
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": f"{REASONING_PREFIX} hmm", "signature": "s"},
            {"type": "text", "text": "No: 7 x 11 x 13."},
        ],
        "usage": {"input_tokens": 9, "output_tokens": 30},
    }
    asyncio.run(
        g.async_post_call_success_hook(
            data=data,
            user_api_key_dict=user("acct-attack"),
            response=response,
        )
    )
    assert response["content"][0]["thinking"] == ""
    assert rig.records()[0]["surface"] == "anthropic.messages"


# -- streams -------------------------------------------------------------------------------


def _chunk(delta: Delta, **choice: Any) -> ModelResponseStream:
    return ModelResponseStream(choices=[StreamingChoices(index=0, delta=delta, **choice)])


def _chunks(reasoning: list[str], content: list[str]) -> list[ModelResponseStream]:
    out = [_chunk(Delta(role="assistant"))]
    out += [_chunk(Delta(reasoning_content=piece)) for piece in reasoning]
    out += [
        _chunk(
            Delta(content=piece),
            logprobs={"content": [{"token": piece, "logprob": -0.5, "top_logprobs": []}]},
        )
        for piece in content
    ]
    out.append(_chunk(Delta(), finish_reason="stop"))
    return out


async def _iterate(chunks: list[ModelResponseStream]) -> AsyncIterator[ModelResponseStream]:
    for chunk in chunks:
        yield chunk


async def _relay(
    g: DistillguardGuardrail, account: str, chunks: list[ModelResponseStream]
) -> list[ModelResponseStream]:
    """The proxy's sequence for a stream: pre-call, then the iterator hook over the chunks."""
    data = chat(stream=True)
    await pre_call(g, user(account), data)
    return [
        chunk
        async for chunk in g.async_post_call_streaming_iterator_hook(
            user_api_key_dict=user(account), response=_iterate(chunks), request_data=data
        )
    ]


def test_the_streaming_hook_withholds_reasoning_deltas(rig: Rig) -> None:
    reasoning, content = [f"{REASONING_PREFIX} ", "deep ", "thought"], ["The ", "answer."]
    sent = asyncio.run(_relay(rig.guardrail, "acct-attack", _chunks(reasoning, content)))
    assert len(sent) == 1 + len(reasoning) + len(content) + 1
    for chunk in sent:
        delta = chunk.choices[0].delta
        assert getattr(delta, "reasoning_content", None) is None
        assert getattr(chunk.choices[0], "logprobs", None) is None
    assert "".join(c.choices[0].delta.content or "" for c in sent) == "The answer."

    kept = asyncio.run(_relay(rig.guardrail, "acct-benign", _chunks(reasoning, content)))
    kept_reasoning = (getattr(c.choices[0].delta, "reasoning_content", "") for c in kept)
    assert "".join(r or "" for r in kept_reasoning) == "".join(reasoning)

    records = rig.records()
    assert len(records) == 2
    attack, benign = (r["response"]["choices"][0]["message"] for r in records)
    assert attack == {"role": "assistant", "content": "The answer."}
    assert benign["reasoning_content"] == "".join(reasoning)


def test_a_stream_the_client_leaves_is_logged_as_499(rig: Rig) -> None:
    async def leave() -> None:
        data = chat(stream=True)
        await pre_call(rig.guardrail, user("acct-attack"), data)
        stream = rig.guardrail.async_post_call_streaming_iterator_hook(
            user_api_key_dict=user("acct-attack"),
            response=_iterate(_chunks(["a"], ["b", "c"])),
            request_data=data,
        )
        await stream.__anext__()
        await stream.aclose()  # what the proxy does when the client disconnects

    asyncio.run(leave())
    (record,) = rig.records()
    assert record["status"] == 499 and record["meta"]["error"] == "client disconnected"


# -- the log ---------------------------------------------------------------------------------


def test_one_record_per_exchange_and_no_key(rig: Rig) -> None:
    g = rig.guardrail
    for account, key in (("acct-benign", SECRET_KEY), ("acct-attack", PLAIN_KEY)):
        data = chat()
        asyncio.run(pre_call(g, user(account, key), data))
        asyncio.run(
            g.async_post_call_success_hook(
                data=data, user_api_key_dict=user(account, key), response=reasoning_response()
            )
        )
    with pytest.raises(GuardRefusal):
        asyncio.run(pre_call(g, user("acct-blocked"), chat()))
    raw = rig.raw_log()
    assert SECRET_KEY.encode() not in raw and PLAIN_KEY.encode() not in raw
    records = rig.records()
    assert len(records) == 3
    assert records[0]["api_key_id"] == hashlib.sha256(SECRET_KEY.encode()).hexdigest()
    assert records[1]["api_key_id"] == hashlib.sha256(PLAIN_KEY.encode()).hexdigest()
    first = records[0]
    assert first["client"] == {"ip": "203.0.113.7", "user_agent": "OpenAI/Python 1.0"}
    assert set(first["request"]) == {"model", "messages"}  # LiteLLM's internals are not logged


def test_importing_the_guard_does_not_import_litellm() -> None:
    code = (
        "import sys, distillguard.guard, distillguard.guard.serve\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'litellm'], 'litellm'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# -- end to end ------------------------------------------------------------------------------


@pytest.fixture
def upstream() -> Iterator[tuple[Any, str]]:
    app = make_app()
    with serve(app) as url:
        yield app, f"{url}/v1"


def test_litellm_sdk_runs_the_hooks_as_deployment_hooks(
    rig: Rig, upstream: tuple[Any, str]
) -> None:
    app, base = upstream
    g = rig.guardrail

    async def ask(account: str, **params: Any) -> Any:
        return await litellm.acompletion(
            model="openai/o-test-reasoner",
            api_base=base,
            api_key=SECRET_KEY,
            messages=[{"role": "user", "content": ASK}],
            guardrails=[g.guardrail_name],
            metadata={"user_api_key_user_id": account},
            max_retries=0,
            **params,
        )

    async def run() -> tuple[Any, Any]:
        saved = litellm.callbacks
        litellm.callbacks = [g]
        try:
            benign = await ask("acct-benign", reasoning_effort="high", logprobs=True, n=2)
            assert seen(app)[-1].body["n"] == 2
            attack = await ask(
                "acct-attack", reasoning_effort="high", logprobs=True, n=3, max_tokens=100_000
            )
            with pytest.raises(GuardRefusal) as caught:
                await ask("acct-blocked")
            assert caught.value.status_code == 403
            return benign, attack
        finally:
            litellm.callbacks = saved

    benign, attack = asyncio.run(run())
    assert len(benign.choices) == 2
    assert benign.choices[0].message.reasoning_content.startswith(REASONING_PREFIX)
    forwarded = seen(app)[-1]
    assert len(seen(app)) == 2  # the blocked request never reached the model
    body = forwarded.body
    assert body["n"] == 1 and body["max_tokens"] == 4096 and "logprobs" not in body
    assert body["reasoning_effort"] == "low"
    assert len(forwarded.headers[WATERMARK_HEADER]) == 16
    assert len(attack.choices) == 1 and attack.choices[0].message.content
    assert getattr(attack.choices[0].message, "reasoning_content", None) is None
    records = rig.records()
    assert [(r["account_id"], r["status"]) for r in records] == [
        ("acct-benign", 200),
        ("acct-attack", 200),
        ("acct-blocked", 403),
    ]
    assert records[1]["meta"]["guard"]["action"] == "degrade"


def test_the_proxy_sequence_around_a_real_litellm_stream(
    rig: Rig, upstream: tuple[Any, str]
) -> None:
    """Pre-call on the request, ``litellm.acompletion(**data)`` as the proxy does, then the
    streaming iterator hook over LiteLLM's own stream wrapper."""
    app, base = upstream
    g = rig.guardrail

    async def run(account: str) -> tuple[str, str]:
        data = chat(reasoning_effort="high", stream=True, logprobs=True, top_logprobs=2)
        data = await pre_call(g, user(account), data)
        params = {k: v for k, v in data.items() if k not in ("proxy_server_request", "model")}
        stream = await litellm.acompletion(
            model="openai/o-test-reasoner", api_base=base, api_key=SECRET_KEY, **params
        )
        text, reasoning = [], []
        async for chunk in g.async_post_call_streaming_iterator_hook(
            user_api_key_dict=user(account), response=stream, request_data=data
        ):
            assert isinstance(chunk, ModelResponseStream)
            for choice in chunk.choices:
                text.append(choice.delta.content or "")
                reasoning.append(getattr(choice.delta, "reasoning_content", None) or "")
        return "".join(text), "".join(reasoning)

    text, reasoning = asyncio.run(run("acct-benign"))
    assert text and reasoning.startswith(REASONING_PREFIX)
    assert seen(app)[-1].body["top_logprobs"] == 2
    text, reasoning = asyncio.run(run("acct-attack"))
    assert text and reasoning == ""
    assert "logprobs" not in seen(app)[-1].body
    records = rig.records()
    assert [r["account_id"] for r in records] == ["acct-benign", "acct-attack"]
    assert records[1]["response"]["choices"][0]["message"]["content"] == text
    assert "reasoning_content" not in records[1]["response"]["choices"][0]["message"]
