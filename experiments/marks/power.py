"""Experiment (ii): how many tokens a watermarked text needs before p <= 1e-6.

    python experiments/marks/power.py --data DATA [--texts 200] [--length 600]

The trigram generator fitted on the corpus writes ``--texts`` answers of up to
``--length`` tokens after real 4-token prompt windows, watermarked with one key:

* ``gumbel`` at temperature 1, 0.7 and 0.5 (distortion-free sampling);
* ``greenlist`` (gamma 0.25, delta 2) at temperature 0 (greedy) and 1.

For each text the p-value is computed after every token, as the deployed detector does it:
the first 4 tokens of the answer are context only, each (context, token) pair is scored
once, and the p-value is Bonferroni-corrected over the two schemes. Reported: the median
(and quartiles) of the answer length at which p first reaches 1e-6, the share of texts that
reach it within ``--length`` tokens, and the generator's mean entropy per step in nats (at
the sampling temperature for ``gumbel``; of the untempered model for ``greenlist``).
"""

from __future__ import annotations

import time
from typing import Any

import common
import numpy as np
from numpy.typing import NDArray
from scipy.special import gammaincc
from scipy.stats import binom

from distillguard.marks import GreenListSampler, GumbelSampler, MarkKey
from distillguard.marks.prf import context_hashes, seeds_of, splitmix_array, uniforms_at

WIDTH = 4
GAMMA = 0.25


def needed(text: NDArray[np.int64], key: MarkKey, alpha: float) -> int | None:
    """Answer length at which the corrected p-value first reaches ``alpha``."""
    windows = np.lib.stride_tricks.sliding_window_view(text, WIDTH + 1)
    contexts = context_hashes(windows[:, :WIDTH])
    tokens = text[WIDTH:]
    pair = splitmix_array(contexts ^ splitmix_array(tokens.astype(np.uint64)))
    _, first = np.unique(pair, return_index=True)
    new = np.zeros(len(tokens), dtype=bool)
    new[first] = True
    n = np.cumsum(new)
    r_g = uniforms_at(seeds_of(key.word("gumbel"), contexts), tokens)
    r_l = uniforms_at(seeds_of(key.word("greenlist"), contexts), tokens)
    s = np.cumsum(np.where(new, -np.log1p(-r_g), 0.0))
    k = np.cumsum(new & (r_l < GAMMA))
    p = 2 * np.minimum(gammaincc(n, s), binom.sf(k - 1, n, GAMMA))
    hit = np.flatnonzero(p <= alpha)
    return None if hit.size == 0 else int(hit[0]) + WIDTH + 1


def summary(lengths: list[int | None], entropies: list[float], cap: int) -> dict[str, Any]:
    found = np.array([x for x in lengths if x is not None], dtype=np.float64)
    full = np.array([cap + 1 if x is None else x for x in lengths], dtype=np.float64)
    return {
        "texts": len(lengths),
        "reached": float(len(found) / len(lengths)),
        "median_tokens": float(np.median(full)) if np.median(full) <= cap else None,
        "quartiles": [float(np.quantile(full, q)) for q in (0.25, 0.75)],
        "mean_entropy_nats": float(np.mean(entropies)),
    }


def main() -> None:
    p = common.parser(__doc__ or "")
    p.add_argument("--texts", type=int, default=200)
    p.add_argument("--length", type=int, default=600)
    p.add_argument("--alpha", type=float, default=1e-6)
    args = p.parse_args()
    s = common.setup(args)
    rng = np.random.default_rng(args.seed)
    key = s.ring.key("cluster:experiment-power", 0)
    gumbel = GumbelSampler(key, s.vocab_size, context_width=WIDTH)
    green = GreenListSampler(key, s.vocab_size, context_width=WIDTH, gamma=GAMMA, delta=2.0)
    prompts = s.prompt_windows(args.texts, WIDTH, rng)
    results: dict[str, Any] = {}
    start = time.perf_counter()
    for scheme, temperature in (
        ("gumbel", 1.0),
        ("gumbel", 0.7),
        ("gumbel", 0.5),
        ("greenlist", 0.0),
        ("greenlist", 1.0),
    ):
        lengths: list[int | None] = []
        entropies: list[float] = []
        for prompt in prompts:
            history = [int(t) for t in prompt]
            if scheme == "gumbel":
                g = gumbel.start(rng)
                for _ in range(args.length):
                    probs = common.tempered(s.lm.probs(history), temperature)
                    entropies.append(common.entropy(probs))
                    history.append(g.sample(probs, history))
            else:
                gl = green.start(rng)
                for _ in range(args.length):
                    probs = s.lm.probs(history)
                    entropies.append(common.entropy(probs))
                    with np.errstate(divide="ignore"):
                        logits = np.log(probs)
                    history.append(gl.choose(logits, history, temperature))
            answer = np.asarray(history[WIDTH:], dtype=np.int64)
            lengths.append(needed(answer, key, args.alpha))
        results[f"{scheme}@T={temperature:g}"] = summary(lengths, entropies, args.length)
    common.save(
        s.out,
        "power",
        {
            "alpha": args.alpha,
            "context_width": WIDTH,
            "correction": "bonferroni over 2 schemes",
            "results": results,
            "seconds": round(time.perf_counter() - start, 1),
        },
    )


if __name__ == "__main__":
    main()
