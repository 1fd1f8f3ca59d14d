"""Agentic sessions: function calling, multi-step tool tasks, coding loops, computer use.

Each model turn either calls tools (the harness runs them and sends the results back in the
next request) or ends the task with a message. Campaign accounts add an instruction to
explain every step, which is what makes their traces worth harvesting.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from .agents import TOOLSETS, call_args, call_result
from .corpus import tokens
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
    tool_gap,
)
from .templates import AGENT_STEP, CODE_TASK, fill, pick
from .texts import answer_for, fake_args, fake_result, sentences
from .wire import COMPUTER, Call, Reply, call_id

JSON = dict[str, Any]
NARRATION: Final = (
    "Let me look at the relevant files first.",
    "I'll run the tests to see the current state.",
    "Now I'll update the implementation.",
    "Let me check the failing test.",
    "The fix looks right; running the tests again.",
    "I need to see how this function is used elsewhere.",
    None,
    None,
)
CODE_FOLLOW_UPS: Final = (
    "Now add tests for this.",
    "Can you also update the README?",
    "That broke the build on CI, please take a look.",
    "Looks good. Please clean up the naming a bit.",
)
_PHASES: Final = (("read", "search", "list", "plan"), ("edit", "write", "read"), ("shell", "tests"))
_TARGET: Final = {
    "type": "object",
    "properties": {"target": {"type": "string"}},
    "required": ["target"],
}


_INTENT: Final = {
    "read": "Before changing anything I want to see how the existing code is organised.",
    "search": "I should find every place this is used so the change stays consistent.",
    "list": "First I need an overview of which files are involved.",
    "plan": "Let me lay out the plan before editing.",
    "edit": "Now I understand the cause, so I'll make a minimal, targeted edit.",
    "write": "The cleanest fix is a small new module with the logic isolated.",
    "shell": "I'll run the checks to confirm the current behaviour.",
    "tests": "Running the tests will tell me whether the fix holds.",
}


def _narrate(s: Sess, ctx: Ctx, role: str, answer: str) -> str | None:
    """What the model says before a tool call; a worked explanation when the harness asks."""
    rng = ctx.rng
    if not s.acct.traffic.extra.get("explain"):
        return NARRATION[rng.randrange(len(NARRATION))]
    pool = sentences(answer)
    k = min(len(pool), rng.randint(2, 5))
    start = rng.randrange(len(pool) - k + 1) if pool else 0
    return " ".join((_INTENT.get(role, _INTENT["read"]), *pool[start : start + k]))


def _step(s: Sess, ctx: Ctx, narration: str | None, calls: tuple[Call, ...], base: Reply) -> Reply:
    args = sum(tokens(str(c.args)) for c in calls)
    return base._replace(
        text=narration,
        calls=calls,
        finish="tool_calls",
        out_tokens=(tokens(narration) if narration else 0) + args + 8,
    )


def agent_loop(s: Sess, ctx: Ctx) -> Iterator[Exchange]:
    """A coding agent at work: read, search, edit, run tests, report; sometimes asked for
    more by its user."""
    rng = ctx.rng
    h = pick_harness(s, ctx, tools=True)
    prompt = prompt_of(ctx, ("coding",), (1.0,))
    task = text_of(prompt)[:3000]
    traffic = s.acct.traffic
    if traffic.extra.get("wrap"):  # the campaign harness wraps each task in its instructions
        task = fill(pick(CODE_TASK[1], rng) if traffic.jitter else CODE_TASK[0], task)
    wire = new_wire(h)
    wire.user(task)
    model = pick_model(s, ctx)
    answer = answer_for(prompt, ctx.corpus, rng)
    tools = TOOLSETS.get(h.toolset, ())
    rounds = 1 if traffic.machine else length(rng, 1.3, 1, 4)
    for r in range(rounds):
        steps = length(rng, traffic.extra.get("steps", 10.0), 2, 60)
        for i in range(steps):
            p = fit(h.params, model, s, ctx)
            base = reply_for(answer, task, model, p, ctx, h.surface)
            if i == steps - 1 or not tools:
                final = "\n\n".join(answer.split("\n\n")[:2])[:1200]
                reply = base._replace(text=final, out_tokens=tokens(final))
                gap = 0.0 if r == rounds - 1 else human_gap(rng, 20, 120)
                yield exchange(s, ctx, wire, model, p, reply, gap)
                break
            phase = _PHASES[min(2, 3 * i // steps)]
            choices = [(t, role) for t, role in tools if role in phase] or list(tools)
            tool, role = choices[rng.randrange(len(choices))]
            call = Call(
                call_id(h.surface, rng), tool["name"], call_args(tool, role, ctx.corpus, rng)
            )
            reply = _step(s, ctx, _narrate(s, ctx, role, answer), (call,), base)
            yield exchange(s, ctx, wire, model, p, reply, tool_gap(rng, s))
            wire.results([(call, call_result(role, ctx.corpus, rng, h.toolset == "cli"))])
        if r < rounds - 1:
            wire.user(CODE_FOLLOW_UPS[rng.randrange(len(CODE_FOLLOW_UPS))])


def tool_task(s: Sess, ctx: Ctx) -> Iterator[Exchange]:
    """A real function-calling request with its tool schemas: call, result, answer."""
    rng = ctx.rng
    prompt = prompt_of(ctx, ("function_calling",), (1.0,))
    tools = ctx.corpus.toolsets[prompt.tools or 0]
    h = pick_harness(s, ctx)
    system = h.system
    if s.acct.traffic.extra.get("explain"):
        system = (
            (system or "")
            + "\n"
            + (pick(AGENT_STEP[1], rng) if s.acct.traffic.jitter else AGENT_STEP[0])
        )
    wire = new_wire(
        h, system=prompt.system or system or "", tools=tools, ctx=ctx, key=prompt.tools or 0
    )
    wire.user(prompt.text)
    model = pick_model(s, ctx)
    p = fit(h.params, model, s, ctx)
    answer = answer_for(prompt, ctx.corpus, rng)
    base = reply_for(answer, prompt.text, model, p, ctx, h.surface)
    if prompt.calls_expected:
        k = 2 if len(tools) > 1 and rng.random() < 0.2 else 1
        calls = tuple(
            Call(call_id(h.surface, rng), t["name"], fake_args(t["parameters"], prompt.text, rng))
            for t in rng.sample(tools, k)
        )
        reply = _step(s, ctx, _narrate(s, ctx, "shell", answer), calls, base)
        yield exchange(s, ctx, wire, model, p, reply, tool_gap(rng, s))
        wire.results([(c, fake_result(c.name, c.args, rng)) for c in calls])
        done = f"Done. I used {', '.join(c.name for c in calls)} and the request went through."
        base = base._replace(text=done, out_tokens=tokens(done), reasoning=None, reasoning_tokens=0)
    yield exchange(s, ctx, wire, model, p, base, 0.0)


def agent_task(s: Sess, ctx: Ctx) -> Iterator[Exchange]:
    """A multi-turn agentic task: each user turn is carried out with a tool call."""
    rng = ctx.rng
    prompt = prompt_of(ctx, ("agent_task",), (1.0,))
    tools: tuple[JSON, ...] = tuple(
        {
            "name": fn,
            "description": fn.replace("_", " ").capitalize() + ".",
            "parameters": _TARGET,
        }
        for fn in prompt.functions
    )
    h = pick_harness(s, ctx)
    wire = new_wire(h, tools=tools, ctx=ctx)
    model = pick_model(s, ctx)
    for n, turn in enumerate(prompt.turns):
        wire.user(turn.text or "")
        p = fit(h.params, model, s, ctx)
        tool = tools[rng.randrange(len(tools))]
        call = Call(
            call_id(h.surface, rng),
            tool["name"],
            fake_args(tool["parameters"], turn.text or "", rng),
        )
        base = reply_for("", turn.text or "", model, p, ctx, h.surface)
        yield exchange(s, ctx, wire, model, p, _step(s, ctx, None, (call,), base), tool_gap(rng, s))
        wire.results([(call, fake_result(call.name, call.args, rng))])
        done = f"I've completed that step using {call.name}."
        last = n == len(prompt.turns) - 1
        gap = 0.0 if last else (tool_gap(rng, s) if s.acct.traffic.machine else human_gap(rng))
        yield exchange(s, ctx, wire, model, p, base._replace(text=done, out_tokens=12), gap)


def _action(surface: str, ctx: Ctx) -> JSON:
    rng = ctx.rng
    x, y = rng.randrange(1280), rng.randrange(800)
    kind = rng.randrange(4)
    if surface == "anthropic.messages":
        claude: tuple[JSON, ...] = (
            {"action": "left_click", "coordinate": [x, y]},
            {"action": "type", "text": "settings"},
            {
                "action": "scroll",
                "coordinate": [x, y],
                "scroll_direction": "down",
                "scroll_amount": 3,
            },
            {"action": "screenshot"},
        )
        return claude[kind]
    openai: tuple[JSON, ...] = (
        {"type": "click", "button": "left", "x": x, "y": y},
        {"type": "type", "text": "settings"},
        {"type": "scroll", "x": x, "y": y, "scroll_x": 0, "scroll_y": 400},
        {"type": "screenshot"},
    )
    return openai[kind]


def computer(s: Sess, ctx: Ctx) -> Iterator[Exchange]:
    """Computer use: the model acts on screenshots; each action returns a new one."""
    rng = ctx.rng
    h = pick_harness(s, ctx)
    if h.surface == "openai.chat":  # Chat Completions has no computer tool
        from .chats import vision

        yield from vision(s, ctx)
        return
    prompt = prompt_of(ctx, ("agent_task",), (1.0,))
    wire = new_wire(h, tools=({"computer": True},), ctx=ctx, key=-2)
    pool, size = s.acct.truth.campaign_id, int(s.acct.traffic.extra.get("images", 0))
    wire.user(prompt.text, (image_hash(ctx, pool, size),))
    model = pick_model(s, ctx)
    steps = length(rng, 7.0, 2, 30)
    for i in range(steps):
        p = fit(h.params, model, s, ctx)
        base = reply_for("The task is complete.", prompt.text, model, p, ctx, h.surface)
        if i == steps - 1:
            yield exchange(s, ctx, wire, model, p, base, 0.0)
            break
        call = Call(call_id(h.surface, rng), COMPUTER, _action(h.surface, ctx))
        yield exchange(s, ctx, wire, model, p, _step(s, ctx, None, (call,), base), tool_gap(rng, s))
        wire.results([(call, "sha256:" + image_hash(ctx, pool, size))])
