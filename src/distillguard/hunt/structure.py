"""Structure beyond shared artefacts: dense blocks and lockstep timing, per account.

Two more kinds of coordination evidence for the scores:

- **dense**: the account is in a block of accounts x artefacts that FRAUDAR-style peeling
  finds denser than the same graph with its artefacts shuffled (``dense.dense_blocks``);
  camouflage (extra edges to popular artefacts) cannot hide such a block.
- **lockstep**: the account acts on the same prompt template within the same minute as
  another account of its cluster, in many distinct minutes (``lockstep.lockstep_pairs``,
  bucketed so no two accounts are ever compared unless they share a bucket).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import ibis.expr.types as ir
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from .artefacts import Graph
from .dense import dense_blocks
from .lockstep import lockstep_pairs

Array = npt.NDArray[np.float64]

LOCKSTEP_WINDOW: Final = 60
"""Seconds: two accounts acting on one template within a minute act together."""
LOCKSTEP_TOGETHER: Final = 3
"""Distinct minutes together before a pair counts."""
LOCKSTEP_JACCARD: Final = 0.2
"""Share of their active minutes that two accounts must share."""


@dataclass(frozen=True)
class Structure:
    dense: Array  # 1.0 for an account in a dense block, else 0.0
    lockstep: Array  # 1.0 for an account in lockstep with another of its cluster

    @classmethod
    def none(cls, n: int) -> Structure:
        return cls(np.zeros(n), np.zeros(n))


def dense_members(graph: Graph) -> Array:
    """1.0 for each account in a dense block of the account x artefact graph.

    The graph goes in unweighted: FRAUDAR's own column weighting (1 / log(degree + 5)) is
    the rarity weighting this step is calibrated with."""
    member = np.zeros(graph.n_accounts)
    if graph.account.size == 0:
        return member
    blocks = dense_blocks(
        graph.account,
        graph.artefact,
        graph.n_accounts,
        graph.n_artefacts,
        k=50,
        min_rows=3,
    )
    for block in blocks:
        member[block.rows] = 1.0
    return member


def lockstep_members(
    signals: ir.Table, names: pa.Array | pa.ChunkedArray, cluster: npt.NDArray[np.int64]
) -> Array:
    """1.0 for each account in lockstep with another account of the same cluster."""
    n = len(names)
    member = np.zeros(n)
    table = signals.select("account_id", "epoch", "template_fp").to_pyarrow()
    table = table.filter(pc.is_valid(table["template_fp"]))
    if table.num_rows == 0:
        return member
    index = pc.fill_null(pc.index_in(table["account_id"], value_set=names), -1)
    account = index.to_numpy(zero_copy_only=False).astype(np.int64)
    known = account >= 0
    pairs = lockstep_pairs(
        account[known],
        table["epoch"].to_numpy(zero_copy_only=False).astype(np.int64)[known],
        table["template_fp"].to_numpy(zero_copy_only=False).astype(np.int64)[known],
        window=LOCKSTEP_WINDOW,
        min_together=LOCKSTEP_TOGETHER,
    )
    strong = pairs.jaccard >= LOCKSTEP_JACCARD
    a, b = pairs.a[strong], pairs.b[strong]
    same = (cluster[a] >= 0) & (cluster[a] == cluster[b])
    member[a[same]] = 1.0
    member[b[same]] = 1.0
    return member
