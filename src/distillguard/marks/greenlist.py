"""Green-list watermark (Kirchenbauer et al. 2023), for greedy and low-temperature traffic.

A token ``v`` is green in a context when the PRF's ``r_v < gamma``; the generator adds
``delta`` to the logits of green tokens before choosing (argmax at temperature 0, else
sampling). Unlike Gumbel sampling this changes the output distribution, which is why it is
the fallback: when the temperature is 0 there is no randomness left to key. Contexts already
used in the generation are left unbiased, as in ``gumbel``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from .gumbel import plain_sample
from .keys import MarkKey
from .prf import VocabPRF, context_hash, seed_of, uniforms_at
from .types import CONTEXT_WIDTH, DELTA, GAMMA, check_context_width


class GreenListSampler:
    """Options of one key's green-list watermark; ``start`` makes per-generation state."""

    __slots__ = ("_word", "context_width", "delta", "gamma", "key_id", "vocab_size")

    def __init__(
        self,
        key: MarkKey,
        vocab_size: int,
        *,
        context_width: int = CONTEXT_WIDTH,
        gamma: float = GAMMA,
        delta: float = DELTA,
    ) -> None:
        if not 0.0 < gamma < 1.0:
            raise ValueError(f"gamma must be inside (0, 1), not {gamma}")
        if not delta > 0.0:
            raise ValueError(f"delta must be positive, not {delta}")
        self.key_id = key.key_id
        self.vocab_size = vocab_size
        self.context_width = check_context_width(context_width)
        self.gamma = gamma
        self.delta = delta
        self._word = key.word("greenlist")

    def __repr__(self) -> str:
        return (
            f"GreenListSampler(key_id={self.key_id!r}, vocab_size={self.vocab_size}, "
            f"gamma={self.gamma}, delta={self.delta})"
        )

    def start(self, rng: np.random.Generator) -> GreenListGeneration:
        return GreenListGeneration(self, VocabPRF(self.vocab_size), rng)


class GreenListGeneration:
    """One generation under the green list."""

    __slots__ = ("_options", "_prf", "_rng", "_seen", "marked", "plain")

    def __init__(self, options: GreenListSampler, prf: VocabPRF, rng: np.random.Generator):
        self._options = options
        self._prf = prf
        self._rng = rng
        self._seen: set[int] = set()
        self.marked = 0
        self.plain = 0

    def choose(
        self, logits: NDArray[np.float64], history: Sequence[int], temperature: float = 0.0
    ) -> int:
        """The next token from ``logits``: argmax at temperature 0, else a sample."""
        options = self._options
        if logits.shape != (options.vocab_size,):
            raise ValueError(f"logits has shape {logits.shape}; expected ({options.vocab_size},)")
        if temperature < 0:
            raise ValueError(f"temperature must not be negative, not {temperature}")
        width = options.context_width
        seed = None
        if len(history) >= width:
            h = context_hash(history[len(history) - width :])
            if h not in self._seen:
                self._seen.add(h)
                seed = seed_of(options._word, h)
        if seed is None:
            self.plain += 1
            if temperature == 0.0:
                return int(np.argmax(logits))
            return plain_sample(_softmax(logits, temperature), self._rng)
        self.marked += 1
        if temperature == 0.0:
            # Only tokens within delta of the best logit can win once green ones gain delta:
            # the PRF is evaluated at those alone (same choice, far less work).
            near = np.flatnonzero(logits >= logits.max() - options.delta)
            r = uniforms_at(np.full(near.size, seed, dtype=np.uint64), near)
            return int(near[np.argmax(logits[near] + options.delta * (r < options.gamma))])
        green = self._prf(seed) < options.gamma
        return plain_sample(_softmax(logits + options.delta * green, temperature), self._rng)


def _softmax(logits: NDArray[np.float64], temperature: float) -> NDArray[np.float64]:
    """Unnormalised probabilities (``plain_sample`` takes any positive scale)."""
    scaled: NDArray[np.float64] = logits / temperature
    probs: NDArray[np.float64] = np.exp(scaled - scaled.max())
    return probs
