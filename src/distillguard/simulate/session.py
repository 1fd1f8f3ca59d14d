"""What every session generator shares: its state, model choice, replies, one exchange.

A session is a generator: each ``next()`` yields one ``Exchange`` (the request and response
bodies of one API call) and the gap before the client's next call. The day engine owns time:
it sets ``Sess.t`` before each step, so sessions of many accounts interleave in time order.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

import orjson

from ..types import Surface
from .accounts import Account
from .corpus import Corpus, Prompt, tokens
from .harness import Harness, jittered
from .models import Lineup, Model, adoption
from .surfaces import make_wire, tool_fragment
from .texts import clip, reasoning
from .wire import JSON, Params, Reply, Wire


class Exchange(NamedTuple):
    surface: Surface
    request: JSON
    response: JSON | None
    latency_ms: float
    end_user: str | None
    gap: float  # seconds from the end of this response to the next request


@dataclass(slots=True)
class Sess:
    acct: Account
    t: float
    client: Any
    end_user: str | None = None
    key: str | None = None
    region: str = "us-east-1"


@dataclass(slots=True)
class Ctx:
    """Per-worker state shared by the sessions of one day."""

    corpus: Corpus
    lineup: Lineup
    rng: random.Random
    evasion: int
    seed: int
    tool_cache: dict[tuple[int, Surface], tuple[orjson.Fragment, int]] = field(default_factory=dict)
    image_pools: dict[str, list[str]] = field(default_factory=dict)


Gen = Callable[[Sess, Ctx], Iterator[Exchange]]
# Kinds whose replies are prose answers (not tool calls or replayed conversations).
ANSWERED: Final = frozenset({"chat", "coding", "math", "creative", "knowledge", "reasoning"})


def prompt_of(ctx: Ctx, kinds: tuple[str, ...], weights: tuple[float, ...]) -> Prompt:
    """A real prompt of one of ``kinds``; those with their own real answer are preferred,
    so most responses answer the question actually asked."""
    rng = ctx.rng
    pool = ctx.corpus.kind(rng.choices(kinds, weights)[0])
    prompt = pool[rng.randrange(len(pool))]
    for _ in range(2):
        if prompt.answer is not None or prompt.kind not in ANSWERED:
            break
        pool = ctx.corpus.kind(rng.choices(kinds, weights)[0])
        prompt = pool[rng.randrange(len(pool))]
    return prompt


def text_of(prompt: Prompt) -> str:
    return f"{prompt.text}\n\n{prompt.input}" if prompt.input else prompt.text


def pick_harness(s: Sess, ctx: Ctx, tools: bool = False) -> Harness:
    hs = s.acct.traffic.harnesses
    if tools:
        with_tools = [h for h in hs if h.toolset]
        if with_tools:
            return with_tools[ctx.rng.randrange(len(with_tools))]
    plain = [h for h in hs if not h.toolset] or list(hs)
    return plain[ctx.rng.randrange(len(plain))]


def new_wire(
    h: Harness,
    system: str | None = None,
    tools: tuple[JSON, ...] | None = None,
    ctx: Ctx | None = None,
    key: int = -1,
) -> Wire:
    fragment, n = h.fragment, h.tool_tokens
    if tools is not None and ctx is not None:
        cached = ctx.tool_cache.get((key, h.surface))
        if cached is None:
            cached = (tool_fragment(tools, h.surface), tokens(orjson.dumps(tools).decode()))
            if key >= 0:
                ctx.tool_cache[(key, h.surface)] = cached
        fragment, n = cached
    return make_wire(
        h.surface,
        h.system if system is None else system or None,
        fragment,
        n,
        cap=h.cap,
        flavour=h.flavour,
    )


def pick_model(s: Sess, ctx: Ctx, reasoning_model: bool = False) -> Model:
    traffic, rng, lineup = s.acct.traffic, ctx.rng, ctx.lineup
    names, weights = zip(*traffic.models, strict=True)
    name = rng.choices(names, weights)[0]
    if rng.random() < adoption(traffic.adoption, s.t - lineup.new.released_at):
        return lineup.new
    model = lineup.get(name)
    if reasoning_model and not model.reasoning:
        return lineup.get("vela-3-reasoner")
    return model


def fit(p: Params, model: Model, s: Sess, ctx: Ctx) -> Params:
    """The harness's parameters as sent to ``model``: no reasoning knobs on models without."""
    if s.acct.traffic.jitter:
        p = jittered(p, ctx.rng)
    if not model.reasoning and (p.effort or p.thinking):
        p = p._replace(effort=None, thinking=None, summary=None)
    return p


