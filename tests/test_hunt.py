"""The hunt, end to end: simulated traffic in, accounts.csv and campaigns.json out.

Quality figures are measured by ``distillguard evaluate`` over several seeds in the
benchmarks; here the seeds are small and the bounds loose, so a test fails when detection
breaks, not when it drifts by an account.
"""

from __future__ import annotations

import csv
import gzip
import re
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from conftest import Logs
from distillguard.errors import ConfigError
from distillguard.exchange import IngestOptions, Store, ingest
from distillguard.hunt import HuntOptions, OperatingPoint, hunt
from distillguard.hunt.config import load_config
from distillguard.hunt.reasons import REASONS
from distillguard.signals import TextSignals
from distillguard.simulate import simulate
from distillguard.types import CAPABILITIES, VERDICTS

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def _ingest(traffic: Path, store: Path) -> Store:
    ingest(
        [traffic / "exchanges"],
        store,
        accounts=traffic / "accounts.jsonl",
        models=traffic / "models.jsonl",
        options=IngestOptions(workers=1, annotate=TextSignals()),
    )
    return Store(store)


def _accounts(out: Path) -> list[dict[str, str]]:
    with (out / "accounts.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _labels(traffic: Path) -> dict[str, dict[str, str]]:
    with (traffic / "labels.csv").open(encoding="utf-8", newline="") as handle:
        return {row["account_id"]: row for row in csv.DictReader(handle)}


class Hunted:
    def __init__(self, root: Path, evasion: int, seed: int) -> None:
        self.traffic = root / "traffic"
        simulate(self.traffic, scale=0.002, days=5, seed=seed, evasion=evasion, workers=1)
        self.store = _ingest(self.traffic, root / "store")
        self.out = root / "hunt"
        self.result = hunt(self.store, self.out)
        self.accounts = _accounts(self.out)
        self.campaigns: list[dict[str, Any]] = orjson.loads(
            (self.out / "campaigns.json").read_bytes()
        )["campaigns"]
        self.labels = _labels(self.traffic)


@pytest.fixture(scope="module", params=[0, 2])
def hunted(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Hunted:
    return Hunted(tmp_path_factory.mktemp(f"hunt-e{request.param}"), request.param, seed=7)


def test_every_account_appears_once_with_valid_fields(hunted: Hunted) -> None:
    ids = [row["account_id"] for row in hunted.accounts]
    assert len(ids) == len(set(ids))
    exchanges = hunted.store.exchanges().to_table(columns=["account_id"])
    assert set(ids) == set(exchanges["account_id"].to_pylist())
    counts = Counter(exchanges["account_id"].to_pylist())
    for row in hunted.accounts:
        assert 0.0 <= float(row["risk"]) <= 1.0
        assert row["verdict"] in VERDICTS
        assert int(row["exchanges"]) == counts[row["account_id"]]
        for code in filter(None, row["reasons"].split(";")):
            assert code in REASONS, code
        if row["campaign_id"]:
            assert row["verdict"] == "attack"


def test_campaigns_follow_the_contract(hunted: Hunted) -> None:
    attack = {row["account_id"] for row in hunted.accounts if row["verdict"] == "attack"}
    in_campaigns: list[str] = []
    by_account = {row["account_id"]: row for row in hunted.accounts}
    for campaign in hunted.campaigns:
        assert {"id", "accounts", "clusters", "exchanges", "first_seen", "last_seen"} <= set(
            campaign
        )
        assert RFC3339.match(campaign["first_seen"]) and RFC3339.match(campaign["last_seen"])
        assert campaign["first_seen"] <= campaign["last_seen"]
        assert set(campaign["capabilities"]) <= set(CAPABILITIES)
        assert abs(sum(campaign["capabilities"].values()) - 1.0) < 0.01
        assert 0.0 <= campaign["confidence"] <= 1.0
        assert campaign["exchanges"] == sum(
            int(by_account[a]["exchanges"]) for a in campaign["accounts"]
        )
        assert campaign["evidence"], "a campaign must say why"
        for account in campaign["accounts"]:
            assert by_account[account]["campaign_id"] == campaign["id"]
        in_campaigns += campaign["accounts"]
    assert len(in_campaigns) == len(set(in_campaigns))
    assert set(in_campaigns) == attack


def test_each_shared_artefact_lists_accounts_that_use_it(hunted: Hunted) -> None:
    from distillguard.hunt.campaigns import LINKED_ACCOUNTS, _display
    from distillguard.intel.hunted import store_graph

    graph = store_graph(hunted.store)
    users: dict[tuple[str, str], set[str]] = {}
    for a, j in zip(graph.account.tolist(), graph.artefact.tolist(), strict=True):
        shown = (graph.kinds[j], _display(graph.kinds[j], graph.values[j]))
        users.setdefault(shown, set()).add(graph.accounts[a])
    checked = 0
    for campaign in hunted.campaigns:
        for artefact in campaign["artefacts"]:
            members = artefact["members"]
            assert members == sorted(set(members))
            assert len(members) == min(artefact["accounts"], LINKED_ACCOUNTS)
            named = {campaign["accounts"][m] for m in members}
            assert named <= users[(artefact["kind"], artefact["value"])]
            checked += 1
    assert checked


def test_campaign_accounts_are_found_and_benign_ones_are_not(hunted: Hunted) -> None:
    verdict = {row["account_id"]: row["verdict"] for row in hunted.accounts}
    attack = [a for a, row in hunted.labels.items() if row["label"] == "attack" and a in verdict]
    benign = [a for a, row in hunted.labels.items() if row["label"] == "benign" and a in verdict]
    found = sum(verdict[a] == "attack" for a in attack)
    false = sum(verdict[a] == "attack" for a in benign)
    assert found >= 0.9 * len(attack), (found, len(attack))
    assert false <= 0.02 * len(benign), (false, len(benign))


def test_the_largest_campaign_is_about_coding(hunted: Hunted) -> None:
    # The simulator's largest campaign is agentic coding (as in the reports).
    largest = max(hunted.campaigns, key=lambda c: len(c["accounts"]))
    assert max(largest["capabilities"], key=largest["capabilities"].get) == "coding"


def test_a_hunt_is_deterministic(hunted: Hunted, tmp_path: Path) -> None:
    again = tmp_path / "again"
    hunt(hunted.store, again)
    assert (again / "accounts.csv").read_bytes() == (hunted.out / "accounts.csv").read_bytes()
    assert (again / "campaigns.json").read_bytes() == (hunted.out / "campaigns.json").read_bytes()


def test_trusted_accounts_are_never_attack(tmp_path: Path) -> None:
    traffic = tmp_path / "traffic"
    simulate(traffic, scale=0.002, days=3, seed=5, evasion=0, workers=1)
    rows = [orjson.loads(line) for line in (traffic / "accounts.jsonl").read_bytes().splitlines()]
    for row in rows:
        row["trusted"] = True
    (traffic / "accounts.jsonl").write_bytes(b"\n".join(orjson.dumps(r) for r in rows) + b"\n")
    store = _ingest(traffic, tmp_path / "store")
    hunt(store, tmp_path / "hunt")
    registered = {row["account_id"] for row in rows}
    accounts = [row for row in _accounts(tmp_path / "hunt") if row["account_id"] in registered]
    assert accounts and all(row["verdict"] != "attack" for row in accounts)
    assert any(row["reasons"].startswith("TRUSTED") for row in accounts)


# Bad input: each gives a sensible result and no error.


def _hunt_records(logs: Logs, records: list[dict[str, Any]], **files: Path) -> Path:
    path = logs.jsonl("log.jsonl", records)
    result = logs.ingest(path, annotate=TextSignals(), **files)
    out = logs.root / "hunt"
    hunt(Store(result.store), out)
    return out


def test_an_empty_log_gives_empty_results(logs: Logs) -> None:
    out = _hunt_records(logs, [])
    assert _accounts(out) == []
    assert orjson.loads((out / "campaigns.json").read_bytes())["campaigns"] == []


def test_one_account_is_never_a_campaign(logs: Logs) -> None:
    records = [
        logs.record(n, ts=f"2025-03-01T{n % 24:02d}:00:00Z", account_id="solo") for n in range(50)
    ]
    out = _hunt_records(logs, records)
    (row,) = _accounts(out)
    assert row["account_id"] == "solo" and row["verdict"] != "attack"
    assert row["exchanges"] == "50"


def test_registry_gaps_and_unknown_models_are_fine(logs: Logs) -> None:
    records = [
        logs.record(n, account_id=f"acct-{n % 3}", ts=f"2025-03-0{1 + n % 5}T10:00:00Z")
        for n in range(30)
    ]
    records[0]["request"]["model"] = "no-such-model"
    registry = logs.jsonl(
        "accounts.jsonl",
        [
            {"account_id": "acct-0", "created_at": "2025-01-01T00:00:00Z", "program": "standard"},
            {"account_id": "never-seen", "created_at": "2025-01-01T00:00:00Z"},
        ],
    )
    models = logs.jsonl(
        "models.jsonl", [{"model": "gpt-4o-mini", "released_at": "2025-03-03T00:00:00Z"}]
    )
    out = _hunt_records(logs, records, accounts=registry, models=models)
    ids = {row["account_id"] for row in _accounts(out)}
    assert ids == {"acct-0", "acct-1", "acct-2"}  # traffic decides who is listed


def test_out_of_order_timestamps_give_the_same_result(logs: Logs, tmp_path: Path) -> None:
    records = [
        logs.record(n, account_id=f"acct-{n % 4}", ts=f"2025-03-01T{n % 24:02d}:{n % 60:02d}:00Z")
        for n in range(80)
    ]
    forward = _hunt_records(logs, records)
    other = Logs(tmp_path / "reversed")
    backward = _hunt_records(other, list(reversed(records)))
    assert _accounts(forward) == _accounts(backward)


def test_all_benign_traffic_gives_no_campaign(tmp_path: Path) -> None:
    traffic = tmp_path / "traffic"
    simulate(traffic, scale=0.002, days=3, seed=11, evasion=0, workers=1)
    labels = _labels(traffic)
    keep = {a for a, row in labels.items() if row["label"] == "benign"}
    exchanges = traffic / "exchanges"
    for path in sorted(exchanges.glob("*.jsonl.gz")):
        lines = gzip.decompress(path.read_bytes()).splitlines()
        kept = [line for line in lines if orjson.loads(line)["account_id"] in keep]
        path.write_bytes(gzip.compress(b"".join(line + b"\n" for line in kept)))
    store = _ingest(traffic, tmp_path / "store")
    hunt(store, tmp_path / "hunt")
    doc = orjson.loads((tmp_path / "hunt" / "campaigns.json").read_bytes())
    assert doc["campaigns"] == []
    assert all(row["verdict"] != "attack" for row in _accounts(tmp_path / "hunt"))


def test_a_single_account_campaign_is_at_most_suspicious(tmp_path: Path) -> None:
    traffic = tmp_path / "traffic"
    simulate(traffic, scale=0.002, days=3, seed=13, evasion=0, workers=1)
    labels = _labels(traffic)
    attackers = sorted(a for a, row in labels.items() if row["label"] == "attack")
    lone = attackers[0]
    keep = {a for a, row in labels.items() if row["label"] == "benign"} | {lone}
    for path in sorted((traffic / "exchanges").glob("*.jsonl.gz")):
        lines = gzip.decompress(path.read_bytes()).splitlines()
        kept = [line for line in lines if orjson.loads(line)["account_id"] in keep]
        path.write_bytes(gzip.compress(b"".join(line + b"\n" for line in kept)))
    store = _ingest(traffic, tmp_path / "store")
    hunt(store, tmp_path / "hunt")
    verdicts = {row["account_id"]: row["verdict"] for row in _accounts(tmp_path / "hunt")}
    assert verdicts[lone] in ("suspicious", "benign")


# Configuration.


def test_config_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "hunt.toml"
    path.write_text("[operating_point]\nattack_score = 0.5\nsuspicous_score = 0.2\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.line == 3 and "suspicous_score" in str(info.value)
    path.write_text("[operating_point]\nattack_score = 2\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.line == 2


def test_config_sets_the_operating_point(tmp_path: Path) -> None:
    path = tmp_path / "hunt.toml"
    path.write_text("[operating_point]\nattack_score = 0.6\nsuspicious_score = 0.4\n")
    assert load_config(path).point == OperatingPoint(0.6, 0.4)


def test_a_stricter_operating_point_flags_no_more_accounts(hunted: Hunted, tmp_path: Path) -> None:
    strict = tmp_path / "strict"
    hunt(hunted.store, strict, HuntOptions(point=OperatingPoint(0.9, 0.6)))

    def flagged(out: Path) -> set[str]:
        return {row["account_id"] for row in _accounts(out) if row["verdict"] == "attack"}

    assert flagged(strict) <= flagged(hunted.out)


def test_skewed_timestamps_do_not_break_the_hunt(logs: Logs) -> None:
    # A client with a wrong clock: some records a year ahead, some years behind.
    records = [
        logs.record(n, account_id=f"acct-{n % 3}", ts=f"2025-03-01T{n % 24:02d}:00:00Z")
        for n in range(60)
    ]
    records[5]["ts"] = "2026-03-01T00:00:00Z"
    records[6]["ts"] = "2019-01-01T00:00:00+14:00"
    models = logs.jsonl(
        "models.jsonl", [{"model": "gpt-4o-mini", "released_at": "2025-03-01T06:00:00Z"}]
    )
    out = _hunt_records(logs, records, models=models)
    rows = _accounts(out)
    assert sorted(row["account_id"] for row in rows) == ["acct-0", "acct-1", "acct-2"]
    assert sum(int(row["exchanges"]) for row in rows) == 60


def test_known_indicators_attribute_the_campaign(hunted: Hunted, tmp_path: Path) -> None:
    import ibis

    from distillguard.hunt.signals import exchange_signals
    from distillguard.hunt.source import duckdb_backend, tables
    from distillguard.signals.rules import load

    largest = max(hunted.campaigns, key=lambda c: len(c["accounts"]))
    signals = exchange_signals(tables(duckdb_backend(), hunted.store).exchanges, load())
    mine = signals.filter(signals.account_id.isin(largest["accounts"]))
    harness = (
        (mine.group_by("harness").aggregate(n=mine.count()).order_by(ibis.desc("n")).limit(1))
        .to_pyarrow()["harness"][0]
        .as_py()
    )
    indicators = tmp_path / "actors.json"
    indicators.write_bytes(
        orjson.dumps(
            {
                "version": 1,
                "actors": [
                    {"actor": "nobody", "indicators": [{"kind": "harness", "value": "x"}]},
                    {"actor": "kite", "indicators": [{"kind": "harness", "value": harness}]},
                ],
            }
        )
    )
    out = tmp_path / "attributed"
    hunt(hunted.store, out, HuntOptions(indicators=indicators))
    doc = orjson.loads((out / "campaigns.json").read_bytes())
    by_id = {c["id"]: c for c in doc["campaigns"]}
    attribution = by_id[largest["id"]]["attribution"]
    assert attribution is not None and attribution["actor"] == "kite"
    assert attribution["indicator_set"] == "actors.json"
    assert all(
        c["attribution"] is None or c["attribution"]["actor"] == "kite" for c in by_id.values()
    )


def test_a_target_fpr_sets_the_threshold_from_the_traffic(hunted: Hunted, tmp_path: Path) -> None:
    loose, strict = tmp_path / "loose", tmp_path / "strict"
    hunt(hunted.store, loose, HuntOptions(point=OperatingPoint(target_fpr=0.05)))
    hunt(hunted.store, strict, HuntOptions(point=OperatingPoint(target_fpr=0.001)))
    points = [
        orjson.loads((out / "campaigns.json").read_bytes())["operating_point"]
        for out in (loose, strict)
    ]
    assert points[0]["target_fpr"] == 0.05 and points[1]["target_fpr"] == 0.001
    assert points[0]["estimated_fpr"] == pytest.approx(0.05, rel=1e-3)
    assert points[1]["attack_score"] > points[0]["attack_score"]

    def flagged(out: Path) -> set[str]:
        return {row["account_id"] for row in _accounts(out) if row["verdict"] == "attack"}

    assert flagged(strict) <= flagged(loose)
    default = orjson.loads((hunted.out / "campaigns.json").read_bytes())["operating_point"]
    assert default["target_fpr"] is None and 0.0 <= default["estimated_fpr"] <= 1.0
