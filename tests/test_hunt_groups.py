"""Knit groups: a small operator inside a large cluster of ordinary users is found, and
scored on its own traffic rather than diluted by theirs.

The graphs and profiles are built by hand, so each test shows one rule: what makes a group
knit (several kinds of shared artefact, not many artefacts of one kind; each link backed by
common partners, so one account cannot join two groups), and what scoring does with it.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from distillguard.hunt.artefacts import Graph
from distillguard.hunt.linking import KIND_WEIGHT, Links, knit_groups, link
from distillguard.hunt.scoring import OWN_WORK_TIES, OperatingPoint, Registry, score
from distillguard.signals.rules import INTENTS
from distillguard.types import CAPABILITIES
from graphs import build

OPERATOR = 5  # accounts 0..4: one operator's accounts
USERS = 12  # accounts 5..16: users of the same public agent framework
TEMPLATES = 10  # the framework's prompt templates
OTHERS = 40  # customers who share nothing (an artefact most accounts share weighs nothing)


def operator(accounts: list[int]) -> list[tuple[str, list[int]]]:
    """What one operator's accounts share: payment, harness, system prompt, sign-up burst."""
    kinds = ("payment", "harness", "system_prompt", "signup_burst")
    return [(kind, accounts) for kind in kinds]


def framework_graph(*, stranger: bool = False) -> Graph:
    """The operator's accounts share what ``operator`` lists and all the framework's
    templates; each user has six of the templates and nothing else; ``OTHERS`` more
    accounts share nothing. With ``stranger``, one more account shares a harness and a
    template with one operator account only: one knit link."""
    rng = np.random.default_rng(7)
    first = list(range(OPERATOR))
    holders: list[list[int]] = [list(first) for _ in range(TEMPLATES)]
    for user in range(OPERATOR, OPERATOR + USERS):
        for t in rng.choice(TEMPLATES, size=6, replace=False).tolist():
            holders[t].append(user)
    artefacts = [("template", accounts) for accounts in holders] + operator(first)
    n = OPERATOR + USERS + OTHERS
    if stranger:
        artefacts += [("harness", [0, n]), ("template", [0, n])]
        n += 1
    return build(n, artefacts)


def test_an_operator_tied_by_several_kinds_is_knit_and_framework_users_are_not() -> None:
    links = link(framework_graph())
    operator, users = links.knit[:OPERATOR], links.knit[OPERATOR : OPERATOR + USERS]
    assert (operator >= 0).all() and np.unique(operator).size == 1
    # Users share six templates with each other and with the operator (linked, summed), but
    # one kind only: counted once, that is far below a link.
    assert (users == -1).all()
    assert (links.cluster[OPERATOR : OPERATOR + USERS] >= 0).all()  # linked all the same


def test_a_stranger_with_one_knit_link_is_not_in_the_group() -> None:
    links = link(framework_graph(stranger=True))
    assert links.knit[-1] == -1
    assert (links.knit[:OPERATOR] >= 0).all()


def test_what_most_accounts_share_links_nobody() -> None:
    # Thirty of forty customers call through one popular SDK from one network provider and
    # use one popular prompt template: together that would weigh a link, and it says
    # nothing about who runs them.
    customers = list(range(30))
    others = [[account] for account in range(30, 40)]  # each with a harness of its own
    links = link(
        build(
            40,
            [(kind, customers) for kind in ("harness", "client", "asn", "template")]
            + [("harness", holder) for holder in others],
        )
    )
    assert (links.cluster == -1).all()