def reply_for(
    answer: str,
    question: str,
    model: Model,
    p: Params,
    ctx: Ctx,
    surface: Surface,
    lang: str = "en",
    trace: str | None = None,
) -> Reply:
    """The model's reply carrying ``answer``, with reasoning where the request gets it."""
    rng = ctx.rng
    text, out, cut = clip(answer, p.max_tokens)
    shown = None
    hidden = 0
    # A reasoning model given only a handful of tokens (a scored answer) has no room to think.
    roomy = p.max_tokens is None or p.max_tokens >= 64
    if roomy and model.reasoning and (p.effort or p.thinking or surface == "openai.chat"):
        if surface == "openai.chat" or p.thinking or p.summary:
            shown = trace or reasoning(question, answer, rng, lang)
            hidden = tokens(shown)
            if surface == "openai.responses":
                hidden = int(hidden * rng.uniform(2.0, 5.0))  # a summary of longer reasoning
        else:
            hidden = int(out * rng.uniform(0.5, 3.0)) + 32
    return Reply(text, shown, (), "length" if cut else "stop", out, hidden, p.n or 1)


def exchange(
    s: Sess, ctx: Ctx, wire: Wire, model: Model, p: Params, reply: Reply, gap: float
) -> Exchange:
    """Render one call: the request as sent now, the response, and the latency."""
    rng = ctx.rng
    request, n_in = wire.request(model.name, p, s.end_user)
    response = wire.response(reply, model, int(s.t), n_in, p, rng)
    wire.assistant(reply, model)
    generated = reply.out_tokens * reply.choices + reply.reasoning_tokens
    latency = 250 + n_in * 0.02 + rng.expovariate(1 / 400) + 1000 * generated / model.speed
    return Exchange(wire.surface, request, response, round(latency, 1), s.end_user, gap)


def human_gap(rng: random.Random, lo: float = 8.0, mean: float = 45.0) -> float:
    """Reading the answer and typing the next message."""
    return lo + rng.expovariate(1 / mean)


def tool_gap(rng: random.Random, s: Sess) -> float:
    """Running a tool: a harness is fast and even; a person's machine less so."""
    if s.acct.traffic.machine:
        return 0.15 + rng.random() * 0.5
    return 0.3 + rng.expovariate(1 / 2.5)


def next_gap(rng: random.Random, s: Sess, mean: float = 40.0) -> float:
    """Between independent calls in one sitting: machine-paced or human-paced."""
    if s.acct.traffic.machine:
        return 0.05 + rng.random() * 0.4
    return human_gap(rng, 3.0, mean)


def length(rng: random.Random, mean: float, lo: int = 1, hi: int = 200) -> int:
    """A geometric session length with the given mean."""
    if mean <= lo:
        return lo
    p = 1.0 / (mean - lo + 1)
    return min(hi, lo + int(math.log(1.0 - rng.random()) / math.log(1.0 - p)))


def image_hash(ctx: Ctx, pool: str, size: int) -> str:
    """An image's hash; a shared pool repeats images (a dataset), size 0 makes it unique."""
    rng = ctx.rng
    if size <= 0:
        return f"{rng.getrandbits(256):064x}"
    images = ctx.image_pools.setdefault(pool, [])
    if len(images) < size:
        images.append(f"{rng.getrandbits(256):064x}")
        return images[-1]
    return images[rng.randrange(size)]
