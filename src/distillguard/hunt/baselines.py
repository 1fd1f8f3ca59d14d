"""Baselines the hunt must beat: the defences a provider has without it.

    from distillguard.hunt.baselines import cot_share, rate_limit
    rate_limit(Store(Path("store")), Path("baseline-rate"))

``rate_limit``
    Per-key rate limiting: an account's figure is its peak requests per minute (the most
    exchanges in one UTC clock minute). The top ``top`` share of accounts by that figure are
    attack, as a rate limit set at that percentile would stop them.
``cot_share``
    A chain-of-thought keyword filter: an account's figure is the share of its exchanges on
    which a chain-of-thought elicitation or reasoning reconstruction rule fired at ingest
    (the store's ``text_rules``; rule ids from the loaded rule corpus). Accounts above
    ``threshold`` are attack.

Each writes ``accounts.csv`` in the contract's format (section 4): every account of the
store once, ``risk`` in [0, 1], verdict ``attack`` or ``benign``, no cluster or campaign,
the account's exchanges, and the reason code behind an attack verdict. A baseline finds no
campaigns, so ``campaigns.json`` lists none. The figures are computed in DuckDB over the
store's Parquet files.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import duckdb
import orjson

from ..errors import ConfigError
from ..exchange import Store
from ..signals.rules import RuleSet, load
from ..types import ACCOUNTS_CSV_COLUMNS
from .reasons import INTENT_CODES

COT_INTENTS: Final = ("cot_elicitation", "reasoning_reconstruction")
"""The rule intents (``sets`` in rules/intents.toml) that ``cot_share`` counts."""
COT_THRESHOLD: Final = 0.5
"""Half of an account's traffic asking for step-by-step reasoning. A fixed round number,
not fitted to labels: the level at which the hunt's own intent evidence counts in full, and
far above what homework or code review traffic shows."""


@dataclass(frozen=True)
class BaselineResult:
    """What a baseline wrote: ``accounts`` in all, ``attack`` of them flagged, at the
    ``cutoff`` it applied (peak requests per minute, or share of exchanges)."""

    name: str
    out: Path
    accounts: int
    attack: int
    cutoff: float | None
    files: tuple[Path, ...]


def _exchanges(store: Store) -> str | None:
    """The store's exchange files as a DuckDB source, or None when it holds none."""
    if not any((store.root / "exchanges").rglob("*.parquet")):
        return None
    glob = store.exchanges_glob.replace("'", "''")
    return f"read_parquet('{glob}', hive_partitioning = true)"


