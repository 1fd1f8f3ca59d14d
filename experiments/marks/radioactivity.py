"""Experiment (iii): radioactivity. Is a student trained on our marked outputs caught, and
is the right cluster named?

    python experiments/marks/radioactivity.py --data DATA [--context-width 4]

Teacher: the trigram generator fitted on the corpus, serving cluster ``exp-3`` 200-token
answers (after real 8-token prompt windows) watermarked with that cluster's key (Gumbel
sampling, temperature 1). The contexts it emitted are recorded (``Emitted``).

Students: trigram models fitted on the real corpus plus teacher answers, the answers being
1%, 5% or 20% of the student's training tokens, or 100% (answers only). Controls: the same
shares of *unmarked* teacher answers, and the corpus alone.

Each student writes ``--suspect-tokens`` tokens (200-token answers after fresh prompt
windows); ``forensics.investigate`` tests the five cluster keys (Bonferroni over five),
keeping pairs whose context the teacher emitted under the tested key and dropping pairs
found in the prompts. Reported: p-value, the key named, scored pairs; also the p-value
from the first fifth of the suspect text and without the emitted-context filter.
"""

from __future__ import annotations

import time
from typing import Any

import common
import numpy as np
from numpy.typing import NDArray

from distillguard.marks import Emitted, GumbelSampler, investigate
from distillguard.marks.ngram import NGram

SHARES = (0.01, 0.05, 0.2, 1.0)
ANSWER = 200


def main() -> None:
    p = common.parser(__doc__ or "")
    p.add_argument("--context-width", type=int, default=4)
    p.add_argument("--suspect-tokens", type=int, default=500_000)
    p.add_argument("--alpha", type=float, default=1e-6)
    args = p.parse_args()
    s = common.setup(args)
    width = args.context_width
    rng = np.random.default_rng(args.seed)
    keys = [s.ring.key(f"cluster:exp-{i}", 0) for i in range(5)]
    served = keys[3]
    clean_tokens = sum(len(d) for d in s.docs)
    needed = int(max(sh / (1 - sh) for sh in SHARES if sh < 1) * clean_tokens)
    n_answers = needed // ANSWER + 1
    start = time.perf_counter()
    sampler = GumbelSampler(served, s.vocab_size, context_width=width)
    starts = s.prompt_windows(n_answers, 8, rng)
    marked = [s.lm.generate_marked(list(q), ANSWER, sampler.start(rng)) for q in starts]
    teacher_seconds = time.perf_counter() - start
    plain = list(s.lm.generate(s.prompt_windows(n_answers, 8, rng), ANSWER, rng))
    emitted = Emitted(s.vocab_size, width)
    emitted.add(served.key_id, marked)

    def student(outputs: list[NDArray[np.int64]], share: float) -> NGram:
        if share >= 1.0:
            return NGram(s.vocab_size, 3, common.WEIGHTS).fit(outputs)
        k = int(share / (1 - share) * clean_tokens) // ANSWER + 1
        return NGram(s.vocab_size, 3, common.WEIGHTS).fit(s.docs + outputs[:k])

    def examine(lm: NGram) -> dict[str, Any]:
        asked = s.prompt_windows(args.suspect_tokens // ANSWER, 8, rng)
        suspect = list(lm.generate(asked, ANSWER, rng))
        row: dict[str, Any] = {}
        for name, texts, filt in (
            ("full", suspect, emitted),
            ("fifth", suspect[: len(suspect) // 5], emitted),
            ("unfiltered", suspect, None),
        ):
            f = investigate(
                texts,
                keys,
                filt,
                vocab_size=s.vocab_size,
                context_width=width,
                prompts=list(asked),
                schemes=("gumbel",),
            )
            report = f.to_json(args.alpha)
            row[name] = {
                "suspect_tokens": f.suspect_tokens,
                "p_value": f.detection.p_value,
                "detected": report["trained_on_marked_text"],
                "points_to": (report["points_to"] or {}).get("scope"),
                "best_scope": None if f.detection.best is None else f.detection.best.scope,
                "scored": f.scored.get(served.key_id, 0),
            }
        return row

    rows: list[dict[str, Any]] = []
    for share in SHARES:
        rows.append({"share": share, "marked": True, **examine(student(marked, share))})
        print(rows[-1], flush=True)
    for share in (0.05, 0.2, 1.0):
        rows.append({"share": share, "marked": False, **examine(student(plain, share))})
        print(rows[-1], flush=True)
    rows.append({"share": 0.0, "marked": False, **examine(student([], 0.0))})
    common.save(
        s.out,
        f"radioactivity-h{width}",
        {
            "alpha": args.alpha,
            "context_width": width,
            "keys_tested": len(keys),
            "served_scope": served.scope,
            "clean_corpus_tokens": clean_tokens,
            "teacher_answers": n_answers,
            "teacher_tokens_per_second": round(n_answers * ANSWER / teacher_seconds),
            "rows": rows,
            "seconds": round(time.perf_counter() - start, 1),
        },
    )


if __name__ == "__main__":
    main()
