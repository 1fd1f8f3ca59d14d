"""Conversational sessions: one-off questions, multi-turn chats, images, homework."""

from __future__ import annotations

import random
from collections.abc import Iterator
from functools import cache
from typing import Final

from ..types import Surface
from .harness import Harness
from .session import (
    Ctx,
    Exchange,
    Sess,
    exchange,
    fit,
    human_gap,
    image_hash,
    length,
    new_wire,
    pick_harness,
    pick_model,
    prompt_of,
    reply_for,
    text_of,
)
from .templates import CLASSROOM_TEMPLATES, COURSES, VISION_ASK, fill
from .texts import answer_for
from .wire import Params

DEV_KINDS: Final = ("chat", "coding", "math", "creative", "knowledge", "reasoning", "instruction")
DEV_WEIGHTS: Final = (25.0, 30.0, 10.0, 10.0, 8.0, 4.0, 13.0)
FOLLOW_UPS: Final = (
    "Thanks! Can you make it shorter?",
    "Can you give a concrete example?",
    "Why?",
    "Can you explain the second part in more detail?",
    "That didn't work, I get an error. Any idea?",
    "Rewrite it in a more formal tone.",
    "ok and what about edge cases?",
    "Great, thanks. One more thing: how would I test this?",
)
VISION_BENIGN: Final = (
    "What does this screenshot show?",
    "Extract the text from this image.",
    "Explain this chart to me.",
    "Is there anything wrong in this diagram?",
    "Describe this photo for alt text.",
)


@cache
def plain_harness(surface: Surface) -> Harness:
    """An ordinary integration: no system prompt, default parameters."""
    return Harness(surface, None, Params(temperature=0.7))


def _short(ctx: Ctx, kind: str) -> str:
    pool = ctx.corpus.answers.get(kind) or ctx.corpus.answers["chat"]
    text = pool[ctx.rng.randrange(len(pool))]
    return "\n\n".join(text.split("\n\n")[: ctx.rng.randint(1, 3)])


def single(s: Sess, ctx: Ctx, harness: Harness | None = None) -> Iterator[Exchange]:
    """A question, sometimes followed by a few short follow-ups."""
    rng = ctx.rng
    prompt = prompt_of(ctx, DEV_KINDS, DEV_WEIGHTS)
    h = harness or pick_harness(s, ctx)
    wire = new_wire(h)
    wire.user(text_of(prompt))
    model = pick_model(s, ctx)
    turns = length(rng, 1.8, 2, 6) if rng.random() < 0.3 else 1
    answer = answer_for(prompt, ctx.corpus, rng)
    for i in range(turns):
        p = fit(h.params, model, s, ctx)
        reply = reply_for(answer, prompt.text, model, p, ctx, h.surface, prompt.lang)
        last = i == turns - 1
        yield exchange(s, ctx, wire, model, p, reply, 0.0 if last else human_gap(rng))
        if not last:
            wire.user(FOLLOW_UPS[rng.randrange(len(FOLLOW_UPS))])
            answer = _short(ctx, prompt.kind)


def chatter(s: Sess, ctx: Ctx) -> Iterator[Exchange]:
    """Ordinary traffic through an account that is not ordinary: resold customers' requests,
    or the benign cover an evasive operator mixes in."""
    surface = s.acct.traffic.harnesses[0].surface
    if ctx.rng.random() < 0.3:
        yield from dialogue(s, ctx, plain_harness(surface))
    else:
        yield from single(s, ctx, plain_harness(surface))


def dialogue(s: Sess, ctx: Ctx, harness: Harness | None = None) -> Iterator[Exchange]:
    """A real multi-turn conversation, replayed turn by turn."""
    rng = ctx.rng
    pool = ctx.corpus.kind("multi_turn")
    conv = pool[rng.randrange(len(pool))]
    h = harness or pick_harness(s, ctx)
    wire = new_wire(h)
    model = pick_model(s, ctx)
    turns = conv.turns
    users = [i for i, t in enumerate(turns) if t.role == "user"][:8]
    for n, i in enumerate(users):
        question = turns[i].text or ""
        wire.user(question)
        nxt = turns[i + 1].text if i + 1 < len(turns) else None
        answer = nxt or _short(ctx, "chat")
        p = fit(h.params, model, s, ctx)
        reply = reply_for(answer, question, model, p, ctx, h.surface)
        last = n == len(users) - 1
        yield exchange(s, ctx, wire, model, p, reply, 0.0 if last else human_gap(rng))


def vision(s: Sess, ctx: Ctx) -> Iterator[Exchange]:
    """A question about an image or two; campaigns reuse a dataset's images."""
    rng = ctx.rng
    traffic = s.acct.traffic
    h = pick_harness(s, ctx)
    prompt = prompt_of(ctx, ("chat", "knowledge", "math", "coding"), (3, 3, 2, 1))
    pool_size = int(traffic.extra.get("images", 0))
    if pool_size:  # campaign accounts draw from a dataset of images
        ask = VISION_ASK[1][rng.randrange(len(VISION_ASK[1]))] if traffic.jitter else VISION_ASK[0]
        text = fill(ask, prompt.text[:1500])
    else:
        text = VISION_BENIGN[rng.randrange(len(VISION_BENIGN))]
    images = tuple(
        image_hash(ctx, s.acct.truth.campaign_id, pool_size) for _ in range(rng.choice((1, 1, 2)))
    )
    wire = new_wire(h)
    wire.user(text, images)
    model = pick_model(s, ctx)
    p = fit(h.params, model, s, ctx)
    answer = answer_for(prompt, ctx.corpus, rng)
    yield exchange(s, ctx, wire, model, p, reply_for(answer, text, model, p, ctx, h.surface), 0.0)


def classroom(s: Sess, ctx: Ctx) -> Iterator[Exchange]:
    """A student working on this week's assignment: the whole cohort asks the same things."""
    rng = ctx.rng
    week = int(s.t // (7 * 86400))
    cohort = random.Random(ctx.seed * 1_000_003 + s.acct.traffic.cell * 101 + week)
    kinds = ("knowledge", "coding", "math", "reasoning")
    assignment = [cohort.choice(ctx.corpus.kind(cohort.choice(kinds))) for _ in range(3)]
    template = cohort.choice(CLASSROOM_TEMPLATES)
    course = cohort.choice(COURSES)
    prompt = rng.choice(assignment)
    text = template.replace("{course}", course).replace("{n}", str(week % 12 + 1))
    h = pick_harness(s, ctx)
    wire = new_wire(h)
    wire.user(fill(text, prompt.text))
    model = pick_model(s, ctx)
    answer = answer_for(prompt, ctx.corpus, rng)
    turns = length(rng, 1.6, 1, 5)
    for i in range(turns):
        p = fit(h.params, model, s, ctx)
        reply = reply_for(answer, prompt.text, model, p, ctx, h.surface)
        last = i == turns - 1
        yield exchange(s, ctx, wire, model, p, reply, 0.0 if last else human_gap(rng, 20, 90))
        if not last:
            wire.user(FOLLOW_UPS[rng.randrange(len(FOLLOW_UPS))])
            answer = _short(ctx, prompt.kind)
