"""What the model says: answers, reasoning traces, grades, rewrites, tool arguments.

Answers are the corpus's real answers (the one written for the prompt where the source has
it, otherwise one of the same kind). Reasoning traces are recombined from the answer's own
sentences with the connective tissue real traces have, so they are on topic and as long as
real ones, without a model.
"""

# Prompts in Chinese, Russian and other languages are the point here, full-width
# punctuation and Cyrillic letters included.
# ruff: noqa: RUF001

from __future__ import annotations

import random
import re
from functools import lru_cache
from typing import Any, Final

import orjson

from .corpus import Corpus, Prompt, tokens

_SENTENCE = re.compile(r"(?<=[.!?。！？])\s+")
_CODE_BLOCK = re.compile(r"```.*?```", re.DOTALL)
_MARKUP = re.compile(r"^[#>*\-\d. ]+|\*\*|`", re.MULTILINE)

_OPEN: Final = {
    "en": (
        "The user is asking: {q} Let me think about what is really being asked.",
        "Okay, so the question is about {q} I need to work through this carefully.",
        "Let me restate the problem. {q} What do I know that applies here?",
        "First I should understand the request: {q}",
    ),
    "zh": (
        "用户问的是：{q} 我先想一想这个问题的关键在哪里。",
        "好的，这个问题是关于{q} 我需要一步一步地分析。",
    ),
}
_LINK: Final = {
    "en": (
        "First, ",
        "Next, ",
        "Then ",
        "Also, ",
        "Wait, ",
        "Hmm, ",
        "So ",
        "Actually, ",
        "That means ",
        "On the other hand, ",
        "Let me check: ",
        "Right, ",
    ),
    "zh": ("首先，", "然后，", "另外，", "等一下，", "所以", "也就是说，", "再检查一下：", "嗯，"),
}
_VERIFY: Final = {
    "en": (
        "Let me double-check this against the original question before answering.",
        "Does this cover every case? I think one more check is worth it.",
        "Let me verify the result once more to be sure.",
        "I should make sure the final answer is consistent with the steps above.",
    ),
    "zh": ("我再核对一下，确保答案和前面的推理一致。", "最后再验证一次结果。"),
}
_CLOSE: Final = {
    "en": (
        "So the final answer follows from the steps above.",
        "Putting it together, I can now write the answer.",
        "That settles it; now I will present this clearly.",
    ),
    "zh": ("综上，可以给出最终答案。", "这样就可以整理出完整的回答了。"),
}


@lru_cache(maxsize=8192)
def sentences(text: str) -> tuple[str, ...]:
    """The prose sentences of an answer (code blocks and markup stripped)."""
    prose = _MARKUP.sub("", _CODE_BLOCK.sub(" ", text))
    return tuple(s.strip() for s in _SENTENCE.split(prose) if 20 <= len(s.strip()) <= 400)


def _clause(question: str) -> str:
    first = question.strip().split("\n", 1)[0]
    return first[:160] + ("…" if len(first) > 160 else "")


def reasoning(question: str, answer: str, rng: random.Random, lang: str = "en") -> str:
    """A chain of thought that works its way to ``answer``: on topic, hedged, checked."""
    lang = "zh" if lang == "zh" else "en"
    parts = [rng.choice(_OPEN[lang]).format(q=_clause(question))]
    pool = sentences(answer)
    if pool:
        k = min(len(pool), rng.randint(4, 14))
        start = rng.randrange(0, len(pool) - k + 1)
        links = _LINK[lang]
        for i, sentence in enumerate(pool[start : start + k]):
            lead = links[i % len(links)] if rng.random() < 0.55 else ""
            parts.append(lead + sentence[0].lower() + sentence[1:] if lead else sentence)
            if rng.random() < 0.12:
                parts.append(rng.choice(_VERIFY[lang]))
    parts.append(rng.choice(_CLOSE[lang]))
    return "\n\n".join(parts)


def answer_for(prompt: Prompt, corpus: Corpus, rng: random.Random) -> str:
    if prompt.answer is not None:
        return prompt.answer
    pool = corpus.answers.get(prompt.kind) or corpus.answers["chat"]
    return rng.choice(pool)


