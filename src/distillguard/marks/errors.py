"""Errors raised by the marks package, under the project's root error::

    DistillguardError
    └── MarkError            watermarking or detection cannot go on
        ├── MarkKeyError     a secret or key is missing, too short or malformed
        └── TokenError       token ids do not fit the vocabulary (another tokenizer's text)

Messages never contain secret or key material: only key ids, scopes and lengths.
"""

from __future__ import annotations

from ..errors import DistillguardError


class MarkError(DistillguardError):
    """Root of the errors of watermarking and detection."""


class MarkKeyError(MarkError):
    """A master secret or derived key is missing, too short or malformed."""


class TokenError(MarkError):
    """A token id is outside the vocabulary: the text was encoded with another tokenizer."""
