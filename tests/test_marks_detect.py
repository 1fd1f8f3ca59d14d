"""Detection: exact p-values, the right key named, no evidence from clean or bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binom, gamma, kstest

from distillguard.marks import (
    ByteTokenizer,
    Detector,
    GumbelSampler,
    HFTokenizer,
    MarkError,
    MarkKeyError,
    TokenError,
    greenlist_p,
    gumbel_p,
)
from marks_world import RING, VOCAB, answers, model, prompts

KEYS = [RING.key(f"cluster:c-{i}", 7) for i in range(4)]


def marked(key_index: int, n: int, length: int, seed: int = 0) -> list[list[int]]:
    sampler = GumbelSampler(KEYS[key_index], VOCAB)
    rng = np.random.default_rng(seed)
    return [
        model().generate_marked(list(p), length, sampler.start(rng)).tolist()
        for p in prompts(n, 4, seed)
    ]


def test_marked_text_is_detected_and_the_right_key_named() -> None:
    text = marked(2, 1, 300)[0]
    result = Detector(KEYS, VOCAB).test([text])
    assert result.marked(1e-6)
    assert result.best is not None and result.best.key_id == KEYS[2].key_id
    assert result.best.scope == "cluster:c-2" and result.best.scheme == "gumbel"
    assert result.tests == 8
    assert result.p_value == pytest.approx(8 * result.best.p_value)
    assert "watermarked" in result.describe() and "Bonferroni over 8" in result.describe()
    out = result.to_json()
    assert out["marked"] is True and out["best"]["key_id"] == KEYS[2].key_id


def test_clean_real_text_gives_uniform_p_values_and_no_false_positive() -> None:
    docs = [a for a in answers() if len(a) > 40][:600]
    p_values = []
    for i, doc in enumerate(docs):
        key = RING.key(f"account:null-{i}", 1)
        result = Detector([key], VOCAB, schemes=("gumbel",)).test([doc])
        assert not result.marked(1e-6)
        p_values.append(result.p_value)
    assert kstest(p_values, "uniform").pvalue > 1e-3


def test_a_wrong_key_finds_nothing_and_says_so() -> None:
    text = marked(0, 1, 300, seed=3)[0]
    result = Detector(KEYS[1:], VOCAB).test([text])
    assert not result.marked(1e-6) and result.p_value > 1e-4
    assert "wrong or missing key" in result.describe()
    with pytest.raises(MarkKeyError, match="no watermark key"):
        Detector([], VOCAB)


@pytest.mark.parametrize("text", [[], [1], [1, 2, 3, 4]])
def test_too_short_texts_are_never_evidence(text: list[int]) -> None:
    result = Detector(KEYS, VOCAB).test([text])
    assert (result.p_value, result.n_scored, result.best) == (1.0, 0, None)
    assert not result.marked(1.0)
    assert "too short" in result.describe()
    assert result.to_json()["n_tokens"] == len(text)


def test_token_ids_outside_the_vocabulary_are_refused() -> None:
    with pytest.raises(TokenError, match=r"token id 300 at position 2 .*another tokenizer"):
        Detector(KEYS, VOCAB).test([[1, 2, 300, 4, 5, 6]])
    with pytest.raises(TokenError, match="token id -1"):
        Detector(KEYS, VOCAB).test([[-1, 2, 3, 4, 5]])
    with pytest.raises(MarkError, match="tokenizer has 256 ids"):
        Detector(KEYS, 100).test_text("hello world", ByteTokenizer())
    padded = Detector(KEYS, 50_304).test_text("hello world, padded vocabulary", ByteTokenizer())
    assert padded.n_scored > 0 and not padded.marked()


def test_each_pair_is_scored_once() -> None:
    text = marked(1, 1, 120, seed=4)[0]
    detector = Detector(KEYS[:2], VOCAB)
    once = detector.test([text])
    many = detector.test([text] * 10)
    assert many.n_scored == once.n_scored and many.p_value == once.p_value
    assert many.n_tokens == 10 * once.n_tokens
    assert once.n_scored <= len(text) - 4


def test_pairs_in_the_excluded_texts_are_dropped() -> None:
    text = marked(1, 1, 200, seed=5)[0]
    detector = Detector(KEYS, VOCAB)
    pairs = detector.pairs([text], exclude=[text[:100]])
    assert 0 < len(pairs) < detector.pairs([text]).__len__()
    assert pairs.excluded > 50
    assert detector.test([text], exclude=[text]).n_scored == 0


def test_p_values_are_the_exact_distributions() -> None:
    assert float(gumbel_p(10, 14.0)) == pytest.approx(gamma.sf(14.0, 10), rel=1e-12)
    assert float(gumbel_p(0, 5.0)) == 1.0
    assert greenlist_p(50, 30, 0.25) == pytest.approx(binom.sf(29, 50, 0.25), rel=1e-12)
    assert greenlist_p(0, 0, 0.25) == 1.0
    rng = np.random.default_rng(0)
    sums = rng.exponential(size=(5000, 40)).sum(axis=1)
    assert kstest(gumbel_p(40, sums), "uniform").pvalue > 1e-3


def test_text_detection_through_tokenizers() -> None:
    tok = ByteTokenizer()
    text = tok.decode(marked(3, 1, 250, seed=6)[0])
    result = Detector(KEYS, tok.vocab_size).test_text(text, tok)
    assert result.marked() and result.best is not None
    assert result.best.key_id == KEYS[3].key_id


def test_hugging_face_tokenizer_adapter(tmp_path: Path) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    model = tokenizers.models.WordLevel({"[UNK]": 0, "hello": 1, "world": 2}, unk_token="[UNK]")
    tok = tokenizers.Tokenizer(model)
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tok.save(str(tmp_path / "tokenizer.json"))
    adapter = HFTokenizer.from_file(tmp_path / "tokenizer.json")
    assert adapter.vocab_size == 3
    assert adapter.encode("hello world hello other") == [1, 2, 1, 0]
    result = Detector(KEYS[:1], 3, context_width=1).test_text("hello world", adapter)
    assert result.n_scored == 1 and result.p_value > 0.01
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(MarkError, match="not a tokenizers file"):
        HFTokenizer.from_file(tmp_path / "bad.json")


def test_first_occurrences_match_numpy_unique() -> None:
    from distillguard.marks.pairs import _first_occurrences

    rng = np.random.default_rng(8)
    for n in (0, 1, 2, 17, 5000):
        keys = rng.integers(0, 2**63, n).astype(np.uint64)
        if n > 2:
            keys[rng.integers(0, n, n // 2)] = keys[: n // 2]
        _, expected = np.unique(keys, return_index=True)
        assert _first_occurrences(keys).tolist() == sorted(expected.tolist())
