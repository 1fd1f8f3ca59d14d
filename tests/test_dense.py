"""Dense blocks: planted campaigns in random graphs, camouflage, and the peeling itself
checked against a slow, obvious implementation and against brute force."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distillguard.hunt.dense import Block, column_weights, dense_blocks, fraudar

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Planted:
    rows: Ints
    cols: Ints
    n_rows: int
    n_cols: int
    blocks: list[set[int]]  # the accounts of each planted block
    artefacts: list[set[int]]  # and its artefacts


def plant(
    seed: int,
    *,
    n_rows: int = 3000,
    n_cols: int = 4000,
    degree: int = 5,
    blocks: tuple[tuple[int, int, float], ...] = ((60, 40, 0.6),),
    camouflage: str | None = None,
    heavy: bool = False,
) -> Planted:
    """A random sparse graph (``degree`` edges per account) with blocks (accounts,
    artefacts, edge probability) planted on disjoint accounts and artefacts.

    ``heavy``: artefact popularity is Zipf-like, as real IP networks and clients are.
    ``camouflage``: each block account also gets as many edges outside its block as inside
    it, to random artefacts (``"random"``) or to artefacts in proportion to their
    popularity (``"popular"``), the paper's two camouflage attacks.
    """
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, n_cols + 1) ** (1.0 if heavy else 0.0)
    popularity /= popularity.sum()
    rows = np.repeat(np.arange(n_rows), degree)
    cols = rng.choice(n_cols, rows.size, p=popularity)
    accounts = rng.permutation(n_rows)
    artefacts = rng.permutation(n_cols)
    all_rows, all_cols, truth, used = [rows], [cols], [], []
    used_rows = used_cols = 0
    for height, width, p in blocks:
        members = accounts[used_rows : used_rows + height]
        targets = artefacts[used_cols : used_cols + width]
        used_rows, used_cols = used_rows + height, used_cols + width
        i, j = np.nonzero(rng.random((height, width)) < p)
        all_rows.append(members[i])
        all_cols.append(targets[j])
        truth.append(set(members.tolist()))
        used.append(set(targets.tolist()))
        if camouflage is not None:
            weights = (
                np.bincount(cols, minlength=n_cols).astype(np.float64) + 1.0
                if camouflage == "popular"
                else np.ones(n_cols)
            )
            all_rows.append(members[i])
            all_cols.append(rng.choice(n_cols, i.size, p=weights / weights.sum()))
    return Planted(
        np.concatenate(all_rows).astype(np.int64),
        np.concatenate(all_cols).astype(np.int64),
        n_rows,
        n_cols,
        truth,
        used,
    )


def precision_recall(found: Ints, truth: set[int]) -> tuple[float, float]:
    hits = len(set(found.tolist()) & truth)
    return hits / max(found.size, 1), hits / len(truth)


def matched(block: Block, planted: Planted) -> tuple[float, float]:
    """Precision and recall of the block's accounts against its best planted block."""
    return max(precision_recall(block.rows, truth) for truth in planted.blocks)


# The recovery tests -------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fraudar_recovers_a_planted_block(seed: int) -> None:
    graph = plant(seed)
    block = fraudar(graph.rows, graph.cols, graph.n_rows, graph.n_cols)
    precision, recall = precision_recall(block.rows, graph.blocks[0])
    assert precision >= 0.95 and recall >= 0.95


