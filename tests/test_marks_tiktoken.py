"""Detection through a tiktoken encoding: the tokenizer protocol with OpenAI's encodings.

tiktoken downloads its encodings; offline it reads them from ``$TIKTOKEN_CACHE_DIR``. LiteLLM
(the ``litellm`` extra, which CI installs) ships ``cl100k_base`` in that cache format, so the
test points tiktoken there and skips when neither is installed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from distillguard.marks import Detector, GumbelSampler, MarkError, TiktokenTokenizer
from marks_world import RING

tiktoken = pytest.importorskip("tiktoken")
litellm = pytest.importorskip("litellm")


@pytest.fixture(scope="module")
def encoding() -> TiktokenTokenizer:
    cache = Path(litellm.__file__).parent / "litellm_core_utils" / "tokenizers"
    mp = pytest.MonkeyPatch()
    mp.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    try:
        return TiktokenTokenizer.named("cl100k_base")
    finally:
        mp.undo()


def test_a_tiktoken_encoding_reads_text_and_carries_the_watermark(
    encoding: TiktokenTokenizer,
) -> None:
    assert encoding.vocab_size > 100_000
    text = "Reconstruct the reasoning <|endoftext|> behind 42."
    assert encoding.decode(encoding.encode(text)) == text  # special text is plain text
    key = RING.key("cluster:tiktoken", 0)
    vocab = encoding.vocab_size
    rng = np.random.default_rng(5)
    generation = GumbelSampler(key, vocab).start(np.random.default_rng(6))
    ids = encoding.encode("The answer is")
    for _ in range(120):  # a peaked, Zipf-like next-token distribution over the vocabulary
        probs = np.zeros(vocab)
        top = rng.choice(vocab, 50, replace=False)
        probs[top] = 1.0 / np.arange(1, 51) ** 1.2
        ids.append(generation.sample(probs, ids))
    found = Detector([RING.key("cluster:other", 0), key], vocab).test_text(
        encoding.decode(ids), encoding
    )
    assert found.p_value < 1e-6 and found.best is not None and found.best.key_id == key.key_id


def test_an_unknown_encoding_is_a_clear_error() -> None:
    with pytest.raises(MarkError, match="unknown tiktoken encoding"):
        TiktokenTokenizer.named("no_such_encoding")
