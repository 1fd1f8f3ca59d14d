"""Build the simulator's derived corpus from the shared prompt corpora.

    python scripts/build_corpus.py --data DIR --out src/distillguard/data/corpus/

``DIR`` is the shared data folder (arena_hard/, bfcl/, hh_rlhf/, mt_bench/, self_instruct/,
each with its licence). The output is small enough to ship inside the package, so an
installed distillguard never needs the shared folder:

- ``prompts.jsonl.gz``: one prompt per line: ``kind``, ``text``, ``source``, ``lang`` and,
  where the kind needs them, ``answer`` (line number in answers), ``input``, ``tools`` (line
  number in toolsets), ``calls_expected``, ``turns`` or ``functions``;
- ``answers.jsonl.gz``: real answers, cut at a paragraph boundary when very long;
- ``toolsets.jsonl.gz``: the function-calling tool schemas, de-duplicated and converted to
  JSON Schema (the benchmark's ``dict`` / ``float`` / ``tuple`` types become ``object`` /
  ``number`` / ``array``; dots in names become underscores, as function names require);
- ``LICENSES.md`` with the attribution of every set, and the licence texts.

The output is byte-for-byte reproducible (gzip headers carry no time or name).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

MAX_PROMPT = 6000
MAX_ANSWER = 3000
MAX_TURN = 2000


@dataclass(frozen=True)
class Source:
    """One input file and where it came from."""

    name: str
    file: str
    repo: str
    commit: str
    path: str
    licence: str


SOURCES = (
    Source(
        "arena_hard_v0.1",
        "arena_hard/arena-hard-v0.1_question.jsonl",
        "lmarena/arena-hard-auto",
        "196f6b8",
        "data/arena-hard-v0.1/question.jsonl",
        "Apache-2.0",
    ),
    Source(
        "arena_hard_v0.1_answers",
        "arena_hard/arena-hard-v0.1_answer_gpt-4-0314.jsonl",
        "lmarena/arena-hard-auto",
        "196f6b8",
        "data/arena-hard-v0.1/model_answer/gpt-4-0314.jsonl",
        "Apache-2.0",
    ),
    Source(
        "arena_hard_v2.0",
        "arena_hard/arena-hard-v2.0_question.jsonl",
        "lmarena/arena-hard-auto",
        "196f6b8",
        "data/arena-hard-v2.0/question.jsonl",
        "Apache-2.0",
    ),
    Source(
        "arena_hard_v2.0_answers",
        "arena_hard/arena-hard-v2.0_answer_o3-mini-2025-01-31.jsonl",
        "lmarena/arena-hard-auto",
        "196f6b8",
        "data/arena-hard-v2.0/model_answer/o3-mini-2025-01-31.jsonl",
        "Apache-2.0",
    ),
    *(
        Source(
            f"bfcl_{part}",
            f"bfcl/BFCL_v4_{part}.json",
            "ShishirPatil/gorilla",
            "6ea5797",
            f"berkeley-function-call-leaderboard/bfcl_eval/data/BFCL_v4_{part}.json",
            "Apache-2.0",
        )
        for part in (
            "live_simple",
            "live_multiple",
            "live_parallel",
            "live_parallel_multiple",
            "live_relevance",
            "live_irrelevance",
            "multi_turn_base",
        )
    ),
    Source(
        "hh_rlhf_harmless",
        "hh_rlhf/harmless-base_test.jsonl.gz",
        "anthropics/hh-rlhf",
        "354e5c3",
        "harmless-base/test.jsonl.gz",
        "MIT",
    ),
    Source(
        "mt_bench",
        "mt_bench/mt_bench_question.jsonl",
        "lm-sys/FastChat",
        "0e6d3e4",
        "fastchat/llm_judge/data/mt_bench/question.jsonl",
        "Apache-2.0",
    ),
    Source(
        "mt_bench_reference",
        "mt_bench/mt_bench_reference_answer_gpt-4.jsonl",
        "lm-sys/FastChat",
        "0e6d3e4",
        "fastchat/llm_judge/data/mt_bench/reference_answer/gpt-4.jsonl",
        "Apache-2.0",
    ),
    Source(
        "vicuna_bench",
        "mt_bench/vicuna_bench_question.jsonl",
        "lm-sys/FastChat",
        "0e6d3e4",
        "fastchat/llm_judge/data/vicuna_bench/question.jsonl",
        "Apache-2.0",
    ),
    Source(
        "self_instruct_seed",
        "self_instruct/seed_tasks.jsonl",
        "yizhongw/self-instruct",
        "0b26cca",
        "data/seed_tasks.jsonl",
        "Apache-2.0",
    ),
    Source(
        "self_instruct_user",
        "self_instruct/user_oriented_instructions.jsonl",
        "yizhongw/self-instruct",
        "0b26cca",
        "human_eval/user_oriented_instructions.jsonl",
        "Apache-2.0",
    ),
)
LICENCE_FILES = {
    "Apache-2.0": ("arena_hard/LICENSE", "LICENSE-Apache-2.0.txt"),
    "MIT": ("hh_rlhf/LICENSE", "LICENSE-MIT-hh-rlhf.txt"),
}

_MT_KIND = {
    "writing": "creative",
    "roleplay": "creative",
    "reasoning": "reasoning",
    "math": "math",
    "coding": "coding",
    "extraction": "instruction",
    "stem": "knowledge",
    "humanities": "knowledge",
    "generic": "chat",
    "knowledge": "knowledge",
    "common-sense": "reasoning",
    "fermi": "reasoning",
    "counterfactual": "knowledge",
}
_CODE = re.compile(
    r"```|\b(def|class|function|import|return|SELECT|const|public|void|#include)\b|"
    r"\b(python|javascript|typescript|java|c\+\+|c#|golang|rust|sql|bash|php|kotlin|swift|"
    r"regex|api|script|code|program|function|compile|docker|kubernetes|react|pandas)\b",
    re.IGNORECASE,
)
_MATH = re.compile(
    r"\b(prove|probability|equation|integral|derivative|matrix|theorem|calculate|compute|"
    r"solve|expected value|polynomial|prime|sum of|how many)\b|[0-9] ?[*/^=] ?[0-9(]",
    re.IGNORECASE,
)
_TURN = re.compile(r"\n\n(Human|Assistant): ")


def read_lines(path: Path) -> Iterator[Any]:
    """JSON records, one per line. Split on '\\n' only: records may hold U+2028."""
    raw = path.read_bytes()
    if path.name.endswith(".gz"):
        raw = gzip.decompress(raw)
    for line in raw.split(b"\n"):
        if line.strip():
            yield orjson.loads(line)


def lang_of(text: str) -> str:
    """The script a text is mostly written in, named by its most likely language."""
    han = kana = hangul = cyrillic = latin = 0
    for ch in text[:2000]:
        code = ord(ch)
        if 0x4E00 <= code <= 0x9FFF:
            han += 1
        elif 0x3040 <= code <= 0x30FF:
            kana += 1
        elif 0xAC00 <= code <= 0xD7AF:
            hangul += 1
        elif 0x0400 <= code <= 0x04FF:
            cyrillic += 1
        elif ch.isalpha():
            latin += 1
    letters = han + kana + hangul + cyrillic + latin or 1
    if kana > 0.05 * letters:
        return "ja"
    if hangul > 0.15 * letters:
        return "ko"
    if han > 0.15 * letters:
        return "zh"
    if cyrillic > 0.3 * letters:
        return "ru"
    return "en"


def cut(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` chars at a paragraph or line end; fences closed."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    for mark in ("\n\n", "\n", ". "):
        at = head.rfind(mark)
        if at > limit // 2:
            head = head[:at]
            break
    if head.count("```") % 2:
        head += "\n```"
    return head


class Builder:
    """Collects prompts, answers and tool sets while the sources are read."""

    def __init__(self) -> None:
        self.prompts: list[dict[str, Any]] = []
        self.answers: list[dict[str, Any]] = []
        self.toolsets: list[dict[str, Any]] = []
        self._toolset_ids: dict[bytes, int] = {}

    def answer(self, text: str, source: str, kind: str) -> int:
        self.answers.append({"text": cut(text, MAX_ANSWER), "source": source, "kind": kind})
        return len(self.answers) - 1

    def prompt(self, kind: str, text: str, source: str, **extra: Any) -> None:
        text = cut(text, MAX_PROMPT)
        record = {"kind": kind, "text": text, "source": source, "lang": lang_of(text)}
        record.update({k: v for k, v in extra.items() if v is not None})
        self.prompts.append(record)

    def toolset(self, functions: list[dict[str, Any]], source: str) -> int:
        tools = [convert_function(fn) for fn in functions]
        key = orjson.dumps(tools, option=orjson.OPT_SORT_KEYS)
        if key not in self._toolset_ids:
            self._toolset_ids[key] = len(self.toolsets)
            self.toolsets.append({"tools": tools, "source": source})
        return self._toolset_ids[key]


_TYPES = {"dict": "object", "float": "number", "tuple": "array"}


def convert_schema(schema: Any) -> Any:
    """The benchmark's parameter schema as standard JSON Schema."""
    if isinstance(schema, list):
        return [convert_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, str):
            if value == "any":
                continue
            out[key] = _TYPES.get(value, value)
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: convert_schema(prop) for name, prop in value.items()}
        else:
            out[key] = convert_schema(value)
    return out


