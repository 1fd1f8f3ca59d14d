"""The baselines on a real store: simulated traffic, ingested, re-derived independently."""

from __future__ import annotations

import csv
import gzip
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from conftest import Logs
from distillguard.errors import ConfigError
from distillguard.exchange import IngestOptions, Store, ingest
from distillguard.hunt.baselines import (
    COT_THRESHOLD,
    BaselineResult,
    cot_share,
    dense_block,
    rate_limit,
)
from distillguard.hunt.evaluate import evaluate
from distillguard.hunt.reasons import REASONS
from distillguard.signals import TextSignals
from distillguard.signals.rules import RuleSet, load
from distillguard.simulate import simulate

HEADER = ["account_id", "risk", "verdict", "cluster_id", "campaign_id", "exchanges", "reasons"]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CODES = {"cot_elicitation": "INTENT_COT", "reasoning_reconstruction": "INTENT_RECONSTRUCT"}


@dataclass(frozen=True)
class Traffic:
    root: Path
    store: Store
    exchanges: dict[str, int]  # account -> exchanges, duplicates removed
    peaks: dict[str, int]  # account -> most exchanges in one UTC minute


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> Traffic:
    root = tmp_path_factory.mktemp("baselines")
    simulate(root / "traffic", scale=0.001, days=3, seed=1, evasion=0, workers=1)
    ingest(
        [root / "traffic" / "exchanges"],
        root / "store",
        accounts=root / "traffic" / "accounts.jsonl",
        models=root / "traffic" / "models.jsonl",
        options=IngestOptions(workers=1, annotate=TextSignals()),
    )
    # Straight from the exchange log, without the store or SQL.
    seen: set[str] = set()
    per_minute: Counter[tuple[str, int]] = Counter()
    for path in sorted((root / "traffic" / "exchanges").glob("*.jsonl.gz")):
        for line in gzip.decompress(path.read_bytes()).splitlines():
            record = orjson.loads(line)
            if record["id"] in seen:
                continue
            seen.add(record["id"])
            minute = (datetime.fromisoformat(record["ts"]) - EPOCH) // timedelta(minutes=1)
            per_minute[record["account_id"], minute] += 1
    exchanges: Counter[str] = Counter()
    peaks: dict[str, int] = defaultdict(int)
    for (account, _), n in per_minute.items():
        exchanges[account] += n
        peaks[account] = max(peaks[account], n)
    return Traffic(root, Store(root / "store"), dict(exchanges), dict(peaks))


def _read(result: BaselineResult) -> dict[str, dict[str, str]]:
    with (result.out / "accounts.csv").open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == HEADER
        rows = list(reader)
    accounts = [row["account_id"] for row in rows]
    assert len(accounts) == len(set(accounts)) == result.accounts
    return {row["account_id"]: row for row in rows}


def _well_formed(traffic: Traffic, result: BaselineResult) -> dict[str, dict[str, str]]:
    rows = _read(result)
    assert rows.keys() == traffic.exchanges.keys()
    for account, row in rows.items():
        assert 0.0 <= float(row["risk"]) <= 1.0
        assert row["verdict"] in ("attack", "benign")
        assert row["cluster_id"] == row["campaign_id"] == ""
        assert int(row["exchanges"]) == traffic.exchanges[account]
        reasons = row["reasons"].split(";") if row["reasons"] else []
        assert bool(reasons) == (row["verdict"] == "attack")
        assert all(code in REASONS for code in reasons)
    assert sum(row["verdict"] == "attack" for row in rows.values()) == result.attack
    doc = orjson.loads((result.out / "campaigns.json").read_bytes())
    assert doc == {"version": 1, "campaigns": []}
    return rows


# -- rate limiting ------------------------------------------------------------------------


@pytest.mark.parametrize("top", [0.005, 0.05, 0.3])
def test_rate_limit_flags_the_top_share_by_peak_requests_per_minute(
    traffic: Traffic, tmp_path: Path, top: float
) -> None:
    result = rate_limit(traffic.store, tmp_path / "rate", top=top)
    rows = _well_formed(traffic, result)
    peaks = traffic.peaks
    n = len(peaks)
    k = math.ceil(round(top * n, 9))
    limit = sorted(peaks.values(), reverse=True)[k - 1]
    expected = {a for a, peak in peaks.items() if peak >= limit}
    assert {a for a, row in rows.items() if row["verdict"] == "attack"} == expected
    assert len(expected) >= k and result.cutoff == limit
    for account, row in rows.items():
        percentile = sum(p <= peaks[account] for p in peaks.values()) / n
        assert float(row["risk"]) == pytest.approx(percentile, abs=1e-6)
        assert row["reasons"] == ("HIGH_VOLUME" if account in expected else "")


def test_rate_limit_at_zero_flags_nobody(traffic: Traffic, tmp_path: Path) -> None:
    result = rate_limit(traffic.store, tmp_path / "rate", top=0.0)
    rows = _well_formed(traffic, result)
    assert result.attack == 0 and result.cutoff is None
    assert max(float(row["risk"]) for row in rows.values()) == 1.0


# -- chain-of-thought share ---------------------------------------------------------------


def _cot_ids(rules: RuleSet) -> dict[str, set[str]]:
    ids: dict[str, set[str]] = {"cot_elicitation": set(), "reasoning_reconstruction": set()}
    for rule in rules.text:
        if rule.sets in ids:
            ids[rule.sets].add(rule.id)
    return ids


