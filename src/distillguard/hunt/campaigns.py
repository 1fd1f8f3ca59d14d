"""Campaigns: attack clusters grouped by operator, described for an analyst.

Clusters that share a telling artefact (the same harness, templates, payment or sign-up
network held by several accounts on each side) are one operator's work and become one
campaign. Each campaign is described from its exchanges by the backend: capability shares,
first and last seen, volume over time, models and the move to a newly released one, the
artefacts that tie it together, and the matches against a file of known indicators.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import ibis
import ibis.expr.types as ir
import numpy as np
import numpy.typing as npt
import orjson
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..errors import InputError
from ..types import CAPABILITIES
from .artefacts import Graph
from .linking import LINK_THRESHOLD, Links, pairs_of
from .scoring import Scores

SAME_WORK: Final = 0.9
"""Cosine of two linked attack accounts' profiles (capability, intent and parameter
shares) from which they do one campaign's work. Chosen on one development seed: campaigns
that mix tool use and agent loops with benign chatter stay apart at 0.9, not at 0.8."""
TOP_ARTEFACTS: Final = 12
LINKED_ACCOUNTS: Final = 64
"""At most this many of the accounts sharing an artefact are listed with it, as positions in
the campaign's ``accounts``, so the console can draw who is tied to what."""


@dataclass
class Campaign:
    id: str
    members: npt.NDArray[np.int64]  # account indices
    clusters: list[int]
    confidence: float
    data: dict[str, Any] = field(default_factory=dict)


def group_accounts(
    graph: Graph, links: Links, attack: npt.NDArray[np.bool_], profile: npt.NDArray[np.float64]
) -> npt.NDArray[np.int64]:
    """Campaign number of each attack account (-1 for the others).

    Clusters say who is linked; campaigns say who works together. Two attack accounts are
    one campaign's when they are linked (shared artefacts weighing at least the linking
    threshold) *and* do the same work: their profiles (capability, intent and parameter
    shares) point the same way (cosine at least ``SAME_WORK``). Campaigns that ride one
    reseller are linked through its exits and clients but ask for different things, and
    stay apart. An attack account linked to none of its kind joins the campaign most of
    its cluster is in.
    """
    n = graph.n_accounts
    label = np.full(n, -1, dtype=np.int64)
    if not attack.any():
        return label
    keep = attack[graph.account]
    sub = Graph(
        graph.account[keep],
        graph.artefact[keep],
        graph.uses[keep],
        graph.accounts,
        graph.kinds,
        graph.values,
    )
    a, b, art = pairs_of(sub, links.weight, neighbours=8)
    if a.size:
        key, inverse = np.unique(a * n + b, return_inverse=True)
        total = np.bincount(inverse, weights=links.weight[art])
        first, second = key // n, key % n
        norm = np.linalg.norm(profile, axis=1)
        cosine = (profile[first] * profile[second]).sum(axis=1) / np.maximum(
            norm[first] * norm[second], 1e-12
        )
        strong = (total >= LINK_THRESHOLD) & (cosine >= SAME_WORK)
        matrix = coo_matrix(
            (np.ones(int(strong.sum())), (first[strong], second[strong])), shape=(n, n)
        )
        _, components = connected_components(matrix, directed=False)
        linked = np.zeros(n, dtype=bool)
        linked[first[strong]] = True
        linked[second[strong]] = True
        label[linked & attack] = components[linked & attack]
    # Attack accounts linked to none of their kind follow their cluster's majority campaign;
    # one in no cluster (a rider: see ``riders``) joins the campaign whose work its own is
    # most like, if that is the same work, and is a campaign of its own otherwise.
    for i in np.flatnonzero(attack & (label < 0) & (links.cluster >= 0)).tolist():
        mates = label[(links.cluster == links.cluster[i]) & (label >= 0)]
        if mates.size:
            values, counts = np.unique(mates, return_counts=True)
            label[i] = values[np.argmax(counts)]
    alone = np.flatnonzero(attack & (label < 0) & (links.cluster < 0))
    known = np.unique(label[label >= 0])
    if alone.size and known.size:
        centroid = np.stack([profile[label == k].mean(axis=0) for k in known.tolist()])
        unit = centroid / np.maximum(np.linalg.norm(centroid, axis=1, keepdims=True), 1e-12)
        mine = profile[alone] / np.maximum(
            np.linalg.norm(profile[alone], axis=1, keepdims=True), 1e-12
        )
        similarity = mine @ unit.T
        best = similarity.argmax(axis=1)
        same = similarity[np.arange(alone.size), best] >= SAME_WORK
        label[alone[same]] = known[best[same]]
    for i in np.flatnonzero(attack & (label < 0)).tolist():
        label[i] = n + i
    _, label[attack] = np.unique(label[attack], return_inverse=True)
    return label