def test_an_account_knit_to_two_groups_does_not_join_them() -> None:
    # One cluster (as modularity may leave it): two operators of five accounts whose pairs
    # each share four kinds, and an account that shares a harness and a template with two
    # accounts of each. Its four links are knit, but none is backed by two common partners.
    kind = np.arange(4, dtype=np.int64)  # payment, harness, system prompt, template
    weight = np.full(4, 0.5)
    bridge = 10
    records: list[tuple[int, int, int]] = []
    for group in (range(5), range(5, 10)):
        for a, b in itertools.combinations(group, 2):
            records += [(a, b, k) for k in range(4)]
    for account in (0, 1, 5, 6):
        records += [(account, bridge, 1), (account, bridge, 3)]
    a, b, art = np.asarray(records, dtype=np.int64).T
    cluster = np.zeros(bridge + 1, dtype=np.int64)
    knit = knit_groups(a, b, art, weight, kind, cluster, threshold=1.0, min_size=2)
    assert np.unique(knit[:5]).size == 1 and np.unique(knit[5:10]).size == 1
    assert knit[0] >= 0 and knit[5] >= 0 and knit[0] != knit[5]
    assert knit[bridge] == -1


def _profiles(n: int, extracting: npt.NDArray[np.bool_]) -> pa.Table:
    """Profiles of ``n`` accounts with 1000 exchanges each; the ``extracting`` ones ask for
    reasoning in most of their traffic and for maximal outputs in half of it."""
    zeros = np.zeros(n)
    columns: dict[str, npt.NDArray[np.float64]] = {
        "exchanges": np.full(n, 1000.0),
        "first_epoch": np.full(n, 1.7e9),
        "reasoning_returned": zeros,
        "single_turn": np.full(n, 0.5),
        "pivot_share": zeros,
        "pivot_exchanges": zeros,
        "gaps": zeros,
        "gap_std": zeros,
        "gap_mean": zeros,
        "active_hours": np.full(n, 8.0),
        "hosting": zeros,
        "night": zeros,
        "networks": np.ones(n),
    }
    for name in INTENTS:
        columns[f"intent_{name}"] = zeros
    columns[f"intent_{INTENTS[0]}"] = np.where(extracting, 0.6, 0.0)
    for name in ("max_output", "max_thinking", "logprobs", "multi_sample"):
        columns[f"param_{name}"] = zeros
    columns["param_max_output"] = np.where(extracting, 0.5, 0.0)
    for c in CAPABILITIES:
        columns[f"cap_{c}"] = zeros
    columns[f"cap_{CAPABILITIES[0]}"] = np.ones(n)
    return pa.table(columns)


def _ring(n: int, reach: int) -> npt.NDArray[np.int64]:
    """Links of ``n`` accounts on a ring, each to the ``reach`` next ones."""
    return np.asarray(
        [(i, (i + k) % n) for i in range(n) for k in range(1, reach + 1)], dtype=np.int64
    )


def _cluster(
    ties: npt.NDArray[np.int64],
    shared: list[dict[str, float]],
    knit: npt.NDArray[np.int64] | None = None,
) -> Links:
    """Every account (one per entry of ``shared``) in one cluster, fully attached, linked by
    ``ties``; in no knit group unless ``knit`` says."""
    n = len(shared)
    return Links(
        cluster=np.zeros(n, dtype=np.int64),
        attachment=np.ones(n),
        weight=np.zeros(0),
        shared=shared,
        partners=np.bincount(ties.ravel(), minlength=n).astype(np.int64),
        knit=np.full(n, -1, dtype=np.int64) if knit is None else knit,
        ties=ties,
    )


def _one_cluster(n: int, knit: npt.NDArray[np.int64]) -> Links:
    """Every account in one cluster, fully attached, sharing templates with it."""
    return _cluster(_ring(n, 3), [{"template": 0.5} for _ in range(n)], knit)


CAMPAIGN = 10  # campaign accounts on a ring, each linked to the four next: eight partners
CAMPAIGN_SHARES = {"template": 0.7, "payment": 1.0}


def _campaign_and_group(group: int, out: list[tuple[int, int]]) -> npt.NDArray[np.int64]:
    """Links of the campaign's ring and of ``group`` more accounts (numbered after it) all
    linked to each other, plus ``out``: links from them to campaign accounts."""
    members = range(CAMPAIGN, CAMPAIGN + group)
    return np.concatenate(
        [
            _ring(CAMPAIGN, 4),
            np.asarray(list(itertools.combinations(members, 2))),
            np.asarray(out),
        ]
    ).astype(np.int64)


