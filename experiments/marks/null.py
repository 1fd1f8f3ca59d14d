"""Experiment (i): false positives and p-value uniformity on unwatermarked text.

    python experiments/marks/null.py --data DATA [--texts 100000]

Two sets of clean text, tested with the deployed detector (one key, both schemes,
Bonferroni over the two): (a) every real text of the corpus (answers, conversations and
prompts, encoded with the trained tokenizer); (b) ``--texts`` texts of ``--length`` tokens
sampled without any watermark from the trigram generator fitted on the corpus, each after a
real 4-token prompt window. Reported: texts called marked at p <= 1e-6 (expect none), the
smallest p, and a Kolmogorov-Smirnov test of the Gumbel p-values against U(0, 1). The
green-list p-value is discrete (binomial), so for it the share of p <= alpha is compared with
alpha instead.

Each set is tested twice: with one fixed key (``fixed``: what a deployment sees for one
cluster) and with a different key per text (``per_text``). The p-values of one text are
exactly uniform over keys, which the per-text run checks; under one fixed key, texts that
share common (context, token) pairs share those pairs' ``r``, so their p-values are
correlated and the KS test, which assumes independent samples, can reject even though every
p-value is exact.
"""

from __future__ import annotations

import time
from typing import Any

import common
import numpy as np
from scipy.stats import kstest

from distillguard.marks import Detector


def _stats(results: list[tuple[float, float, float, int]], alpha: float) -> dict[str, Any]:
    corrected = np.array([r[0] for r in results])
    scored = np.array([r[3] for r in results])
    gumbel = np.array([r[1] for r in results])[scored > 0]
    green = np.array([r[2] for r in results])[scored > 0]
    return {
        "texts": len(results),
        "texts_with_scored_tokens": int((scored > 0).sum()),
        "median_scored_tokens": float(np.median(scored)),
        "false_positives": int((corrected <= alpha).sum()),
        "min_p": float(corrected.min()),
        "ks_gumbel_p": float(kstest(gumbel, "uniform").pvalue),
        "greenlist_share_p_le": {str(a): float((green <= a).mean()) for a in (0.01, 0.05, 0.1)},
    }


def main() -> None:
    p = common.parser(__doc__ or "")
    p.add_argument("--texts", type=int, default=100_000)
    p.add_argument("--length", type=int, default=200)
    p.add_argument("--alpha", type=float, default=1e-6)
    args = p.parse_args()
    s = common.setup(args)
    rng = np.random.default_rng(args.seed)
    key = s.ring.key("cluster:experiment-null", 0)
    detector = Detector([key], s.vocab_size)
    counter = iter(range(10**9))

    def run(texts: Any) -> dict[str, list[tuple[float, float, float, int]]]:
        rows: dict[str, list[tuple[float, float, float, int]]] = {"fixed": [], "per_text": []}
        for text in texts:
            own = Detector([s.ring.key(f"account:null-{next(counter)}", 0)], s.vocab_size)
            pairs = detector.pairs([text])
            for name, det in (("fixed", detector), ("per_text", own)):
                d = det.test_pairs(pairs)
                by = {e.scheme: e.p_value for e in d.evidence}
                rows[name].append((d.p_value, by["gumbel"], by["greenlist"], d.n_scored))
        return rows

    start = time.perf_counter()
    real = run(s.docs + s.prompts)
    sampled: dict[str, list[tuple[float, float, float, int]]] = {"fixed": [], "per_text": []}
    batch = 10_000
    for lo in range(0, args.texts, batch):
        n = min(batch, args.texts - lo)
        prompts = s.prompt_windows(n, 4, rng)
        for name, rows in run(s.lm.generate(prompts, args.length, rng)).items():
            sampled[name] += rows
    result = {
        "alpha": args.alpha,
        "detector": {"keys": 1, "schemes": list(detector.schemes), "context_width": 4},
        "real": {name: _stats(rows, args.alpha) for name, rows in real.items()},
        "sampled": {
            "length": args.length,
            **{name: _stats(rows, args.alpha) for name, rows in sampled.items()},
        },
        "seconds": round(time.perf_counter() - start, 1),
    }
    common.save(s.out, "null", result)


if __name__ == "__main__":
    main()