def clip(text: str, max_tokens: int | None) -> tuple[str, int, bool]:
    """``text`` as the model would end it under a ``max_tokens`` cap: (text, tokens, cut)."""
    n = tokens(text)
    if max_tokens is None or n <= max_tokens:
        return text, n, False
    keep = max(1, int(len(text) * max_tokens / n))
    return text[:keep], max_tokens, True


_CRITERIA: Final = (
    "correctness",
    "completeness",
    "clarity",
    "helpfulness",
    "reasoning quality",
    "faithfulness to the question",
    "conciseness",
    "safety",
)


def grade(rng: random.Random, style: str) -> str:
    """A judge's output: a bare score, a pairwise verdict or a JSON rubric grade."""
    score = rng.choices(range(1, 11), weights=(1, 1, 2, 3, 5, 8, 10, 9, 6, 3))[0]
    if style == "score":
        return str(score)
    if style == "pairwise":
        better = rng.choice("AB")
        return (
            f"Assistant {better} addresses the question more directly and its "
            f"{rng.choice(_CRITERIA)} is stronger, while the other response "
            f"{rng.choice(('misses a key step', 'contains an error', 'is vaguer'))}.\n\n"
            f"[[{better}]]"
        )
    crits = rng.sample(_CRITERIA, 3)
    detail = {c: max(1, min(10, score + rng.randint(-2, 2))) for c in crits}
    return orjson.dumps(
        {
            "score": score,
            "criteria": detail,
            "rationale": f"The answer is mostly sound; {crits[0]} could be improved.",
        }
    ).decode()


_SOFTEN: Final = (
    ("kill", "stop"),
    ("steal", "take"),
    ("drugs", "substances"),
    ("bomb", "device"),
    ("hack", "access"),
    ("weapon", "tool"),
    ("illegal", "restricted"),
)


def rewrite(prompt: str, rng: random.Random, lang: str) -> str:
    """A 'safe' rewrite of a sensitive request: same ask, neutral words."""
    text = prompt
    for a, b in _SOFTEN:
        text = text.replace(a, b)
    if lang == "zh":
        return f"改写后的版本：\n\n{text}\n\n说明：已去除敏感表述，保留了原问题的核心意图。"
    lead = rng.choice(("Rewritten version:", "Here is a neutral phrasing:", "Safe rewrite:"))
    return f"{lead}\n\n{text}\n\nThe core intent is preserved while sensitive wording is removed."


_WORD = re.compile(r"[A-Z][\w-]+(?: [A-Z][\w-]+)*|'[^']{2,40}'|\"[^\"]{2,40}\"")
_NUMBER = re.compile(r"\b\d+(?:\.\d+)?\b")


def fake_args(schema: Any, prompt: str, rng: random.Random, depth: int = 0) -> Any:
    """Arguments that satisfy ``schema``, filled where possible from the user's words."""
    if not isinstance(schema, dict):
        return None
    kind = schema.get("type")
    if schema.get("enum"):
        return rng.choice(schema["enum"])
    if "default" in schema and rng.random() < 0.5:
        return schema["default"]
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        required = set(schema.get("required") or ())
        return {
            name: fake_args(sub, prompt, rng, depth + 1)
            for name, sub in props.items()
            if depth < 3 and (name in required or rng.random() < 0.3)
        }
    if kind == "array":
        return [
            fake_args(schema.get("items") or {"type": "string"}, prompt, rng, depth + 1)
            for _ in range(rng.randint(1, 2))
        ]
    if kind in ("integer", "number"):
        nums = _NUMBER.findall(prompt)
        value = float(rng.choice(nums)) if nums else float(rng.randint(1, 100))
        return int(value) if kind == "integer" else value
    if kind == "boolean":
        return rng.random() < 0.6
    words = _WORD.findall(prompt)
    return rng.choice(words).strip("'\"") if words else prompt.split(" ", 3)[-1][:40]


def fake_result(name: str, args: Any, rng: random.Random) -> str:
    """A plausible JSON result of a function call."""
    status = rng.choices(("success", "ok", "error"), weights=(6, 3, 1))[0]
    body: dict[str, Any] = {"status": status, "function": name}
    if status == "error":
        body["message"] = rng.choice(
            ("timeout while contacting upstream", "not found", "invalid parameter")
        )
    else:
        body["result"] = {
            "id": rng.randint(1000, 99999),
            "echo": args,
            "updated": rng.random() < 0.5,
        }
    return orjson.dumps(body).decode()
