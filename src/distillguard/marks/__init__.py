"""Marks: watermark generated text and prove later that a model was trained on it.

``keys`` derives per-cluster, per-account, per-epoch keys from one master secret; ``gumbel``
(distortion-free sampling) and ``greenlist`` (biased logits, for greedy traffic) embed a key
while generating; ``detect`` gives exact p-values that a text carries a key; ``forensics``
tests whether a suspect model learned from our marked outputs.
"""

from .detect import ALPHA, Detection, Detector, KeyEvidence, greenlist_p, gumbel_p
from .errors import MarkError, MarkKeyError, TokenError
from .forensics import Emitted, Finding, investigate
from .greenlist import GreenListGeneration, GreenListSampler
from .gumbel import GumbelGeneration, GumbelSampler, plain_sample
from .keys import (
    SECRET_ENV,
    Keyring,
    MarkKey,
    MasterSecret,
    epoch_of,
    scope_for,
)
from .ngram import NGram
from .pairs import Pairs
from .prf import VocabPRF, context_hash, splitmix
from .tokens import ByteTokenizer, HFTokenizer, Tokenizer
from .types import CONTEXT_WIDTH, SCHEMES, Scheme

__all__ = [
    "ALPHA",
    "CONTEXT_WIDTH",
    "SCHEMES",
    "SECRET_ENV",
    "ByteTokenizer",
    "Detection",
    "Detector",
    "Emitted",
    "Finding",
    "GreenListGeneration",
    "GreenListSampler",
    "GumbelGeneration",
    "GumbelSampler",
    "HFTokenizer",
    "KeyEvidence",
    "Keyring",
    "MarkError",
    "MarkKey",
    "MarkKeyError",
    "MasterSecret",
    "NGram",
    "Pairs",
    "Scheme",
    "TokenError",
    "Tokenizer",
    "VocabPRF",
    "context_hash",
    "epoch_of",
    "greenlist_p",
    "gumbel_p",
    "investigate",
    "plain_sample",
    "scope_for",
    "splitmix",
]