def test_a_knit_group_is_scored_on_its_own_traffic() -> None:
    n = OPERATOR + 30  # the operator's five accounts and thirty ordinary users
    operator = np.arange(n) < OPERATOR
    registry = Registry.unknown(n)
    registry.created[operator] = 1.7e9 - 86400.0  # created the day before their traffic
    profiles = _profiles(n, operator)
    knit = np.where(operator, 0, -1).astype(np.int64)
    links = _one_cluster(n, knit)

    scores = score(profiles, links, registry=registry, point=OperatingPoint())
    verdict = np.asarray(scores.verdict)
    assert (verdict[operator] == "attack").all()
    assert (verdict[~operator] == "benign").all()
    assert scores.cluster_attack.tolist() == [True]
    assert scores.cluster_risk[0] >= OperatingPoint().attack_score

    # The same cluster without its knit group: the operator's traffic is diluted by the
    # users' and nobody is attack. This is what the knit group is for.
    diluted = score(
        profiles,
        replace(links, knit=np.full(n, -1, dtype=np.int64)),
        registry=registry,
        point=OperatingPoint(),
    )
    assert "attack" not in diluted.verdict
    assert diluted.cluster_risk[0] < OperatingPoint().attack_score


def _campaign_with_outsiders(
    shared: list[dict[str, float]], ties: list[tuple[int, int]] | None = None
) -> tuple[pa.Table, Links, Registry]:
    """Ten woven campaign accounts (eight partners each) and, after them, one outsider per
    entry of ``shared``, extracting like them and tied to the cluster by ``shared``; each
    outsider is linked to two campaign accounts unless ``ties`` says whom it is linked to."""
    n = CAMPAIGN + len(shared)
    registry = Registry.unknown(n)
    registry.created[:] = 1.7e9 - 86400.0
    profiles = _profiles(n, np.ones(n, dtype=bool))
    outsiders = ties or [(CAMPAIGN + k, j) for k in range(len(shared)) for j in (2 * k, 2 * k + 1)]
    links_of = np.concatenate([_ring(CAMPAIGN, 4), np.asarray(outsiders, dtype=np.int64)])
    return profiles, _cluster(links_of, [CAMPAIGN_SHARES] * CAMPAIGN + shared), registry


def test_an_outsider_tied_by_templates_alone_is_not_attack() -> None:
    profiles, links, registry = _campaign_with_outsiders(
        [{"template": 0.7}, {"template": 0.7, "ip_network": 0.6}]
    )
    scores = score(profiles, links, registry=registry, point=OperatingPoint())
    assert scores.verdict[:10] == ["attack"] * 10
    # Same traffic, same number of partners: a customer whose prompts fill the campaign's
    # templates is not convicted by that alone; one also on its networks is.
    assert scores.verdict[10] == "suspicious"
    assert scores.verdict[11] == "attack"


def test_an_outsider_tied_by_one_kind_is_attack_only_for_its_own_work_and_extraction() -> None:
    # One kind of tie that an operator makes itself (a harness, a payment instrument), from
    # an account that extracts as much as the cluster does, is enough; where its traffic
    # comes from (the HTTP client a reseller's customers share) is not, nor one kind from
    # an account that extracts less than the cluster.
    profiles, links, registry = _campaign_with_outsiders(
        [{"harness": 0.6}, {"payment": 1.0}, {"client": 0.5}, {"harness": 0.6}],
        ties=[(CAMPAIGN + k, 2 * k + j) for k in range(4) for j in range(3)],
    )
    intent = profiles.column(f"intent_{INTENTS[0]}").to_numpy().copy()
    intent[13] = 0.3  # still alike (more than half the cluster's extraction), but less
    profiles = profiles.set_column(
        profiles.schema.get_field_index(f"intent_{INTENTS[0]}"),
        f"intent_{INTENTS[0]}",
        pa.array(intent),
    )
    verdict = score(profiles, links, registry=registry, point=OperatingPoint()).verdict
    assert verdict[:10] == ["attack"] * 10
    assert verdict[10:] == ["attack", "attack", "suspicious", "suspicious"]
    assert OWN_WORK_TIES.issubset(KIND_WEIGHT)  # names the linking's kinds, no misspelling


