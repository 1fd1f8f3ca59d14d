"""Graph benchmark: dense blocks (FRAUDAR) and lockstep pairs against numpy/scipy baselines.

    python bench/graph.py                                   # 1M edges, 1M exchanges
    python bench/graph.py --edges 200000 --exchanges 200000 # a quick look

Dense blocks: a random graph of 100k accounts x 200k artefacts whose artefact popularity
is heavy-tailed (log-uniform ranks: the ten most popular artefacts carry a fifth of the
edges, as big ASNs and common clients do), with twenty campaigns planted in it (30-200
accounts x 10-60 artefacts, edge probability 0.3-0.9). Timed: ``fraudar`` (one exact
peel of the whole graph) and ``dense_blocks`` (null shuffle, then blocks until none is
dense enough), against the baseline of building the graph's adjacency with scipy.sparse
(COO to CSR) from the same arrays.

Lockstep: a week of exchanges by 20k accounts on 5,000 prompt templates of log-uniform
popularity; ten campaigns of 100 accounts fire in 400 waves each (every member joins half
of them, a few seconds off); everyone else sends Poisson traffic. Timed: ``lockstep_pairs``
and ``lockstep_groups``, against the baseline of a numpy argsort of each of the three
input arrays.

Every step is timed ``--repeat`` times in this process; the best time counts. Ratios are to
the baseline measured in the same run. Recovery (campaigns found whole) is printed so that
speed is never bought with results. Results go to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
from scipy.sparse import coo_array

from distillguard.hunt.dense import Block, dense_blocks, fraudar
from distillguard.hunt.lockstep import lockstep_groups, lockstep_pairs

Ints = npt.NDArray[np.int64]
T = TypeVar("T")

N_ROWS, N_COLS = 100_000, 200_000
N_ACCOUNTS, N_KEYS, DAYS = 20_000, 5_000, 7


def best_of(repeat: int, step: Callable[[], T]) -> tuple[float, T]:
    """Best wall time of ``repeat`` runs of ``step``, and its last result."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = step()
        times.append(time.perf_counter() - started)
    return min(times), result


def log_uniform(rng: np.random.Generator, n: int, size: int) -> Ints:
    """Ranks 0..n-1 with P(rank) about 1 / (rank + 1), shuffled into ids."""
    rank = np.floor(np.exp(rng.random(size) * np.log(n))).astype(np.int64) - 1
    return np.asarray(rng.permutation(n)[np.minimum(rank, n - 1)], dtype=np.int64)


def planted_graph(edges: int, seed: int) -> tuple[Ints, Ints, list[set[int]]]:
    rng = np.random.default_rng(seed)
    accounts = rng.permutation(N_ROWS)
    artefacts = rng.permutation(N_COLS)
    rows, cols, truth = [], [], []
    used_rows = used_cols = 0
    for _ in range(20):
        height, width = int(rng.integers(30, 201)), int(rng.integers(10, 61))
        members = accounts[used_rows : used_rows + height]
        targets = artefacts[used_cols : used_cols + width]
        used_rows, used_cols = used_rows + height, used_cols + width
        i, j = np.nonzero(rng.random((height, width)) < rng.uniform(0.3, 0.9))
        rows.append(members[i])
        cols.append(targets[j])
        truth.append(set(members.tolist()))
    background = edges - sum(r.size for r in rows)
    rows.append(rng.integers(0, N_ROWS, background))
    cols.append(log_uniform(rng, N_COLS, background))
    return np.concatenate(rows), np.concatenate(cols), truth


def recovered(blocks: list[Block], truth: list[set[int]]) -> int:
    """Planted campaigns that some block matches with precision and recall >= 0.95."""
    found = 0
    for campaign in truth:
        for block in blocks:
            hits = len(campaign & set(block.rows.tolist()))
            if hits >= 0.95 * len(campaign) and hits >= 0.95 * block.rows.size:
                found += 1
                break
    return found


def bench_dense(edges: int, seed: int, repeat: int) -> dict[str, Any]:
    rows, cols, truth = planted_graph(edges, seed)
    ones = np.ones(rows.size)
    base, _ = best_of(
        repeat, lambda: coo_array((ones, (rows, cols)), shape=(N_ROWS, N_COLS)).tocsr()
    )
    peel, block = best_of(repeat, lambda: fraudar(rows, cols, N_ROWS, N_COLS))
    search, blocks = best_of(repeat, lambda: dense_blocks(rows, cols, N_ROWS, N_COLS, k=40))
    return {
        "edges": int(rows.size),
        "scipy_csr_seconds": base,
        "fraudar_seconds": peel,
        "fraudar_ratio": peel / base,
        "fraudar_block": [int(block.rows.size), int(block.cols.size)],
        "dense_blocks_seconds": search,
        "dense_blocks_ratio": search / base,
        "blocks_found": len(blocks),
        "campaigns_planted": len(truth),
        "campaigns_recovered": recovered(blocks, truth),
    }


