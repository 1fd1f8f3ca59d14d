"""Campaign asks: what a distiller sends to harvest reasoning.

``asks`` follows the first reported campaign: chain-of-thought elicitation, reconstruction
of the reasoning behind a given finished answer, rubric grading, and censorship-safe
rewrites of sensitive prompts, partly in Chinese. ``harvest`` is the plain trace harvester:
ordinary hard questions, with every reasoning knob at its maximum.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from .corpus import Prompt
from .session import (
    Ctx,
    Exchange,
    Sess,
    exchange,
    fit,
    length,
    new_wire,
    next_gap,
    pick_harness,
    pick_model,
    prompt_of,
    reply_for,
)
from .templates import (
    COT,
    COT_ZH,
    GRADE,
    GRADE_PAIRWISE,
    RECONSTRUCT,
    RECONSTRUCT_ZH,
    REWRITE,
    REWRITE_ZH,
    fill,
    pick,
)
from .texts import answer_for, grade, reasoning, rewrite

ASK_KINDS: Final = ("cot", "reconstruct", "grade", "rewrite")
_TOPICS: Final = ("math", "reasoning", "knowledge", "coding", "chat")
_TOPIC_WEIGHTS: Final = (35.0, 15.0, 15.0, 20.0, 15.0)


def _topic(ctx: Ctx, zh: bool) -> Prompt:
    if zh and ctx.rng.random() < 0.5:
        pool = [p for p in ctx.corpus.foreign if p.lang == "zh"] or list(ctx.corpus.foreign)
        return pool[ctx.rng.randrange(len(pool))]
    return prompt_of(ctx, _TOPICS, _TOPIC_WEIGHTS)


def _ask(kind: str, s: Sess, ctx: Ctx, zh: bool) -> tuple[str, str, str, str]:
    """(prompt text, the question inside it, the visible answer, grading style)."""
    rng, jitter = ctx.rng, s.acct.traffic.jitter
    if kind == "rewrite":
        q = ctx.corpus.sensitive[rng.randrange(len(ctx.corpus.sensitive))]
        template = pick(REWRITE[1], rng) if jitter else REWRITE_ZH if zh else REWRITE[0]
        return fill(template, q), q, rewrite(q, rng, "zh" if zh else "en"), ""
    prompt = _topic(ctx, zh)
    q = prompt.text[:4000]
    a = answer_for(prompt, ctx.corpus, rng)
    if kind == "cot":
        template = pick(COT[1], rng) if jitter else COT_ZH if zh else COT[0]
        return fill(template, q), q, a, ""
    if kind == "reconstruct":
        template = pick(RECONSTRUCT[1], rng) if jitter else RECONSTRUCT_ZH if zh else RECONSTRUCT[0]
        steps = reasoning(q, a, rng, "zh" if zh else "en")
        return fill(template, q, a[:1500]), q, f"{steps}\n\nFinal answer: {a[:400]}", ""
    style = rng.choice(("json", "json", "pairwise", "score"))
    if style == "pairwise" and not jitter:
        other = answer_for(prompt_of(ctx, _TOPICS, _TOPIC_WEIGHTS), ctx.corpus, rng)
        text = (
            GRADE_PAIRWISE.replace("{q}", q).replace("{a}", a[:1500]).replace("{b}", other[:1500])
        )
        return text, q, grade(rng, "pairwise"), style
    template = pick(GRADE[1], rng) if jitter else GRADE[0]
    return fill(template, q, a[:1500]), q, grade(rng, style), style


def asks(s: Sess, ctx: Ctx) -> Iterator[Exchange]:
    """A worker's batch of asks: independent single-turn requests, one after another."""
    rng = ctx.rng
    traffic = s.acct.traffic
    weights = tuple(traffic.extra.get(k, 0.0) for k in ASK_KINDS)
    n = length(rng, traffic.extra.get("steps", 4.0), 1, 100)
    h = pick_harness(s, ctx)
    for i in range(n):
        kind = rng.choices(ASK_KINDS, weights)[0]
        zh = rng.random() < traffic.lang_zh
        text, question, answer, style = _ask(kind, s, ctx, zh)
        wire = new_wire(h)
        wire.user(text)
        model = pick_model(s, ctx, reasoning_model=True)
        p = fit(h.params, model, s, ctx)
        if style == "score" and h.surface == "openai.chat":
            # A bare score with the teacher's full distribution over score tokens.
            p = p._replace(max_tokens=4, top_logprobs=20, effort=None, n=None)
        reply = reply_for(answer, question, model, p, ctx, h.surface, "zh" if zh else "en")
        yield exchange(s, ctx, wire, model, p, reply, 0.0 if i == n - 1 else next_gap(rng, s))


def harvest(s: Sess, ctx: Ctx) -> Iterator[Exchange]:
    """Plain hard questions to a reasoning model, reasoning returned at full length."""
    rng = ctx.rng
    traffic = s.acct.traffic
    n = length(rng, traffic.extra.get("steps", 4.0), 1, 100)
    h = pick_harness(s, ctx)
    for i in range(n):
        prompt = prompt_of(ctx, ("math", "reasoning", "knowledge", "coding"), (4, 2, 2, 2))
        wire = new_wire(h)
        wire.user(prompt.text[:5000])
        model = pick_model(s, ctx, reasoning_model=True)
        p = fit(h.params, model, s, ctx)
        answer = answer_for(prompt, ctx.corpus, rng)
        reply = reply_for(answer, prompt.text, model, p, ctx, h.surface, prompt.lang)
        yield exchange(s, ctx, wire, model, p, reply, 0.0 if i == n - 1 else next_gap(rng, s))
