"""Dense blocks of accounts x artefacts that resist camouflage, in the manner of FRAUDAR.

A campaign's accounts share artefacts (payment fingerprints, IP networks, harnesses, prompt
templates) far more densely than unrelated customers do. This module finds such blocks with
the greedy peeling of Hooi et al., "FRAUDAR: Bounding Graph Fraud in the Face of
Camouflage" (KDD 2016)::

    block = fraudar(rows, cols, n_rows, n_cols)           # the densest block
    blocks = dense_blocks(rows, cols, n_rows, n_cols)     # up to k blocks, strongest first

The suspiciousness of a set S of nodes (accounts and artefacts together) is
f(S) = sum of the priors of its accounts + sum of the weights of the edges inside S, and its
density is g(S) = f(S) / |S|. Peeling removes, one at a time, the node whose removal lowers f
least, and returns the densest set seen along the way: at least half the density of the
densest block there is.

Camouflage: a campaign can hide its block by adding edges to popular artefacts, so that its
accounts look like everyone else's. With column weighting each edge to an artefact of degree
d weighs 1 / log(d + c), so popular artefacts count little, and edges the campaign adds
outside its block cannot lower the block's density (the paper's Theorem 2).
"""

from __future__ import annotations

import heapq
import struct
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from scipy.sparse import coo_array, csr_array
from scipy.sparse.csgraph import connected_components

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]

MAX_NODES: Final = 2**31
"""Accounts and artefacts are each counted below this, so an edge packs into one int64."""

EMPTY: Final = np.zeros(0, dtype=np.int64)

OWN_SHARE: Final = 0.1
"""An artefact is a block's own when at least this share of its edge weight is inside it."""

ABSORB: Final = 0.5
"""An account joins a found block when its weight on the block's own artefacts is at least
this share of the block's median account's (and likewise an artefact)."""

CUT: Final = 0.1
"""A found block is cut in two where the edges across weigh less than this share of the
smaller side's edges (conductance)."""

SWEEP_STEPS: Final = 200
"""Power-iteration steps towards the eigenvector that the cut is swept along."""


@dataclass(frozen=True, eq=False)
class Block:
    """A set of accounts and artefacts, and its density g(S) = f(S) / |S|.

    ``rows`` and ``cols`` are sorted; both are empty when the graph has no weight at all.
    """

    rows: Ints  # account indices in the block
    cols: Ints  # artefact indices in the block
    density: float  # g(S) of the block


@dataclass(frozen=True)
class _Graph:
    """Validated edges: one per (row, col) pair, weight > 0, column weighting applied."""

    rows: Ints
    cols: Ints
    weights: Floats
    prior: Floats  # per row, >= 0
    n_rows: int
    n_cols: int


def column_weights(cols: Ints, n_cols: int, c: float = 5.0) -> Floats:
    """FRAUDAR's weight of each artefact: 1 / log(d + c), d = its edges in ``cols`` (one per
    account once duplicates are merged)."""
    if c <= 0:
        raise ValueError(f"c must be > 0, got {c}")
    degree = np.bincount(cols, minlength=n_cols).astype(np.float64)
    return np.asarray(1.0 / np.log(degree + c), dtype=np.float64)


def fraudar(
    rows: Ints,
    cols: Ints,
    n_rows: int,
    n_cols: int,
    *,
    weights: Floats | None = None,
    column_weighting: bool = True,
    c: float = 5.0,
    row_prior: Floats | None = None,
    min_rows: int = 1,
) -> Block:
    """The densest block that greedy peeling finds in the bipartite graph rows x cols.

    ``rows[i], cols[i]`` is an edge between an account and an artefact, of weight
    ``weights[i]`` (>= 0, default 1). An edge given more than once counts once, with its
    largest weight: that an account used an artefact is one fact, however often it was
    logged. With ``column_weighting`` each edge is then multiplied by 1 / log(d + c), d the
    artefact's number of distinct accounts. ``row_prior`` (>= 0, per account) adds to f(S)
    for each account in S: suspicion known from elsewhere.

    Only blocks of at least ``min_rows`` accounts are considered. Nodes with no edge and no
    prior are never part of a block. The peeling is the paper's, exactly (ties go to the
    lower index, accounts before artefacts), so the block is at least half as dense as the
    densest one. Cost: O(|E| log |E|) time, O(|E|) memory.
    """
    _check_min_rows(min_rows)
    graph = _prepare(rows, cols, n_rows, n_cols, weights, column_weighting, c, row_prior)
    return _densest(graph, np.ones(graph.rows.size, dtype=np.bool_), min_rows)