def convert_function(fn: dict[str, Any]) -> dict[str, Any]:
    name = re.sub(r"[^A-Za-z0-9_-]", "_", str(fn["name"]))[:64]
    return {
        "name": name,
        "description": cut(str(fn.get("description", "")), 1024),
        "parameters": convert_schema(fn.get("parameters", {"type": "object", "properties": {}})),
    }


def kind_of_hard_prompt(text: str) -> str:
    if _CODE.search(text):
        return "coding"
    if _MATH.search(text):
        return "math"
    return "chat"


def add_arena(b: Builder, data: Path) -> None:
    answers: dict[str, str] = {}
    for name in ("arena-hard-v0.1_answer_gpt-4-0314", "arena-hard-v2.0_answer_o3-mini-2025-01-31"):
        for record in read_lines(data / "arena_hard" / f"{name}.jsonl"):
            answers[record["uid"]] = record["messages"][1]["content"]["answer"]
    for record in read_lines(data / "arena_hard" / "arena-hard-v0.1_question.jsonl"):
        kind = kind_of_hard_prompt(record["prompt"])
        ans = b.answer(answers[record["uid"]], "arena_hard_v0.1_answers", kind)
        b.prompt(kind, record["prompt"], "arena_hard_v0.1", answer=ans, topic=record["cluster"])
    v2_kinds = {"coding": "coding", "math": "math", "creative_writing": "creative"}
    for record in read_lines(data / "arena_hard" / "arena-hard-v2.0_question.jsonl"):
        kind = v2_kinds[record["subcategory"]]
        ans = b.answer(answers[record["uid"]], "arena_hard_v2.0_answers", kind)
        b.prompt(kind, record["prompt"], "arena_hard_v2.0", answer=ans)


