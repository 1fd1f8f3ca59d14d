"""Generation: Gumbel sampling is distortion-free, repeats are plain, green lists bias."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chisquare

from distillguard.marks import (
    GreenListSampler,
    GumbelSampler,
    Keyring,
    MasterSecret,
    VocabPRF,
    context_hash,
    plain_sample,
)
from distillguard.marks.prf import seed_of

RING = Keyring(MasterSecret(b"sampling-tests-secret-0123456789abcdef"))
KEY = RING.key("cluster:sampling", 1)
P = np.array([0.5, 0.2, 0.15, 0.1, 0.05])


def test_gumbel_choice_is_the_keyed_argmax() -> None:
    g = GumbelSampler(KEY, 5, context_width=2).start(np.random.default_rng(0))
    token = g.sample(P.copy(), [3, 1])
    r = VocabPRF(5)(seed_of(KEY.word("gumbel"), context_hash([3, 1]))).copy()
    assert token == int(np.argmax(np.log(r) / P))
    assert (g.marked, g.plain) == (1, 0)


def test_gumbel_sampling_is_distortion_free() -> None:
    """Over distinct contexts the chosen tokens follow ``p`` exactly (chi-square)."""
    sampler = GumbelSampler(KEY, 5, context_width=1)
    counts = np.zeros(5)
    for context in range(20_000):
        counts[sampler.start(np.random.default_rng(context)).sample(P, [context])] += 1
    assert chisquare(counts, P * counts.sum()).pvalue > 1e-3


def test_zero_probability_tokens_are_never_chosen() -> None:
    probs = np.array([0.0, 0.0, 1e-3, 0.0, 0.0])
    sampler = GumbelSampler(KEY, 5, context_width=1)
    for context in range(200):
        assert sampler.start(np.random.default_rng(0)).sample(probs, [context]) == 2


def test_a_repeated_context_is_sampled_plainly() -> None:
    """The same context again would repeat the same token: it must fall back to ``p``."""
    g = GumbelSampler(KEY, 5, context_width=1).start(np.random.default_rng(7))
    keyed = g.sample(P, [4])
    again = [g.sample(P, [4]) for _ in range(3000)]
    assert (g.marked, g.plain) == (1, 3000)
    counts = np.bincount(again, minlength=5)
    assert chisquare(counts, P * 3000).pvalue > 1e-3
    assert g.sample(P, [2]) in range(5) and g.marked == 2
    assert keyed in range(5)


def test_short_history_is_not_marked_and_shapes_are_checked() -> None:
    g = GumbelSampler(KEY, 5, context_width=3).start(np.random.default_rng(0))
    g.sample(P, [1])
    assert (g.marked, g.plain) == (0, 1)
    with pytest.raises(ValueError, match="shape"):
        g.sample(np.ones(4) / 4, [1, 2, 3])
    with pytest.raises(ValueError, match="context_width"):
        GumbelSampler(KEY, 5, context_width=0)


def test_plain_sample_follows_p() -> None:
    rng = np.random.default_rng(1)
    counts = np.bincount([plain_sample(P * 3.0, rng) for _ in range(5000)], minlength=5)
    assert chisquare(counts, P * 5000).pvalue > 1e-3


def test_greenlist_greedy_prefers_green_tokens() -> None:
    vocab = 1000
    logits = np.random.default_rng(5).normal(size=vocab) * 0.5
    sampler = GreenListSampler(KEY, vocab, context_width=1, gamma=0.25, delta=4.0)
    green_hits = 0
    for context in range(300):
        chosen = sampler.start(np.random.default_rng(0)).choose(logits, [context])
        r = VocabPRF(vocab)(seed_of(KEY.word("greenlist"), context_hash([context])))
        green_hits += bool(r[chosen] < 0.25)
    assert green_hits > 280
    plain = sampler.start(np.random.default_rng(0))
    plain.choose(logits, [1])
    assert plain.choose(logits, [1]) == int(np.argmax(logits))  # repeated: unbiased
    assert (plain.marked, plain.plain) == (1, 1)


def test_greenlist_sampling_and_options() -> None:
    sampler = GreenListSampler(KEY, 5, context_width=1)
    g = sampler.start(np.random.default_rng(0))
    tokens = {g.choose(np.log(P), [c], temperature=1.0) for c in range(200)}
    assert len(tokens) > 2
    with pytest.raises(ValueError, match="temperature"):
        g.choose(np.log(P), [1], temperature=-1)
    with pytest.raises(ValueError, match="gamma"):
        GreenListSampler(KEY, 5, gamma=1.0)
    with pytest.raises(ValueError, match="delta"):
        GreenListSampler(KEY, 5, delta=0.0)
    assert "secret" not in repr(sampler) and KEY.key_id in repr(sampler)


def test_pruned_gumbel_argmax_equals_the_full_one() -> None:
    """The candidate filter must never change the token: compare with the plain formula
    over peaked, flat and sparse distributions."""
    vocab = 4000
    rng = np.random.default_rng(9)
    sampler = GumbelSampler(KEY, vocab, context_width=1)
    for context in range(300):
        kind = context % 3
        logits = rng.standard_t(3, vocab) * (4.0 if kind == 0 else 0.3)
        probs = np.exp(logits - logits.max())
        if kind == 2:
            probs[rng.random(vocab) < 0.9] = 0.0
            probs[0] = 1e-300
        r = VocabPRF(vocab)(seed_of(KEY.word("gumbel"), context_hash([context]))).copy()
        with np.errstate(divide="ignore"):
            expected = int(np.argmax(np.log(r) / probs))
        assert sampler.start(rng).sample(probs, [context]) == expected
    with pytest.raises(ValueError, match="no positive"):
        sampler.start(rng).sample(np.zeros(vocab), [1])


def test_greedy_greenlist_shortcut_equals_the_full_bias() -> None:
    vocab = 3000
    rng = np.random.default_rng(10)
    sampler = GreenListSampler(KEY, vocab, context_width=1, gamma=0.3, delta=1.5)
    for context in range(300):
        logits = rng.normal(size=vocab) * (0.2 + context % 5)
        r = VocabPRF(vocab)(seed_of(KEY.word("greenlist"), context_hash([context])))
        expected = int(np.argmax(logits + 1.5 * (r < 0.3)))
        assert sampler.start(rng).choose(logits, [context]) == expected