def dense_blocks(
    rows: Ints,
    cols: Ints,
    n_rows: int,
    n_cols: int,
    *,
    k: int = 10,
    min_rows: int = 2,
    weights: Floats | None = None,
    column_weighting: bool = True,
    c: float = 5.0,
    row_prior: Floats | None = None,
    min_lift: float = 1.3,
    null_trials: int = 1,
    rng: np.random.Generator | None = None,
) -> list[Block]:
    """Up to ``k`` dense blocks of at least ``min_rows`` accounts, densest first.

    As in the paper, each block's edges (and the priors of its accounts) are removed before
    the next is sought. Two steps turn what peeling finds into campaigns:

    - a found block that a few edges hold together (two campaigns of similar density,
      joined by popular artefacts or stray edges) is cut into its groups (``_split``);
    - each group takes back the accounts that peeling shed though they use a good part of
      its artefacts, and the artefacts its accounts use as much (``_grow``): peeling keeps
      only the heavier half of a campaign of many accounts on few artefacts.

    A group is reported when its density before growing passes the threshold below; the
    density reported is the grown block's, over the edges no earlier block took. Blocks
    share no edge but may share nodes; a graph without edges has no block.

    Stopping rule: a block is kept only while its density is at least ``min_lift`` times
    the null density, the density peeling finds in the same graph with its artefact ends
    shuffled. The shuffle keeps every account's and every artefact's degree (and each
    artefact's edge weights) and destroys any block, so the null density is what this graph
    reaches by chance; the largest over ``null_trials`` shuffles is used. A ratio to the
    graph's average density would not do: on real, heavy-tailed degrees chance alone makes
    the peeled core several times denser than the average. The default lift, 1.3, is well
    above chance: on random graphs, uniform or heavy-tailed, from a thousand to a million
    edges, the densest block peeling finds is within 10% of the null density. ``rng``
    draws the shuffles (default: a fixed seed, so results repeat).

    Once the threshold is known, only its core is peeled (nodes that add less than the
    threshold cannot be in a block that reaches it; see ``_core``), which keeps the search
    for later blocks cheap; so the first block can differ slightly from ``fraudar``'s on
    the whole graph. The null takes one full peel per trial.
    """
    _check_min_rows(min_rows)
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    if min_lift <= 0:
        raise ValueError(f"min_lift must be > 0, got {min_lift}")
    if null_trials < 1:
        raise ValueError(f"null_trials must be >= 1, got {null_trials}")
    graph = _prepare(rows, cols, n_rows, n_cols, weights, column_weighting, c, row_prior)
    if k == 0 or graph.rows.size == 0:
        return []
    threshold = min_lift * _null_density(graph, min_rows, null_trials, rng)
    alive = np.ones(graph.rows.size, dtype=np.bool_)
    prior = graph.prior.copy()
    core, core_rows = _core(graph, alive, prior, threshold)
    blocks: list[Block] = []
    while len(blocks) < k and core.any():
        peeled = _Graph(graph.rows, graph.cols, graph.weights, prior * core_rows, n_rows, n_cols)
        block = _densest(peeled, core, min_rows)
        if block.rows.size == 0 or block.density < threshold:
            break
        current = _Graph(graph.rows, graph.cols, graph.weights, prior, n_rows, n_cols)
        for part_rows, part_cols in _split(current, alive, block):
            kernel = _measure(current, alive, part_rows, part_cols)
            if part_rows.size < min_rows or kernel.density < threshold:
                continue
            found = _measure(current, alive, *_grow(current, alive, part_rows, part_cols))
            blocks.append(found)
            alive &= ~_edges_of(graph, found.rows, found.cols)
        taken = _edges_of(graph, block.rows, block.cols)
        alive &= ~taken
        prior[block.rows] = 0.0
        core, core_rows = _core(graph, core & ~taken, prior, threshold)
    blocks.sort(key=lambda b: (-b.density, int(b.rows[0])))
    return blocks[:k]


