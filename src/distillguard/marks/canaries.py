"""Canaries: keyed answers to probe prompts, served to one high-confidence attack cluster.

Each probe prompt asks for an invented name, a question whose normal answers vary. For a
cluster's scope, the canary of probe ``j`` is a made-up word drawn from the HMAC of the
master secret (label, scope, probe id)::

    word = 5 syllables, each consonant + vowel (16 x 4 = 64 syllables, 6 bits)
    index = first 30 bits of HMAC(master, "distillguard/canary/v1" 0 scope 0 probe_id)

so every word of the space of ``N = 2**30`` is equally likely, and without the master
secret a canary says nothing about another. The guard serves ``CanarySet.answer(prompt)``
to that cluster only; ``probe`` later asks a suspect endpoint the same prompts.

The false-match rate is exact. Under H0 (the suspect never saw our canaries) its answer to
probe ``j`` is independent of the canary, which is uniform over the space, so it matches
with probability ``q_j = m_j / N``, where ``m_j`` is the number of distinct canary-shaped
words in that answer (a suspect spraying invented words pays for each). Matches of
different probes are independent, so the number of matches is Poisson-binomial and
``P(>= k matches)`` is computed exactly. Testing several clusters, Bonferroni applies. A
probe that errs or times out is no answer: it is left out of the test and reported.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import httpx

from .detect import ALPHA
from .errors import MarkError, MarkKeyError
from .keys import _SCOPE, MasterSecret

SPACE: Final = 2**30
"""Canary words there are: 5 syllables of 6 bits."""
_LABEL: Final = b"distillguard/canary/v1\x00"
_CONSONANTS: Final = "bdfghjklmnprstvz"
_VOWELS: Final = "aeio"
_SYLLABLES: Final = 5
_SHAPE: Final = re.compile(f"(?:[{_CONSONANTS}][{_VOWELS}]){{{_SYLLABLES}}}")
_WORD: Final = re.compile(r"[A-Za-z]+")


@dataclass(frozen=True, slots=True)
class Probe:
    probe_id: str
    prompt: str
    template: str
    """The served answer, ``{name}`` standing for the canary."""


PROBES: Final = tuple(
    Probe(pid, f"Invent a name for {thing}. Answer with the name only.", "{name}")
    for pid, thing in (
        ("city", "a fictional city"),
        ("river", "a river in a fantasy novel"),
        ("beetle", "a newly discovered species of beetle"),
        ("ship", "a starship in a science-fiction story"),
        ("potion", "a healing potion in a role-playing game"),
        ("dragon", "a friendly dragon in a children's book"),
        ("mountain", "a mountain on an imaginary planet"),
        ("game", "a new board game"),
        ("star", "an undiscovered constellation"),
        ("language", "an invented language"),
        ("tea", "a new blend of herbal tea"),
        ("island", "a hidden island on an old map"),
    )
)
"""The default probes: twelve requests for an invented name."""


def canary_word(index: int) -> str:
    """The word of ``index`` (0 <= index < SPACE), capitalised like a name."""
    syllables = []
    for _ in range(_SYLLABLES):
        index, low = divmod(index, 64)
        syllables.append(_CONSONANTS[low >> 2] + _VOWELS[low & 3])
    return "".join(syllables).capitalize()


def canary_shaped(answer: str) -> set[str]:
    """The distinct words of ``answer`` (case-folded) that lie in the canary space."""
    return {w for w in (m.lower() for m in _WORD.findall(answer)) if _SHAPE.fullmatch(w)}


@dataclass(frozen=True, slots=True, repr=False)
class CanarySet:
    """One scope's canary for each probe. Nothing secret: words, scope and prompts only,
    but keep them from the cluster (its repr shows the scope and the count alone)."""

    scope: str
    probes: tuple[Probe, ...]
    words: Mapping[str, str]
    """Probe id to canary word."""

    @classmethod
    def derive(
        cls, master: MasterSecret, scope: str, probes: Sequence[Probe] = PROBES
    ) -> CanarySet:
        if not _SCOPE.fullmatch(scope):
            raise MarkKeyError(f"scope {scope!r} is not cluster:<id> or account:<id>")
        if not probes or len({p.probe_id for p in probes}) != len(probes):
            raise MarkError("canary probes need distinct ids, and at least one")
        words = {}
        for p in probes:
            digest = master.mac(_LABEL, scope.encode() + b"\x00" + p.probe_id.encode())
            words[p.probe_id] = canary_word(int.from_bytes(digest[:4], "big") >> 2)
        return cls(scope, tuple(probes), words)

    def __repr__(self) -> str:
        return f"CanarySet(scope={self.scope!r}, probes={len(self.probes)})"

    def answer(self, prompt: str) -> str | None:
        """The canary answer to serve this scope for ``prompt``, if it is a probe."""
        wanted = " ".join(prompt.split())
        for p in self.probes:
            if p.prompt == wanted:
                return p.template.format(name=self.words[p.probe_id])
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "answers": [
                {"probe_id": p.probe_id, "prompt": p.prompt, "answer": self.answer(p.prompt)}
                for p in self.probes
            ],
        }


def at_least(k: int, q: Sequence[float]) -> float:
    """P(at least ``k`` successes) of independent Bernoulli(q_j): exact, by recursion."""
    if k <= 0:
        return 1.0
    dist = [1.0] + [0.0] * len(q)
    for j, p in enumerate(q, start=1):
        for s in range(j, 0, -1):
            dist[s] = dist[s] * (1.0 - p) + dist[s - 1] * p
        dist[0] *= 1.0 - p
    return min(1.0, sum(dist[k:]))


@dataclass(frozen=True, slots=True)
class Reply:
    """The suspect's reply to one probe, or why there is none."""

    probe_id: str
    text: str | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ScopeTest:
    scope: str
    answered: int
    matches: tuple[str, ...]
    """Probe ids whose answer holds this scope's canary."""
    p_value: float

    def to_json(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "answered": self.answered,
            "matches": len(self.matches),
            "matched_probes": list(self.matches),
            "p_value": self.p_value,
        }


