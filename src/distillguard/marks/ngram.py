"""An interpolated n-gram language model in numpy: the reference generator for evaluating
watermarks without a neural model.

Fitted on real text, it has the entropy of real text at the n-gram level, which is what a
watermark's power depends on. ``P(w | context) = sum_k lambda_k * c(context_k w) / c(context_k)``
over the orders whose context was seen (weights renormalised over those). Counts are kept as
token positions sorted by context, so sampling is exact and vectorised: pick an order, then a
random occurrence of the context, and take the token after it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .gumbel import GumbelGeneration

I64 = NDArray[np.int64]


class NGram:
    """Options in ``__init__``; ``fit`` learns the sorted occurrence tables."""

    def __init__(self, vocab_size: int, order: int = 3, weights: Sequence[float] | None = None):
        if order < 1:
            raise ValueError(f"order must be at least 1, not {order}")
        if vocab_size ** (order - 1) >= 2**62:
            raise ValueError("vocab_size ** (order - 1) must fit in 62 bits")
        self.vocab_size = vocab_size
        self.order = order
        default = [0.6, 0.3, 0.1][-order:] if order <= 3 else [1.0] * order
        self.weights = tuple(default if weights is None else weights)
        if len(self.weights) != order or min(self.weights) <= 0:
            raise ValueError(f"need {order} positive weights, highest order first")

    def fit(self, docs: Iterable[Sequence[int] | I64]) -> NGram:
        arrays = [np.asarray(d, dtype=np.int64) for d in docs]
        arrays = [a for a in arrays if len(a)]
        if not arrays:
            raise ValueError("no tokens to fit")
        self.unigram_: I64 = np.concatenate(arrays)
        self.tables_: list[tuple[I64, I64]] = []
        for k in range(1, self.order):
            keys, nexts = [], []
            for a in arrays:
                if len(a) > k:
                    keys.append(self._keys(np.lib.stride_tricks.sliding_window_view(a[:-1], k)))
                    nexts.append(a[k:])
            key = np.concatenate(keys) if keys else np.empty(0, np.int64)
            nxt = np.concatenate(nexts) if nexts else np.empty(0, np.int64)
            order = np.lexsort((nxt, key))
            self.tables_.append((key[order], nxt[order]))
        unigram = np.bincount(self.unigram_, minlength=self.vocab_size).astype(np.float64)
        self.unigram_probs_: NDArray[np.float64] = unigram / unigram.sum()
        return self

    def _keys(self, contexts: NDArray[Any]) -> I64:
        key = np.zeros(contexts.shape[0], dtype=np.int64)
        for i in range(contexts.shape[1]):
            key = key * self.vocab_size + contexts[:, i]
        return key

    def _ranges(self, histories: I64, k: int) -> tuple[I64, I64]:
        keys, _ = self.tables_[k - 1]
        ctx = self._keys(histories[:, histories.shape[1] - k :])
        return np.searchsorted(keys, ctx, "left"), np.searchsorted(keys, ctx, "right")

    def probs(self, history: Sequence[int] | I64) -> NDArray[np.float64]:
        """The next-token distribution after ``history`` (dense, sums to 1)."""
        width = min(self.order - 1, len(history))
        hist = np.asarray(history[len(history) - width :], dtype=np.int64)[None, :]
        parts: list[tuple[float, NDArray[np.float64]]] = []
        for k in range(min(self.order - 1, hist.shape[1]), 0, -1):
            lo, hi = (int(x[0]) for x in self._ranges(hist, k))
            if hi > lo:
                counts = np.bincount(self.tables_[k - 1][1][lo:hi], minlength=self.vocab_size)
                parts.append((self.weights[self.order - 1 - k], counts / (hi - lo)))
        weight = self.weights[-1] + sum(w for w, _ in parts)
        p: NDArray[np.float64] = self.unigram_probs_ * (self.weights[-1] / weight)
        for w, dist in parts:
            p += dist * (w / weight)
        return p

    def sample(self, histories: I64, rng: np.random.Generator) -> I64:
        """One token after each row of ``histories`` (n, order - 1): exact, vectorised."""
        n = histories.shape[0]
        out: I64 = self.unigram_[rng.integers(0, len(self.unigram_), n)]
        weight = np.full(n, self.weights[-1])
        found: list[tuple[int, I64, I64]] = []
        for k in range(1, min(self.order - 1, histories.shape[1]) + 1):
            lo, hi = self._ranges(histories, k)
            found.append((k, lo, hi))
            weight += np.where(hi > lo, self.weights[self.order - 1 - k], 0.0)
        u = rng.random(n) * weight
        edge = np.full(n, self.weights[-1])
        for k, lo, hi in found:
            w = np.where(hi > lo, self.weights[self.order - 1 - k], 0.0)
            take = (u >= edge) & (u < edge + w)
            if take.any():
                pick = lo[take] + (rng.random(int(take.sum())) * (hi - lo)[take]).astype(np.int64)
                out[take] = self.tables_[k - 1][1][np.minimum(pick, hi[take] - 1)]
            edge = edge + w
        return out

    def generate(self, prompts: I64, length: int, rng: np.random.Generator) -> I64:
        """Plain continuations of ``length`` tokens after each prompt row (batched)."""
        width = self.order - 1
        text = prompts.astype(np.int64)
        for _ in range(length):
            nxt = self.sample(text[:, text.shape[1] - width :], rng)
            text = np.concatenate([text, nxt[:, None]], axis=1)
        return text[:, prompts.shape[1] :]

    def generate_marked(self, prompt: Sequence[int], length: int, step: GumbelGeneration) -> I64:
        """One continuation whose tokens come from a watermarking generation."""
        history = [int(t) for t in prompt]
        for _ in range(length):
            history.append(step.sample(self.probs(history), history))
        return np.asarray(history[len(prompt) :], dtype=np.int64)
