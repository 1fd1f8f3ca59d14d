"""Riders: an extracting account that shares only a campaign's infrastructure is convicted
with it, and joins the campaign that does its kind of work; bystanders are not."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import numpy.typing as npt

from distillguard.hunt.artefacts import Graph
from distillguard.hunt.campaigns import Campaign, group_accounts
from distillguard.hunt.linking import Links
from distillguard.hunt.riders import RIDES, convict_riders, riders
from distillguard.hunt.run import HuntOptions, _write_campaigns
from distillguard.hunt.scoring import Registry, Scores
from graphs import build

CONVICTS = 4  # accounts 0..3: a campaign's accounts behind one reseller
RIDER = 4  # shares the reseller's client with them and nothing else
BYSTANDER = 5  # a customer elsewhere
N = 100  # accounts 6.. are other customers, each with a client of its own


def _graph(kind: str = "client", extra_holders: tuple[int, ...] = ()) -> Graph:
    holders = [*range(CONVICTS), RIDER, *extra_holders]
    n = max(N, *holders) + 1
    return build(n, [(kind, holders), *(("client", [a]) for a in range(BYSTANDER, n))])


def _links(n: int, cluster: npt.NDArray[np.int64] | None = None) -> Links:
    cluster = np.full(n, -1, dtype=np.int64) if cluster is None else cluster
    return Links(
        cluster=cluster,
        attachment=np.where(cluster >= 0, 0.9, 0.0),
        weight=np.ones(n),
        shared=[{} for _ in range(n)],
        partners=np.zeros(n, dtype=np.int64),
        knit=np.full(n, -1, dtype=np.int64),
    )


def _scores(n: int, own: float) -> tuple[Scores, npt.NDArray[np.bool_]]:
    attack = np.zeros(n, dtype=bool)
    attack[:CONVICTS] = True
    own_risk = np.full(n, 0.05)
    own_risk[RIDER] = own
    own_risk[BYSTANDER] = 0.4  # extracts, but shares nothing with the convicts
    scores = Scores(
        risk=own_risk.copy(),
        verdict=[
            "attack" if a else "suspicious" if r >= 0.3 else "benign"
            for a, r in zip(attack, own_risk, strict=True)
        ],
        reasons=[[] for _ in range(n)],
        cluster_risk=np.zeros(1),
        cluster_attack=np.zeros(1, dtype=bool),
        attack_threshold=0.45,
        suspicious_threshold=0.3,
        own_risk=own_risk,
    )
    return scores, attack


def test_an_extracting_account_behind_a_campaigns_client_is_convicted() -> None:
    graph = _graph()
    scores, attack = _scores(graph.n_accounts, own=0.4)
    registry = Registry.unknown(graph.n_accounts)
    assert convict_riders(graph, _links(graph.n_accounts), scores, attack, registry) == 1
    assert attack[RIDER] and scores.verdict[RIDER] == "attack"
    assert scores.reasons[RIDER][0] == RIDES
    assert not attack[BYSTANDER] and scores.verdict[BYSTANDER] == "suspicious"


def test_what_keeps_an_account_from_riding() -> None:
    def rides(
        graph: Graph,
        own: float = 0.4,
        trust: bool = False,
        verified: bool = False,
        convicts: int = CONVICTS,
        clustered: bool = False,
    ) -> bool:
        n = graph.n_accounts
        scores, attack = _scores(n, own)
        attack[convicts:CONVICTS] = False
        registry = Registry.unknown(n)
        registry.trusted[RIDER] = trust
        registry.verified[RIDER] = verified
        cluster = np.full(n, -1, dtype=np.int64)
        if clustered:  # judged with a cluster of customers that shares its own card
            cluster[[RIDER, BYSTANDER]] = 0
        return bool(riders(graph, _links(n, cluster), scores, attack, registry)[RIDER])

    assert rides(_graph())
    assert not rides(_graph(), own=0.2)  # its own traffic does not extract
    assert not rides(_graph(), trust=True)
    assert not rides(_graph(), verified=True)  # association does not outweigh a checked identity
    assert not rides(_graph(), clustered=True)
    assert not rides(_graph(), convicts=2)  # two convicts are a pair that met, not a campaign
    assert not rides(_graph("template"))  # a public framework's template is not infrastructure
    assert not rides(_graph("asn"))  # nor a whole hosting provider
    # One other customer in ten on the client is room for a bystander; one in three is not.
    assert not rides(_graph(extra_holders=(6, 7)))
    many = _graph(extra_holders=tuple(range(6, 6 + 36)))
    scores, attack = _scores(many.n_accounts, 0.4)
    attack[6 : 6 + 32] = True
    registry = Registry.unknown(many.n_accounts)
    assert riders(many, _links(many.n_accounts), scores, attack, registry)[RIDER]
    # Where most of the traffic is a campaign's, four convicts on one network are chance.
    scores, attack = _scores(N + 1, 0.4)
    attack[40:] = True
    assert not riders(_graph(), _links(N + 1), scores, attack, Registry.unknown(N + 1))[RIDER]
    # A client that most accounts use ties nobody, however many of them are convicted.
    most = _graph(extra_holders=tuple(range(6, 60)))
    scores, attack = _scores(most.n_accounts, 0.4)
    attack[6:60] = True
    registry = Registry.unknown(most.n_accounts)
    assert not riders(most, _links(most.n_accounts), scores, attack, registry)[RIDER]


def test_a_rider_joins_the_campaign_that_does_its_work() -> None:
    # Accounts 0..3: two campaigns on one reseller (0, 1 coding; 2, 3 reasoning), each pair
    # tied by its own payment; 4 rides the reseller and does reasoning work; 5 is convicted
    # alone and does work unlike either.
    graph = build(6, [("payment", [0, 1]), ("payment", [2, 3]), ("client", [0, 1, 2, 3, 4])])
    cluster = np.asarray([0, 0, 1, 1, -1, -1], dtype=np.int64)
    links = Links(
        cluster=cluster,
        attachment=np.where(cluster >= 0, 0.9, 0.0),
        weight=np.asarray([1.0, 1.0, 0.2]),
        shared=[{} for _ in range(6)],
        partners=np.asarray([1, 1, 1, 1, 0, 0], dtype=np.int64),
        knit=np.full(6, -1, dtype=np.int64),
    )
    coding, reasoning, other = [1.0, 0.1, 0.0], [0.1, 1.0, 0.0], [0.0, 0.0, 1.0]
    profile = np.asarray([coding, coding, reasoning, reasoning, reasoning, other])
    label = group_accounts(graph, links, np.ones(6, dtype=bool), profile)
    assert label[0] == label[1] != label[2] == label[3]
    assert label[4] == label[2]
    assert label[5] not in {label[0], label[2]}


def test_a_campaign_of_riders_alone_is_written_with_its_accounts_risk(tmp_path: Path) -> None:
    # Found in a replay: a rider that does work unlike any campaign's is a campaign of its own
    # in no cluster, and campaigns.json took the maximum of no cluster scores.
    scores, _ = _scores(N, own=0.4)
    campaign = Campaign("campaign-001", np.asarray([RIDER]), [], 0.0)
    path = _write_campaigns(
        tmp_path / "campaigns.json", [campaign], [f"a{i}" for i in range(N)], scores, HuntOptions()
    )
    (item,) = json.loads(path.read_text())["campaigns"]
    assert item["clusters"] == [] and item["accounts"] == [f"a{RIDER}"]
    assert item["score"]["risk"] == 0.4
