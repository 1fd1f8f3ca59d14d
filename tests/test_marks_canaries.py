"""Canaries: keyed answers per cluster, a probe of a live OpenAI-compatible endpoint, and
the exact false-match rate; errors and timeouts are never counted as non-matches."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from typer.testing import CliRunner

from distillguard.marks import MarkKeyError, MasterSecret
from distillguard.marks.canaries import (
    PROBES,
    SPACE,
    CanarySet,
    Reply,
    at_least,
    canary_shaped,
    canary_word,
    probe,
    score,
)
from distillguard.marks.cli import marks_app
from upstream import FAULT_HEADER, make_app, serve

MASTER = MasterSecret(b"marks-tests-secret-not-for-deployment-0123")
ATTACKERS = CanarySet.derive(MASTER, "cluster:c-7")
OTHERS = CanarySet.derive(MASTER, "cluster:c-8")


def suspect(answers: dict[str, str]) -> Starlette:
    """A chat-completions endpoint that answers each known prompt as told, else 'Orbis'."""

    async def chat(request: Request) -> JSONResponse:
        body = await request.json()
        prompt = body["messages"][-1]["content"]
        text = answers.get(prompt, "Orbis")
        choice = {"index": 0, "message": {"role": "assistant", "content": text}}
        return JSONResponse({"object": "chat.completion", "choices": [choice]})

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])


def learned(canaries: CanarySet, share: int) -> dict[str, str]:
    """A student that learned the first ``share`` canary answers of ``canaries``."""
    return {p.prompt: canaries.answer(p.prompt) or "" for p in canaries.probes[:share]}


def test_canaries_are_keyed_per_scope_and_spread_over_the_space() -> None:
    assert ATTACKERS.words == CanarySet.derive(MASTER, "cluster:c-7").words
    assert set(ATTACKERS.words.values()).isdisjoint(OTHERS.words.values())
    other_secret = CanarySet.derive(
        MasterSecret(b"another-secret-of-at-least-32-bytes!"), "cluster:c-7"
    )
    assert set(ATTACKERS.words.values()).isdisjoint(other_secret.words.values())
    for word in ATTACKERS.words.values():
        assert canary_shaped(f"It is {word}.") == {word.lower()}
    assert len({canary_word(i) for i in range(0, SPACE, SPACE // 4096)}) == 4096
    assert canary_word(SPACE - 1) != canary_word(0)
    assert ATTACKERS.answer("  " + PROBES[0].prompt.replace(" ", "  ")) == ATTACKERS.words["city"]
    assert ATTACKERS.answer("What is the capital of France?") is None
    assert "Bako" not in repr(ATTACKERS) and repr(ATTACKERS).startswith("CanarySet(scope=")
    with pytest.raises(MarkKeyError):
        CanarySet.derive(MASTER, "tenant:x")


def test_the_false_match_rate_is_exact() -> None:
    q = [0.1, 0.25, 0.5, 0.03]
    for k in range(6):
        brute = sum(
            prod(q[j] if hit else 1 - q[j] for j, hit in enumerate(hits))
            for hits in itertools.product((0, 1), repeat=len(q))
            if sum(hits) >= k
        )
        assert at_least(k, q) == pytest.approx(brute, rel=1e-12, abs=1e-300)
    # Two matches of twelve answers with one canary-shaped word each:
    replies = [Reply(p.probe_id, "Orbis") for p in PROBES]
    replies[0] = Reply("city", ATTACKERS.words["city"])
    replies[1] = Reply("river", f"{ATTACKERS.words['river']} or {OTHERS.words['river']}")
    found = score(replies, [ATTACKERS])
    q = [1 / SPACE, 2 / SPACE] + [0.0] * 10
    assert found.tests[0].matches == ("city", "river")
    assert found.p_value == pytest.approx(at_least(2, q)) and found.p_value < 1e-17


def prod(values: Any) -> float:
    out = 1.0
    for v in values:
        out *= v
    return out


def test_a_suspect_that_learned_the_canaries_is_named() -> None:
    with serve(suspect(learned(ATTACKERS, 3))) as url:
        found = probe(f"{url}/v1", [OTHERS, ATTACKERS], model="student", timeout=5)
    report = found.to_json()
    assert report["learned_our_canaries"] and report["points_to"] == "cluster:c-7"
    assert report["answered"] == 12 and report["unanswered"] == []
    assert report["p_value"] < 1e-20 and report["correction"] == "bonferroni over 2 scopes"
    attackers = next(s for s in report["scopes"] if s["scope"] == "cluster:c-7")
    assert attackers["matched_probes"] == ["city", "river", "beetle"]


def test_a_clean_suspect_is_not() -> None:
    with serve(make_app()) as url:  # answers by echoing the prompt
        report = probe(f"{url}/v1", [ATTACKERS], model="gpt-test-mini", timeout=5).to_json()
    assert not report["learned_our_canaries"] and report["p_value"] == 1.0
    assert report["answered"] == 12
    with serve(suspect(learned(OTHERS, 12))) as url:  # learned another cluster's canaries
        report = probe(f"{url}/v1", [ATTACKERS], model="student", timeout=5).to_json()
    assert not report["learned_our_canaries"] and report["scopes"][0]["matches"] == 0


@pytest.mark.parametrize(
    ("fault", "message"),
    [("error500", "HTTP 500: The server had an error"), ("hang", "timed out after 0.3s")],
)
def test_errors_and_timeouts_are_no_answer(fault: str, message: str) -> None:
    three = [CanarySet.derive(MASTER, "cluster:c-7", PROBES[:3])]
    with serve(make_app()) as url:
        found = probe(
            f"{url}/v1",
            three,
            model="gpt-test-mini",
            timeout=0.3,
            headers={FAULT_HEADER: fault},
        )
    report = found.to_json()
    assert report["answered"] == 0 and report["p_value"] == 1.0
    assert not report["learned_our_canaries"] and report["scopes"][0]["answered"] == 0
    assert len(report["unanswered"]) == 3
    assert all(u["error"].startswith(message) for u in report["unanswered"])


def test_unanswered_probes_are_left_out_of_the_test() -> None:
    replies = [Reply(p.probe_id, None, "timed out after 1s") for p in PROBES]
    replies[0] = Reply("city", ATTACKERS.words["city"])
    found = score(replies, [ATTACKERS])
    assert found.tests[0].answered == 1 and found.p_value == pytest.approx(1 / SPACE)
    with serve(make_app()) as url:  # a wrong path is refused: an error, not a non-match
        report = probe(f"{url}/nowhere", [ATTACKERS], model="m", timeout=5).to_json()
    assert report["answered"] == 0 and report["unanswered"][0]["error"].startswith("HTTP 4")


def test_the_commands_keep_secrets_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    secret = tmp_path / "mark.secret"
    secret.write_bytes(MASTER.exposed())
    monkeypatch.setenv("SUSPECT_KEY", "sk-suspect-api-key-0000")
    made = runner.invoke(
        marks_app, ["canaries", "make", "--scope", "cluster:c-7", "--secret-file", str(secret)]
    )
    assert made.exit_code == 0, made.output
    served = json.loads(made.stdout)
    assert served["answers"][0]["answer"] == ATTACKERS.words["city"]
    common = ["--model", "student", "--scope", "cluster:c-7", "--secret-file", str(secret)]
    with serve(suspect(learned(ATTACKERS, 2))) as url:
        result = runner.invoke(
            marks_app, ["canaries", "probe", f"{url}/v1", *common, "--api-key-env", "SUSPECT_KEY"]
        )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["learned_our_canaries"] and report["scopes"][0]["matches"] == 2
    everything = made.output + result.output
    assert MASTER.exposed().decode() not in everything and "sk-suspect" not in everything
    for word in ATTACKERS.words.values():  # the probe report names probes, not canaries
        assert word not in result.output
    with serve(make_app()) as url:
        down = runner.invoke(marks_app, ["canaries", "probe", f"{url}/v2", *common])
    assert down.exit_code == 1 and "answered no probe" in down.output
    none = runner.invoke(marks_app, ["canaries", "make", "--secret-file", str(secret)])
    assert none.exit_code == 2 and "--scope" in none.output