def test_an_outsider_linked_only_to_other_outsiders_is_not_attack() -> None:
    # Account 11 is linked to a campaign account; account 12 only to 11 and 13, 13 only to
    # 12: a pair of customers that modularity put into the campaign's community.
    both = {"template": 0.7, "ip_network": 0.6}
    profiles, links, registry = _campaign_with_outsiders(
        [both, both, both], ties=[(10, 0), (10, 1), (11, 10), (11, 12)]
    )
    verdict = score(profiles, links, registry=registry, point=OperatingPoint()).verdict
    assert verdict[:10] == ["attack"] * 10
    assert verdict[10] == "attack"  # linked to two campaign accounts itself
    assert verdict[11:] == ["suspicious", "suspicious"]


def test_customers_linked_to_each_other_are_not_the_core_however_many_links() -> None:
    # Ten campaign accounts on a ring (eight partners each), two of them quiet (they do not
    # extract); five customers of one agent framework, who do not extract either, share its
    # templates with each other and with campaign account 0: five partners each, more than
    # half the cluster's typical eight, but only one of them an account doing the work.
    customers = 5
    n = CAMPAIGN + customers
    extracting = np.arange(n) < CAMPAIGN
    extracting[[3, 7]] = False
    ties = _campaign_and_group(customers, [(c, 0) for c in range(CAMPAIGN, n)])
    registry = Registry.unknown(n)
    registry.created[:] = 1.7e9 - 86400.0
    links = _cluster(ties, [CAMPAIGN_SHARES] * CAMPAIGN + [{"template": 0.7}] * customers)
    assert (links.partners[CAMPAIGN:] == 5).all()
    verdict = score(_profiles(n, extracting), links, registry=registry, point=OperatingPoint())
    # The quiet campaign accounts are woven in among working ones: attack all the same.
    assert verdict.verdict[:CAMPAIGN] == ["attack"] * CAMPAIGN
    assert verdict.verdict[CAMPAIGN:] == ["suspicious"] * customers


def test_a_customers_own_group_that_does_not_extract_is_not_the_core() -> None:
    # A classroom of six (a knit group: one sign-up burst, one harness) whose students each
    # share a framework's templates with three of the campaign's working accounts: eight
    # partners each, three of them doing the work, as many as a campaign account has. The
    # classroom as a whole does not extract, so its students are not the campaign's core.
    students = 6
    n = CAMPAIGN + students
    extracting = np.arange(n) < CAMPAIGN
    out = [(s, (s + k) % CAMPAIGN) for s in range(CAMPAIGN, n) for k in range(3)]
    registry = Registry.unknown(n)
    registry.created[:] = 1.7e9 - 86400.0
    links = _cluster(
        _campaign_and_group(students, out),
        [CAMPAIGN_SHARES] * CAMPAIGN
        + [{"template": 0.7, "signup_burst": 0.6, "harness": 0.6}] * students,
        knit=np.where(extracting, -1, 0).astype(np.int64),
    )
    assert (links.partners[CAMPAIGN:] == 8).all()
    scores = score(_profiles(n, extracting), links, registry=registry, point=OperatingPoint())
    assert scores.verdict[:CAMPAIGN] == ["attack"] * CAMPAIGN
    assert scores.verdict[CAMPAIGN:] == ["suspicious"] * students
    # The same students, not known as one group: their links make them the core.
    loose = replace(links, knit=np.full(n, -1, dtype=np.int64))
    verdict = score(_profiles(n, extracting), loose, registry=registry, point=OperatingPoint())
    assert verdict.verdict[CAMPAIGN:] == ["attack"] * students