def _shares(traffic: Traffic, ids: dict[str, set[str]]) -> dict[str, dict[str, float]]:
    """Per account: share of exchanges with any of the ids, and with each intent's ids."""
    hits: dict[str, Counter[str]] = defaultdict(Counter)
    table = traffic.store.exchanges().to_table(columns=["account_id", "text_rules"])
    for account, rule_ids in zip(
        table.column("account_id").to_pylist(), table.column("text_rules").to_pylist(), strict=True
    ):
        fired = set(rule_ids or ())
        hits[account]["n"] += 1
        hits[account]["any"] += bool(fired & set().union(*ids.values()))
        for intent, intent_ids in ids.items():
            hits[account][intent] += bool(fired & intent_ids)
    return {
        account: {key: counts[key] / counts["n"] for key in ("any", *ids)}
        for account, counts in hits.items()
    }


def test_cot_share_flags_accounts_above_the_threshold(traffic: Traffic, tmp_path: Path) -> None:
    ids = _cot_ids(load())
    assert all(ids.values()), "the shipped corpus has rules for both intents"
    result = cot_share(traffic.store, tmp_path / "cot")
    rows = _well_formed(traffic, result)
    shares = _shares(traffic, ids)
    flagged = {a for a, s in shares.items() if s["any"] > COT_THRESHOLD}
    assert 0 < len(flagged) < len(shares)  # the rule has something to separate
    assert {a for a, row in rows.items() if row["verdict"] == "attack"} == flagged
    assert result.cutoff == COT_THRESHOLD == 0.5
    for account, row in rows.items():
        assert float(row["risk"]) == pytest.approx(shares[account]["any"], abs=1e-6)
        if account in flagged:
            s = shares[account]
            order = sorted((i for i in ids if s[i] > 0), key=lambda i: (-s[i], i))
            assert row["reasons"].split(";") == [CODES[i] for i in order]


def test_cot_share_takes_rule_ids_from_the_rule_set(traffic: Traffic, tmp_path: Path) -> None:
    shipped = load()
    only = RuleSet(
        text=tuple(r for r in shipped.text if r.sets == "reasoning_reconstruction"),
        param=(),
        correlation=(),
    )
    low = cot_share(traffic.store, tmp_path / "cot", threshold=0.05, rules=only)
    rows = _well_formed(traffic, low)
    shares = _shares(traffic, _cot_ids(only))
    assert any(s["any"] for s in shares.values())
    assert any(
        s["any"] != t["any"]
        for s, t in zip(shares.values(), _shares(traffic, _cot_ids(shipped)).values(), strict=True)
    )
    for account, row in rows.items():
        assert float(row["risk"]) == pytest.approx(shares[account]["any"], abs=1e-6)
        assert (row["verdict"] == "attack") == (shares[account]["any"] > 0.05)
    renamed = RuleSet(
        text=tuple(replace(r, sets="synthetic_data") for r in shipped.text),
        param=(),
        correlation=(),
    )
    with pytest.raises(ConfigError, match="no rule for cot_elicitation"):
        cot_share(traffic.store, tmp_path / "none", rules=renamed)


# -- both -----------------------------------------------------------------------------------


def test_evaluate_scores_a_baseline_like_a_hunt(traffic: Traffic, tmp_path: Path) -> None:
    result = rate_limit(traffic.store, tmp_path / "rate", top=0.05)
    labels = traffic.root / "traffic" / "labels.csv"
    with labels.open(encoding="utf-8", newline="") as handle:
        labelled = {row["account_id"]: row for row in csv.DictReader(handle)}
    e = evaluate(result.out, labels)
    assert e.accounts == len(labelled) and e.unlabelled == 0
    assert e.missing == len(labelled.keys() - traffic.exchanges.keys())
    assert e.strict.tp + e.strict.fp == result.attack
    assert e.predicted_campaigns == 0 and e.notes == ()
    assert [c.id for c in e.campaigns] == ["A-reasoning", "B-agentic", "C-coding", "D-traces"]
    assert [c.capability for c in e.campaigns] == ["reasoning", "agentic", "coding", "reasoning"]
    assert all(c.capability_right is False for c in e.campaigns)


def test_an_empty_store_gives_a_header_only_file(logs: Logs, tmp_path: Path) -> None:
    store = Store(logs.ingest(logs.jsonl("empty.jsonl", [])).store)
    for result in (rate_limit(store, tmp_path / "rate"), cot_share(store, tmp_path / "cot")):
        assert _read(result) == {} and result.accounts == result.attack == 0


def test_shares_outside_zero_to_one_are_refused(traffic: Traffic, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="top"):
        rate_limit(traffic.store, tmp_path, top=1.5)
    with pytest.raises(ValueError, match="threshold"):
        cot_share(traffic.store, tmp_path, threshold=-0.1)


def test_dense_block_flags_exactly_the_accounts_of_dense_blocks(
    traffic: Traffic, tmp_path: Path
) -> None:
    strict = dense_block(traffic.store, tmp_path / "strict", min_lift=1e9)
    assert strict.attack == 0  # nothing is a billion times denser than chance
    result = dense_block(traffic.store, tmp_path / "dense")
    rows = _well_formed(traffic, result)
    flagged = {a for a, row in rows.items() if row["verdict"] == "attack"}
    assert result.attack == len(flagged) > 0
    assert all(float(rows[a]["risk"]) > 0 for a in flagged)
    assert all(float(row["risk"]) == 0 for a, row in rows.items() if a not in flagged)
    assert max(float(row["risk"]) for row in rows.values()) == 1.0
