"""Marks benchmark: what watermarking costs per generated token, and detection throughput.

    python bench/marks.py                  # the full run (about a minute on 2 cores)
    python bench/marks.py --quick          # a smoke run

1. **sampling**, per step, at vocabularies of 32,000 and 50,257 tokens, with next-token
   distributions ``p ∝ rank ** -1.8`` over a random permutation of the vocabulary (Zipf,
   about 2 nats of entropy, like a chat model's next token at temperature 1). In the same
   run and interleaved round by round, so the machine's state affects all alike:
   ``rng.choice(V, p=p)`` and inverse-CDF sampling (``plain_sample``) as the unmarked
   yardsticks, keyed Gumbel-max sampling
   (``GumbelGeneration.sample``, a fresh context each step so every step is keyed), and
   for greedy traffic ``argmax`` against the green list (``GreenListGeneration.choose`` at
   temperature 0). Reported: median microseconds per step and the ratios.
2. **detection**, ``Detector.test`` over 1M tokens (5,000 texts of 200 tokens) as one
   corpus, with one key and both schemes, and per text (as the CLI does): tokens per second.

Results go to ``bench/results/marks-<time>.json`` with the machine they ran on.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from distillguard.marks import (
    Detector,
    GreenListSampler,
    GumbelSampler,
    Keyring,
    MasterSecret,
    plain_sample,
)
from run import machine

RING = Keyring(MasterSecret(b"benchmark-secret-not-for-deployment-000"))
KEY = RING.key("cluster:bench", 0)


def distribution(vocab: int, rng: np.random.Generator) -> NDArray[np.float64]:
    p = np.arange(1, vocab + 1, dtype=np.float64) ** -1.8
    shuffled: NDArray[np.float64] = p[rng.permutation(vocab)] / p.sum()
    return shuffled


def sampling(vocab: int, steps: int, rounds: int) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    dists = [distribution(vocab, rng) for _ in range(16)]
    logits = [np.log(p) for p in dists]
    entropy = statistics.mean(float(-(p * np.log(p)).sum()) for p in dists)
    gumbel = GumbelSampler(KEY, vocab).start(np.random.default_rng(1))
    green = GreenListSampler(KEY, vocab).start(np.random.default_rng(2))
    histories = rng.integers(0, vocab, size=(steps * rounds * 4 + 8, 4)).tolist()
    cursor = iter(histories)
    runs: dict[str, Callable[[int], object]] = {
        "rng.choice": lambda i: rng.choice(vocab, p=dists[i % 16]),
        "inverse_cdf": lambda i: plain_sample(dists[i % 16], rng),
        "gumbel": lambda i: gumbel.sample(dists[i % 16], next(cursor)),
        "argmax": lambda i: int(np.argmax(logits[i % 16])),
        "greenlist_greedy": lambda i: green.choose(logits[i % 16], next(cursor)),
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, step in runs.items():
            start = time.perf_counter_ns()
            for i in range(steps):
                step(i)
            times[name].append((time.perf_counter_ns() - start) / steps / 1000)
    us = {name: statistics.median(t) for name, t in times.items()}
    return {
        "vocab": vocab,
        "mean_entropy_nats": round(entropy, 2),
        "us_per_step": {name: round(v, 1) for name, v in us.items()},
        "gumbel_vs_inverse_cdf": round(us["gumbel"] / us["inverse_cdf"], 3),
        "gumbel_vs_rng_choice": round(us["gumbel"] / us["rng.choice"], 3),
        "greenlist_vs_argmax": round(us["greenlist_greedy"] / us["argmax"], 1),
        "greenlist_extra_us": round(us["greenlist_greedy"] - us["argmax"], 1),
    }


def detection(texts: int, length: int, repeats: int) -> dict[str, Any]:
    rng = np.random.default_rng(3)
    corpus = [rng.integers(0, 50_257, length) for _ in range(texts)]
    tokens = texts * length
    detector = Detector([KEY], 50_257)
    best_corpus = min(_timed(lambda: detector.test(corpus)) for _ in range(repeats))
    few = corpus[: max(1, texts // 5)]
    best_texts = min(_timed(lambda: [detector.test([t]) for t in few]) for _ in range(repeats))
    many = Detector(RING.candidates([f"cluster:c-{i}" for i in range(10)]), 50_257)
    best_many = min(_timed(lambda: many.test(corpus)) for _ in range(repeats))
    return {
        "tokens": tokens,
        "corpus_tokens_per_s": round(tokens / best_corpus),
        "per_text_tokens_per_s": round(len(few) * length / best_texts),
        "corpus_30_keys_tokens_per_s": round(tokens / best_many),
    }


def _timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    steps, rounds = (50, 3) if args.quick else (200, 15)
    result: dict[str, Any] = {
        "machine": machine(),
        "sampling": [sampling(v, steps, rounds) for v in (32_000, 50_257)],
        "detection": detection(1000 if args.quick else 5000, 200, 2 if args.quick else 5),
    }
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    (out / f"marks-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    print("\n| vocab | rng.choice µs | inverse CDF µs | Gumbel µs | Gumbel / inverse CDF |")
    print("|---|---|---|---|---|")
    for row in result["sampling"]:
        us = row["us_per_step"]
        print(
            f"| {row['vocab']} | {us['rng.choice']} | {us['inverse_cdf']} | {us['gumbel']} "
            f"| {row['gumbel_vs_inverse_cdf']} |"
        )
    d = result["detection"]
    print(
        f"\ndetection: {d['corpus_tokens_per_s']:,} tokens/s as a corpus, "
        f"{d['per_text_tokens_per_s']:,} per text"
    )


if __name__ == "__main__":
    main()