def _check_min_rows(min_rows: int) -> None:
    if min_rows < 1:
        raise ValueError(f"min_rows must be >= 1, got {min_rows}")


def _core(
    graph: _Graph, edges: Mask, prior: Floats, threshold: float
) -> tuple[Mask, npt.NDArray[np.float64]]:
    """The threshold-core of the graph over ``edges``: edges, and 1.0 for each row in it.

    The largest subgraph in which every node's priority (prior plus the weight of its edges
    in the subgraph) is at least ``threshold``, found by removing weaker nodes until none
    is left. Every node of a peeled block adds at least the block's density (else removing
    it would have made the block denser), so every block worth reporting lies in this core,
    which is usually a small part of the graph.
    """
    index = np.flatnonzero(edges)
    while True:
        rows, cols = graph.rows[index], graph.cols[index]
        row_weight = prior + np.bincount(rows, weights=graph.weights[index], minlength=graph.n_rows)
        col_weight = np.bincount(cols, weights=graph.weights[index], minlength=graph.n_cols)
        strong = (row_weight[rows] >= threshold) & (col_weight[cols] >= threshold)
        if strong.all():
            break
        index = index[strong]
    kept = np.zeros(graph.rows.size, dtype=np.bool_)
    kept[index] = True
    return kept, (row_weight >= threshold).astype(np.float64)


def _edges_of(graph: _Graph, rows: Ints, cols: Ints) -> Mask:
    return np.isin(graph.rows, rows) & np.isin(graph.cols, cols)


def _measure(graph: _Graph, alive: Mask, rows: Ints, cols: Ints) -> Block:
    """The block of these accounts and artefacts, its density over the ``alive`` edges."""
    inside = alive & _edges_of(graph, rows, cols)
    mass = float(graph.weights[inside].sum()) + float(graph.prior[rows].sum())
    return Block(rows, cols, mass / max(rows.size + cols.size, 1))


def _split(graph: _Graph, alive: Mask, block: Block) -> list[tuple[Ints, Ints]]:
    """``block`` cut into the groups that its own artefacts hold together: (accounts,
    artefacts) per group.

    Peeling cannot tell two campaigns of similar density apart (keeping both is about as
    dense as keeping either), and a few edges join them: artefacts half the world uses (a
    big ASN, a popular client), or stray edges from one campaign's accounts to the other's
    artefacts. So the block is cut along what only a group would share:

    - only its own artefacts count, those with at least ``OWN_SHARE`` of their edge weight
      inside the block; the others are shared with the world, join nothing and belong to
      no group (``_grow`` gives a group those its accounts use heavily);
    - what they join is cut where few edges hold it together (see ``_bisect``).
    """
    inside = alive & _edges_of(graph, block.rows, block.cols)
    rows, cols, weights = graph.rows[inside], graph.cols[inside], graph.weights[inside]
    held = np.bincount(cols, weights=weights, minlength=graph.n_cols)
    total = np.bincount(graph.cols[alive], weights=graph.weights[alive], minlength=graph.n_cols)
    on_own = (held >= OWN_SHARE * total)[cols]
    n_block_rows = block.rows.size
    n = n_block_rows + block.cols.size
    # Nodes: the block's accounts, then its artefacts.
    src = np.searchsorted(block.rows, rows[on_own])
    dst = n_block_rows + np.searchsorted(block.cols, cols[on_own])
    return [
        (
            block.rows[group[group < n_block_rows]],
            block.cols[group[group >= n_block_rows] - n_block_rows],
        )
        for group in _bisect(src, dst, weights[on_own], n)
    ]