def campaign_risk(scores: Scores, members: npt.NDArray[np.int64], clusters: list[int]) -> float:
    """A campaign's risk: its clusters' highest score, or, for a campaign of riders alone
    (in no cluster: see ``riders``), its accounts' own highest risk."""
    risk = scores.cluster_risk[clusters] if clusters else scores.risk[members]
    return float(risk.max())


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build(
    signals: ir.Table,
    models: ir.Table | None,
    graph: Graph,
    links: Links,
    scores: Scores,
    verdict_attack: npt.NDArray[np.bool_],
    profile: npt.NDArray[np.float64],
    *,
    indicators: Sequence[Mapping[str, Any]] = (),
) -> list[Campaign]:
    """Campaigns with the contract's fields (section 4) and the report's extras.

    ``profile`` holds one row per account: what it asks for (see ``group_accounts``)."""
    label = group_accounts(graph, links, verdict_attack, profile)
    campaigns: list[Campaign] = []
    order = sorted(
        np.unique(label[label >= 0]).tolist(),
        key=lambda k: -int((label == k).sum()),
    )
    for number, k in enumerate(order, start=1):
        members = np.flatnonzero(label == k)
        clusters = sorted({int(c) for c in links.cluster[members].tolist() if c >= 0})
        risk = campaign_risk(scores, members, clusters)
        confidence = float(np.clip(risk * links.attachment[members].mean(), 0.0, 1.0))
        campaigns.append(Campaign(f"campaign-{number:03d}", members, clusters, confidence))
    if not campaigns:
        return []
    _describe(signals, models, graph, links, scores, campaigns, indicators)
    return campaigns


