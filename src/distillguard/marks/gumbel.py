"""Distortion-free keyed Gumbel-max sampling (Aaronson 2022; Kuditipudi et al. 2023).

With ``r_v`` the PRF's uniforms for the step's context, the token is
``argmax_v r_v ** (1 / p_v) = argmax_v log(r_v) / p_v``. Over a uniform ``r`` this picks
``v`` with probability exactly ``p_v``, so one step's output is distributed as plain
sampling; the key shows up only as high ``r`` at the chosen tokens, which the detector sums.

A context seen before in the same generation would repeat the same ``r`` and make the text
deterministic in that context; such steps sample plainly from ``p`` with the generation's
own random generator, and the detector scores each (context, token) pair once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import numpy as np
from numpy.typing import NDArray

from .keys import MarkKey
from .prf import VocabPRF, context_hash, seed_of
from .types import CONTEXT_WIDTH, check_context_width

_SLACK: Final = 1e-15


class GumbelSampler:
    """Options of one key's Gumbel watermark; ``start`` makes the per-generation state."""

    __slots__ = ("_word", "context_width", "key_id", "vocab_size")

    def __init__(self, key: MarkKey, vocab_size: int, *, context_width: int = CONTEXT_WIDTH):
        self.key_id = key.key_id
        self.vocab_size = vocab_size
        self.context_width = check_context_width(context_width)
        self._word = key.word("gumbel")

    def __repr__(self) -> str:
        return f"GumbelSampler(key_id={self.key_id!r}, vocab_size={self.vocab_size})"

    def start(self, rng: np.random.Generator, prf: VocabPRF | None = None) -> GumbelGeneration:
        """State for one generation; ``prf`` lets generations of one thread share buffers."""
        if prf is None or prf.vocab_size != self.vocab_size:
            prf = VocabPRF(self.vocab_size)
        return GumbelGeneration(self._word, self.context_width, prf, rng)


class GumbelGeneration:
    """One generation: picks tokens, remembers the contexts it has already keyed."""

    __slots__ = ("_bound", "_prf", "_rng", "_seen", "_width", "_word", "marked", "plain")

    def __init__(self, word: int, width: int, prf: VocabPRF, rng: np.random.Generator) -> None:
        self._word = word
        self._width = width
        self._prf = prf
        self._rng = rng
        self._bound = np.empty(prf.vocab_size, dtype=np.float64)
        self._seen: set[int] = set()
        self.marked = 0
        """Steps that carried the watermark."""
        self.plain = 0
        """Steps sampled plainly: context too short or already used."""

    def sample(self, probs: NDArray[np.float64], history: Sequence[int]) -> int:
        """The next token given its distribution ``probs`` (any positive scale) and the
        token ids so far (prompt included)."""
        if probs.shape != (self._prf.vocab_size,):
            raise ValueError(f"probs has shape {probs.shape}; expected ({self._prf.vocab_size},)")
        if len(history) >= self._width:
            h = context_hash(history[len(history) - self._width :])
            if h not in self._seen:
                self._seen.add(h)
                self.marked += 1
                return self._argmax(self._prf(seed_of(self._word, h)), probs)
        self.plain += 1
        return plain_sample(probs, self._rng)

    def _argmax(self, r: NDArray[np.float64], probs: NDArray[np.float64]) -> int:
        """``argmax log(r) / p`` without a logarithm over the whole vocabulary.

        Take the most likely token's score ``s``. Since ``log r <= r - 1``, a token can only
        beat ``s`` if ``r >= 1 + s * p``: one multiply-add and one comparison find the few
        candidates, and only they get the exact score. The slack of a few ulps keeps a
        winner with ``r`` within rounding of 1 among them.
        """
        top = int(np.argmax(probs))
        if not probs[top] > 0.0:
            raise ValueError("probs has no positive entry")
        best = math.log(r[top]) / probs[top]
        bound = self._bound
        np.multiply(probs, best, out=bound)
        bound += 1.0 - _SLACK
        candidates = np.flatnonzero(r >= bound)
        if candidates.size == 0:
            return top
        scores = np.log(r[candidates]) / probs[candidates]
        i = int(np.argmax(scores))
        return int(candidates[i]) if scores[i] > best else top


def plain_sample(probs: NDArray[np.float64], rng: np.random.Generator) -> int:
    """Inverse-CDF sampling from ``probs`` (any positive scale): the unmarked path."""
    cdf = np.cumsum(probs)
    index = int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"))
    return min(index, len(probs) - 1)
