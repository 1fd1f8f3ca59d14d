"""Cases and dispositions: decisions reach the guard's watchlist, history is append-only."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest

from console_world import browser, campaigns, hunt_output, store, top_campaign, users_db
from distillguard.console.db import DATABASE
from distillguard.guard.watchlist import ENTRIES, Watchlist

__all__ = ["hunt_output", "store", "users_db"]  # fixtures used here


def _decide(store: Path, state: str, action: str = "", why: str = "shared payments") -> int:
    cid = top_campaign(store)
    analyst = browser(store, "ana")
    form = {"campaign": cid, "op": "state", "state": state, "action": action}
    return int(analyst.post("/cases", {**form, "why": why}).status_code)


def _lines(store: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in (store / ENTRIES).read_bytes().splitlines()]


@pytest.mark.parametrize("action", ["throttle", "verify", "degrade", "block"])
def test_confirming_writes_the_action_the_guard_reads(store: Path, action: str) -> None:
    cid = top_campaign(store)
    assert _decide(store, "confirmed", action) == 303
    campaign = next(c for c in campaigns(store) if c["id"] == cid)
    watchlist = Watchlist(store)
    assert not watchlist.problems
    for account in campaign["accounts"]:
        assert watchlist.account(account).watch == action
    scopes = {(line["scope"], line["id"]) for line in _lines(store)}
    assert ("campaign", cid) in scopes
    assert {("cluster", c) for c in campaign["clusters"]} <= scopes


def test_a_false_positive_allows_and_stays_as_a_labelled_example(store: Path) -> None:
    cid = top_campaign(store)
    assert _decide(store, "confirmed", "block") == 303
    watchlist = Watchlist(store)
    account = next(c for c in campaigns(store) if c["id"] == cid)["accounts"][0]
    assert watchlist.account(account).watch == "block"
    assert _decide(store, "false_positive", why="a university lab") == 303
    watchlist.reload()
    assert watchlist.account(account).watch == "allow"
    assert {line["action"] for line in _lines(store)} == {"allow"}  # the block was withdrawn
    with sqlite3.connect(store / DATABASE) as conn:
        rows = conn.execute("SELECT state, why, evidence FROM decisions ORDER BY id").fetchall()
    assert [r[0] for r in rows] == ["confirmed", "false_positive"]
    frozen = orjson.loads(rows[1][2])
    assert frozen["campaign"]["id"] == cid
    assert account in {a["account_id"] for a in frozen["accounts"]}
    page = browser(store, "vic").get(f"/campaigns/{cid}").text
    assert "a university lab" in page and "false_positive" in page


def test_dismissing_withdraws_the_case_lines_and_keeps_others(store: Path) -> None:
    hand = b'{"scope": "account", "id": "someone", "action": "verify"}\n'
    (store / ENTRIES).write_bytes(hand)
    assert _decide(store, "confirmed", "throttle") == 303
    assert len(_lines(store)) > 1
    assert _decide(store, "dismissed", why="already handled") == 303
    assert (store / ENTRIES).read_bytes() == hand


def test_decisions_need_a_reason_and_confirming_an_action(store: Path) -> None:
    assert _decide(store, "confirmed", "block", why="  ") == 400
    assert _decide(store, "confirmed", "allow") == 400
    assert _decide(store, "confirmed", "") == 400
    assert _decide(store, "bogus") == 400
    assert not (store / ENTRIES).exists()
    assert _decide(store, "in_review", why="") == 303


def test_every_change_is_audited_and_the_audit_is_append_only(store: Path) -> None:
    cid = top_campaign(store)
    analyst = browser(store, "ana")
    analyst.post("/cases", {"campaign": cid, "op": "assign", "owner": "ana"})
    analyst.post("/cases", {"campaign": cid, "op": "note", "body": "payments"})
    assert _decide(store, "confirmed", "verify") == 303
    with sqlite3.connect(store / DATABASE) as conn:
        actions = [r[0] for r in conn.execute("SELECT action FROM audit ORDER BY id")]
        whys = [r[0] for r in conn.execute("SELECT why FROM audit WHERE action = 'case.confirmed'")]
    assert {"case.assign", "case.note", "case.confirmed", "login"} <= set(actions)
    assert whys == ["shared payments"]
    page = analyst.get("/audit").text
    assert "case.confirmed" in page and "shared payments" in page
    conn = sqlite3.connect(store / DATABASE)
    try:
        for table in ("audit", "decisions", "notes"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(f"UPDATE {table} SET id = id + 1000")
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(f"DELETE FROM {table}")
    finally:
        conn.close()


def test_owner_and_notes_show_on_the_case(store: Path) -> None:
    cid = top_campaign(store)
    analyst = browser(store, "ana")
    assign = {"campaign": cid, "op": "assign"}
    assert analyst.post("/cases", {**assign, "owner": "ada"}).status_code == 303
    assert analyst.post("/cases", {**assign, "owner": "ghost"}).status_code == 400
    analyst.post("/cases", {"campaign": cid, "op": "note", "body": "check payments"})
    page = analyst.get(f"/campaigns/{cid}").text
    assert "check payments" in page and "ada" in page
    missing = analyst.post("/cases", {"campaign": "campaign-999", "op": "note", "body": "x"})
    assert missing.status_code == 404


def test_the_state_filter_and_the_frozen_copy(store: Path) -> None:
    cid = top_campaign(store)
    assert _decide(store, "confirmed", "block") == 303
    viewer = browser(store, "vic")
    confirmed = viewer.get("/campaigns?state=confirmed").text
    assert cid in confirmed
    assert cid not in viewer.get("/campaigns?state=new").text
    frozen = viewer.get("/decisions/1")
    assert frozen.status_code == 200 and cid in frozen.text
    assert viewer.get("/decisions/99").status_code == 404
    rules = viewer.get("/rules").text
    assert "INTENT_COT" in rules


def test_the_watchlist_may_live_in_another_folder(tmp_path: Path, store: Path) -> None:
    cid = top_campaign(store)
    from console_world import Browser

    guard = tmp_path / "guard-watchlist"
    b = Browser(store, watchlist=guard)
    b.login("ana")
    form = {"campaign": cid, "op": "state", "state": "confirmed", "action": "degrade"}
    assert b.post("/cases", {**form, "why": "x"}).status_code == 303
    assert (guard / ENTRIES).exists() and not (store / ENTRIES).exists()


def test_a_broken_hunt_file_keeps_the_last_good_index(store: Path) -> None:
    cid = top_campaign(store)
    viewer = browser(store, "vic")
    (store / "campaigns.json").write_text("{not json", encoding="utf-8")
    page = viewer.get(f"/campaigns/{cid}")
    assert page.status_code == 200