def add_bfcl(b: Builder, data: Path) -> None:
    for source in SOURCES:
        if not source.name.startswith("bfcl_live"):
            continue
        irrelevant = source.name == "bfcl_live_irrelevance"
        for record in read_lines(data / source.file):
            turn = record["question"][0]
            users = [m["content"] for m in turn if m.get("role") == "user"]
            system = [m["content"] for m in turn if m.get("role") == "system"]
            if not users or not record["function"]:
                continue
            b.prompt(
                "function_calling",
                users[-1],
                source.name,
                tools=b.toolset(record["function"], source.name),
                calls_expected=not irrelevant,
                system=system[0] if system else None,
            )
    for record in read_lines(data / "bfcl" / "BFCL_v4_multi_turn_base.json"):
        turns = [m["content"] for turn in record["question"] for m in turn if m["role"] == "user"]
        functions = sorted({str(path).split(".")[-1] for path in record["path"]})
        b.prompt(
            "agent_task",
            turns[0],
            "bfcl_multi_turn_base",
            turns=[{"role": "user", "text": text} for text in turns],
            functions=functions,
            classes=record["involved_classes"],
        )


def add_hh(b: Builder, data: Path) -> None:
    for record in read_lines(data / "hh_rlhf" / "harmless-base_test.jsonl.gz"):
        pieces = _TURN.split(record["chosen"])
        # pieces: ['', 'Human', text, 'Assistant', text, ...]
        turns = [
            {"role": "user" if who == "Human" else "assistant", "text": cut(text.strip(), MAX_TURN)}
            for who, text in zip(pieces[1::2], pieces[2::2], strict=True)
        ]
        roles = [t["role"] for t in turns]
        if not turns or roles[0] != "user" or any(a == c for a, c in itertools.pairwise(roles)):
            continue  # a handful of dialogues do not alternate; a real client would not send them
        if not turns[0]["text"]:
            continue
        b.prompt("multi_turn", turns[0]["text"], "hh_rlhf_harmless", turns=turns)


