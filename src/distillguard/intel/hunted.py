"""What a hunt found that can be shared: its campaigns and the artefacts that mark them.

``campaigns.json`` shows artefacts shortened for reading; sharing needs the full values.
They are read back from the store the hunt ran on (the hunt keeps it in ``HUNT_DIR/store``
when it ingested logs itself): the same account x artefact graph the hunt built, so the
values are exactly the ones a partner's hunt will compute. Only the store's keyed hashes and
normalised strings are read, never raw text, addresses or keys.

An artefact is kept for a campaign when at least two of its accounts use it and it is
mostly theirs (``specificity``: the campaign's share of all accounts using it), so a common
SDK harness or a big hosting network never becomes an indicator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from ..errors import InputError
from ..exchange import Store
from ..hunt.artefacts import Graph, build_graph
from ..hunt.report import read_campaigns as read_document
from ..hunt.signals import exchange_signals
from ..hunt.source import duckdb_backend, tables
from ..signals.rules import load
from .vocabulary import ARTEFACT_KINDS

SPECIFICITY: Final = 0.8
MAX_ARTEFACTS: Final = 64
"""Per campaign, strongest first: enough to match on, few enough to review."""


@dataclass(frozen=True, slots=True)
class Artefact:
    kind: str
    value: str  # the store's value: a keyed hash or a normalised string
    accounts: int  # the campaign's accounts that use it
    accounts_overall: int


@dataclass(frozen=True, slots=True)
class HuntedCampaign:
    id: str
    accounts: tuple[str, ...]
    exchanges: int
    first_seen: str | None
    last_seen: str | None
    confidence: float
    capabilities: dict[str, float]
    actor: str | None  # from the hunt's attribution, when it made one
    artefacts: tuple[Artefact, ...]


def read_campaigns(hunt_dir: Path) -> list[dict[str, Any]]:
    """The hunt's campaigns (``hunt.report.read_campaigns``), each with its accounts."""
    path = hunt_dir / "campaigns.json"
    campaigns: list[dict[str, Any]] = read_document(path)["campaigns"]
    for number, item in enumerate(campaigns):
        if not isinstance(item.get("accounts"), list):
            raise InputError(f"{path}: campaigns[{number}] needs an 'accounts' list")
    return campaigns


def store_graph(store: Store) -> Graph:
    """The hunt's account x artefact graph of ``store`` (see ``hunt.artefacts``)."""
    source = tables(duckdb_backend(), store)
    signals = exchange_signals(source.exchanges, load())
    volume = (
        signals.group_by("account_id")
        .aggregate(exchanges=signals.count())
        .order_by("account_id")
        .to_pyarrow()
    )
    return build_graph(signals, source.accounts, volume)


def campaign_artefacts(
    graph: Graph, accounts: Sequence[str], *, specificity: float = SPECIFICITY
) -> tuple[Artefact, ...]:
    """The artefacts that mark one campaign's ``accounts`` in ``graph``."""
    index = {name: i for i, name in enumerate(graph.accounts)}
    members = np.asarray([index[a] for a in accounts if a in index], dtype=np.int64)
    if members.size == 0:
        return ()
    degree = graph.degree()
    mine = np.isin(graph.account, members)
    ids, counts = np.unique(graph.artefact[mine], return_counts=True)
    found: list[Artefact] = []
    for j, count in zip(ids.tolist(), counts.tolist(), strict=True):
        kind = graph.kinds[j]
        if kind not in ARTEFACT_KINDS or count < 2 or count < specificity * degree[j]:
            continue
        found.append(Artefact(kind, graph.values[j], count, int(degree[j])))
    found.sort(key=lambda a: (-a.accounts, a.kind, a.value))
    return tuple(found[:MAX_ARTEFACTS])


def hunted_campaigns(hunt_dir: Path, store: Path | None = None) -> list[HuntedCampaign]:
    """The campaigns of the hunt in ``hunt_dir`` with their artefacts from ``store``
    (default: the store the hunt ingested into ``hunt_dir/store``)."""
    campaigns = read_campaigns(hunt_dir)
    if store is None:
        store = hunt_dir / "store"
        if not store.is_dir():
            raise InputError(
                f"{hunt_dir}: the hunt read a store elsewhere; name it (--store), the "
                "artefact values come from it"
            )
    graph = store_graph(Store(store))
    out = []
    for item in campaigns:
        attribution = item.get("attribution")
        actor = attribution.get("actor") if isinstance(attribution, dict) else None
        capabilities = item.get("capabilities")
        out.append(
            HuntedCampaign(
                id=str(item.get("id")),
                accounts=tuple(str(a) for a in item["accounts"]),
                exchanges=int(item.get("exchanges") or 0),
                first_seen=item.get("first_seen"),
                last_seen=item.get("last_seen"),
                confidence=float(item.get("confidence") or 0.0),
                capabilities=dict(capabilities) if isinstance(capabilities, dict) else {},
                actor=str(actor) if actor else None,
                artefacts=campaign_artefacts(graph, [str(a) for a in item["accounts"]]),
            )
        )
    return out
