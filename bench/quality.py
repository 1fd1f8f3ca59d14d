"""Hunt quality beside three baselines, over seeds and evasion levels.

    python bench/quality.py                               # seeds 1-3, evasion 0-3
    python bench/quality.py --seeds 4 --evasion 3 --scale 0.002
    python bench/quality.py --methods hunt --shape 22,2,0.003,28 --shape 31,2,0.008,10

For each seed and evasion level it simulates labelled traffic, ingests it, and scores four
methods on it with ``evaluate``: the hunt at its default operating point, per-key rate
limiting (top 0.5% of accounts by peak requests per minute), dense-block detection alone,
and the chain-of-thought keyword share alone. It prints one Markdown row per method and
traffic, then the means, and writes the full evaluations to bench/results/.

The hunt's priors and operating point were chosen while looking at seed 101 only; use
other seeds here.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from distillguard.exchange import IngestOptions, Store, ingest
from distillguard.hunt import hunt
from distillguard.hunt.baselines import cot_share, dense_block, rate_limit
from distillguard.hunt.evaluate import evaluate
from distillguard.signals import TextSignals
from distillguard.simulate import simulate

Method = Callable[[Store, Path], object]
METHODS: dict[str, Method] = {
    "hunt": hunt,
    "rate limit": rate_limit,
    "dense blocks": dense_block,
    "CoT share": cot_share,
}


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def row(traffic: str, method: str, e: dict[str, Any]) -> str:
    attack = e["verdict_attack"]
    worst = max(
        ((p["false_positive_rate"] or 0.0, p["population"]) for p in e["false_positives"]),
        default=(0.0, "-"),
    )
    campaigns = e["campaigns"]
    found = sum(1 for c in campaigns if (c["recall"] or 0) >= 0.5)
    right = sum(1 for c in campaigns if c["capability_right"])
    return (
        f"| {traffic} | {method} | {_fmt(attack['precision'])} | {_fmt(attack['recall'])} | "
        f"{_fmt(attack['f1'])} | {_fmt(e['pr_auc'])} | {worst[0]:.3f} ({worst[1]}) | "
        f"{_fmt(e['ari_attack'])} | {found}/{len(campaigns)} | {right}/{len(campaigns)} |"
    )


def _shape(text: str) -> tuple[int, int, float, int]:
    try:
        seed, evasion, scale, days = text.split(",")
        return int(seed), int(evasion), float(scale), int(days)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not SEED,EVASION,SCALE,DAYS") from None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--evasion", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--scale", type=float, default=0.005)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument(
        "--shape",
        type=_shape,
        action="append",
        metavar="SEED,EVASION,SCALE,DAYS",
        help="one traffic set of its own shape (repeatable); replaces the four options above",
    )
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    args = parser.parse_args()
    shapes = args.shape or [
        (seed, evasion, args.scale, args.days) for seed in args.seeds for evasion in args.evasion
    ]
    work = Path(tempfile.mkdtemp(prefix="distillguard-quality-"))
    results: dict[str, dict[str, Any]] = {}
    print(
        "| traffic | method | precision | recall | F1 | PR-AUC | worst benign FPR "
        "(population) | ARI | campaigns found | top capability right |"
    )
    print("|---|---|---:|---:|---:|---:|---|---:|---:|---:|")
    try:
        for seed, evasion, scale, days in shapes:
            name = f"seed {seed}, evasion {evasion}"
            if args.shape:
                name += f", scale {scale}, {days} days"
            root = work / f"s{seed}e{evasion}"
            traffic = root / "traffic"
            simulate(traffic, scale=scale, days=days, seed=seed, evasion=evasion)
            ingest(
                [traffic / "exchanges"],
                root / "store",
                accounts=traffic / "accounts.jsonl",
                models=traffic / "models.jsonl",
                options=IngestOptions(annotate=TextSignals()),
            )
            store = Store(root / "store")
            for method in args.methods:
                out = root / method.replace(" ", "-")
                METHODS[method](store, out)
                figures = evaluate(out, traffic / "labels.csv").to_json()
                results.setdefault(method, {})[name] = figures
                print(row(name, method, figures), flush=True)
            shutil.rmtree(root)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for method, by_traffic in results.items():
        values = list(by_traffic.values())
        p = [v["verdict_attack"]["precision"] or 0.0 for v in values]
        r = [v["verdict_attack"]["recall"] or 0.0 for v in values]
        f = [v["verdict_attack"]["f1"] or 0.0 for v in values]
        print(
            f"{method}: precision mean {statistics.mean(p):.3f} (min {min(p):.3f}), "
            f"recall mean {statistics.mean(r):.3f} (min {min(r):.3f}), "
            f"F1 mean {statistics.mean(f):.3f}"
        )
    folder = Path(__file__).resolve().parent / "results"
    folder.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (folder / f"quality-{stamp}.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