def add_mt_bench(b: Builder, data: Path) -> None:
    references: dict[int, list[str]] = {}
    for record in read_lines(data / "mt_bench" / "mt_bench_reference_answer_gpt-4.jsonl"):
        references[record["question_id"]] = record["choices"][0]["turns"]
    for record in read_lines(data / "mt_bench" / "mt_bench_question.jsonl"):
        kind = _MT_KIND[record["category"]]
        ref = references.get(record["question_id"])
        ans = b.answer(ref[0], "mt_bench_reference", kind) if ref else None
        b.prompt(kind, record["turns"][0], "mt_bench", answer=ans, topic=record["category"])
        turns: list[dict[str, Any]] = []
        for i, text in enumerate(record["turns"]):
            turns.append({"role": "user", "text": text})
            turns.append({"role": "assistant", "text": ref[i] if ref else None})
        b.prompt("multi_turn", record["turns"][0], "mt_bench", turns=turns[:-1])
    for record in read_lines(data / "mt_bench" / "vicuna_bench_question.jsonl"):
        kind = _MT_KIND[record["category"]]
        b.prompt(kind, record["turns"][0], "vicuna_bench", topic=record["category"])


def add_self_instruct(b: Builder, data: Path) -> None:
    for name, source in (
        ("seed_tasks", "self_instruct_seed"),
        ("user_oriented_instructions", "self_instruct_user"),
    ):
        folder = "self_instruct"
        for record in read_lines(data / folder / f"{name}.jsonl"):
            for instance in record["instances"][:2]:
                ans = b.answer(instance["output"], source, "instruction")
                b.prompt(
                    "instruction",
                    record["instruction"],
                    source,
                    input=instance["input"] or None,
                    answer=ans,
                    topic=record.get("motivation_app"),
                )


def gz_jsonl(records: list[dict[str, Any]]) -> bytes:
    body = b"".join(orjson.dumps(r) + b"\n" for r in records)
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9, mtime=0, filename="") as f:
        f.write(body)
    return out.getvalue()


def licences_md(b: Builder, data: Path) -> str:
    counts: dict[str, int] = {}
    for record in b.prompts + b.answers + b.toolsets:
        counts[record["source"]] = counts.get(record["source"], 0) + 1
    rows = []
    for s in SOURCES:
        digest = hashlib.sha256((data / s.file).read_bytes()).hexdigest()[:16]
        rows.append(
            f"| {s.name} | {s.repo} @ {s.commit} | `{s.path}` | {s.licence} | "
            f"{counts.get(s.name, 0)} | `{digest}` |"
        )
    apache, mit = LICENCE_FILES["Apache-2.0"][1], LICENCE_FILES["MIT"][1]
    return "\n".join(
        [
            "# Derived corpus: sources and licences",
            "",
            "The simulator builds its prompts and answers from these public sets, written by",
            "people outside this project. `scripts/build_corpus.py` derived the files here from",
            "copies of them (the shared data folder): it categorised the prompts, cut very long",
            f"prompts at {MAX_PROMPT} and answers at {MAX_ANSWER} characters, de-duplicated the",
            "function-calling tool schemas and converted them to standard JSON Schema. Nothing",
            "else was changed. Content warning: hh_rlhf holds red-team requests.",
            "",
            "| set | repository @ commit | path there | licence | records kept | sha256 of input |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
            f"Apache-2.0 sets: licence text in `{apache}`. Copyright is held by their",
            "authors: the LMArena / LMSYS team (arena-hard-auto, FastChat), the Gorilla /",
            "Berkeley Function Calling Leaderboard authors, and the Self-Instruct authors",
            "(Wang et al., 2022).",
            "",
            f"MIT set (hh_rlhf, Copyright (c) 2022 Anthropic): licence text in `{mit}`.",
            "",
        ]
    )


def build(data: Path, out: Path) -> dict[str, int]:
    b = Builder()
    add_arena(b, data)
    add_mt_bench(b, data)
    add_self_instruct(b, data)
    add_bfcl(b, data)
    add_hh(b, data)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "prompts.jsonl.gz": gz_jsonl(b.prompts),
        "answers.jsonl.gz": gz_jsonl(b.answers),
        "toolsets.jsonl.gz": gz_jsonl(b.toolsets),
        "LICENSES.md": licences_md(b, data).encode(),
    }
    for source_file, target in LICENCE_FILES.values():
        files[target] = (data / source_file).read_bytes()
    for name, content in files.items():
        (out / name).write_bytes(content)
    return {name: len(content) for name, content in files.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the shared data folder")
    parser.add_argument("--out", type=Path, required=True, help="where the corpus goes")
    args = parser.parse_args()
    sizes = build(args.data, args.out)
    for name, size in sizes.items():
        print(f"{size:>10,}  {name}")
    print(f"{sum(sizes.values()):>10,}  total bytes")


if __name__ == "__main__":
    main()
