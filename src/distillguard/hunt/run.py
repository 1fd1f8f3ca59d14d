"""Running a hunt: store → signals → profiles → graph → clusters → scores → campaigns → files.

    from distillguard.hunt import HuntOptions, hunt
    result = hunt(Store(Path("store")), Path("hunt"), HuntOptions())

Writes ``accounts.csv`` and ``campaigns.json`` (contract section 4) into the output folder;
the report is rendered from those files, so it shows exactly what was written.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pyarrow as pa

from ..exchange import Store
from ..signals.rules import RuleSet, load
from ..types import ACCOUNTS_CSV_COLUMNS
from .artefacts import build_graph
from .campaigns import Campaign, build, campaign_risk, load_indicators, to_json
from .hold import hold, read_convicted
from .linking import link
from .profiles import column, profiles
from .riders import convict_riders
from .scoring import OperatingPoint, Registry, Scores, score
from .signals import exchange_signals
from .source import Tables, duckdb_backend, tables
from .structure import Structure, dense_members, lockstep_members

if TYPE_CHECKING:
    from ..intel import SharedIntel


@dataclass(frozen=True)
class HuntOptions:
    point: OperatingPoint = field(default_factory=OperatingPoint)
    indicators: Path | None = None
    seed: int = 1
    rules: RuleSet | None = None
    intel: SharedIntel | None = None  # partners' indicators (distillguard.intel)
    previous: Path | None = None  # the last hunt's accounts.csv or folder: convictions held


@dataclass(frozen=True)
class HuntResult:
    out: Path
    accounts: int
    exchanges: int
    clusters: int
    campaigns: int
    verdicts: dict[str, int]
    attack_threshold: float
    suspicious_threshold: float
    files: tuple[Path, ...]


def _registry(t: Tables, names: list[str]) -> Registry:
    n = len(names)
    if t.accounts is None:
        return Registry.unknown(n)
    table = t.accounts.select(
        "account_id", "created_at", "trusted", "verified", "org_id"
    ).to_pyarrow()
    index = {name: i for i, name in enumerate(names)}
    registry = Registry.unknown(n)
    orgs: dict[str, int] = {}
    for row in table.to_pylist():
        i = index.get(row["account_id"])
        if i is None:
            continue
        created = row["created_at"]
        registry.created[i] = created.timestamp() if created is not None else np.nan
        registry.trusted[i] = bool(row["trusted"])
        registry.verified[i] = bool(row["verified"])
        if row["org_id"]:
            registry.org[i] = orgs.setdefault(row["org_id"], len(orgs))
    return registry


def work_profile(prof: pa.Table) -> np.ndarray[Any, np.dtype[np.float64]]:
    """What each account asks for: capability, intent and parameter shares, one row each."""
    names = [n for n in prof.column_names if n.startswith(("cap_", "intent_", "param_"))]
    columns = [column(prof, n) for n in names]
    return np.column_stack(columns) if columns else np.zeros((prof.num_rows, 0))


def hunt(
    store: Store,
    out: Path,
    options: HuntOptions | None = None,
    *,
    backend: Any = None,
    progress: Callable[[str], None] | None = None,
) -> HuntResult:
    """Hunt the store's traffic; write ``accounts.csv`` and ``campaigns.json`` into ``out``."""
    options = options or HuntOptions()
    step = progress or (lambda _: None)
    backend = backend if backend is not None else duckdb_backend()
    rules = options.rules or load()
    indicators = load_indicators(options.indicators) if options.indicators else []
    # Read before anything is written: the previous hunt may be the folder written to.
    convicted = read_convicted(options.previous) if options.previous else frozenset()
    out.mkdir(parents=True, exist_ok=True)

    source = tables(backend, store)
    step("signals and profiles")
    signals = exchange_signals(source.exchanges, rules)
    prof = profiles(signals, source.accounts, source.models)
    names: list[str] = prof["account_id"].to_pylist()
    step("account graph")
    graph = build_graph(signals, source.accounts, prof.select(["account_id", "exchanges"]))
    links = link(graph, seed=options.seed)
    step("dense blocks and lockstep")
    structure = Structure(
        dense_members(graph),
        lockstep_members(signals, prof["account_id"], links.cluster),
    )
    step("scores")
    registry = _registry(source, names)
    scores = score(
        prof, links, registry=registry, point=options.point, structure=structure, seed=options.seed
    )
    attack = np.asarray([v == "attack" for v in scores.verdict], dtype=bool)
    if options.intel is not None:  # shared intel: convicts matched accounts, feeds attribution
        matched = options.intel.apply(
            graph, scores, attack, registry.trusted, links.cluster, value_key=store.key_check
        )
        indicators = [*indicators, *matched]
    if convicted:
        hold(convicted, names, scores, attack, registry.trusted, links.cluster)
    convict_riders(graph, links, scores, attack, registry)
    step("campaigns")
    campaigns = build(
        signals,
        source.models,
        graph,
        links,
        scores,
        attack,
        work_profile(prof),
        indicators=indicators,
    )
    step("writing")
    accounts_csv = _write_accounts(out / "accounts.csv", prof, links.cluster, scores, campaigns)
    campaigns_json = _write_campaigns(out / "campaigns.json", campaigns, names, scores, options)
    verdicts = {v: scores.verdict.count(v) for v in ("attack", "suspicious", "benign")}
    return HuntResult(
        out=out,
        accounts=len(names),
        exchanges=int(pa.compute.sum(prof["exchanges"]).as_py() or 0),
        clusters=int(links.cluster.max()) + 1 if len(names) and links.cluster.max() >= 0 else 0,
        campaigns=len(campaigns),
        verdicts=verdicts,
        attack_threshold=scores.attack_threshold,
        suspicious_threshold=scores.suspicious_threshold,
        files=(accounts_csv, campaigns_json),
    )


def _write_accounts(
    path: Path,
    prof: pa.Table,
    cluster: np.ndarray[Any, np.dtype[np.int64]],
    scores: Scores,
    campaigns: list[Campaign],
) -> Path:
    campaign_of: dict[int, str] = {}
    for c in campaigns:
        for i in c.members.tolist():
            campaign_of[i] = c.id
    names = prof["account_id"].to_pylist()
    volume = prof["exchanges"].to_pylist()
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(ACCOUNTS_CSV_COLUMNS)
        for i, name in enumerate(names):
            writer.writerow(
                [
                    name,
                    f"{scores.risk[i]:.4f}",
                    scores.verdict[i],
                    f"cluster-{cluster[i]:04d}" if cluster[i] >= 0 else "",
                    campaign_of.get(i, ""),
                    volume[i],
                    ";".join(scores.reasons[i]),
                ]
            )
    return path


def _write_campaigns(
    path: Path,
    campaigns: list[Campaign],
    names: list[str],
    scores: Scores,
    options: HuntOptions,
) -> Path:
    items = [to_json(c, names) for c in campaigns]
    for item, c in zip(items, campaigns, strict=True):
        item["score"] = {
            "risk": round(campaign_risk(scores, c.members, c.clusters), 4),
            "accounts_attack": int(c.members.size),
        }
    items.sort(key=lambda item: -item["confidence"] * item["exchanges"])
    doc = {
        "version": 1,
        "operating_point": {
            "attack_score": round(scores.attack_threshold, 6),
            "suspicious_score": round(scores.suspicious_threshold, 6),
            "target_fpr": options.point.target_fpr,
            "estimated_fpr": (
                round(scores.estimated_fpr, 6) if scores.estimated_fpr is not None else None
            ),
        },
        "campaigns": items,
    }
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    return path
