"""The real text the marks experiments use, and a tokenizer trained on it.

Texts (all public, see the data folder's README for sources and licences): the model
answers of Arena-Hard v0.1 (gpt-4-0314) and v2.0 (o3-mini), the crowdworker conversations of
HH-RLHF (harmless-base test), Arena-Hard prompts, MT-Bench and Self-Instruct. The data folder
is given with ``--data`` or ``$DISTILLGUARD_DATA``; nothing here has a default path.

The tokenizer is a byte-level BPE trained here with ``tokenizers`` on the same texts, so
token statistics look like a model's, and cached in the output folder.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

DATA_ENV = "DISTILLGUARD_DATA"


def data_dir(arg: str | None) -> Path:
    value = arg or os.environ.get(DATA_ENV)
    if not value:
        raise SystemExit(f"give the data folder with --data or ${DATA_ENV}")
    path = Path(value)
    if not (path / "arena_hard").is_dir():
        raise SystemExit(f"{path}: not the data folder (no arena_hard/ inside)")
    return path


def _jsonl(path: Path) -> list[dict[str, Any]]:
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return [json.loads(line) for line in raw.decode("utf-8").split("\n") if line.strip()]


def load_texts(data: Path) -> dict[str, list[str]]:
    """Texts by kind: ``answers`` (model answers), ``conversations``, ``prompts``."""
    answers: list[str] = []
    for name in (
        "arena-hard-v0.1_answer_gpt-4-0314.jsonl",
        "arena-hard-v2.0_answer_o3-mini-2025-01-31.jsonl",
    ):
        for record in _jsonl(data / "arena_hard" / name):
            content = record["messages"][1]["content"]
            answers.append(content["answer"] if isinstance(content, dict) else str(content))
    for record in _jsonl(data / "mt_bench" / "mt_bench_reference_answer_gpt-4.jsonl"):
        answers.extend(record["choices"][0]["turns"])
    conversations = [r["chosen"] for r in _jsonl(data / "hh_rlhf" / "harmless-base_test.jsonl.gz")]
    prompts: list[str] = []
    for name in ("arena-hard-v0.1_question.jsonl", "arena-hard-v2.0_question.jsonl"):
        for record in _jsonl(data / "arena_hard" / name):
            prompt = record.get("prompt") or record["turns"][0]["content"]
            prompts.append(str(prompt))
    for name in ("mt_bench_question.jsonl", "vicuna_bench_question.jsonl"):
        prompts.extend(t for r in _jsonl(data / "mt_bench" / name) for t in r["turns"])
    for record in _jsonl(data / "self_instruct" / "seed_tasks.jsonl"):
        instance = record["instances"][0]
        prompts.append(record["instruction"] + "\n" + instance["input"])
        answers.append(instance["output"])
    for record in _jsonl(data / "self_instruct" / "user_oriented_instructions.jsonl"):
        prompts.append(record["instruction"] + "\n" + record["instances"][0]["input"])
    return {"answers": answers, "conversations": conversations, "prompts": prompts}


def tokenizer(texts: list[str], cache: Path, vocab_size: int = 8192) -> Any:
    """A byte-level BPE tokenizer trained on ``texts`` (cached at ``cache``)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if cache.exists():
        return Tokenizer.from_file(str(cache))
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(texts, trainer)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tok.save(str(cache))
    return tok


def encode_all(tok: Any, texts: list[str]) -> list[NDArray[np.int64]]:
    return [np.asarray(e.ids, dtype=np.int64) for e in tok.encode_batch(texts)]