def _query(sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    con = duckdb.connect()
    try:
        cursor = con.execute(sql, list(params))
        names = [column[0] for column in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()


def _write(out_dir: Path, rows: list[dict[str, Any]]) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    accounts = out_dir / "accounts.csv"
    with accounts.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(ACCOUNTS_CSV_COLUMNS)
        for row in rows:
            writer.writerow(
                (
                    row["account_id"],
                    f"{row['risk']:.6f}",
                    "attack" if row["flagged"] else "benign",
                    "",
                    "",
                    row["exchanges"],
                    ";".join(row["reasons"]) if row["flagged"] else "",
                )
            )
    campaigns = out_dir / "campaigns.json"
    campaigns.write_bytes(
        orjson.dumps({"version": 1, "campaigns": []}, option=orjson.OPT_INDENT_2) + b"\n"
    )
    return accounts, campaigns


def _result(
    name: str, out_dir: Path, rows: list[dict[str, Any]], cutoff: float | None
) -> BaselineResult:
    files = _write(out_dir, rows)
    return BaselineResult(
        name=name,
        out=out_dir,
        accounts=len(rows),
        attack=sum(bool(row["flagged"]) for row in rows),
        cutoff=cutoff,
        files=files,
    )


def rate_limit(store: Store, out_dir: Path, top: float = 0.005) -> BaselineResult:
    """Flag the ``top`` share of accounts by peak requests per minute.

    The limit sits at the peak of the ``ceil(top * accounts)``-th account from the top;
    accounts tied with it are flagged too (a rate limit cannot tell equal rates apart), so
    ties can flag a few more. ``risk`` is the account's percentile: the share of accounts
    whose peak is at most its own. ``cutoff`` is the limit, in requests per minute."""
    if not 0.0 <= top <= 1.0:
        raise ValueError(f"top must be a share in [0, 1], not {top}")
    source = _exchanges(store)
    if source is None:
        return _result("rate_limit", out_dir, [], None)
    rows = _query(
        f"""WITH minutes AS (
                SELECT account_id, epoch_us(ts) // 60000000 AS minute, count(*) AS n
                FROM {source} GROUP BY account_id, minute),
            peaks AS (
                SELECT account_id, max(n) AS peak, sum(n) AS exchanges
                FROM minutes GROUP BY account_id)
            SELECT account_id, peak, exchanges,
                   cume_dist() OVER (ORDER BY peak) AS risk,
                   rank() OVER (ORDER BY peak DESC)
                       <= ceil(? * count(*) OVER () - 1e-9) AS flagged,
                   ['HIGH_VOLUME'] AS reasons
            FROM peaks ORDER BY account_id""",
        [top],
    )
    flagged = [row["peak"] for row in rows if row["flagged"]]
    return _result("rate_limit", out_dir, rows, float(min(flagged)) if flagged else None)


def cot_rule_ids(rules: RuleSet, intents: Sequence[str] = COT_INTENTS) -> dict[str, list[str]]:
    """Ids of the text rules that set each of ``intents``."""
    ids: dict[str, list[str]] = {intent: [] for intent in intents}
    for rule in rules.text:
        if rule.sets in ids:
            ids[rule.sets].append(rule.id)
    return ids


def cot_share(
    store: Store,
    out_dir: Path,
    threshold: float = COT_THRESHOLD,
    *,
    rules: RuleSet | None = None,
) -> BaselineResult:
    """Flag accounts whose share of exchanges with a chain-of-thought rule hit is above
    ``threshold`` (default ``COT_THRESHOLD``). ``risk`` is that share; the reasons name the
    intents that fired, the more frequent first. ``rules`` defaults to the shipped corpus."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be a share in [0, 1], not {threshold}")
    by_intent = cot_rule_ids(rules or load())
    every = [rule_id for ids in by_intent.values() for rule_id in ids]
    if not every:
        raise ConfigError(f"the rule corpus has no rule for {', '.join(COT_INTENTS)}")
    source = _exchanges(store)
    if source is None:
        return _result("cot_share", out_dir, [], threshold)
    shares = ", ".join(
        f"avg(coalesce(list_has_any(text_rules, ?::VARCHAR[]), false)::DOUBLE) AS {intent}"
        for intent in by_intent
    )
    rows = _query(
        f"""SELECT account_id, count(*) AS exchanges,
                   avg(coalesce(list_has_any(text_rules, ?::VARCHAR[]), false)::DOUBLE) AS risk,
                   {shares}
            FROM {source} GROUP BY account_id ORDER BY account_id""",
        [every, *by_intent.values()],
    )
    for row in rows:
        row["flagged"] = row["risk"] > threshold
        fired = sorted((-row[i], i) for i in by_intent if row[i] > 0)
        row["reasons"] = [INTENT_CODES[i] for _, i in fired]
    return _result("cot_share", out_dir, rows, threshold)


def dense_block(
    store: Store, out_dir: Path, *, k: int = 50, min_rows: int = 3, min_lift: float = 1.0
) -> BaselineResult:
    """Flag the accounts of the dense blocks FRAUDAR finds in the account x artefact graph.

    Dense-block detection alone, on the same graph the hunt links accounts with (every
    artefact kind, FRAUDAR's own column weighting), keeping every block denser than the
    same graph shuffled (``min_lift`` 1.0: any block chance does not explain), with no look
    at what the accounts ask for. ``risk`` is the density of the
    densest block an account is in, over the densest block's; ``cutoff`` is the lowest
    density kept."""
    from .artefacts import build_graph
    from .dense import dense_blocks
    from .signals import exchange_signals
    from .source import duckdb_backend, tables

    source = _exchanges(store)
    if source is None:
        return _result("dense_block", out_dir, [], None)
    backend = duckdb_backend()
    t = tables(backend, store)
    signals = exchange_signals(t.exchanges, load())
    counts = (
        t.exchanges.group_by("account_id")
        .aggregate(exchanges=t.exchanges.count())
        .order_by("account_id")
        .to_pyarrow()
    )
    graph = build_graph(signals, t.accounts, counts)
    blocks = dense_blocks(
        graph.account,
        graph.artefact,
        graph.n_accounts,
        graph.n_artefacts,
        k=k,
        min_rows=min_rows,
        min_lift=min_lift,
    )
    density = [0.0] * graph.n_accounts
    for block in blocks:
        for i in block.rows.tolist():
            density[i] = max(density[i], block.density)
    top = max(density, default=0.0) or 1.0
    rows = [
        {
            "account_id": name,
            "exchanges": volume,
            "risk": density[i] / top,
            "flagged": density[i] > 0,
            "reasons": ["DENSE_BLOCK"],
        }
        for i, (name, volume) in enumerate(
            zip(graph.accounts, counts["exchanges"].to_pylist(), strict=True)
        )
    ]
    kept = [b.density for b in blocks]
    return _result("dense_block", out_dir, rows, min(kept) if kept else None)
