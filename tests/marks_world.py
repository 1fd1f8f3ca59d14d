"""A small real generator for the marks tests: a byte-level trigram model of the answers
shipped with the package (real model answers), so tests see real text statistics."""

from __future__ import annotations

from functools import cache

import numpy as np
from numpy.typing import NDArray

from distillguard.corpus import answer_texts
from distillguard.marks import Keyring, MasterSecret
from distillguard.marks.ngram import NGram

RING = Keyring(MasterSecret(b"marks-tests-secret-not-for-deployment-0123"))
VOCAB = 256


@cache
def answers() -> tuple[NDArray[np.int64], ...]:
    return tuple(
        np.frombuffer(t.encode("utf-8"), dtype=np.uint8).astype(np.int64) for t in answer_texts()
    )


@cache
def model() -> NGram:
    return NGram(VOCAB, order=3, weights=(0.75, 0.2, 0.05)).fit(answers())


def prompts(n: int, width: int, seed: int) -> NDArray[np.int64]:
    """``n`` real ``width``-byte windows of the answers."""
    rng = np.random.default_rng(seed)
    docs = [a for a in answers() if len(a) > width + 1]
    rows = []
    for i in rng.integers(0, len(docs), n):
        start = int(rng.integers(0, len(docs[i]) - width))
        rows.append(docs[i][start : start + width])
    return np.stack(rows)
