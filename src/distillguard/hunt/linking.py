"""Linking: which accounts act as one operator.

Each artefact is weighted by how rare it is (an IP network that two accounts share says
more than one that two thousand share) and by how telling its kind is (a shared payment
instrument more than a shared autonomous system). Clusters are communities of the weighted
account x artefact graph (Leiden, modularity, fixed seed), so a popular artefact that
touches many unrelated accounts does not glue them together. Each account's attachment is
the weight of the artefacts it shares with the rest of its cluster: what the cluster's
evidence may lend it.

Modularity has a resolution limit: a small, tightly knit group (one operator's half-dozen
accounts) can be merged into a larger community that shares only one kind of artefact with
it (users of the same public agent framework, tied by its prompt templates). So inside each
cluster, ``knit`` marks the groups whose accounts stay linked when each kind of artefact
counts once (see ``knit_groups``); scoring weighs those groups on their own as well.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

import igraph as ig
import numpy as np
import numpy.typing as npt
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .artefacts import Graph

KIND_WEIGHT: Final[Mapping[str, float]] = {
    "payment": 1.0,
    "system_prompt": 0.8,
    "template": 0.7,
    "signup_network": 0.6,
    "signup_burst": 0.6,
    "ip_network": 0.6,
    "harness": 0.6,
    "client": 0.5,
    "email_domain": 0.5,
    "asn": 0.3,
}
"""How much sharing an artefact of each kind says, before rarity: a prior, not a fit."""


RESOLUTION: Final = 1.0
LINK_THRESHOLD: Final = 1.0
"""Two accounts are linked when what they share weighs this much: a shared payment
instrument alone, or two weaker things together."""
COHESIVE: Final = 0.5
"""An artefact keeps its full weight when the accounts sharing it share, on average, this
much other evidence; less, in proportion."""
KNIT_TRIANGLES: Final = 2
"""Each link of a knit group is backed by at least this many accounts knit to both its
ends (a truss): one common partner is what a developer who uses the same harness and
templates as two campaign accounts gives, and one link is what joins an operator's group to
another group through such a developer. Two, the fewest that rules both out; groups are
then four accounts or more."""


@dataclass(frozen=True)
class Links:
    cluster: npt.NDArray[np.int64]  # per account; -1 when it is in no cluster
    attachment: npt.NDArray[np.float64]  # per account, 0..1
    weight: npt.NDArray[np.float64]  # per artefact: rarity x kind weight
    shared: list[dict[str, float]]  # per account: kind → strongest weight shared in cluster
    partners: npt.NDArray[np.int64]  # per account: linked accounts inside its cluster
    knit: npt.NDArray[np.int64]  # per account: its knit group inside its cluster, or -1
    ties: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    """The links inside clusters, one row (a, b) each: who ``partners`` counts."""


def rarity(degree: npt.NDArray[np.int64], n_accounts: int) -> npt.NDArray[np.float64]:
    """1 for an artefact two accounts share, decaying with the log of how many share it.

    The decay is FRAUDAR's column weighting, 1 / log(d + 5), scaled so a pair weighs 1: an
    artefact a hundred accounts share weighs about 0.4. It decays slowly on purpose: one
    operator's hundreds of accounts share their harness and templates, and that must still
    link them. What keeps common artefacts from linking strangers is that a link needs
    several of them at once (see ``link``), and an artefact that most accounts share (more
    than half) weighs nothing.

    That last rule has a cost, measured: where one campaign is most of the traffic a hunt is
    given (a reseller's logs, a sample of suspect traffic), its own system prompt and
    commonest templates weigh nothing and it falls apart into smaller clusters. Without the
    rule, hunts of the first days of traffic (few accounts, so more artefacts held by half
    of them) linked a company's coding agents strongly enough to convict them, and the
    guard's replay degraded them for half a day.
    """
    d = np.maximum(degree, 2).astype(np.float64)
    weight = math.log(7.0) / np.log(d + 5.0)
    weight = np.where(d > max(2.0, 0.5 * n_accounts), 0.0, weight)
    return np.asarray(weight, dtype=np.float64)


Ints = npt.NDArray[np.int64]


def pairs_of(
    graph: Graph, weight: npt.NDArray[np.float64], *, neighbours: int
) -> tuple[Ints, Ints, Ints]:
    """Account pairs that share artefacts: one record (a, b, artefact) per shared artefact.

    Inside each artefact's group of accounts, every account is paired with the next
    ``neighbours`` accounts in one global pseudo-random order (all pairs when the group is
    small). Because the order is the same for every artefact, two accounts that share several
    artefacts are paired in each of them and their weights add up, while the number of pairs
    stays linear in the number of edges: no artefact with thousands of accounts ever expands
    into all its pairs.
    """
    n = graph.n_accounts
    order_key = np.random.default_rng(12345).permutation(n)  # fixed: results must not vary
    keep = weight[graph.artefact] > 0
    art, acc = graph.artefact[keep], graph.account[keep]
    sort = np.lexsort((order_key[acc], art))
    art, acc = art[sort], acc[sort]
    starts = np.flatnonzero(np.r_[True, art[1:] != art[:-1]])
    group_start = np.repeat(starts, np.diff(np.r_[starts, art.size]))
    group_end = np.repeat(np.r_[starts[1:], art.size], np.diff(np.r_[starts, art.size]))
    position = np.arange(art.size)
    firsts, seconds, arts = [], [], []
    for step in range(1, neighbours + 1):
        # Pair each account with the one ``step`` places later in its group, wrapping round
        # (a ring), so small groups get all their pairs and large ones a connected ring.
        size = group_end - group_start
        valid = size > step
        if not valid.any():
            break
        partner = group_start + (position - group_start + step) % np.maximum(size, 1)
        valid &= (2 * step < size) | ((2 * step == size) & (position - group_start < step))
        first, second = acc[valid], acc[partner[valid]]
        firsts.append(np.minimum(first, second))
        seconds.append(np.maximum(first, second))
        arts.append(art[valid])
    if not firsts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    return np.concatenate(firsts), np.concatenate(seconds), np.concatenate(arts)


def _totals(
    a: Ints, b: Ints, art: Ints, weight: npt.NDArray[np.float64], n: int
) -> tuple[Ints, Ints, npt.NDArray[np.float64], Ints]:
    """Summed weight per distinct pair, and each record's pair number."""
    key, inverse = np.unique(a * n + b, return_inverse=True)
    total = np.bincount(inverse, weights=weight[art])
    pairs = key.astype(np.int64)
    return pairs // n, pairs % n, np.asarray(total, dtype=np.float64), inverse


def cohesion(
    art: Ints,
    total: npt.NDArray[np.float64],
    record_pair: Ints,
    weight: npt.NDArray[np.float64],
    n_artefacts: int,
) -> npt.NDArray[np.float64]:
    """Per artefact: what else, on average, the accounts sharing it share with each other.

    One operator's accounts share their harness *and* their templates *and* their system
    prompt; strangers who share a default system prompt share little else. An artefact's
    weight is scaled by this (see ``COHESIVE``), one step of mutual reinforcement.
    """
    other = total[record_pair] - weight[art]
    summed = np.bincount(art, weights=other, minlength=n_artefacts)
    counts = np.bincount(art, minlength=n_artefacts)
    return np.divide(summed, counts, out=np.zeros(n_artefacts), where=counts > 0)


def knit_groups(
    a: Ints,
    b: Ints,
    art: Ints,
    weight: npt.NDArray[np.float64],
    kind: Ints,
    cluster: Ints,
    *,
    threshold: float,
    min_size: int,
) -> Ints:
    """Groups inside clusters whose accounts are linked with each kind counted once.

    ``a``, ``b``, ``art`` are the pair records of ``pairs_of`` and ``kind`` each artefact's
    kind number. A pair's *diverse* weight is the sum over kinds of the strongest artefact
    of that kind it shares: forty templates of one framework count as one template. Summing
    every artefact is right for finding clusters (an operator's accounts share many
    templates), but it lets a shared framework's templates alone tie strangers to them. An
    operator's own accounts share several kinds at once (payment, sign-up, system prompt,
    harness, templates), so they stay linked at the same ``threshold`` when each kind
    counts once. A group is a connected component of such links within one cluster, each
    link backed by ``KNIT_TRIANGLES`` common partners, with at least ``min_size`` accounts.
    Returns each account's group number, -1 for none.
    """
    n = cluster.size
    group = np.full(n, -1, dtype=np.int64)
    same = (cluster[a] >= 0) & (cluster[a] == cluster[b])
    if not same.any():
        return group
    a, b, art = a[same], b[same], art[same]
    n_kinds = int(kind.max()) + 1
    key, inverse = np.unique((a * n + b) * n_kinds + kind[art], return_inverse=True)
    strongest = np.zeros(key.size)
    np.maximum.at(strongest, inverse, weight[art])
    pair, pair_of_key = np.unique(key // n_kinds, return_inverse=True)
    diverse = np.bincount(pair_of_key, weights=strongest)
    knit = diverse >= threshold
    first, second = _truss(pair[knit] // n, pair[knit] % n, n, KNIT_TRIANGLES)
    matrix = coo_matrix((np.ones(first.size), (first, second)), shape=(n, n))
    _, component = connected_components(matrix, directed=False)
    sizes = np.bincount(component, minlength=n)
    member = np.zeros(n, dtype=bool)
    member[first] = True
    member[second] = True
    member &= sizes[component] >= min_size
    _, group[member] = np.unique(component[member], return_inverse=True)
    return group


def _truss(first: Ints, second: Ints, n: int, triangles: int) -> tuple[Ints, Ints]:
    """The edges that are each in at least ``triangles`` triangles of the edges kept: peel
    the others until none is left to peel."""
    while first.size:
        adjacency = coo_matrix((np.ones(first.size), (first, second)), shape=(n, n)).tocsr()
        adjacency = adjacency + adjacency.T
        common = np.asarray((adjacency @ adjacency)[first, second]).ravel()
        keep = common >= triangles
        if keep.all():
            break
        first, second = first[keep], second[keep]
    return first, second


def _leiden(g: ig.Graph) -> npt.NDArray[np.int64]:
    parts = g.community_leiden(
        objective_function="modularity", weights="weight", resolution=RESOLUTION, n_iterations=-1
    )
    return np.asarray(parts.membership, dtype=np.int64)


def link(
    graph: Graph,
    *,
    seed: int = 1,
    min_cluster: int = 2,
    threshold: float = LINK_THRESHOLD,
    neighbours: int = 8,
) -> Links:
    """Clusters of accounts in ``graph`` and each account's attachment to its cluster.

    Two accounts are linked when the artefacts they share weigh at least ``threshold`` (a
    shared payment instrument alone, or two weaker things together); clusters are Leiden
    communities of the linked accounts with at least ``min_cluster`` members.
    """
    n_acc, n_art = graph.n_accounts, graph.n_artefacts
    kinds = np.asarray([KIND_WEIGHT.get(kind, 0.3) for kind in graph.kinds], dtype=np.float64)
    weight = rarity(graph.degree(), n_acc) * kinds if n_art else np.zeros(0)
    cluster = np.full(n_acc, -1, dtype=np.int64)
    attachment = np.zeros(n_acc, dtype=np.float64)
    shared: list[dict[str, float]] = [{} for _ in range(n_acc)]
    none = np.zeros(n_acc, dtype=np.int64)
    if graph.account.size == 0:
        return Links(cluster, attachment, weight, shared, none, none - 1)

    records = pairs_of(graph, weight, neighbours=neighbours)
    a, b, art = records
    _, _, total, record_pair = _totals(a, b, art, weight, n_acc)
    support = cohesion(art, total, record_pair, weight, n_art)
    weight = weight * np.clip(support / COHESIVE, 0.0, 1.0)
    a, b, w, _ = _totals(a, b, art, weight, n_acc)
    strong = w >= threshold
    a, b, w = a[strong], b[strong], w[strong]
    if a.size == 0:
        return Links(cluster, attachment, weight, shared, none, none - 1)
    g = ig.Graph(n=n_acc, edges=np.column_stack([a, b]).tolist(), edge_attrs={"weight": w})
    state = random.getstate()
    random.seed(seed)
    ig.set_random_number_generator(random)
    try:
        membership = _leiden(g)
    finally:
        random.setstate(state)
    linked = np.zeros(n_acc, dtype=bool)
    same = membership[a] == membership[b]
    linked[a[same]] = True
    linked[b[same]] = True
    sizes = np.bincount(membership[linked], minlength=membership.max() + 1)
    good = linked & (sizes[membership] >= min_cluster)
    _, cluster_ids = np.unique(membership[good], return_inverse=True)
    cluster[good] = cluster_ids
    strength = np.bincount(a[same], weights=w[same], minlength=n_acc) + np.bincount(
        b[same], weights=w[same], minlength=n_acc
    )
    attachment[good] = 1.0 - np.exp(-strength[good] / threshold)

    # What each clustered account shares inside its cluster, strongest weight per kind.
    in_cluster = cluster[graph.account] >= 0
    acc, art = graph.account[in_cluster], graph.artefact[in_cluster]
    key = art * (int(cluster.max()) + 1) + cluster[acc]
    _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    common = (counts[inverse] >= 2) & (weight[art] > 0)
    for account, artefact in zip(acc[common].tolist(), art[common].tolist(), strict=True):
        kind = graph.kinds[artefact]
        shared[account][kind] = max(shared[account].get(kind, 0.0), float(weight[artefact]))
    partners = (
        np.bincount(a[same], minlength=n_acc) + np.bincount(b[same], minlength=n_acc)
    ).astype(np.int64)
    partners[~good] = 0
    inside = same & good[a] & good[b]
    ties = np.column_stack([a[inside], b[inside]]).astype(np.int64)
    _, kind = np.unique(np.asarray(graph.kinds, dtype=str), return_inverse=True)
    knit = knit_groups(
        *records,
        weight,
        kind.astype(np.int64),
        cluster,
        threshold=threshold,
        min_size=min_cluster,
    )
    return Links(cluster, attachment, weight, shared, partners, knit, ties)
