"""Tokenizers the detector can use, behind one small ``Protocol``.

Detection must see the token ids the model emitted, so it takes the model's own tokenizer.
``ByteTokenizer`` (UTF-8 bytes) needs nothing and serves tests; ``HFTokenizer`` wraps a
Hugging Face ``tokenizers`` file and imports that package only when used.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from .errors import MarkError, TokenError


@runtime_checkable
class Tokenizer(Protocol):
    @property
    def vocab_size(self) -> int: ...

    def encode(self, text: str) -> list[int]: ...


class ByteTokenizer:
    """UTF-8 bytes as token ids (vocabulary of 256)."""

    @property
    def vocab_size(self) -> int:
        return 256

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8", "surrogatepass"))

    def decode(self, ids: Sequence[int]) -> str:
        return bytes(ids).decode("utf-8", "replace")


class HFTokenizer:
    """A ``tokenizers.Tokenizer`` (e.g. a model's ``tokenizer.json``)."""

    __slots__ = ("_tokenizer",)

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer

    @classmethod
    def from_file(cls, path: Path) -> HFTokenizer:
        try:
            from tokenizers import Tokenizer as _Tokenizer
        except ImportError as error:
            raise MarkError(
                "reading a tokenizer file needs the 'tokenizers' package: pip install tokenizers"
            ) from error
        try:
            return cls(_Tokenizer.from_file(str(path)))
        except Exception as error:  # the library raises plain Exception for a bad file
            raise MarkError(f"{path}: not a tokenizers file ({error})") from None

    @property
    def vocab_size(self) -> int:
        return int(self._tokenizer.get_vocab_size(with_added_tokens=True))

    def encode(self, text: str) -> list[int]:
        return list(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def decode(self, ids: Sequence[int]) -> str:
        return str(self._tokenizer.decode(list(ids)))


class TiktokenTokenizer:
    """A ``tiktoken`` encoding (OpenAI's byte-pair encodings: ``cl100k_base``,
    ``o200k_base``, ...). Special-token text is encoded as plain text, never refused: a
    suspect's output may contain it."""

    __slots__ = ("_encoding",)

    def __init__(self, encoding: Any) -> None:
        self._encoding = encoding

    @classmethod
    def named(cls, name: str) -> TiktokenTokenizer:
        """The encoding called ``name``. tiktoken downloads encodings it has not cached
        (``$TIKTOKEN_CACHE_DIR``); without the network an uncached one is a clear error."""
        try:
            import tiktoken
        except ImportError as error:
            raise MarkError("tiktoken encodings need the 'tiktoken' package") from error
        try:
            return cls(tiktoken.get_encoding(name))
        except ValueError as error:
            raise MarkError(f"unknown tiktoken encoding {name!r} ({error})") from None
        except Exception as error:  # network and cache failures come as several types
            raise MarkError(
                f"tiktoken encoding {name!r} is not available here ({type(error).__name__}); "
                "point $TIKTOKEN_CACHE_DIR at a folder that holds it"
            ) from None

    @property
    def vocab_size(self) -> int:
        return int(self._encoding.n_vocab)

    def encode(self, text: str) -> list[int]:
        return list(self._encoding.encode(text, disallowed_special=()))

    def decode(self, ids: Sequence[int]) -> str:
        return str(self._encoding.decode(list(ids)))


def as_ids(
    tokens: Sequence[int] | NDArray[np.integer[Any]], vocab_size: int, where: str
) -> NDArray[np.int64]:
    """``tokens`` as int64 ids, checked against the vocabulary."""
    ids = np.asarray(tokens, dtype=np.int64)
    if ids.ndim != 1:
        raise TokenError(f"{where}: token ids must be a flat sequence, not shape {ids.shape}")
    if ids.size:
        bad = np.flatnonzero((ids < 0) | (ids >= vocab_size))
        if bad.size:
            i = int(bad[0])
            raise TokenError(
                f"{where}: token id {int(ids[i])} at position {i} is outside the vocabulary "
                f"of {vocab_size}: the text was encoded with another tokenizer"
            )
    return ids