def waves(exchanges: int, seed: int) -> tuple[Ints, Ints, Ints, Ints]:
    """(account, t, key, campaign of each account or -1)."""
    rng = np.random.default_rng(seed)
    span = DAYS * 86_400
    account, t, key = [], [], []
    campaign = np.full(N_ACCOUNTS, -1, dtype=np.int64)
    for number in range(10):
        members = np.arange(number * 100, (number + 1) * 100)
        campaign[members] = number
        moments = rng.integers(0, span, 400)
        templates = log_uniform(rng, N_KEYS, 400)
        wave, member = np.nonzero(rng.random((400, 100)) < 0.5)
        account.append(members[member])
        t.append(moments[wave] + rng.integers(-5, 6, wave.size))
        key.append(templates[wave])
    rest = exchanges - sum(a.size for a in account)
    account.append(rng.integers(1000, N_ACCOUNTS, rest))
    t.append(rng.integers(0, span, rest))
    key.append(log_uniform(rng, N_KEYS, rest))
    return np.concatenate(account), np.concatenate(t), np.concatenate(key), campaign


def bench_lockstep(exchanges: int, seed: int, repeat: int) -> dict[str, Any]:
    account, t, key, campaign = waves(exchanges, seed)

    def baseline() -> None:
        for array in (account, t, key):
            np.argsort(array)

    base, _ = best_of(repeat, baseline)
    pairs_seconds, pairs = best_of(repeat, lambda: lockstep_pairs(account, t, key))
    groups_seconds, label = best_of(repeat, lambda: lockstep_groups(pairs, N_ACCOUNTS))
    whole = sum(
        len(set(label[campaign == number].tolist())) == 1 and label[campaign == number][0] >= 0
        for number in range(10)
    )
    return {
        "exchanges": int(account.size),
        "numpy_argsort_seconds": base,
        "lockstep_pairs_seconds": pairs_seconds,
        "lockstep_pairs_ratio": pairs_seconds / base,
        "lockstep_groups_seconds": groups_seconds,
        "pairs": int(pairs.a.size),
        "campaigns_grouped_whole": int(whole),
        "campaign_accounts_grouped": float((label[campaign >= 0] >= 0).mean()),
        "other_accounts_grouped": int((label[campaign < 0] >= 0).sum()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--edges", type=int, default=1_000_000)
    parser.add_argument("--exchanges", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    dense = bench_dense(args.edges, args.seed, args.repeat)
    print(json.dumps(dense), flush=True)
    lockstep = bench_lockstep(args.exchanges, args.seed, args.repeat)
    print(json.dumps(lockstep), flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "machine": platform.platform(),
        "python": platform.python_version(),
        "peak_mib": peak,
        "dense": dense,
        "lockstep": lockstep,
    }
    folder = Path(__file__).resolve().parent / "results"
    folder.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (folder / f"graph-{stamp}.json").write_text(json.dumps(result, indent=2))
    print_table(dense, lockstep, peak)
    return 0


def print_table(dense: dict[str, Any], lockstep: dict[str, Any], peak: float) -> None:
    print(f"{'step':<28}{'size':>11}{'seconds':>9}{'baseline s':>12}{'ratio':>7}  result")
    print(
        f"{'fraudar (one peel)':<28}{dense['edges']:>11,}{dense['fraudar_seconds']:>9.2f}"
        f"{dense['scipy_csr_seconds']:>12.3f}{dense['fraudar_ratio']:>7.0f}  "
        f"block {dense['fraudar_block'][0]} x {dense['fraudar_block'][1]}"
    )
    print(
        f"{'dense_blocks':<28}{dense['edges']:>11,}{dense['dense_blocks_seconds']:>9.2f}"
        f"{dense['scipy_csr_seconds']:>12.3f}{dense['dense_blocks_ratio']:>7.0f}  "
        f"{dense['blocks_found']} blocks, {dense['campaigns_recovered']} of "
        f"{dense['campaigns_planted']} campaigns whole"
    )
    print(
        f"{'lockstep_pairs':<28}{lockstep['exchanges']:>11,}"
        f"{lockstep['lockstep_pairs_seconds']:>9.2f}{lockstep['numpy_argsort_seconds']:>12.3f}"
        f"{lockstep['lockstep_pairs_ratio']:>7.1f}  {lockstep['pairs']:,} pairs"
    )
    print(
        f"{'lockstep_groups':<28}{lockstep['pairs']:>11,}"
        f"{lockstep['lockstep_groups_seconds']:>9.3f}{'':>12}{'':>7}  "
        f"{lockstep['campaigns_grouped_whole']} of 10 campaigns whole, "
        f"{lockstep['other_accounts_grouped']} other accounts grouped"
    )
    print(f"peak memory {peak:,.0f} MiB (whole process)")


if __name__ == "__main__":
    raise SystemExit(main())