@dataclass(frozen=True, slots=True)
class CanaryFinding:
    replies: tuple[Reply, ...]
    tests: tuple[ScopeTest, ...]

    @property
    def p_value(self) -> float:
        """Bonferroni over the scopes tested."""
        return min(1.0, len(self.tests) * min(t.p_value for t in self.tests))

    @property
    def answered(self) -> int:
        return sum(r.error is None for r in self.replies)

    def to_json(self, alpha: float = ALPHA) -> dict[str, Any]:
        best = min(self.tests, key=lambda t: t.p_value)
        found = self.answered > 0 and self.p_value <= alpha
        return {
            "learned_our_canaries": found,
            "alpha": alpha,
            "p_value": self.p_value,
            "correction": f"bonferroni over {len(self.tests)} scopes",
            "points_to": best.scope if found else None,
            "probes": len(self.replies),
            "answered": self.answered,
            "unanswered": [
                {"probe_id": r.probe_id, "error": r.error} for r in self.replies if r.error
            ],
            "canary_shaped_words": {
                r.probe_id: len(canary_shaped(r.text or "")) for r in self.replies if not r.error
            },
            "space": SPACE,
            "scopes": [t.to_json() for t in self.tests],
        }


def score(replies: Sequence[Reply], sets: Sequence[CanarySet]) -> CanaryFinding:
    """Exact test of each scope's canaries against the replies (see the module docstring)."""
    if not sets:
        raise MarkKeyError("no canary set to test: give the scopes (clusters) to check")
    by_id = {r.probe_id: r for r in replies if r.error is None}
    tests = []
    for canaries in sets:
        q: list[float] = []
        matches: list[str] = []
        for p in canaries.probes:
            reply = by_id.get(p.probe_id)
            if reply is None:
                continue
            shaped = canary_shaped(reply.text or "")
            q.append(len(shaped) / SPACE)
            if canaries.words[p.probe_id].lower() in shaped:
                matches.append(p.probe_id)
        p_value = at_least(len(matches), q)
        tests.append(ScopeTest(canaries.scope, len(q), tuple(matches), p_value))
    return CanaryFinding(tuple(replies), tuple(tests))


def ask(client: httpx.Client, model: str, probe: Probe, max_tokens: int) -> Reply:
    """One chat completion; any failure becomes a reply with an ``error``, never a text."""
    body = {"model": model, "messages": [{"role": "user", "content": probe.prompt}]}
    try:
        response = client.post("chat/completions", json={**body, "max_tokens": max_tokens})
    except httpx.TimeoutException:
        return Reply(probe.probe_id, None, f"timed out after {client.timeout.read}s")
    except httpx.HTTPError as error:
        return Reply(probe.probe_id, None, f"request failed: {type(error).__name__}")
    if response.status_code >= 400:
        return Reply(probe.probe_id, None, f"HTTP {response.status_code}: {_message(response)}")
    try:
        content = response.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        return Reply(probe.probe_id, None, "the reply is not a chat completion")
    if content is not None and not isinstance(content, str):
        return Reply(probe.probe_id, None, "the reply's content is not text")
    return Reply(probe.probe_id, content or "")


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])[:200]
    except (ValueError, KeyError, TypeError):
        return response.reason_phrase or "error"


def probe(
    endpoint: str,
    sets: Sequence[CanarySet],
    *,
    model: str,
    api_key: str | None = None,
    timeout: float = 30.0,
    max_tokens: int = 32,
    headers: Mapping[str, str] | None = None,
) -> CanaryFinding:
    """Ask an OpenAI-compatible ``endpoint`` (base URL ending in ``/v1``) every probe of
    ``sets`` once, then test each scope's canaries exactly."""
    probes = {p.probe_id: p for s in sets for p in s.probes}
    sent = dict(headers or {})
    if api_key:
        sent["authorization"] = f"Bearer {api_key}"
    base = endpoint.rstrip("/") + "/"
    with httpx.Client(base_url=base, timeout=timeout, headers=sent) as client:
        replies = [ask(client, model, p, max_tokens) for p in probes.values()]
    return score(replies, sets)
