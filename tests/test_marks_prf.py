"""The PRF: pinned values (same on every machine), vectorised paths agree, outputs uniform."""

from __future__ import annotations

import numpy as np
from scipy.stats import chisquare, kstest

from distillguard.marks import VocabPRF, context_hash, splitmix
from distillguard.marks.prf import context_hashes, seed_of, seeds_of, uniforms_at, unit


def test_splitmix_matches_the_reference_stream() -> None:
    """SplitMix64 seeded with 0 (Vigna's reference splitmix64.c) starts with these."""
    state, outputs = 0, []
    for _ in range(3):
        outputs.append(splitmix(state))
        state += 0x9E3779B97F4A7C15
    assert outputs == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]


def test_pinned_uniforms() -> None:
    """Changing the PRF silently would orphan every text already marked: these pin it."""
    h = context_hash([17, 4, 2048, 9])
    assert h == 0x4D5870B9EC03E6D9
    seed = seed_of(0x0123456789ABCDEF, h)
    r = VocabPRF(8)(seed)
    assert np.round(r, 12).tolist() == [
        0.465553697154,
        0.578498484431,
        0.02416828026,
        0.888113430436,
        0.378987144181,
        0.700990496096,
        0.324226924199,
        0.131029564246,
    ]


def test_vectorised_paths_agree_with_the_scalar_ones() -> None:
    rng = np.random.default_rng(3)
    windows = rng.integers(0, 50_000, size=(200, 4))
    hashes = context_hashes(windows)
    assert hashes.tolist() == [context_hash(row.tolist()) for row in windows]
    word = 0xFEEDFACECAFEBEEF
    seeds = seeds_of(word, hashes)
    assert seeds.tolist() == [seed_of(word, int(h)) for h in hashes]
    tokens = rng.integers(0, 1000, 200)
    at = uniforms_at(seeds, tokens)
    prf = VocabPRF(1000)
    assert at.tolist() == [float(prf(int(s))[t]) for s, t in zip(seeds, tokens, strict=True)]


def test_uniforms_are_uniform_and_inside_the_open_interval() -> None:
    prf = VocabPRF(50_000)
    r = np.concatenate([prf(seed_of(7, context_hash([i, i + 1]))).copy() for i in range(20)])
    assert r.min() > 0.0 and r.max() < 1.0
    assert kstest(r, "uniform").pvalue > 1e-3
    counts = np.bincount((r * 100).astype(int), minlength=100)
    assert chisquare(counts).pvalue > 1e-3
    extremes = unit(np.array([0, 2**64 - 1], dtype=np.uint64))
    assert 0.0 < extremes[0] < 1e-15 and 1 - 1e-15 < extremes[1] < 1.0


def test_prf_buffers_are_reused_and_contexts_matter() -> None:
    prf = VocabPRF(16)
    first = prf(1).copy()
    assert np.array_equal(prf(1), first)
    assert not np.array_equal(prf(2), first)
    assert context_hash([1, 2]) != context_hash([2, 1])
    assert context_hash([5]) != context_hash([0, 5])
