"""The n-gram generator the experiments rely on: its batch sampler draws from exactly the
distribution ``probs`` reports, and it backs off where a context was never seen."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chisquare

from distillguard.marks import NGram

DOCS = [np.array([0, 1, 2, 0, 1, 3, 0, 1, 2, 4]), np.array([2, 2, 1, 0, 1, 2])]


def test_probs_interpolate_the_orders() -> None:
    lm = NGram(5, order=3, weights=(0.6, 0.3, 0.1)).fit(DOCS)
    p = lm.probs([0, 1])
    assert p.sum() == pytest.approx(1.0)
    unigram = np.bincount(np.concatenate(DOCS), minlength=5) / 16
    bigram = np.bincount([2, 3, 2, 0, 2], minlength=5) / 5  # after 1
    trigram = np.bincount([2, 3, 2, 2], minlength=5) / 4  # after 0 1
    assert p == pytest.approx(0.6 * trigram + 0.3 * bigram + 0.1 * unigram)
    unseen = lm.probs([4, 4])  # neither (4, 4) nor 4 is ever followed: unigram alone
    assert unseen == pytest.approx(unigram)


def test_batch_sampling_draws_from_probs() -> None:
    lm = NGram(5, order=3, weights=(0.6, 0.3, 0.1)).fit(DOCS)
    rng = np.random.default_rng(0)
    for history in ([0, 1], [2, 2], [4, 4], [3, 0]):
        rows = np.array([history] * 20_000)
        counts = np.bincount(lm.sample(rows, rng), minlength=5)
        expected = lm.probs(history) * 20_000
        keep = expected > 0
        assert counts[~keep].sum() == 0
        assert chisquare(counts[keep], expected[keep]).pvalue > 1e-3


def test_generation_shapes_and_options() -> None:
    lm = NGram(5, order=2).fit(DOCS)
    out = lm.generate(np.array([[0], [1]]), 7, np.random.default_rng(1))
    assert out.shape == (2, 7) and out.max() < 5
    with pytest.raises(ValueError, match="weights"):
        NGram(5, order=3, weights=(1.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="no tokens"):
        NGram(5).fit([])