@pytest.mark.parametrize("camouflage", ["random", "popular"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_recovers_a_block_under_camouflage(camouflage: str, seed: int) -> None:
    graph = plant(seed, heavy=True, camouflage=camouflage)
    block = fraudar(graph.rows, graph.cols, graph.n_rows, graph.n_cols)
    precision, recall = precision_recall(block.rows, graph.blocks[0])
    assert precision >= 0.95 and recall >= 0.95
    blocks = dense_blocks(graph.rows, graph.cols, graph.n_rows, graph.n_cols)
    assert len(blocks) == 1
    precision, recall = precision_recall(blocks[0].rows, graph.blocks[0])
    assert precision >= 0.95 and recall >= 0.95


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_column_weighting_is_what_sets_a_campaign_apart_from_a_crowd(seed: int) -> None:
    # Every customer uses six of ten popular artefacts (big ASNs, common clients): counted
    # plainly, that crowd looks denser than a sparse campaign; discounted, it does not.
    graph = plant(seed, degree=3, blocks=((60, 40, 0.1),), camouflage="popular")
    rng = np.random.default_rng(seed)
    crowd = np.repeat(np.arange(graph.n_rows), 6)
    hubs = np.concatenate([rng.choice(10, 6, replace=False) for _ in range(graph.n_rows)])
    rows = np.concatenate([graph.rows, crowd])
    cols = np.concatenate([graph.cols, graph.n_cols - 1 - hubs])
    plain = fraudar(rows, cols, graph.n_rows, graph.n_cols, column_weighting=False)
    assert precision_recall(plain.rows, graph.blocks[0])[0] < 0.3
    weighted = fraudar(rows, cols, graph.n_rows, graph.n_cols)
    precision, recall = precision_recall(weighted.rows, graph.blocks[0])
    # Peeling sheds the campaign's lightest accounts (2 or 3 edges of 40) with the crowd.
    assert precision >= 0.95 and recall >= 0.85


@pytest.mark.parametrize("heavy", [False, True])
def test_dense_blocks_recovers_several_blocks_and_stops(heavy: bool) -> None:
    graph = plant(
        4, heavy=heavy, blocks=((80, 50, 0.5), (40, 30, 0.7), (120, 20, 0.6), (25, 25, 0.9))
    )
    blocks = dense_blocks(graph.rows, graph.cols, graph.n_rows, graph.n_cols)
    assert len(blocks) == 4
    for block in blocks:
        precision, recall = matched(block, graph)
        assert precision >= 0.95 and recall >= 0.95
    which = [
        max(range(4), key=lambda t: len(set(b.rows.tolist()) & graph.blocks[t])) for b in blocks
    ]
    assert sorted(which) == [0, 1, 2, 3]
    assert [b.density for b in blocks] == sorted((b.density for b in blocks), reverse=True)


def test_dense_blocks_respects_k() -> None:
    graph = plant(4, blocks=((80, 50, 0.5), (40, 30, 0.7), (120, 20, 0.6)))
    blocks = dense_blocks(graph.rows, graph.cols, graph.n_rows, graph.n_cols, k=2)
    everything = dense_blocks(graph.rows, graph.cols, graph.n_rows, graph.n_cols)
    assert [b.density for b in blocks] == [b.density for b in everything[:2]]
    assert dense_blocks(graph.rows, graph.cols, graph.n_rows, graph.n_cols, k=0) == []


@pytest.mark.parametrize("heavy", [False, True])
@pytest.mark.parametrize("seed", [5, 6, 7])
def test_random_graph_has_no_block(heavy: bool, seed: int) -> None:
    graph = plant(seed, heavy=heavy, blocks=())
    assert dense_blocks(graph.rows, graph.cols, graph.n_rows, graph.n_cols) == []
    # The peeling still finds its densest set: the threshold is what rejects it.
    block = fraudar(graph.rows, graph.cols, graph.n_rows, graph.n_cols, min_rows=2)
    assert block.rows.size >= 2
    assert dense_blocks(graph.rows, graph.cols, graph.n_rows, graph.n_cols, min_lift=0.5)


def test_two_equal_unconnected_blocks_come_back_as_two() -> None:
    # Peeling keeps both (together they are exactly as dense as either alone).
    rows = np.repeat(np.arange(20), 10)
    cols = np.tile(np.arange(10), 20) + 10 * (rows >= 10)
    both = fraudar(rows, cols, 20, 20)
    assert both.rows.size == 20
    blocks = dense_blocks(rows, cols, 20, 20, min_lift=0.5)
    assert [b.rows.tolist() for b in sorted(blocks, key=lambda b: int(b.rows[0]))] == [
        list(range(10)),
        list(range(10, 20)),
    ]


def test_blocks_joined_by_stray_edges_are_split() -> None:
    # Some accounts of each campaign also touch artefacts of the other, both ways round.
    graph = plant(12, blocks=((40, 30, 0.7), (30, 30, 0.8)))
    first, second = (sorted(rows) for rows in graph.blocks)
    theirs, ours = sorted(graph.artefacts[1]), sorted(graph.artefacts[0])
    stray_rows = np.array(first[:4] + second[:4])
    stray_cols = np.array(theirs[:4] + ours[:4])
    rows = np.concatenate([graph.rows, stray_rows, stray_rows])
    cols = np.concatenate([graph.cols, stray_cols, np.roll(stray_cols, 1)])
    assert fraudar(rows, cols, graph.n_rows, graph.n_cols).rows.size == 70
    blocks = dense_blocks(rows, cols, graph.n_rows, graph.n_cols)
    assert len(blocks) == 2
    for block in blocks:
        assert min(matched(block, graph)) >= 0.95


@pytest.mark.parametrize(
    "shape", [(60, 40, 0.25), (300, 40, 0.25), (20, 8, 0.9), (100, 100, 0.1), (40, 40, 0.9)]
)
@pytest.mark.parametrize("seed", [13, 14])
def test_one_campaign_is_not_cut(shape: tuple[int, int, float], seed: int) -> None:
    # Sparse or dense, tall or wide: a random-like campaign has no cut to split it along.
    graph = plant(seed, blocks=(shape,))
    blocks = dense_blocks(graph.rows, graph.cols, graph.n_rows, graph.n_cols)
    assert len(blocks) == 1
    precision, recall = matched(blocks[0], graph)
    assert precision >= 0.95 and recall >= 0.9


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_many_accounts_on_few_artefacts_come_back_whole(seed: int) -> None:
    # Peeling keeps the accounts that use most of the campaign's artefacts and sheds the
    # rest; the found block takes back every account that uses a good part of them.
    graph = plant(seed, blocks=((150, 20, 0.4),))
    peeled = fraudar(graph.rows, graph.cols, graph.n_rows, graph.n_cols)
    assert precision_recall(peeled.rows, graph.blocks[0])[1] < 0.7
    (block,) = dense_blocks(graph.rows, graph.cols, graph.n_rows, graph.n_cols)
    precision, recall = precision_recall(block.rows, graph.blocks[0])
    assert precision >= 0.95 and recall >= 0.9


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_few_accounts_on_many_artefacts_come_back_as_one_block(seed: int) -> None:
    graph = plant(seed, blocks=((30, 200, 0.3),))
    (block,) = dense_blocks(graph.rows, graph.cols, graph.n_rows, graph.n_cols)
    assert min(precision_recall(block.rows, graph.blocks[0])) >= 0.95
    assert min(precision_recall(block.cols, graph.artefacts[0])) >= 0.95


def test_blocks_joined_by_many_popular_artefacts_are_split() -> None:
    # Forty artefacts that each a third of all accounts use (ASNs, clients, SDKs): many
    # edges between the campaigns run through them, but the campaigns hold little of them.
    graph = plant(14, degree=3, blocks=((40, 30, 0.6), (40, 30, 0.6)))
    rng = np.random.default_rng(14)
    users = rng.random((graph.n_rows, 40)) < 1 / 3
    account, hub = np.nonzero(users)
    rows = np.concatenate([graph.rows, account])
    cols = np.concatenate([graph.cols, graph.n_cols - 1 - hub])
    blocks = dense_blocks(rows, cols, graph.n_rows, graph.n_cols)
    assert len(blocks) == 2
    for block in blocks:
        assert min(matched(block, graph)) >= 0.95


def test_blocks_joined_by_a_popular_artefact_are_split() -> None:
    # Two campaigns that both use an artefact that most of the world uses too (a big
    # ASN): one block to the peeling, two campaigns to the analyst.
    graph = plant(8, degree=3, blocks=((30, 20, 0.8), (30, 20, 0.8)))
    hub = graph.n_cols - 1
    campaigns = np.array(sorted(graph.blocks[0] | graph.blocks[1]))
    rows = np.concatenate([graph.rows, np.arange(graph.n_rows), campaigns])
    cols = np.concatenate([graph.cols, np.full(graph.n_rows + campaigns.size, hub)])
    blocks = dense_blocks(rows, cols, graph.n_rows, graph.n_cols)
    assert len(blocks) == 2
    for block in blocks:
        assert min(matched(block, graph)) >= 0.95


# Small cases ---------------------------------------------------------------------------


def no_edges() -> Ints:
    return np.zeros(0, dtype=np.int64)


def test_empty_graph() -> None:
    for n_rows, n_cols in [(0, 0), (5, 7)]:
        block = fraudar(no_edges(), no_edges(), n_rows, n_cols)
        assert block.rows.size == block.cols.size == 0 and block.density == 0.0
        assert dense_blocks(no_edges(), no_edges(), n_rows, n_cols) == []


def test_one_node() -> None:
    assert fraudar(no_edges(), no_edges(), 1, 0).rows.size == 0
    alone = fraudar(no_edges(), no_edges(), 1, 0, row_prior=np.array([2.5]))
    assert alone.rows.tolist() == [0] and alone.density == 2.5


def test_one_edge() -> None:
    edge = np.array([0]), np.array([0])
    block = fraudar(*edge, 1, 1)
    assert block.rows.tolist() == [0] and block.cols.tolist() == [0]
    assert block.density == pytest.approx(1 / math.log(1 + 5) / 2)
    assert fraudar(*edge, 1, 1, column_weighting=False).density == 0.5
    assert fraudar(*edge, 1, 1, c=2.0).density == pytest.approx(1 / math.log(3) / 2)


def test_duplicate_edges_count_once_with_their_largest_weight() -> None:
    graph = plant(9)
    block = fraudar(graph.rows, graph.cols, graph.n_rows, graph.n_cols)
    twice = fraudar(
        np.concatenate([graph.rows, graph.rows[::3]]),
        np.concatenate([graph.cols, graph.cols[::3]]),
        graph.n_rows,
        graph.n_cols,
    )
    assert twice.rows.tolist() == block.rows.tolist()
    assert twice.cols.tolist() == block.cols.tolist()
    assert twice.density == pytest.approx(block.density)
    rows, cols = np.array([0, 0, 1]), np.array([0, 0, 0])
    weighted = fraudar(rows, cols, 2, 1, weights=np.array([1.0, 4.0, 2.0]), column_weighting=False)
    assert weighted.density == pytest.approx((4 + 2) / 3)


def test_isolated_nodes_change_nothing() -> None:
    graph = plant(10, n_rows=500, n_cols=600)
    block = fraudar(graph.rows, graph.cols, graph.n_rows, graph.n_cols)
    wider = fraudar(graph.rows, graph.cols, graph.n_rows + 1000, graph.n_cols + 1000)
    assert wider.rows.tolist() == block.rows.tolist()
    assert wider.cols.tolist() == block.cols.tolist()
    assert wider.density == block.density


def test_min_rows_rules_out_a_single_account() -> None:
    # One account with many artefacts of its own is a star, not a campaign.
    rows = np.zeros(30, dtype=np.int64)
    cols = np.arange(30, dtype=np.int64)
    assert fraudar(rows, cols, 3, 30).rows.tolist() == [0]
    assert fraudar(rows, cols, 3, 30, min_rows=2).rows.size == 0
    assert dense_blocks(rows, cols, 3, 30, min_lift=0.1) == []


def test_row_prior_adds_to_the_block() -> None:
    graph = plant(11, n_rows=500, n_cols=600)
    block = fraudar(graph.rows, graph.cols, graph.n_rows, graph.n_cols)
    outsider = next(r for r in range(graph.n_rows) if r not in graph.blocks[0])
    prior = np.zeros(graph.n_rows)
    prior[outsider] = 100.0
    flagged = fraudar(graph.rows, graph.cols, graph.n_rows, graph.n_cols, row_prior=prior)
    assert outsider in flagged.rows.tolist()
    assert flagged.density > block.density


@pytest.mark.parametrize(
    ("rows", "cols", "n_rows", "n_cols", "options", "message"),
    [
        ([0, 3], [0, 0], 3, 1, {}, "rows must be in"),
        ([0, -1], [0, 0], 3, 1, {}, "rows must be in"),
        ([0, 1], [0, 2], 3, 2, {}, "cols must be in"),
        ([0, 1], [0], 3, 2, {}, "equal in length"),
        ([0.0, 1.0], [0, 1], 3, 2, {}, "rows must be integers"),
        ([0, 1], [0, 1], 3, 2, {"weights": np.array([1.0, -1.0])}, "weights must be finite"),
        ([0, 1], [0, 1], 3, 2, {"weights": np.array([1.0])}, "weights must match"),
        ([0, 1], [0, 1], 3, 2, {"weights": np.array([1.0, np.nan])}, "weights must be finite"),
        ([0, 1], [0, 1], 3, 2, {"row_prior": np.ones(2)}, "row_prior must have"),
        ([0, 1], [0, 1], 3, 2, {"row_prior": -np.ones(3)}, "row_prior must be finite"),
        ([0, 1], [0, 1], 3, 2, {"c": 0.0}, "c must be > 0"),
        ([0, 1], [0, 1], 3, 2, {"min_rows": 0}, "min_rows must be >= 1"),
        ([0, 1], [0, 1], -1, 2, {}, "n_rows and n_cols"),
    ],
)
def test_bad_input_is_refused(
    rows: list[float],
    cols: list[int],
    n_rows: int,
    n_cols: int,
    options: dict[str, object],
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        fraudar(np.array(rows), np.array(cols), n_rows, n_cols, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "message"),
    [({"k": -1}, "k must be"), ({"min_lift": 0.0}, "min_lift"), ({"null_trials": 0}, "null")],
)
def test_dense_blocks_refuses_bad_options(options: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dense_blocks(np.array([0]), np.array([0]), 1, 1, **options)  # type: ignore[arg-type]


def test_column_weights() -> None:
    weights = column_weights(np.array([0, 0, 0, 2]), 4)
    assert weights == pytest.approx(
        [1 / math.log(8), 1 / math.log(5), 1 / math.log(6), 1 / math.log(5)]
    )


# The peeling against slow, obvious implementations ----------------------------------------


Edges = dict[tuple[int, int], float]


def edge_set(rows: list[int], cols: list[int], weights: list[float], c: float | None) -> Edges:
    """The graph as the docstring defines it: one edge per pair (largest weight), then
    optionally times 1 / log(distinct accounts of the artefact + c)."""
    edges: Edges = {}
    for r, col, w in zip(rows, cols, weights, strict=True):
        edges[r, col] = max(edges.get((r, col), 0.0), w)
    if c is not None:
        degree = {col: sum(1 for _, j in edges if j == col) for _, col in edges}
        edges = {(r, col): w / math.log(degree[col] + c) for (r, col), w in edges.items()}
    return {pair: w for pair, w in edges.items() if w > 0}


def density_of(edges: Edges, prior: list[float], rows: set[int], cols: set[int]) -> float:
    size = len(rows) + len(cols)
    if size == 0:
        return 0.0
    mass = sum(w for (r, c), w in edges.items() if r in rows and c in cols)
    return (mass + sum(prior[r] for r in rows)) / size


def reference_peel(
    edges: Edges, prior: list[float], n_rows: int, n_cols: int, min_rows: int
) -> tuple[set[int], set[int]]:
    """FRAUDAR's peeling, quadratic: recompute every priority at every step."""
    nodes = {("r", r) for r in range(n_rows) if prior[r] > 0}
    nodes |= {("r", r) for r, _ in edges} | {("c", c) for _, c in edges}
    rows = {i for kind, i in nodes if kind == "r"}
    cols = {i for kind, i in nodes if kind == "c"}
    best, best_sets = -1.0, (set[int](), set[int]())
    while rows and len(rows) >= min_rows:
        g = density_of(edges, prior, rows, cols)
        if g > best:
            best, best_sets = g, (set(rows), set(cols))

        def priority(node: tuple[str, int]) -> tuple[float, int]:
            kind, i = node
            if kind == "r":
                p = prior[i] + sum(w for (r, c), w in edges.items() if r == i and c in cols)
                return p, i
            return sum(w for (r, c), w in edges.items() if c == i and r in rows), n_rows + i

        kind, i = min([("r", r) for r in rows] + [("c", c) for c in cols], key=priority)
        (rows if kind == "r" else cols).discard(i)
    return best_sets


small_graphs = st.integers(1, 6).flatmap(
    lambda n_rows: st.integers(1, 6).flatmap(
        lambda n_cols: st.tuples(
            st.just(n_rows),
            st.just(n_cols),
            st.lists(
                st.tuples(
                    st.integers(0, n_rows - 1), st.integers(0, n_cols - 1), st.integers(0, 4)
                ),
                max_size=25,
            ),
            st.lists(st.integers(0, 3), min_size=n_rows, max_size=n_rows),
        )
    )
)


@settings(max_examples=300, deadline=None)
@given(small_graphs, st.integers(1, 3))
def test_peeling_matches_the_reference(
    graph: tuple[int, int, list[tuple[int, int, int]], list[int]], min_rows: int
) -> None:
    # Integer weights, no column weighting: every sum is exact, so the order is too.
    n_rows, n_cols, triples, prior_ints = graph
    rows = [r for r, _, _ in triples]
    cols = [c for _, c, _ in triples]
    weights = [float(w) for _, _, w in triples]
    prior = [float(p) for p in prior_ints]
    block = fraudar(
        np.array(rows, dtype=np.int64),
        np.array(cols, dtype=np.int64),
        n_rows,
        n_cols,
        weights=np.array(weights),
        column_weighting=False,
        row_prior=np.array(prior),
        min_rows=min_rows,
    )
    edges = edge_set(rows, cols, weights, None)
    want_rows, want_cols = reference_peel(edges, prior, n_rows, n_cols, min_rows)
    assert set(block.rows.tolist()) == want_rows
    assert set(block.cols.tolist()) == want_cols


@settings(max_examples=300, deadline=None)
@given(small_graphs, st.booleans())
def test_density_is_recomputed_from_the_edges_and_within_half_of_the_best(
    graph: tuple[int, int, list[tuple[int, int, int]], list[int]], weighting: bool
) -> None:
    n_rows, n_cols, triples, prior_ints = graph
    rows = [r for r, _, _ in triples]
    cols = [c for _, c, _ in triples]
    weights = [w / 2 for _, _, w in triples]
    prior = [p / 3 for p in prior_ints]
    block = fraudar(
        np.array(rows, dtype=np.int64),
        np.array(cols, dtype=np.int64),
        n_rows,
        n_cols,
        weights=np.array(weights),
        column_weighting=weighting,
        row_prior=np.array(prior),
    )
    edges = edge_set(rows, cols, weights, 5.0 if weighting else None)
    found = density_of(edges, prior, set(block.rows.tolist()), set(block.cols.tolist()))
    assert block.density == pytest.approx(found, rel=1e-12, abs=1e-12)
    assert block.rows.tolist() == sorted(block.rows.tolist())
    assert block.cols.tolist() == sorted(block.cols.tolist())
    # Brute force over every set of accounts and artefacts: the paper's guarantee.
    best = max(
        density_of(edges, prior, set(r), set(c))
        for r in powerset(range(n_rows))
        for c in powerset(range(n_cols))
    )
    assert block.density >= best / 2 - 1e-12
    assert block.density <= best + 1e-12


def powerset(items: range) -> list[tuple[int, ...]]:
    return [s for size in range(len(items) + 1) for s in itertools.combinations(items, size)]


@settings(max_examples=100, deadline=None)
@given(small_graphs, st.integers(0, 2**32 - 1))
def test_dense_blocks_are_blocks(
    graph: tuple[int, int, list[tuple[int, int, int]], list[int]], seed: int
) -> None:
    n_rows, n_cols, triples, _ = graph
    rows = np.array([r for r, _, _ in triples], dtype=np.int64)
    cols = np.array([c for _, c, _ in triples], dtype=np.int64)
    blocks = dense_blocks(rows, cols, n_rows, n_cols, min_lift=0.5, rng=np.random.default_rng(seed))
    edges = edge_set(rows.tolist(), cols.tolist(), [1.0] * rows.size, 5.0)
    zero = [0.0] * n_rows
    for block in blocks:
        members, artefacts = set(block.rows.tolist()), set(block.cols.tolist())
        assert len(members) >= 2
        assert any(r in members and c in artefacts for r, c in edges)
        # Edges taken by earlier blocks no longer count, so never denser than all edges.
        assert 0 < block.density <= density_of(edges, zero, members, artefacts) + 1e-12
    assert [b.density for b in blocks] == sorted((b.density for b in blocks), reverse=True)