def _bisect(src: Ints, dst: Ints, weight: Floats, n: int) -> list[Ints]:
    """Groups of nodes of a weighted graph, cut where few edges hold it together.

    First its connected parts; then each part is cut in two while it has a cut of
    conductance below ``CUT`` (the weight of the edges across, over the smaller side's
    total edge weight). Two campaigns joined by a handful of stray edges have a cut near
    0; one campaign, however sparse, is a random-like graph without such a cut. The cut
    is the best sweep of the second eigenvector of the lazy random walk, found by power
    iteration (Cheeger's inequality: near the best cut when one is much better than the
    rest). Nodes without edges are in no group.
    """
    groups = []
    pending = [np.arange(n, dtype=np.int64)]
    where = np.zeros(n, dtype=np.int64)
    member = np.zeros(n, dtype=np.bool_)
    while pending:
        nodes = pending.pop()
        member[:] = False
        member[nodes] = True
        inner = member[src] & member[dst]
        where[nodes] = np.arange(nodes.size)
        a, b = where[src[inner]], where[dst[inner]]
        links = coo_array((np.ones(a.size, dtype=np.int8), (a, b)), shape=(nodes.size,) * 2)
        count, found = connected_components(links, directed=False)
        label = np.asarray(found, dtype=np.int64)
        touched = np.zeros(nodes.size, dtype=np.bool_)
        touched[a] = touched[b] = True
        if count > 1:
            # Apart already (or after a cut): each connected part on its own.
            parts = np.unique(label[touched])
            pending += [nodes[touched & (label == part)] for part in parts.tolist()]
            continue
        side = _sweep(a, b, weight[inner], nodes.size)
        if side is None:
            groups.append(nodes)
        else:
            pending += [nodes[side], nodes[~side]]
    return groups


def _sweep(src: Ints, dst: Ints, weight: Floats, n: int) -> Mask | None:
    """One side of a cut of conductance below ``CUT`` of a connected graph, or None."""
    if n < 4:
        return None
    degree = np.bincount(src, weights=weight, minlength=n) + np.bincount(
        dst, weights=weight, minlength=n
    )
    scale = 1.0 / np.sqrt(degree)
    walk = csr_array(
        (
            np.concatenate([weight, weight]),
            (np.concatenate([src, dst]), np.concatenate([dst, src])),
        ),
        shape=(n, n),
    )
    top = np.sqrt(degree) / np.sqrt(degree.sum())
    # A fixed start, so results repeat; any start with a part along the eigenvector works.
    x = np.cos(np.arange(n, dtype=np.float64) * 2.399963) + 0.5 * np.sin(np.arange(n) * 0.7)
    for _ in range(SWEEP_STEPS):
        x -= (x @ top) * top
        x = 0.5 * (x + scale * (walk @ (scale * x)))
        norm = float(np.linalg.norm(x))
        if norm == 0.0:
            return None
        x /= norm
    order = np.argsort(x * scale, kind="stable")
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n)
    first = np.minimum(position[src], position[dst])
    last = np.maximum(position[src], position[dst])
    # An edge crosses the cut after the k-th node when first <= k < last.
    across = np.cumsum(
        np.bincount(first, weights=weight, minlength=n)
        - np.bincount(last, weights=weight, minlength=n)
    )[:-1]
    volume = np.cumsum(degree[order])[:-1]
    conductance = across / np.minimum(volume, degree.sum() - volume)
    k = int(np.argmin(conductance))
    if conductance[k] >= CUT:
        return None
    return np.asarray(position <= k, dtype=np.bool_)


def _grow(graph: _Graph, alive: Mask, rows: Ints, cols: Ints) -> tuple[Ints, Ints]:
    """The group with every account that uses its artefacts at least ``ABSORB`` times as
    much as its median account does, then every artefact that its accounts use at least
    ``ABSORB`` times as much as they use its median artefact.

    Peeling keeps only nodes that add at least the block's density, so a campaign of many
    accounts on few artefacts loses its lighter half, though each of those accounts uses
    much of the campaign's infrastructure (and a campaign of few accounts on many
    artefacts, its lighter artefacts); a stranger who hits one of its artefacts by chance
    comes nowhere near. Artefacts the whole group leans on come back too, popular or not.
    """
    on = alive & np.isin(graph.cols, cols)
    row_weight = np.bincount(graph.rows[on], weights=graph.weights[on], minlength=graph.n_rows)
    typical = float(np.median(row_weight[rows]))
    rows = np.union1d(rows, np.flatnonzero(row_weight >= ABSORB * typical)).astype(np.int64)
    by = alive & np.isin(graph.rows, rows)
    col_weight = np.bincount(graph.cols[by], weights=graph.weights[by], minlength=graph.n_cols)
    typical = float(np.median(col_weight[cols]))
    cols = np.union1d(cols, np.flatnonzero(col_weight >= ABSORB * typical)).astype(np.int64)
    return rows, cols