def _describe(
    signals: ir.Table,
    models: ir.Table | None,
    graph: Graph,
    links: Links,
    scores: Scores,
    campaigns: list[Campaign],
    indicators: Sequence[Mapping[str, Any]],
) -> None:
    names = graph.accounts
    mapping = ibis.memtable(
        {
            "account_id": [names[i] for c in campaigns for i in c.members.tolist()],
            "campaign": [c.id for c in campaigns for _ in c.members.tolist()],
        }
    )
    t = signals.inner_join(mapping, "account_id")
    summary = (
        t.group_by("campaign")
        .aggregate(exchanges=t.count(), first=t.epoch.min(), last=t.epoch.max())
        .to_pyarrow()
        .to_pylist()
    )
    capability = t.group_by("campaign", "capability").aggregate(n=t.count()).to_pyarrow()
    by_model = t.group_by("campaign", "model").aggregate(n=t.count()).to_pyarrow()
    span = max(1, int(summary and max(r["last"] - r["first"] for r in summary)))
    bucket = 3600 if span <= 14 * 86400 else 86400
    bucketed = t.mutate(bucket=(t.epoch // bucket) * bucket)
    timeline = (
        bucketed.group_by("campaign", "bucket")
        .aggregate(n=bucketed.count(), accounts=bucketed.account_id.nunique())
        .order_by("bucket")
        .to_pyarrow()
    )
    releases = models.to_pyarrow().to_pylist() if models is not None else []

    by_id = {c.id: c for c in campaigns}
    for row in summary:
        c = by_id[row["campaign"]]
        c.data.update(exchanges=int(row["exchanges"]), first=row["first"], last=row["last"])
    for row in capability.to_pylist():
        c = by_id[row["campaign"]]
        c.data.setdefault("capability_counts", Counter())[row["capability"]] += row["n"]
    for row in by_model.to_pylist():
        by_id[row["campaign"]].data.setdefault("model_counts", Counter())[row["model"]] += row["n"]
    for row in timeline.to_pylist():
        points = by_id[row["campaign"]].data.setdefault("points", [])
        points.append([_iso(row["bucket"]), int(row["n"]), int(row["accounts"])])
    degree = graph.degree()
    for c in campaigns:
        c.data["bucket"] = "hour" if bucket == 3600 else "day"
        c.data["pivot"] = _pivot(t, c, releases)
        c.data["artefacts"] = _artefacts(graph, links, c, degree)
        c.data["attribution"] = _attribute(c.data["artefacts"], graph, c, indicators)
        codes = Counter(code for i in c.members.tolist() for code in scores.reasons[i][:5])
        c.data["reasons"] = [code for code, _ in codes.most_common(8)]


def _pivot(t: ir.Table, c: Campaign, releases: list[dict[str, Any]]) -> dict[str, Any] | None:
    first, last = c.data.get("first"), c.data.get("last")
    if first is None or last is None:
        return None
    for release in sorted(releases, key=lambda r: r["released_at"], reverse=True):
        at = release["released_at"].timestamp()
        if not first < at < last:
            continue
        mine = t.filter((t.campaign == c.id) & (t.epoch >= int(at)) & (t.epoch < int(at) + 86400))
        stats = mine.aggregate(
            n=mine.count(),
            new=(mine.model == release["model"]).cast("int64").sum(),
            first_use=ibis.ifelse(mine.model == release["model"], mine.epoch, None).min(),
        ).to_pyarrow()
        row = stats.to_pylist()[0]
        if not row["n"] or not row["new"]:
            continue
        return {
            "model": release["model"],
            "released_at": _iso(at),
            "hours_to_first_use": round((row["first_use"] - at) / 3600, 2),
            "share_within_24h": round(row["new"] / row["n"], 3),
        }
    return None


def _artefacts(
    graph: Graph, links: Links, c: Campaign, degree: npt.NDArray[np.int64]
) -> list[dict[str, Any]]:
    mine = np.isin(graph.account, c.members)
    art = graph.artefact[mine]
    ids, counts = np.unique(art, return_counts=True)
    shared = counts >= 2
    ids, counts = ids[shared], counts[shared]
    order = np.argsort(-(links.weight[ids] * np.log1p(counts)))[:TOP_ARTEFACTS]
    # Each member's position in the campaign's ``accounts`` list, sorted by name (``to_json``),
    # looked up by account number.
    members = np.sort(c.members)
    by_name = sorted(range(members.size), key=lambda k: graph.accounts[members[k]])
    position = np.empty(members.size, dtype=np.int64)
    position[by_name] = np.arange(members.size)
    who = position[np.searchsorted(members, graph.account[mine])]
    return [
        {
            "kind": graph.kinds[j],
            "value": _display(graph.kinds[j], graph.values[j]),
            "accounts": int(counts[k]),
            "accounts_overall": int(degree[j]),
            "rarity": round(float(links.weight[j]), 3),
            "members": np.unique(who[art == j])[:LINKED_ACCOUNTS].tolist(),
        }
        for k, j in ((int(k), int(ids[k])) for k in order)
    ]


def _display(kind: str, value: str) -> str:
    """What the report shows of an artefact: hashes stay hashes, shortened."""
    if kind in ("harness", "email_domain", "signup_burst"):
        return value if len(value) <= 72 else value[:71] + "…"
    return f"#{value[-10:]}" if len(value) > 10 else value


def _attribute(
    artefacts: list[dict[str, Any]],
    graph: Graph,
    c: Campaign,
    indicators: Sequence[Mapping[str, Any]],
) -> dict[str, Any] | None:
    if not indicators:
        return None
    mine = set(np.unique(graph.artefact[np.isin(graph.account, c.members)]).tolist())
    held = {(graph.kinds[j], graph.values[j]) for j in mine}
    best: dict[str, Any] | None = None
    for entry in indicators:
        matched = [
            {"kind": i["kind"], "value": _display(i["kind"], str(i["value"]))}
            for i in entry.get("indicators", [])
            if (i.get("kind"), str(i.get("value"))) in held
        ]
        if matched and (best is None or len(matched) > len(best["matched"])):
            best = {
                "actor": entry.get("actor"),
                "indicator_set": entry.get("source"),
                "matched": matched,
            }
    return best


def load_indicators(path: Path) -> list[dict[str, Any]]:
    """A known-indicator file: ``{"version": 1, "actors": [{"actor": name, "indicators":
    [{"kind": artefact kind, "value": store value}, ...]}]}``."""
    try:
        doc = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise InputError(f"{path}: cannot read indicator file: {exc.strerror}") from None
    except orjson.JSONDecodeError as exc:
        raise InputError(f"{path}: not JSON: {exc}") from None
    actors = doc.get("actors") if isinstance(doc, dict) else None
    if not isinstance(actors, list):
        raise InputError(f"{path}: expected an object with an 'actors' list")
    out = []
    for number, actor in enumerate(actors):
        if not isinstance(actor, dict) or not isinstance(actor.get("indicators"), list):
            raise InputError(f"{path}: actors[{number}] needs an 'indicators' list")
        out.append({**actor, "source": path.name})
    return out


def to_json(c: Campaign, names: list[str]) -> dict[str, Any]:
    """The campaign object of campaigns.json (contract section 4, plus the report's extras)."""
    counts: Counter[str] = c.data.get("capability_counts", Counter())
    total = sum(counts.values()) or 1
    capabilities = {
        name: round(counts[name] / total, 4) for name in CAPABILITIES if counts.get(name)
    }
    model_counts: Counter[str] = c.data.get("model_counts", Counter())
    model_total = sum(model_counts.values()) or 1
    evidence = [
        f"{a['accounts']} accounts share a {a['kind'].replace('_', ' ')} ({a['value']}) that "
        f"{a['accounts_overall']} accounts use in all"
        for a in c.data.get("artefacts", [])[:5]
    ]
    pivot = c.data.get("pivot")
    if pivot:
        evidence.append(
            f"moved {pivot['share_within_24h']:.0%} of its traffic to {pivot['model']} within "
            f"24 h of its release (first use after {pivot['hours_to_first_use']} h)"
        )
    return {
        "id": c.id,
        "accounts": sorted(names[i] for i in c.members.tolist()),
        "clusters": [f"cluster-{k:04d}" for k in c.clusters],
        "exchanges": int(c.data.get("exchanges", 0)),
        "first_seen": _iso(c.data["first"]) if "first" in c.data else None,
        "last_seen": _iso(c.data["last"]) if "last" in c.data else None,
        "capabilities": dict(sorted(capabilities.items(), key=lambda kv: -kv[1])),
        "reasons": c.data.get("reasons", []),
        "confidence": round(c.confidence, 4),
        "attribution": c.data.get("attribution"),
        "evidence": evidence,
        "timeline": {"bucket": c.data.get("bucket", "hour"), "points": c.data.get("points", [])},
        "artefacts": c.data.get("artefacts", []),
        "models": {
            m: round(n / model_total, 4) for m, n in model_counts.most_common() if m is not None
        },
        "release_pivot": pivot,
    }
