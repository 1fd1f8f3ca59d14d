"""The keyed pseudo-random function behind both watermarks, in numpy ``uint64`` arithmetic.

Built on SplitMix64 (Steele, Lea and Flood 2014), whose output function is::

    mix(z) = z ^= z >> 30; z *= 0xBF58476D1CE4E5B9; z ^= z >> 27; z *= 0x94D049BB133111EB;
             z ^ (z >> 31)                                    (all modulo 2**64)
    splitmix(x) = mix(x + 0x9E3779B97F4A7C15)

For a context of h token ids ``t_1..t_h`` and a 64-bit key word ``w`` (from ``MarkKey.word``):

    c_0 = splitmix(h);  c_i = splitmix(c_(i-1) ^ t_i)          context hash, no key
    seed = splitmix(w ^ c_h)
    r_v  = unit(mix(seed + (v + 1) * 0x9E3779B97F4A7C15))      token v of the vocabulary

so ``r`` over the vocabulary is the SplitMix64 stream started at ``seed``: one pass of
vectorised integer arithmetic gives every token's uniform, and the detector computes the
one at the observed token only. ``unit(z) = ((z >> 11) | 1) * 2**-53`` lies strictly
inside (0, 1), so ``log r`` and ``log(1 - r)`` are finite. Integer arithmetic is the same
on every machine: no framework random generator is involved, and a test pins the values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
from numpy.typing import NDArray

U64 = NDArray[np.uint64]
GOLDEN: Final = 0x9E3779B97F4A7C15
_M1: Final = 0xBF58476D1CE4E5B9
_M2: Final = 0x94D049BB133111EB
_MASK: Final = (1 << 64) - 1
_EXPONENT: Final = 0x3FF0000000000000
"""The bits of 1.0: OR-ed onto 52 random mantissa bits they make a float in [1, 2)."""
_OFFSET: Final = 1.0 - 2.0**-53


def splitmix(x: int) -> int:
    """SplitMix64 of one Python int (reference implementation, also used per step)."""
    z = (x + GOLDEN) & _MASK
    z = ((z ^ (z >> 30)) * _M1) & _MASK
    z = ((z ^ (z >> 27)) * _M2) & _MASK
    return z ^ (z >> 31)


def context_hash(context: Sequence[int]) -> int:
    """The key-independent hash of a context (dedupe and filtering use it too)."""
    c = splitmix(len(context))
    for token in context:
        c = splitmix(c ^ int(token))
    return c


def seed_of(word: int, context_hash_: int) -> int:
    return splitmix(word ^ context_hash_)


# numpy scalars made once: building them per call costs more than the arithmetic on short
# arrays (one text at a time).
_S30, _S27, _S31, _S12 = (np.uint64(n) for n in (30, 27, 31, 12))
_U_M1, _U_M2, _U_GOLDEN, _U_EXPONENT = (np.uint64(n) for n in (_M1, _M2, GOLDEN, _EXPONENT))
_U_ONE = np.uint64(1)


def _mix(z: U64) -> U64:
    """The SplitMix64 output function over an array, in place (the array is consumed)."""
    z ^= z >> _S30
    z *= _U_M1
    z ^= z >> _S27
    z *= _U_M2
    z ^= z >> _S31
    return z


def splitmix_array(x: U64) -> U64:
    """SplitMix64 of every element (a new array)."""
    return _mix(x + _U_GOLDEN)


def context_hashes(windows: NDArray[np.int64]) -> U64:
    """``context_hash`` of each row of an (n, h) array of token ids."""
    n, h = windows.shape
    c = np.full(n, splitmix(h), dtype=np.uint64)
    for i in range(h):
        c ^= windows[:, i].astype(np.uint64)
        c = splitmix_array(c)
    return c


def seeds_of(word: int, hashes: U64) -> U64:
    return splitmix_array(hashes ^ np.uint64(word))


def unit(z: U64) -> NDArray[np.float64]:
    """Map 64-bit integers to floats strictly inside (0, 1), consuming ``z``.

    ``((z >> 11) | 1) * 2**-53`` computed without an integer-to-float conversion (the
    slowest step in numpy): the top 52 bits become the mantissa of ``f`` in [1, 2), and
    ``f - (1 - 2**-53)`` is exactly ``(2 * (z >> 12) + 1) * 2**-53``, the same value.
    """
    z >>= _S12
    z |= _U_EXPONENT
    floats = z.view(np.float64)
    floats -= _OFFSET
    return floats


def uniforms_at(seeds: U64, tokens: NDArray[np.int64]) -> NDArray[np.float64]:
    """``r`` of token ``tokens[i]`` under ``seeds[i]``: the detector's side."""
    offsets = (tokens.astype(np.uint64) + _U_ONE) * _U_GOLDEN
    return unit(_mix(seeds + offsets))


class VocabPRF:
    """The generator's side: every token's ``r`` for one seed, into a reused buffer.

    Buffers are allocated once per vocabulary size, so a step costs arithmetic only. The
    array returned is overwritten by the next call.
    """

    __slots__ = ("_offsets", "_out", "_tmp", "_z", "vocab_size")

    def __init__(self, vocab_size: int) -> None:
        if vocab_size < 2:
            raise ValueError(f"vocab_size must be at least 2, not {vocab_size}")
        self.vocab_size = vocab_size
        self._offsets = np.arange(1, vocab_size + 1, dtype=np.uint64) * _U_GOLDEN
        self._z = np.empty(vocab_size, dtype=np.uint64)
        self._tmp = np.empty(vocab_size, dtype=np.uint64)
        self._out = np.empty(vocab_size, dtype=np.float64)

    def __call__(self, seed: int) -> NDArray[np.float64]:
        z, tmp = self._z, self._tmp
        np.add(self._offsets, np.uint64(seed), out=z)
        for shift, factor in ((_S30, _U_M1), (_S27, _U_M2)):
            np.right_shift(z, shift, out=tmp)
            np.bitwise_xor(z, tmp, out=z)
            np.multiply(z, factor, out=z)
        np.right_shift(z, _S31, out=tmp)
        np.bitwise_xor(z, tmp, out=z)
        np.right_shift(z, _S12, out=z)
        np.bitwise_or(z, _U_EXPONENT, out=z)
        np.subtract(z.view(np.float64), _OFFSET, out=self._out)
        return self._out