def _null_density(
    graph: _Graph, min_rows: int, trials: int, rng: np.random.Generator | None
) -> float:
    """The largest density peeling finds in ``trials`` degree-preserving shuffles of graph."""
    rng = np.random.default_rng(0) if rng is None else rng
    best = 0.0
    for _ in range(trials):
        order = rng.permutation(graph.rows.size)
        rows, cols, weights = _dedupe(graph.rows, graph.cols[order], graph.weights[order])
        shuffled = _Graph(rows, cols, weights, graph.prior, graph.n_rows, graph.n_cols)
        block = _densest(shuffled, np.ones(rows.size, dtype=np.bool_), min_rows)
        best = max(best, block.density)
    return best


def _prepare(
    rows: Ints,
    cols: Ints,
    n_rows: int,
    n_cols: int,
    weights: Floats | None,
    column_weighting: bool,
    c: float,
    row_prior: Floats | None,
) -> _Graph:
    if not 0 <= n_rows < MAX_NODES or not 0 <= n_cols < MAX_NODES:
        raise ValueError(f"n_rows and n_cols must be in [0, 2**31), got {n_rows}, {n_cols}")
    rows = np.asarray(rows)
    cols = np.asarray(cols)
    if rows.ndim != 1 or cols.shape != rows.shape:
        raise ValueError(
            f"rows and cols must be 1-D and equal in length: {rows.shape}, {cols.shape}"
        )
    for name, array, bound in (("rows", rows, n_rows), ("cols", cols, n_cols)):
        if array.size and not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"{name} must be integers, got {array.dtype}")
        if array.size and (array.min() < 0 or array.max() >= bound):
            raise ValueError(f"{name} must be in [0, {bound})")
    rows = rows.astype(np.int64, copy=False)
    cols = cols.astype(np.int64, copy=False)
    if weights is None:
        w = np.ones(rows.size, dtype=np.float64)
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != rows.shape:
            raise ValueError(f"weights must match the edges: {w.shape} vs {rows.shape}")
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError("weights must be finite and >= 0")
    if row_prior is None:
        prior = np.zeros(n_rows, dtype=np.float64)
    else:
        prior = np.array(row_prior, dtype=np.float64)
        if prior.shape != (n_rows,):
            raise ValueError(f"row_prior must have n_rows={n_rows} values, got {prior.shape}")
        if not np.all(np.isfinite(prior)) or np.any(prior < 0):
            raise ValueError("row_prior must be finite and >= 0")
    rows, cols, w = _dedupe(rows, cols, w)
    if column_weighting:
        w = w * column_weights(cols, n_cols, c)[cols]
    keep = w > 0
    return _Graph(rows[keep], cols[keep], w[keep], prior, n_rows, n_cols)


def _dedupe(rows: Ints, cols: Ints, weights: Floats) -> tuple[Ints, Ints, Floats]:
    """One edge per (row, col), with the largest weight given; sorted by (row, col)."""
    if rows.size == 0:
        return rows, cols, weights
    packed = rows * MAX_NODES + cols
    order = np.lexsort((weights, packed))
    packed = packed[order]
    last = np.ones(packed.size, dtype=np.bool_)
    last[:-1] = packed[1:] != packed[:-1]
    kept = order[last]
    return rows[kept], cols[kept], weights[kept]


