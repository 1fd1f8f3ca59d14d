"""Riders: accounts that reach the service through a campaign's own infrastructure.

A proxy reseller (a "hydra cluster") puts many accounts behind one gateway and one client
build. A campaign account bought there can share nothing with its own campaign (the
reseller's client replaces the operator's harness, every account has its own card and
exits) and only one artefact with anyone: the reseller's client, or its gateway's network.
One artefact weighs less than a link, so linking leaves the account in no cluster, and
alone an account is at most ``suspicious``. Yet that artefact is attribution evidence of the
kind analysts use (infrastructure and request metadata): when nearly everyone else who holds
it is already convicted, and the account's own traffic extracts, it is riding with them.

An account is a rider, and ``attack`` (reason ``RIDES_WITH_CAMPAIGN``), when all of these hold:

- linking put it in no cluster (an account in one was judged with its cluster's evidence:
  a company's coding agents that share a mainstream client with a campaign are not riders);
- its own traffic, alone, reaches the suspicious score (it extracts; a reseller's account
  that carries only real customers' requests does not);
- it holds an artefact of an infrastructure kind (``RIDE_KINDS``: payment, networks,
  client, e-mail pattern; not templates or system prompts, which ordinary users of a public
  framework share with campaigns, nor an autonomous system, which whole hosting providers
  share) that at least ``RIDE_PURITY`` of its other holders hold as ``attack`` accounts, at
  least ``RIDE_CONVICTS`` of them, more than chance would give: were its other holders drawn
  at random from the hunt's accounts, that many convicts among them would have a chance
  under ``RIDE_CHANCE`` (three convicts on one residential network are chance where most
  accounts in the traffic are a campaign's, thirty on one client build are not);
- it is neither trusted nor verified: sharing infrastructure is evidence by association,
  and an account whose identity was checked is not convicted on that (a developer whose SDK
  build is the one a campaign's accounts use, where few other customers use it, is not a
  rider).

The artefact must also still weigh something (what most accounts share does not: see
``linking.rarity``). The bars are priors, not fitted: three convicts is the fewest that is
more than a pair of accounts that happened to meet, nine in ten leaves room for one
bystander in ten, and one in a hundred is the usual bar for chance. A popular client or a
campus network is held by many customers and is seldom that pure; where a campaign's
accounts are most of an SDK build's users in the traffic hunted, the build's other users
are caught only if they extract, were never verified and share nothing that put them in a
cluster. Riders are decided on the verdicts before them, once: a rider never makes another.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
from scipy.stats import binom

from .artefacts import Graph
from .linking import Links, rarity
from .scoring import Registry, Scores

RIDES: Final = "RIDES_WITH_CAMPAIGN"
RIDE_KINDS: Final = frozenset({"payment", "ip_network", "signup_network", "client", "email_domain"})
RIDE_CONVICTS: Final = 3
RIDE_PURITY: Final = 0.9
RIDE_CHANCE: Final = 0.01


def riders(
    graph: Graph,
    links: Links,
    scores: Scores,
    attack: npt.NDArray[np.bool_],
    registry: Registry,
) -> npt.NDArray[np.bool_]:
    """Which accounts ride with convicted ones (see the module's docstring)."""
    n = graph.n_accounts
    found = np.zeros(n, dtype=bool)
    own = scores.own_risk
    if own is None or graph.account.size == 0 or not attack.any():
        return found
    kind_ok = np.asarray([kind in RIDE_KINDS for kind in graph.kinds], dtype=bool)
    holders = graph.degree()
    weighs = rarity(holders, n) > 0
    convicts = np.bincount(
        graph.artefact, weights=attack[graph.account].astype(np.float64), minlength=holders.size
    )
    acc, art = graph.account, graph.artefact
    others = holders[art] - 1
    others_convicted = convicts[art] - attack[acc]
    alone = links.cluster < 0
    vouched = registry.trusted | registry.verified
    candidate = alone & ~attack & ~vouched & (own >= scores.suspicious_threshold)
    plausible = (
        candidate[acc]
        & kind_ok[art]
        & weighs[art]
        & (others_convicted >= RIDE_CONVICTS)
        & (others_convicted >= RIDE_PURITY * others)
    )
    rides = np.flatnonzero(plausible)
    chance = binom.sf(others_convicted[rides] - 1, others[rides], attack.mean())
    rides = rides[chance < RIDE_CHANCE]
    found[acc[rides]] = True
    return found


def convict_riders(
    graph: Graph,
    links: Links,
    scores: Scores,
    attack: npt.NDArray[np.bool_],
    registry: Registry,
) -> int:
    """Convict the riders (``scores`` and ``attack`` are updated in place); how many."""
    found = riders(graph, links, scores, attack, registry)
    for i in np.flatnonzero(found).tolist():
        scores.verdict[i] = "attack"
        scores.reasons[i] = [RIDES, *scores.reasons[i]]
        attack[i] = True
    return int(found.sum())
