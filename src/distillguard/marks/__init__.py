"""Marks: watermark generated text and prove later that a model was trained on it.

``keys`` derives per-cluster, per-account, per-epoch keys from one master secret; ``gumbel``
(distortion-free sampling) and ``greenlist`` (biased logits, for greedy traffic) embed a key
while generating; ``detect`` gives exact p-values that a text carries a key; ``forensics``
tests whether a suspect model learned from our marked outputs (from its texts, or from its
next-token predictions on ours), ``evidence`` writes the page an analyst reads, and
``canaries`` probes a suspect endpoint for answers only one cluster was served. ``hf`` and
``vllm`` (optional extras) embed keys inside transformers and vLLM.
"""

from .canaries import PROBES, CanaryFinding, CanarySet, Probe, Reply, at_least, probe
from .detect import ALPHA, Detection, Detector, KeyEvidence, greenlist_p, gumbel_p
from .errors import MarkError, MarkKeyError, TokenError
from .evidence import Finding, fingerprint
from .evidence import render as render_evidence
from .forensics import Emitted, Predict, hf_predict, investigate, investigate_predictions
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
from .tokens import ByteTokenizer, HFTokenizer, TiktokenTokenizer, Tokenizer
from .types import CONTEXT_WIDTH, SCHEMES, Scheme

__all__ = [
    "ALPHA",
    "CONTEXT_WIDTH",
    "PROBES",
    "SCHEMES",
    "SECRET_ENV",
    "ByteTokenizer",
    "CanaryFinding",
    "CanarySet",
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
    "Predict",
    "Probe",
    "Reply",
    "Scheme",
    "TiktokenTokenizer",
    "TokenError",
    "Tokenizer",
    "VocabPRF",
    "at_least",
    "context_hash",
    "epoch_of",
    "fingerprint",
    "greenlist_p",
    "gumbel_p",
    "hf_predict",
    "investigate",
    "investigate_predictions",
    "plain_sample",
    "probe",
    "render_evidence",
    "scope_for",
    "splitmix",
]
