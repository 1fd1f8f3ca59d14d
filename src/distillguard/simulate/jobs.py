"""Machine jobs of benign customers: batch pipelines and benchmark runs.

Both are templated, regular and high-volume, and a benchmark run asks for step-by-step
reasoning, judges answers, samples several completions and reads log-probabilities: on
content and parameters alone it looks like a distiller. What differs is everything else
(one verified account, its own network and card, no lockstep with other accounts).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

import orjson

from .corpus import tokens
from .session import (
    Ctx,
    Exchange,
    Sess,
    exchange,
    fit,
    length,
    new_wire,
    pick_harness,
    pick_model,
    prompt_of,
    reply_for,
)
from .templates import BATCH_TASKS, EVAL_TEMPLATES, fill
from .texts import answer_for, grade, sentences
from .wire import Reply

_LABELS: Final = {
    0: ("positive", "negative", "neutral"),
    4: ("billing", "technical", "account", "shipping", "other"),
}
_CATEGORIES: Final = ("harassment", "self-harm", "violence", "illegal", "none")


def _batch_output(task: int, kind: str, source: str, ctx: Ctx) -> str:
    rng = ctx.rng
    if kind == "label":
        labels = _LABELS.get(task, _LABELS[0])
        return labels[rng.randrange(len(labels))]
    if kind == "json":
        if task == 3:
            flagged = rng.random() < 0.2
            return orjson.dumps(
                {"violation": flagged, "category": rng.choice(_CATEGORIES) if flagged else "none"}
            ).decode()
        words = source.split()
        return orjson.dumps(
            {
                "name": words[0] if words else None,
                "date": None,
                "amount": rng.choice((None, round(rng.uniform(5, 900), 2))),
                "category": rng.choice(("travel", "office", "software", None)),
            }
        ).decode()
    pool = sentences(answer_for(prompt_of(ctx, ("chat",), (1.0,)), ctx.corpus, rng))
    return pool[0] if pool else "Customer reports an issue with their order."


def batch(s: Sess, ctx: Ctx) -> Iterator[Exchange]:
    """One run of a pipeline: the same template over a stream of inputs, back to back."""
    rng = ctx.rng
    traffic = s.acct.traffic
    task = traffic.cell % len(BATCH_TASKS)  # each pipeline does one job
    template, kind = BATCH_TASKS[task]
    h = pick_harness(s, ctx)
    model = pick_model(s, ctx)
    n = length(rng, traffic.extra.get("steps", 30.0), 3, 400)
    sources = ctx.corpus.sensitive if task == 3 else ctx.corpus.kind("instruction")
    for i in range(n):
        item = sources[rng.randrange(len(sources))]
        source = item if isinstance(item, str) else (item.input or item.text)
        wire = new_wire(h)
        wire.user(fill(template, source[:1500]))
        text = _batch_output(task, kind, source, ctx)
        p = fit(h.params, model, s, ctx)
        reply = Reply(text, None, (), "stop", tokens(text))
        yield exchange(s, ctx, wire, model, p, reply, 0.0 if i == n - 1 else rng.uniform(0.05, 1.2))


def eval_run(s: Sess, ctx: Ctx) -> Iterator[Exchange]:
    """A benchmark suite: one template over many items, on the model being evaluated."""
    rng = ctx.rng
    template, style = EVAL_TEMPLATES[rng.randrange(len(EVAL_TEMPLATES))]
    h = pick_harness(s, ctx)
    model = pick_model(s, ctx)
    samples = rng.choice((1, 1, 1, 4))  # pass@k runs sample several completions
    n = length(rng, s.acct.traffic.extra.get("steps", 40.0), 5, 500)
    for i in range(n):
        p = fit(h.params, model, s, ctx)
        if style == "cot":
            prompt = prompt_of(ctx, ("math", "reasoning"), (3.0, 1.0))
            p = p._replace(n=samples if samples > 1 and h.surface == "openai.chat" else None)
            answer = answer_for(prompt, ctx.corpus, rng)
            text = fill(template, prompt.text)
            answer += "\n\nANSWER: " + str(rng.randint(1, 999)) if "ANSWER" in template else ""
        elif style == "judge":
            prompt = prompt_of(ctx, ("chat", "knowledge", "creative"), (1.0, 1.0, 1.0))
            text = fill(template, prompt.text, answer_for(prompt, ctx.corpus, rng)[:2500])
            answer = grade(rng, "pairwise").replace("[[A]]", "").replace("[[B]]", "")
            answer += f"Rating: [[{rng.randint(3, 10)}]]"
            p = p._replace(max_tokens=1024)
        elif style == "mc":
            prompt = prompt_of(ctx, ("knowledge", "reasoning"), (1.0, 1.0))
            text = fill(template, prompt.text[:600])
            answer = rng.choice("ABCD")
            if h.surface == "openai.chat":  # multiple choice scored from log-probabilities
                p = p._replace(max_tokens=1, top_logprobs=5, effort=None)
        else:
            prompt = prompt_of(ctx, ("coding",), (1.0,))
            text = fill(template, prompt.text)
            snippet = ctx.corpus.snippets[rng.randrange(len(ctx.corpus.snippets))]
            answer = f"```{snippet.lang}\n{snippet.code}```"
        wire = new_wire(h)
        wire.user(text)
        reply = reply_for(answer, prompt.text, model, p, ctx, h.surface)
        yield exchange(s, ctx, wire, model, p, reply, 0.0 if i == n - 1 else rng.uniform(0.02, 0.4))
