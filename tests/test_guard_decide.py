"""The policy file and ``decide``: a pure function, tested without HTTP."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from distillguard.errors import ConfigError
from distillguard.guard import Account, Context, Signals, decide, load, loads
from distillguard.guard.policy import default_path

POLICY = """\
version: 1
rules:
  - name: campaign
    when: verdict == "attack" and not trusted
    action: block
  - name: suspicious
    when: verdict == "suspicious"
    action: degrade
  - name: clustered
    when: in_cluster and cluster_risk >= 0.5
    action: watermark
  - name: harvest
    when: intent_cot_elicitation and param_logprobs
    action: verify
    shadow: true
limits:
  - name: per account
    scope: account
    requests_per_minute: 10
degrade: {max_tokens: 512, reasoning: summary}
"""


def context(**account: object) -> Context:
    signals = Signals("openai.chat", "m", False)
    return Context(Account("a1", **account), signals)  # type: ignore[arg-type]


def test_the_strictest_enforced_action_wins() -> None:
    policy = loads(POLICY)
    assert decide(policy, context()).action == "allow"
    assert decide(policy, context(verdict="attack")).action == "block"
    assert decide(policy, context(verdict="attack", trusted=True)).action == "allow"
    decision = decide(policy, context(verdict="suspicious", cluster_id="c", cluster_risk=0.9))
    assert decision.action == "degrade"
    assert decision.watermark  # degrade and watermark combine
    assert decision.degrade is not None and decision.degrade.max_tokens == 512
    assert decision.rules == ("suspicious", "clustered")


def test_shadow_rules_are_reported_and_change_nothing() -> None:
    policy = loads(POLICY)
    signals = Signals(
        "openai.chat",
        "m",
        False,
        intents=frozenset({"cot_elicitation"}),
        params=frozenset({"logprobs"}),
    )
    decision = decide(policy, Context(Account("a1"), signals))
    assert decision.action == "allow"
    assert decision.shadow_action == "verify"
    assert decision.shadow_rules == ("harvest",)


def test_an_empty_bucket_throttles_with_its_wait() -> None:
    policy = loads(POLICY)
    ctx = Context(Account("a1"), Signals("openai.chat", "m", False), waits={"per account": 4.2})
    decision = decide(policy, ctx)
    assert (decision.action, decision.retry_after, decision.limits) == (
        "throttle",
        4.2,
        ("per account",),
    )
    assert decision.code == "rate_limited"
    # A block outranks a throttle.
    blocked = Context(Account("a1", verdict="attack"), ctx.signals, waits=ctx.waits)
    assert decide(policy, blocked).action == "block"


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (
            "version: 1\nrules:\n  - name: x\n    when: verdict == \n    action: block\n",
            4,
            "not valid",
        ),
        (
            "version: 1\nrules:\n  - name: x\n    when: colour == 1\n    action: block\n",
            4,
            "colour",
        ),
        ("version: 1\nrules:\n  - name: x\n    when: always\n    action: nuke\n", 5, "nuke"),
        ("version: 1\nrules:\n  - name: x\n    action: block\n", 3, "when"),
        ("version: 1\nlimits:\n  - name: l\n    scope: planet\n", 4, "planet"),
        ("version: 1\nlimits:\n  - name: l\n    scope: account\n", 3, "requests_per_minute"),
        ("version: 1\nrules: [a: 1\n", 3, "YAML"),
        ("version: 2\n", 1, "version"),
        ("version: 1\ncolour: red\n", 2, "unknown key"),
        ("version: 1\ndegrade: {max_tokens: -5}\n", 2, "greater than 0"),
        ("version: 1\nmax_body_bytes: lots\n", 2, "number"),
    ],
)
def test_policy_errors_name_the_line(text: str, line: int, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        loads(text, source="p.yaml")
    assert caught.value.line == line
    assert words in str(caught.value)
    assert str(caught.value).startswith(f"p.yaml:{line}: ")


def test_two_rules_with_one_name_are_refused() -> None:
    text = "version: 1\nrules:\n" + "  - {name: x, when: always, action: block}\n" * 2
    with pytest.raises(ConfigError, match="two rules are named 'x'"):
        loads(text)


def test_the_shipped_policy_loads_and_acts_on_hunt_verdicts() -> None:
    policy = load(default_path())
    assert decide(policy, context(verdict="benign")).action == "allow"
    campaign = {"campaign_id": "p1", "campaign_exchanges": 500}
    assert decide(policy, context(verdict="attack", **campaign)).action == "degrade"
    # A verdict resting on a handful of exchanges only watermarks.
    young = decide(policy, context(verdict="attack", campaign_id="p1", campaign_exchanges=12))
    assert (young.action, young.watermark) == ("watermark", True)
    assert decide(policy, context(verdict="attack", trusted=True, **campaign)).action == "allow"
    assert decide(policy, context(verdict="attack", watch="allow")).action == "allow"
    assert decide(policy, context(watch="block")).action == "block"
    linked = decide(
        policy, context(cluster_id="c", cluster_risk=0.8, linked=True, campaign_exchanges=400)
    )
    assert linked.action == "degrade" and linked.watermark
    # Tied to a cluster whose campaign is only a handful of exchanges: watermarked only.
    young = decide(policy, context(cluster_id="c", cluster_risk=0.8, linked=True))
    assert (young.action, young.watermark) == ("watermark", True)


def test_the_shipped_policy_degrades_an_unverified_reasoning_harvest() -> None:
    # Maximal thinking and a saturated output in one request, from an account that nobody
    # verified, before any hunt has seen it: degraded. Either alone, or from a verified,
    # trusted or analyst-allowed account: served.
    policy = load(default_path())
    both = Signals(
        "anthropic.messages", "m", False, params=frozenset({"max_thinking", "max_output"})
    )
    thinking = Signals("anthropic.messages", "m", False, params=frozenset({"max_thinking"}))
    output = Signals("anthropic.messages", "m", False, params=frozenset({"max_output"}))

    def action(signals: Signals, **account: object) -> str:
        return decide(policy, Context(Account("a1", **account), signals)).action  # type: ignore[arg-type]

    assert action(both, verified=False) == "degrade"
    assert action(both, verified=None) == "degrade"  # not in the registry: not verified
    assert action(thinking, verified=False) == "allow"
    assert action(output, verified=False) == "allow"
    assert action(both, verified=True) == "allow"
    assert action(both, verified=False, trusted=True) == "allow"
    assert action(both, verified=False, watch="allow") == "allow"


def test_unreadable_and_oversized_policy_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path / "missing.yaml")
    big = tmp_path / "big.yaml"
    big.write_bytes(b"version: 1\n" + b"#" * (2 * 1024 * 1024))
    with pytest.raises(ConfigError, match="over"):
        load(big)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"version: 1\n\xff\xfe")
    with pytest.raises(ConfigError, match="UTF-8"):
        load(binary)


def test_decide_is_fast() -> None:
    """Not a benchmark (bench/guard.py measures it): a guard against a gross slowdown."""
    policy = load(default_path())
    ctx = context(verdict="suspicious", cluster_id="c", cluster_risk=0.7)
    started = time.perf_counter()
    for _ in range(2000):
        decide(policy, ctx)
    assert (time.perf_counter() - started) / 2000 < 0.002


def test_a_precomputed_row_gives_the_same_decision() -> None:
    policy = loads(POLICY)
    for ctx in (
        context(verdict="attack"),
        context(verdict="suspicious", cluster_id="c", cluster_risk=0.9),
        Context(Account("a1"), Signals("openai.chat", "m", False), waits={"per account": 3.0}),
    ):
        assert decide(policy, ctx, row=ctx.row()) == decide(policy, ctx)