def test_a_customers_fleet_is_judged_on_its_own_coordination() -> None:
    # A company's five coding agents (one organisation, created two years before, verified;
    # knit by the product's system prompt, harness and templates) ask for maximal outputs
    # like the campaign and are each linked to three of its accounts: by their links and
    # their work they are the campaign's core. On its own, the fleet is one verified,
    # long-standing customer, not a candidate campaign, so the cluster lends it nothing.
    fleet = 5
    n = CAMPAIGN + fleet
    out = [(a, (a + k) % CAMPAIGN) for a in range(CAMPAIGN, n) for k in range(3)]
    registry = Registry.unknown(n)
    registry.created[:CAMPAIGN] = 1.7e9 - 86400.0
    registry.created[CAMPAIGN:] = 1.7e9 - 2 * 365 * 86400.0
    registry.verified[CAMPAIGN:] = True
    registry.org[CAMPAIGN:] = 0
    links = _cluster(
        _campaign_and_group(fleet, out),
        [CAMPAIGN_SHARES] * CAMPAIGN
        + [{"template": 0.7, "system_prompt": 0.8, "harness": 0.6}] * fleet,
        knit=np.where(np.arange(n) < CAMPAIGN, -1, 0).astype(np.int64),
    )
    profiles = _profiles(n, np.ones(n, dtype=bool))
    scores = score(profiles, links, registry=registry, point=OperatingPoint())
    assert scores.verdict[:CAMPAIGN] == ["attack"] * CAMPAIGN
    assert scores.verdict[CAMPAIGN:] == ["suspicious"] * fleet
    # Not known as one group, the same accounts are convicted with the campaign.
    loose = replace(links, knit=np.full(n, -1, dtype=np.int64))
    verdict = score(profiles, loose, registry=registry, point=OperatingPoint()).verdict
    assert verdict[CAMPAIGN:] == ["attack"] * fleet


def test_accounts_that_hide_where_they_come_from_add_to_coordination() -> None:
    n = 6
    profiles = _profiles(n, np.ones(n, dtype=bool))
    registry = Registry.unknown(n)
    links = _one_cluster(n, np.full(n, -1, dtype=np.int64))
    plain = score(profiles, links, registry=registry, point=OperatingPoint())
    night = profiles.set_column(
        profiles.schema.get_field_index("night"), "night", pa.array(np.full(n, 0.5))
    )
    hidden = score(night, links, registry=registry, point=OperatingPoint())
    assert hidden.cluster_risk[0] > plain.cluster_risk[0]
    assert "TIMEZONE_MISMATCH" in hidden.reasons[0]
    many = profiles.set_column(
        profiles.schema.get_field_index("networks"), "networks", pa.array(np.full(n, 400.0))
    )
    rotating = score(many, links, registry=registry, point=OperatingPoint())
    assert rotating.cluster_risk[0] == hidden.cluster_risk[0]
    assert "INFRA_DIVERSITY" in rotating.reasons[0]
    # Hiding is coordination, not extraction: a cluster that asks for nothing stays benign.
    quiet = _profiles(n, np.zeros(n, dtype=bool))
    quiet = quiet.set_column(
        quiet.schema.get_field_index("night"), "night", pa.array(np.full(n, 0.5))
    )
    assert score(quiet, links, registry=registry, point=OperatingPoint()).verdict == ["benign"] * n


def test_a_small_cluster_linked_all_round_is_still_attack() -> None:
    # Three accounts, each linked to the other two: nobody has CORE_MIN_PARTNERS partners,
    # but each is linked to an account linked to all the others, which does the work.
    n = 3
    registry = Registry.unknown(n)
    registry.created[:] = 1.7e9 - 86400.0
    links = _cluster(_ring(n, 1), [CAMPAIGN_SHARES] * n)
    profiles = _profiles(n, np.ones(n, dtype=bool))
    assert (
        score(profiles, links, registry=registry, point=OperatingPoint()).verdict == ["attack"] * 3
    )
