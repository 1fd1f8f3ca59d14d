"""The watchlist: hunt output, analyst entries and the registry, reloaded when they change."""

from __future__ import annotations

import os
from pathlib import Path

from distillguard.guard.watchlist import Watchlist

HEADER = "account_id,risk,verdict,cluster_id,campaign_id,exchanges,reasons\n"


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    stamp = path.stat().st_mtime_ns + 1_000_000_000  # a visible change whatever the clock
    os.utime(path, ns=(stamp, stamp))


def test_hunt_verdicts_clusters_and_analyst_entries(tmp_path: Path) -> None:
    _write(
        tmp_path / "accounts.csv",
        HEADER + "a1,0.9,attack,c1,p1,10,x\na2,0.4,suspicious,c1,,3,\na3,0.01,benign,,,5,\n",
    )
    _write(
        tmp_path / "watchlist.jsonl",
        '{"scope": "cluster", "id": "c1", "action": "throttle"}\n'
        '{"scope": "account", "id": "a2", "action": "allow"}\n',
    )
    watch = Watchlist(tmp_path)
    a1, a2, a3 = (watch.account(a) for a in ("a1", "a2", "a3"))
    assert (a1.verdict, a1.cluster_id, a1.cluster_risk, a1.campaign_id) == (
        "attack",
        "c1",
        0.9,
        "p1",
    )
    assert a1.watch == "throttle"  # the cluster's entry
    assert a2.watch == "allow" and a2.cluster_risk == 0.9  # its own entry wins
    assert (a3.verdict, a3.cluster_id, a3.watch) == ("benign", None, None)
    unknown = watch.account("nobody")
    assert (unknown.known, unknown.verdict) == (False, "unknown")


def test_bad_lines_are_skipped_and_named(tmp_path: Path) -> None:
    _write(
        tmp_path / "accounts.csv",
        HEADER + "a1,lots,attack,,,1,\na2,0.5,maybe,,,1,\na3,0.2,benign,,,1,\n",
    )
    _write(
        tmp_path / "watchlist.jsonl",
        'not json\n[1]\n{"scope": "planet", "id": "x", "action": "block"}\n'
        '{"scope": "account", "id": "a3", "action": "block"}\n',
    )
    watch = Watchlist(tmp_path)
    assert watch.account("a3").watch == "block"
    assert watch.account("a1").known is False
    problems = watch.problems
    assert len(problems) == 5
    assert any("accounts.csv:2" in p for p in problems)
    assert any("watchlist.jsonl:3" in p for p in problems)


def test_reload_takes_changes_and_keeps_the_old_list_when_the_new_one_is_broken(
    tmp_path: Path,
) -> None:
    _write(tmp_path / "accounts.csv", HEADER + "a1,0.9,attack,c1,,1,\n")
    watch = Watchlist(tmp_path)
    assert watch.reload() == []  # nothing changed
    _write(tmp_path / "accounts.csv", HEADER + "a1,0.1,benign,,,1,\n")
    assert watch.changed()
    watch.reload()
    assert watch.account("a1").verdict == "benign"
    _write(tmp_path / "accounts.csv", "who,what\nx,y\n")  # not a hunt's accounts.csv
    errors = watch.reload()
    assert errors and "header lacks" in errors[0]
    assert watch.account("a1").verdict == "benign"


def test_the_registry_adds_program_verification_and_trust(tmp_path: Path) -> None:
    registry = tmp_path / "accounts.jsonl"
    _write(
        registry,
        '{"account_id": "a1", "program": "education", "verified": false, "trusted": false,'
        ' "payment_fingerprint": "pf1"}\n{"account_id": "a2", "trusted": true}\nbroken\n',
    )
    watch = Watchlist(None, registry)
    a1, a2 = watch.account("a1"), watch.account("a2")
    assert (a1.program, a1.verified, a1.trusted, a1.payment) == ("education", False, False, "pf1")
    assert a2.trusted is True
    csv_registry = tmp_path / "accounts.csv"
    _write(csv_registry, "account_id,program,verified,trusted\na9,research,true,false\n")
    assert Watchlist(None, csv_registry).account("a9").verified is True


def test_campaign_evidence_comes_from_campaigns_json(tmp_path: Path) -> None:
    _write(tmp_path / "accounts.csv", HEADER + "a1,0.9,attack,c1,p1,10,\na2,0.9,attack,c1,p2,5,\n")
    _write(
        tmp_path / "campaigns.json",
        '{"version": 1, "campaigns": [{"id": "p1", "exchanges": 340, "confidence": 0.8},'
        ' {"id": "p2", "exchanges": "many"}]}',
    )
    watch = Watchlist(tmp_path)
    a1, a2 = watch.account("a1"), watch.account("a2")
    assert (a1.campaign_exchanges, a1.campaign_confidence) == (340, 0.8)
    assert a2.campaign_exchanges == 0
    assert any("campaigns[1]" in p for p in watch.problems)
    newcomer = watch.with_cluster(watch.account("new"), "c1", linked=True)
    assert (newcomer.linked, newcomer.campaign_exchanges, newcomer.cluster_risk) == (True, 340, 0.9)
    _write(tmp_path / "campaigns.json", "{broken")
    assert watch.reload() and watch.account("a1").campaign_exchanges == 340
