"""What every marks experiment shares: arguments, the corpus, the tokenizer, the n-gram
generator and the keys.

The keys come from a fixed experiment-only master secret, so every run is reproducible; no
deployment secret is involved.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import corpus
import numpy as np
from numpy.typing import NDArray

from distillguard.marks import Keyring, MasterSecret
from distillguard.marks.ngram import NGram

WEIGHTS = (0.75, 0.2, 0.05)
"""Interpolation weights of the trigram generator (trigram, bigram, unigram)."""
EXPERIMENT_SECRET = b"distillguard-marks-experiments-not-a-deployment-secret"


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--data", help="the shared data folder (default: $DISTILLGUARD_DATA)")
    p.add_argument("--out", default="experiments/marks/results", help="results folder")
    p.add_argument("--seed", type=int, default=20260501)
    return p


@dataclass
class Setup:
    tokenizer: Any
    docs: list[NDArray[np.int64]]
    """Answers and conversations: the generator's training text and the real clean texts."""
    prompts: list[NDArray[np.int64]]
    lm: NGram
    ring: Keyring
    out: Path

    @property
    def vocab_size(self) -> int:
        return self.lm.vocab_size

    def prompt_windows(self, n: int, width: int, rng: np.random.Generator) -> NDArray[np.int64]:
        """``n`` real ``width``-token starts: random windows of the real prompts."""
        long = [p for p in self.prompts if len(p) > width]
        rows = []
        for i in rng.integers(0, len(long), n):
            start = int(rng.integers(0, len(long[i]) - width))
            rows.append(long[i][start : start + width])
        return np.stack(rows)


def setup(args: argparse.Namespace) -> Setup:
    data = corpus.data_dir(args.data)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    texts = corpus.load_texts(data)
    every = texts["answers"] + texts["conversations"] + texts["prompts"]
    tok = corpus.tokenizer(every, out / "tokenizer.json")
    docs = corpus.encode_all(tok, texts["answers"] + texts["conversations"])
    prompts = corpus.encode_all(tok, texts["prompts"])
    lm = NGram(tok.get_vocab_size(), order=3, weights=WEIGHTS).fit(docs)
    ring = Keyring(MasterSecret(EXPERIMENT_SECRET))
    return Setup(tok, docs, prompts, lm, ring, out)


def tempered(p: NDArray[np.float64], temperature: float) -> NDArray[np.float64]:
    if temperature == 1.0:
        return p
    q: NDArray[np.float64] = np.power(p, 1.0 / temperature)
    out: NDArray[np.float64] = q / q.sum()
    return out


def entropy(p: NDArray[np.float64]) -> float:
    q = p[p > 0]
    return float(-(q * np.log(q)).sum())


def save(out: Path, name: str, result: dict[str, Any]) -> Path:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    result = {
        "experiment": name,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "cores": os.cpu_count()},
        "commit": commit,
        **result,
    }
    path = out / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result))
    return path
