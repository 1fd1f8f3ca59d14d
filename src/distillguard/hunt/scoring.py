"""Scoring: risk per cluster and per account, verdicts at an operating point, reason codes.

The unit of decision is a cluster of linked accounts. A cluster's evidence is of two kinds,
and a campaign needs both: *extraction* (its traffic asks for what a distiller wants: step-
by-step reasoning, grades, rewrites, maximal outputs and thinking, returned reasoning, fresh
single-turn prompts, a new model the day it ships, curriculum-like coverage) and
*coordination* (many distinct identities, tied by rare shared artefacts and shared work,
newly created, unverified, hiding where they come from). Each is a noisy-OR of its
evidence: every piece has a weight, the chance that it alone shows what the kind of
evidence is about, and a level in [0, 1] from the share it is measured on. The weights and
levels are priors written below, not values fitted to labelled traffic. A cluster's score
is extraction x coordination.

The verdict comes from the operating point (``OperatingPoint``): ``attack`` for accounts of a
coordinated cluster whose score reaches ``attack_score`` and that do its work: the cluster's
core (accounts linked to many of its members), and outside the core accounts that extract
like it, are linked to a core account that does, and are tied to the cluster by more than
one kind of artefact (a reseller's real customer who only shares its exit network is not,
nor one tied to it by templates alone, nor customers that modularity put in the campaign's
community but that are linked only to each other). One kind is enough when the operator
made it (a harness, a system prompt, a payment instrument, a sign-up, an e-mail pattern)
and the account extracts at least as much as the cluster does. ``suspicious`` from
``suspicious_score``. An account outside every cluster is scored on its own traffic, at
half weight: alone it can be ``suspicious`` but not ``attack`` (``riders`` convicts those that
come through a campaign's own infrastructure, after scoring). Each campaign account alone
looks like a light user, and one heavy user alone is a customer. Trusted accounts are never
``attack``.

A knit group inside a cluster (``Links.knit``: accounts still linked when each kind of
shared artefact counts once) is scored like a cluster too: its accounts take the higher
risk of the two, and are ``attack`` when it is and they are in the cluster's core or
extract at least half as much as the group (a knit link is already more than one shared
template, so "woven" is not asked for again). A small operator that
modularity merged into a large community of ordinary users is judged on its own traffic,
not diluted by theirs. ``suspicious`` stays the cluster's call: a knit group's coordination
is near full by construction (its accounts share payment, sign-up and work), so its score
is about its extraction alone, and at the suspicious score ordinary teams reach that (a
classroom asking for worked solutions, one company's coding agents).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from ..signals.rules import INTENTS
from ..types import CAPABILITIES
from . import calibration
from .linking import Links
from .profiles import column
from .reasons import INTENT_CODES
from .structure import Structure

Array = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Evidence:
    """One piece of evidence: its weight in the noisy-OR, and the level (a share in [0, 1])
    at which it starts to count and at which it counts fully."""

    weight: float
    start: float
    full: float
    code: str

    def level(self, value: Array) -> Array:
        span = max(self.full - self.start, 1e-9)
        return np.asarray(np.clip((value - self.start) / span, 0.0, 1.0), dtype=np.float64)


EXTRACTION: Final[Mapping[str, Evidence]] = {
    # asks for reasoning, grades, rewrites or training data: a few percent is ordinary
    # (homework, code review), half of all traffic is a harvest
    "intent": Evidence(0.9, 0.05, 0.5, "INTENT_COT"),
    # maximal outputs or thinking, logprobs, several samples: half of traffic
    "params": Evidence(0.6, 0.0, 0.5, "PARAM_MAX_OUTPUT"),
    # a tenth of traffic on a new model on its first day is curiosity; half is a migration
    "pivot": Evidence(0.8, 0.1, 0.5, "NEW_MODEL_PIVOT"),
    # reasoning or thinking content returned
    "reasoning_returned": Evidence(0.3, 0.0, 1.0, "PARAM_MAX_THINKING"),
    # fresh one-turn conversations beyond the half that is usual
    "single_turn": Evidence(0.2, 0.5, 1.0, "SINGLE_TURN"),
    # spread over capabilities like a curriculum (normalised entropy above one half)
    "coverage": Evidence(0.3, 0.5, 1.0, "COVERAGE_SYSTEMATIC"),
}
COORDINATION: Final[Mapping[str, Evidence]] = {
    # distinct identities (declared organisations; an account without one is its own):
    # 2 → 0.2, 32 and more → 1
    "size": Evidence(0.9, 0.0, 1.0, "CAMPAIGN_SIZE"),
    # accounts created in the month before their traffic
    "fresh": Evidence(0.5, 0.0, 1.0, "SIGNUP_BURST"),
    # accounts that share prompt templates or a system prompt with the others
    "shared_work": Evidence(0.4, 0.0, 1.0, "SHARED_TEMPLATE"),
    # how strongly the accounts are tied by rare shared artefacts
    "attachment": Evidence(0.3, 0.0, 1.0, "CLUSTER_RISK"),
    # accounts in a block of accounts x artefacts denser than chance (FRAUDAR-style)
    "dense": Evidence(0.4, 0.0, 1.0, "DENSE_BLOCK"),
    # accounts acting on the same template in the same minutes as others of the cluster
    "lockstep": Evidence(0.5, 0.0, 1.0, "LOCKSTEP"),
    # accounts that hide where they come from: active at hours that fit another time zone
    # than their declared country, or calling from unusually many networks for their volume
    # (rotating proxies); a customer's own automation does neither
    "concealed": Evidence(0.4, 0.0, 1.0, "TIMEZONE_MISMATCH"),
}
VERIFIED_DISCOUNT: Final = 0.7
"""Coordination among verified accounts counts this much less: verification makes each
extra identity costly, which is what a campaign of many accounts cannot afford."""
FRESH_DAYS: Final = 30.0
NULL_ROUNDS: Final = 400
MIN_SPREAD: Final = 0.02
MIN_REFERENCE: Final = 30
COORDINATED: Final = 0.5
"""A cluster whose coordination reaches this is a candidate campaign; below it, its accounts
belong to the reference population of ordinary customers."""
CORE_MIN_PARTNERS: Final = 3
OWN_WORK_TIES: Final = frozenset(
    {"payment", "signup_network", "signup_burst", "email_domain", "harness", "system_prompt"}
)
"""Kinds of shared artefact that are an operator's own doing rather than where traffic
comes from (exit network, HTTP client: a reseller's real customers share those) or the
prompts' form (templates: customers of one framework share those)."""


@dataclass(frozen=True)
class Registry:
    """Registry fields aligned with the profiles' accounts (NaN / False / -1 when unknown)."""

    created: Array  # epoch seconds
    trusted: npt.NDArray[np.bool_]
    verified: npt.NDArray[np.bool_]
    org: npt.NDArray[np.int64]  # organisation code, -1 for none

    @classmethod
    def unknown(cls, n: int) -> Registry:
        return cls(
            np.full(n, np.nan),
            np.zeros(n, dtype=bool),
            np.zeros(n, dtype=bool),
            np.full(n, -1, dtype=np.int64),
        )


@dataclass(frozen=True)
class OperatingPoint:
    """Cluster scores at which clusters become attack and suspicious.

    The defaults are priors: a cluster is a campaign when extraction and coordination are
    both strong (their product at least 0.45, e.g. 0.7 x 0.65). With ``target_fpr`` the
    attack score is instead the one at which an estimated ``target_fpr`` of the traffic's
    customers would be flagged (``calibration``: a mixture fitted to this traffic's risks).
    """

    attack_score: float = 0.45
    suspicious_score: float = 0.3
    target_fpr: float | None = None


@dataclass(frozen=True)
class Scores:
    risk: Array  # per account
    verdict: list[str]  # per account
    reasons: list[list[str]]  # per account, strongest first
    cluster_risk: Array  # per cluster: its score, or a knit group's in it when higher
    cluster_attack: npt.NDArray[np.bool_]  # per cluster: it or a knit group in it is attack
    attack_threshold: float  # cluster score
    suspicious_threshold: float
    estimated_fpr: float | None = None  # customers' share at the attack threshold
    own_risk: Array | None = None  # per account: on its own traffic alone (None: not known)


def profile_observations(profiles: pa.Table) -> dict[str, npt.NDArray[np.bool_]]:
    """What an account's profile shows that an analyst should know, though it does not move
    the score: each a reason code and the accounts it applies to. The bars are plain
    descriptions (round the clock: active in 20 or more hours of the day), not fitted."""
    exchanges = column(profiles, "exchanges")
    enough = exchanges >= 50
    gaps = column(profiles, "gaps")
    spread = np.divide(
        column(profiles, "gap_std"),
        column(profiles, "gap_mean"),
        out=np.full(exchanges.size, np.inf),
        where=column(profiles, "gap_mean") > 0,
    )
    return {
        "ROUND_THE_CLOCK": enough & (column(profiles, "active_hours") >= 20),
        "TIMING_REGULAR": (gaps >= 20) & (spread < 0.3),
        "HOSTING_NETWORK": enough & (column(profiles, "hosting") >= 0.5),
        "TIMEZONE_MISMATCH": enough & (column(profiles, "night") >= 0.3),
        "INFRA_DIVERSITY": enough & (column(profiles, "networks") >= np.maximum(10, exchanges / 5)),
    }


def account_evidence(
    profiles: pa.Table,
    registry: Registry,
    links: Links,
    observed: Mapping[str, npt.NDArray[np.bool_]],
    structure: Structure | None = None,
) -> dict[str, Array]:
    """Evidence per account, each in [0, 1] (see EXTRACTION and COORDINATION);
    ``observed`` is ``profile_observations(profiles)``."""
    intent = sum(column(profiles, f"intent_{name}") for name in INTENTS)
    params = np.maximum.reduce(
        [
            column(profiles, f"param_{g}")
            for g in ("max_output", "max_thinking", "logprobs", "multi_sample")
        ]
    )
    first = column(profiles, "first_epoch")
    age_days = (first - registry.created) / 86400.0
    fresh = np.where(np.isnan(age_days), 0.0, (age_days <= FRESH_DAYS).astype(np.float64))
    shared_work = np.asarray(
        [
            1.0 if ("template" in kinds or "system_prompt" in kinds) else 0.0
            for kinds in links.shared
        ]
    )
    concealed = observed["TIMEZONE_MISMATCH"] | observed["INFRA_DIVERSITY"]
    shares = np.column_stack([column(profiles, f"cap_{c}") for c in CAPABILITIES])
    logs = np.log(np.where(shares > 0, shares, 1.0))
    coverage = -(shares * logs).sum(axis=1) / np.log(len(CAPABILITIES))
    return {
        "coverage": np.clip(coverage, 0.0, 1.0),
        "intent": np.clip(intent, 0.0, 1.0),
        "params": params,
        "reasoning_returned": column(profiles, "reasoning_returned"),
        "single_turn": column(profiles, "single_turn"),
        "pivot": column(profiles, "pivot_share"),
        "attachment": links.attachment,
        "shared_work": shared_work,
        "fresh": fresh,
        "unverified": (~registry.verified).astype(np.float64),
        "dense": structure.dense if structure else np.zeros(profiles.num_rows),
        "lockstep": structure.lockstep if structure else np.zeros(profiles.num_rows),
        "concealed": concealed.astype(np.float64),
    }


def _identities(groups: npt.NDArray[np.int64], org: npt.NDArray[np.int64], n_groups: int) -> Array:
    """Distinct declared organisations per group; an account without one counts alone."""
    solo = org < 0
    counts = np.bincount(groups[solo], minlength=n_groups).astype(np.float64)
    if (~solo).any():
        pairs = np.unique(np.column_stack([groups[~solo], org[~solo]]), axis=0)
        counts += np.bincount(pairs[:, 0], minlength=n_groups)
    return counts


def _noisy_or(evidence: Mapping[str, Evidence], parts: Mapping[str, Array]) -> Array:
    miss = np.ones_like(next(iter(parts.values())))
    for name, spec in evidence.items():
        miss = miss * (1.0 - spec.weight * spec.level(parts[name]))
    return np.asarray(1.0 - miss, dtype=np.float64)


def _tied_to(
    ties: npt.NDArray[np.int64], chosen: npt.NDArray[np.bool_], n: int
) -> npt.NDArray[np.int64]:
    """Per account, how many of the accounts ``chosen`` it is linked to (``Links.ties``)."""
    if ties.size == 0:
        return np.zeros(n, dtype=np.int64)
    first, second = ties[:, 0], ties[:, 1]
    counts = np.bincount(first[chosen[second]], minlength=n) + np.bincount(
        second[chosen[first]], minlength=n
    )
    return counts.astype(np.int64)


def _group_median(values: Array, groups: npt.NDArray[np.int64], n_groups: int) -> Array:
    """Median of ``values`` within each group (0 for an empty group)."""
    if not values.size:
        return np.zeros(n_groups)
    order = np.lexsort((values, groups))
    sorted_groups, sorted_values = groups[order], values[order]
    starts = np.searchsorted(sorted_groups, np.arange(n_groups), side="left")
    ends = np.searchsorted(sorted_groups, np.arange(n_groups), side="right")
    sizes = ends - starts
    low = sorted_values[np.clip(starts + (sizes - 1) // 2, 0, max(values.size - 1, 0))]
    high = sorted_values[np.clip(starts + sizes // 2, 0, max(values.size - 1, 0))]
    return np.where(sizes > 0, (low + high) / 2.0, 0.0)


def _capped(weight: Array, groups: npt.NDArray[np.int64], n_groups: int) -> Array:
    """``weight`` capped at its group's median over the accounts where it is positive."""
    positive = weight > 0
    median = _group_median(weight[positive], groups[positive], n_groups)
    return np.minimum(weight, median[groups])


def _group_scores(
    evidence: Mapping[str, Array],
    volume: Array,
    window: Array,
    org: npt.NDArray[np.int64],
    groups: npt.NDArray[np.int64],
    n_groups: int,
) -> tuple[Array, dict[str, Array]]:
    """Score of each group in [0, 1]: extraction (shares weighted by volume; the pivot by
    ``window``, each account's exchanges in the day after a release) times coordination
    (shares of accounts), each a noisy-OR of its evidence."""
    members = np.bincount(groups, minlength=n_groups).astype(np.float64)
    # Shares are weighted by volume capped at the group's median volume: light accounts
    # (noisy on their own) count less, and a few heavy accounts cannot make a mixed group
    # look like a campaign (a campaign's accounts all do its work).
    volume = _capped(volume, groups, n_groups)
    # The pivot is a share of the traffic in the day after a release: accounts with none
    # then say nothing about it (a campaign's accounts take turns), so it is weighted by
    # that day's exchanges, capped the same way, not by all of an account's traffic.
    window = _capped(window, groups, n_groups)
    volume_total = np.bincount(groups, weights=volume, minlength=n_groups)
    window_total = np.bincount(groups, weights=window, minlength=n_groups)
    parts: dict[str, Array] = {}
    for name in EXTRACTION:
        weight, total = (window, window_total) if name == "pivot" else (volume, volume_total)
        weighted = np.bincount(groups, weights=evidence[name] * weight, minlength=n_groups)
        parts[name] = np.divide(weighted, total, out=np.zeros(n_groups), where=total > 0)
    for name in ("unverified", *(name for name in COORDINATION if name != "size")):
        summed = np.bincount(groups, weights=evidence[name], minlength=n_groups)
        parts[name] = np.divide(summed, members, out=np.zeros(n_groups), where=members > 0)
    identities = _identities(groups, org, n_groups)
    parts["size"] = np.clip(np.log2(np.maximum(identities, 1.0)) / 5.0, 0.0, 1.0)
    extraction = _noisy_or(EXTRACTION, parts)
    coordination = _noisy_or(COORDINATION, parts)
    coordination *= 1.0 - VERIFIED_DISCOUNT * (1.0 - parts["unverified"])
    parts["extraction"] = extraction
    parts["coordination"] = coordination
    return np.asarray(extraction * coordination, dtype=np.float64), parts


def score(
    profiles: pa.Table,
    links: Links,
    *,
    registry: Registry,
    point: OperatingPoint,
    structure: Structure | None = None,
    seed: int = 1,
) -> Scores:
    """Risk, verdict and reasons for every account in ``profiles`` (aligned with ``links``)."""
    n = profiles.num_rows
    volume = column(profiles, "exchanges")
    window = column(profiles, "pivot_exchanges")  # exchanges in the day after a release
    observed = profile_observations(profiles)
    evidence = account_evidence(profiles, registry, links, observed, structure)
    intents = {name: column(profiles, f"intent_{name}") for name in INTENT_CODES}
    clustered = links.cluster >= 0
    n_clusters = int(links.cluster.max()) + 1 if clustered.any() else 0

    # Groups: real clusters, then each unclustered account as a group of one.
    groups = links.cluster.copy()
    singles = np.flatnonzero(~clustered)
    groups[singles] = n_clusters + np.arange(singles.size)
    n_groups = n_clusters + singles.size
    group_score, parts = _group_scores(evidence, volume, window, registry.org, groups, n_groups)
    extraction, coordination = parts["extraction"], parts["coordination"]

    group_risk = group_score
    _, own_parts = _group_scores(evidence, volume, window, registry.org, np.arange(n), n)
    own_extraction = own_parts["extraction"]
    own_risk = 0.5 * own_extraction  # alone, an account is never more than an even bet
    attach = np.where(clustered, links.attachment, 0.0)
    risk = np.maximum(own_risk, group_risk[groups] * attach)

    # Knit groups inside clusters, scored like clusters; accounts outside one get group -1.
    knit = np.where(clustered, links.knit, -1)
    in_knit = knit >= 0
    n_knit = int(knit.max()) + 1 if in_knit.any() else 0
    knit_score = np.zeros(n_knit)
    knit_parts: dict[str, Array] = {}
    if n_knit:
        members = np.flatnonzero(in_knit)
        knit_score, knit_parts = _group_scores(
            {name: value[members] for name, value in evidence.items()},
            volume[members],
            window[members],
            registry.org[members],
            knit[members],
            n_knit,
        )
        risk[members] = np.maximum(risk[members], knit_score[knit[members]] * attach[members])

    attack_at, suspicious_at = point.attack_score, point.suspicious_score
    mixture = calibration.fit(risk)
    if point.target_fpr is not None and mixture is not None:
        attack_at = min(max(mixture.threshold_for(point.target_fpr), 0.0), 1.0)
        suspicious_at = min(suspicious_at, attack_at)
    estimated = mixture.benign_sf(attack_at) if mixture is not None else None
    coordinated = (np.arange(n_groups) < n_clusters) & (coordination >= COORDINATED)
    group_attack = coordinated & (group_score >= attack_at)
    group_suspicious = group_score >= suspicious_at
    knit_attack = np.zeros(n_knit, dtype=bool)
    if n_knit:
        knit_attack = (knit_parts["coordination"] >= COORDINATED) & (knit_score >= attack_at)

    # The core of a cluster: accounts linked to at least half as many of its members as its
    # typical member is, CORE_MIN_PARTNERS of them accounts that do the cluster's work. A
    # reseller's real customer who happened to share a template with one campaign account
    # hangs on by one or two links; customers of one agent framework who share its templates
    # with each other and with one campaign account are linked to each other, not to the
    # accounts doing the extracting; the campaign's own accounts, even quiet ones, are woven
    # in among those. A knit group is one operator's accounts (a classroom, a company's
    # fleet): when the group as a whole does not do the cluster's work, its accounts that do
    # not either are not its core, however many of the cluster's accounts they are linked
    # to; and when the group on its own is not coordinated like a campaign (one customer's
    # long-standing, verified accounts), the cluster lends it nothing at all: its evidence
    # comes from the other operators modularity put in the same community. Outside the
    # core, an account is attack only when it extracts like the cluster, is still linked to
    # a quarter as many members as is typical, one of them a core account that does the
    # cluster's work, and is tied to the cluster by more than one kind of artefact: a
    # customer whose few prompts happen to fill the same templates as a campaign account's
    # shares templates and nothing else. An account that extracts at least as much as the
    # cluster needs only one kind, if it is one of OWN_WORK_TIES: a campaign's peripheral
    # accounts, each on its own proxy, often share nothing with the rest but its harness.
    does_work = own_extraction >= 0.5 * extraction[groups]
    median_partners = _group_median(links.partners.astype(np.float64), groups, n_groups)
    core_partners = np.maximum(CORE_MIN_PARTNERS, 0.5 * median_partners)
    in_core = (links.partners >= core_partners[groups]) & (
        _tied_to(links.ties, does_work, n) >= CORE_MIN_PARTNERS
    )
    customer_unit = np.zeros(n, dtype=bool)
    if n_knit:
        unit = np.maximum(knit, 0)  # any group for accounts in none; masked by in_knit
        in_core &= (
            does_work | ~in_knit | (knit_parts["extraction"][unit] >= 0.5 * extraction[groups])
        )
        customer_unit = in_knit & (knit_parts["coordination"][unit] < COORDINATED)
    # A core account that does the cluster's work (in a cluster too small for anyone to have
    # CORE_MIN_PARTNERS partners, one linked to all the others); outside the core, an account
    # must be linked to one of those itself: a community found by modularity can hold,
    # besides the campaign, customers tied only to each other or to other customers in it.
    size = np.bincount(groups, minlength=n_groups)
    central = links.partners >= np.minimum(core_partners, np.maximum(size - 1, 1))[groups]
    tied_to_core = _tied_to(links.ties, central & does_work, n) > 0

    verdict: list[str] = []
    reasons: list[list[str]] = []
    for i in range(n):
        g, k = int(groups[i]), int(knit[i])
        alike = bool(does_work[i])
        core = bool(in_core[i])
        kinds = links.shared[i]
        woven = (
            links.partners[i] >= 0.25 * median_partners[g]
            and bool(tied_to_core[i])
            and (
                len(kinds) >= 2
                or (own_extraction[i] >= extraction[g] and not OWN_WORK_TIES.isdisjoint(kinds))
            )
        )
        # In a knit group every account is tied by several kinds of evidence, not one
        # template; it still has to extract like the group or be in the cluster's core.
        knit_alike = k >= 0 and own_extraction[i] >= 0.5 * knit_parts["extraction"][k]
        by_knit = k >= 0 and knit_attack[k] and (core or knit_alike)
        lent = group_attack[g] and (core or (alike and woven)) and not customer_unit[i]
        if attach[i] >= 0.5 and (lent or by_knit):
            v = "attack"
        elif (group_suspicious[g] and attach[i] > 0) or own_risk[i] >= suspicious_at:
            v = "suspicious"
        else:
            v = "benign"
        if k >= 0 and knit_score[k] > group_score[g]:
            codes = _reasons(knit_parts, k, evidence, i, links, intents, observed)
        else:
            codes = _reasons(parts, g, evidence, i, links, intents, observed)
        if registry.trusted[i] and v == "attack":
            v = "suspicious"
            codes = ["TRUSTED", *codes]
        verdict.append(v)
        reasons.append(codes if v != "benign" else codes[:2])
    # A cluster carries the strongest verdict found in it, so a campaign reports the score
    # that convicted its accounts.
    cluster_risk = group_risk[:n_clusters].copy()
    cluster_attack = group_attack[:n_clusters].copy()
    if n_knit:
        home = np.full(n_knit, -1, dtype=np.int64)
        home[knit[in_knit]] = links.cluster[in_knit]
        np.maximum.at(cluster_risk, home, knit_score)
        np.logical_or.at(cluster_attack, home, knit_attack)
    return Scores(
        risk=np.clip(risk, 0.0, 1.0),
        verdict=verdict,
        reasons=reasons,
        cluster_risk=cluster_risk,
        cluster_attack=cluster_attack,
        attack_threshold=attack_at,
        suspicious_threshold=suspicious_at,
        estimated_fpr=estimated,
        own_risk=np.clip(own_risk, 0.0, 1.0),
    )


_LINK_CODES: Final[Mapping[str, str]] = {
    "payment": "SHARED_PAYMENT",
    "signup_network": "SHARED_SIGNUP_NETWORK",
    "signup_burst": "SIGNUP_BURST",
    "email_domain": "SHARED_EMAIL_PATTERN",
    "ip_network": "SHARED_IP_NETWORK",
    "asn": "SHARED_IP_NETWORK",
    "client": "SHARED_CLIENT",
    "harness": "SHARED_HARNESS",
    "system_prompt": "SHARED_SYSTEM_PROMPT",
    "template": "SHARED_TEMPLATE",
}


def _reasons(
    parts: Mapping[str, Array],
    group: int,
    evidence: Mapping[str, Array],
    i: int,
    links: Links,
    intents: Mapping[str, Array],
    observed: Mapping[str, npt.NDArray[np.bool_]],
) -> list[str]:
    """Reason codes for account ``i``, strongest first: its cluster's (or its own) evidence
    by contribution, then what ties it to its cluster, then what its profile shows."""
    weighted: list[tuple[float, str]] = [(0.1, code) for code, hit in observed.items() if hit[i]]
    for name, spec in (*EXTRACTION.items(), *COORDINATION.items()):
        if name in ("attachment", "shared_work"):
            continue
        own = float(evidence[name][i]) if name in evidence else 0.0
        level = float(spec.level(np.asarray([max(float(parts[name][group]), own)]))[0])
        if level <= 0.0:
            continue
        code = spec.code
        if name == "intent":
            strongest = max(intents, key=lambda k: float(intents[k][i]))
            code = INTENT_CODES[strongest]
        elif name == "concealed" and not observed["TIMEZONE_MISMATCH"][i]:
            code = "INFRA_DIVERSITY"
        weighted.append((spec.weight * level, code))
    if parts["unverified"][group] >= 0.5:
        weighted.append((0.25, "UNVERIFIED"))
    for kind, w in links.shared[i].items():
        weighted.append((0.5 * w, _LINK_CODES[kind]))
    if links.cluster[i] >= 0 and evidence["attachment"][i] > 0:
        weighted.append((0.2, "CLUSTER_RISK"))
    weighted.sort(key=lambda item: -item[0])
    seen: list[str] = []
    for _, code in weighted:
        if code not in seen:
            seen.append(code)
    return seen