def _densest(graph: _Graph, alive: Mask, min_rows: int) -> Block:
    """Greedy peeling over the edges where ``alive``; the best prefix, density recomputed."""
    rows, cols, weights = graph.rows[alive], graph.cols[alive], graph.weights[alive]
    in_rows, in_cols = _peel(rows, cols, weights, graph.prior, graph.n_rows, graph.n_cols, min_rows)
    block_rows = np.flatnonzero(in_rows).astype(np.int64)
    block_cols = np.flatnonzero(in_cols).astype(np.int64)
    size = block_rows.size + block_cols.size
    if size == 0:
        return Block(EMPTY, EMPTY, 0.0)
    inside = in_rows[rows] & in_cols[cols]
    f = float(weights[inside].sum()) + float(graph.prior[block_rows].sum())
    return Block(block_rows, block_cols, f / size)


def _peel(
    rows: Ints,
    cols: Ints,
    weights: Floats,
    prior: Floats,
    n_rows: int,
    n_cols: int,
    min_rows: int,
) -> tuple[Mask, Mask]:
    """Membership (rows, cols) of the densest prefix of the greedy peeling order.

    Nodes are numbered rows first, then columns. A node's priority is what removing it
    takes from f: its prior plus the weight of its edges to nodes still present. The heap
    holds (priority, node), packed into one int, and is updated lazily: a node's priority
    only falls, so its current entry is always popped before its stale ones, and an entry
    for a node already removed is skipped. Each edge pushes at most once, hence
    O(|E| log |E|).
    """
    n = n_rows + n_cols
    src = np.concatenate([rows, cols + n_rows])
    dst = np.concatenate([cols + n_rows, rows])
    both = np.concatenate([weights, weights])
    degree = np.bincount(src, minlength=n)
    node_prior = np.zeros(n, dtype=np.float64)
    node_prior[:n_rows] = prior
    priority_array = node_prior + np.bincount(src, weights=both, minlength=n)
    active = np.flatnonzero(priority_array > 0)
    in_rows = np.zeros(n_rows, dtype=np.bool_)
    in_cols = np.zeros(n_cols, dtype=np.bool_)
    rows_left = int(np.count_nonzero(active < n_rows))
    if rows_left < min_rows:
        return in_rows, in_cols

    order = np.argsort(src, kind="stable")
    start = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(degree, out=start[1:])
    # Plain lists: the loop below touches one element at a time, where numpy is slow.
    neighbour: list[int] = dst[order].tolist()
    weight: list[float] = both[order].tolist()
    first: list[int] = start.tolist()
    priority: list[float] = priority_array.tolist()
    present = bytearray(n)
    for node in active.tolist():
        present[node] = 1
    # Heap entries are ints, (priority bits << shift) | node: for floats >= 0 the IEEE bit
    # patterns sort as the values do, so this is (priority, node) order, and comparing two
    # ints is much cheaper than comparing two tuples.
    shift = max(n - 1, 1).bit_length()
    bits = struct.Struct("<d").pack
    as_int = struct.Struct("<Q").unpack
    heap = [(as_int(bits(priority[node]))[0] << shift) | node for node in active.tolist()]
    heapq.heapify(heap)
    mask = (1 << shift) - 1

    f = float(node_prior[active].sum()) + float(weights.sum())
    size = int(active.size)
    best = f / size
    best_step = 0
    removed: list[int] = []
    push, pop = heapq.heappush, heapq.heappop
    while heap:
        node = pop(heap) & mask
        if not present[node]:
            continue
        present[node] = 0
        removed.append(node)
        f -= priority[node]
        size -= 1
        for j in range(first[node], first[node + 1]):
            other = neighbour[j]
            if present[other]:
                q = priority[other] - weight[j]
                if q < 0.0:  # rounding, when the last edge goes
                    q = 0.0
                priority[other] = q
                push(heap, (as_int(bits(q))[0] << shift) | other)
        if node < n_rows:
            rows_left -= 1
            if rows_left < min_rows:
                break
        if size and f / size > best:
            best = f / size
            best_step = len(removed)

    keep = np.zeros(n, dtype=np.bool_)
    keep[active] = True
    keep[np.asarray(removed[:best_step], dtype=np.int64)] = False
    in_rows[:] = keep[:n_rows]
    in_cols[:] = keep[n_rows:]
    return in_rows, in_cols
