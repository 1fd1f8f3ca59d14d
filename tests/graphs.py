"""Account x artefact graphs for hunt tests, written as who holds what."""

from __future__ import annotations

import numpy as np

from distillguard.hunt.artefacts import Graph


def build(n: int, artefacts: list[tuple[str, list[int]]]) -> Graph:
    """A graph of ``n`` accounts and the given artefacts: (kind, accounts holding it)."""
    edges = [(account, j) for j, (_, holders) in enumerate(artefacts) for account in holders]
    account, art = np.asarray(edges, dtype=np.int64).T
    return Graph(
        account=account,
        artefact=art,
        uses=np.ones(account.size, dtype=np.int64),
        accounts=[f"acct-{i}" for i in range(n)],
        kinds=[kind for kind, _ in artefacts],
        values=[f"{kind}-{j}" for j, (kind, _) in enumerate(artefacts)],
    )
