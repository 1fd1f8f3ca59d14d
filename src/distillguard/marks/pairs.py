"""The distinct (context, token) pairs of a corpus: what detection scores.

A repeated pair repeats its ``r`` and would count the same evidence twice, so each pair is
kept once, in order of first appearance. Contexts are key-independent hashes
(``prf.context_hash``), so one pass serves every key tested.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .errors import TokenError
from .prf import U64, context_hashes, splitmix_array
from .types import CONTEXT_WIDTH, check_context_width

Texts = Iterable[Sequence[int] | NDArray[np.integer[Any]]]
"""Token id sequences: lists of ints or 1-D integer arrays."""


@dataclass(frozen=True, slots=True)
class Pairs:
    """The distinct (context, token) pairs of a corpus, in order of first appearance."""

    contexts: U64
    """Key-independent context hash of each pair (``prf.context_hash``)."""
    tokens: NDArray[np.int64]
    total: int
    """Tokens that had a full context, repeats included."""
    length: int = 0
    """All tokens of the texts."""
    excluded: int = 0
    """Distinct pairs dropped because they occur in the excluded texts."""

    @classmethod
    def of(
        cls,
        texts: Texts,
        vocab_size: int,
        context_width: int = CONTEXT_WIDTH,
        *,
        exclude: Texts = (),
    ) -> Pairs:
        """Pairs of ``texts`` (token id sequences), minus pairs that occur in ``exclude``
        (e.g. the prompts: text copied from a prompt is no evidence about the writer)."""
        contexts, tokens, length = _windows(texts, vocab_size, context_width, "text")
        total = len(tokens)
        keys = _pair_keys(contexts, tokens)
        first = _first_occurrences(keys)
        excluded = 0
        exclude = list(exclude)
        if exclude:
            ex_contexts, ex_tokens, _ = _windows(exclude, vocab_size, context_width, "excluded")
            drop = np.isin(keys[first], _pair_keys(ex_contexts, ex_tokens))
            excluded = int(np.count_nonzero(drop))
            first = first[~drop]
        return cls(contexts[first], tokens[first], total, length, excluded)

    def __len__(self) -> int:
        return len(self.tokens)

    def within(self, contexts: U64) -> Pairs:
        """Only the pairs whose context is in ``contexts`` (e.g. contexts we emitted)."""
        keep = np.isin(self.contexts, contexts)
        return Pairs(self.contexts[keep], self.tokens[keep], self.total, self.length, self.excluded)


def _windows(
    texts: Texts,
    vocab_size: int,
    width: int,
    what: str,
) -> tuple[U64, NDArray[np.int64], int]:
    """Context hashes and tokens of every window that lies inside one text, and the number
    of tokens. All texts are joined first so the work is a few passes, not one per text."""
    check_context_width(width)
    arrays = [np.asarray(text, dtype=np.int64) for text in texts]
    for i, ids in enumerate(arrays):
        if ids.ndim != 1:
            raise TokenError(f"{what} {i}: token ids must be a flat sequence, not {ids.shape}")
    if not arrays:
        return np.empty(0, np.uint64), np.empty(0, np.int64), 0
    lengths = np.array([ids.size for ids in arrays], dtype=np.int64)
    flat = np.concatenate(arrays)
    bad = np.flatnonzero((flat < 0) | (flat >= vocab_size))
    if bad.size:
        at = int(bad[0])
        i = int(np.searchsorted(np.cumsum(lengths), at, side="right"))
        position = at - int(lengths[:i].sum())
        raise TokenError(
            f"{what} {i}: token id {int(flat[at])} at position {position} is outside the "
            f"vocabulary of {vocab_size}: the text was encoded with another tokenizer"
        )
    if flat.size <= width:
        return np.empty(0, np.uint64), np.empty(0, np.int64), int(flat.size)
    text_of = np.repeat(np.arange(len(arrays)), lengths)
    starts = np.flatnonzero(text_of[:-width] == text_of[width:])
    windows = np.lib.stride_tricks.sliding_window_view(flat, width)
    return context_hashes(windows[starts]), flat[starts + width], int(flat.size)


def _first_occurrences(keys: U64) -> NDArray[np.int64]:
    """Index of the first occurrence of each distinct key, in order.

    A plain sort is several times faster than the stable argsort ``np.unique`` uses, so
    each key's low ``b`` bits are replaced by its index (``2**b >= n``): sorting puts equal
    keys together, lowest index first. Two pairs whose keys agree on the top ``64 - b``
    bits merge (about ``n**2 / 2**(65 - b)`` of them: 0.03 for a million tokens). A merge
    only drops a pair chosen without the watermark key, so the p-value stays exact.
    """
    n = len(keys)
    if n == 0:
        return np.empty(0, np.int64)
    bits = np.uint64(max(1, (n - 1).bit_length()))
    packed = (keys >> bits) << bits
    packed |= np.arange(n, dtype=np.uint64)
    packed.sort()
    high = packed >> bits
    starts = np.ones(n, dtype=bool)
    np.not_equal(high[1:], high[:-1], out=starts[1:])
    first = (packed[starts] & ((np.uint64(1) << bits) - np.uint64(1))).astype(np.int64)
    first.sort()
    return first


def _pair_keys(contexts: U64, tokens: NDArray[np.int64]) -> U64:
    return splitmix_array(contexts ^ splitmix_array(tokens.astype(np.uint64)))
