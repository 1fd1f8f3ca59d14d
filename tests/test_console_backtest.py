"""Backtests: a candidate operating point or rule change run over stored history, compared
with the current hunt account by account, by population when labels exist."""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

import orjson
import pytest

from console_world import browser, full_store, hunt_output, users_db
from distillguard.console.backtest import (
    BacktestOptions,
    BacktestResult,
    Change,
    backtest,
    diff,
    read_verdicts,
)
from distillguard.console.db import DATABASE
from distillguard.console.errors import BacktestError
from distillguard.hunt import OperatingPoint

__all__ = ["full_store", "hunt_output", "users_db"]  # fixtures used here

LOWER = OperatingPoint(0.3, 0.3)
"""Flags more than the default: the simulated traffic has accounts between 0.3 and 0.45."""


def test_diff_orders_flagged_released_and_counts_populations() -> None:
    before = {"a": ("benign", 0.1), "b": ("attack", 0.9), "c": ("benign", 0.2), "d": ("attack", 1)}
    after = {
        "a": ("attack", 0.5),
        "b": ("suspicious", 0.4),
        "c": ("suspicious", 0.3),
        "e": ("x", 0),
    }
    changes = diff(before, after, {"a": "lab", "b": "campaign"})
    assert [(c.account_id, c.kind) for c in changes] == [
        ("a", "flagged"),
        ("d", "released"),  # riskier first
        ("b", "released"),
        ("c", "changed"),
        ("e", "changed"),
    ]
    assert changes[1].after == "absent" and changes[3].population == "unlabelled"
    assert diff(before, before) == []


def test_the_same_point_changes_nothing_and_a_lower_one_flags_by_population(
    full_store: Path,
) -> None:
    exchanges, current = full_store / "store", full_store
    same = backtest(exchanges, current, BacktestOptions())
    assert same.changes == () and same.labelled
    assert same.before == same.after  # the candidate reproduces the stored hunt
    lower = backtest(exchanges, current, BacktestOptions(LOWER))
    assert lower.flagged > 0 and lower.released == 0
    assert all(isinstance(c, Change) and c.after == "attack" for c in lower.changes)
    populations = lower.by_population()
    assert sum(p.get("flagged", 0) for p in populations.values()) == lower.flagged
    labels = {
        line.split(",")[0]: line.split(",")[2]
        for line in (full_store / "labels.csv").read_text().splitlines()[1:]
    }
    for change in lower.changes:
        assert change.population == labels[change.account_id]
    assert lower.after["attack"] == lower.before["attack"] + lower.flagged
    assert read_verdicts(current / "accounts.csv") != {}  # the current hunt is untouched
    assert BacktestResult.from_json(orjson.loads(orjson.dumps(lower.to_json()))) == lower


def test_leaving_out_rules_runs_and_bad_candidates_are_refused(full_store: Path) -> None:
    exchanges = full_store / "store"
    off = BacktestOptions(disabled_rules=("DG-INT-0001", "DG-INT-0002", "DG-NET-0001"))
    result = backtest(exchanges, full_store, off)
    assert result.options.disabled_rules == off.disabled_rules
    assert result.released >= 0 and result.accounts > 0
    with pytest.raises(BacktestError, match="no rule with id DG-XXX-0001"):
        backtest(exchanges, full_store, BacktestOptions(disabled_rules=("DG-XXX-0001",)))
    for point in (OperatingPoint(1.5, 0.3), OperatingPoint(0.4, 0.5), OperatingPoint(0, 0)):
        with pytest.raises(BacktestError, match="score"):
            backtest(exchanges, full_store, BacktestOptions(point))
    with pytest.raises(BacktestError, match="not an exchange store"):
        backtest(full_store, full_store, BacktestOptions())


def _wait(page: str, fetch: object, timeout: float = 60.0) -> str:
    assert callable(fetch)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        html = str(fetch(page).text)
        if 'class="state running"' not in html:
            return html
        assert 'http-equiv="refresh"' in html  # a running backtest's page reloads itself
        time.sleep(0.2)
    raise AssertionError(f"{page}: still running after {timeout} s")


def test_the_page_runs_a_backtest_in_the_background_and_audits_it(full_store: Path) -> None:
    analyst = browser(full_store, "ana")
    form = analyst.get("/backtests").text
    assert 'value="0.450"' in form and "DG-INT-0001" in form
    response = analyst.post(
        "/backtests",
        {"attack_score": "0.3", "suspicious_score": "0.3", "off:DG-PAR-0001": "on"},
        page="/backtests",
    )
    assert response.status_code == 303
    job = response.headers["location"]
    assert re.fullmatch(r"/backtests/\d{8}T\d{6}-[0-9a-f]{6}", job)
    page = _wait(job, analyst.get)
    assert "Newly flagged" in page and "By population" in page and "classroom" in page
    assert "DG-PAR-0001" in page
    accounts = re.findall(r'href="(/accounts/[^"]+)"', page)
    assert accounts and all(re.fullmatch(r"/accounts/[0-9a-f]{24}", a) for a in accounts)
    assert analyst.get(accounts[0]).status_code == 200
    assert job in analyst.get("/backtests").text  # listed, and kept on disk
    assert (full_store / "backtests" / f"{job.rsplit('/', 1)[1]}.json").is_file()
    with sqlite3.connect(full_store / DATABASE) as conn:
        rows = conn.execute(
            "SELECT actor, action, target, detail FROM audit WHERE action LIKE 'backtest.%'"
        ).fetchall()
    assert [(r[0], r[1]) for r in rows] == [("ana", "backtest.run"), ("ana", "backtest.done")]
    assert orjson.loads(rows[0][3])["disabled_rules"] == ["DG-PAR-0001"]
    assert orjson.loads(rows[1][3])["flagged"] > 0
    assert "backtest.done" in analyst.get("/audit").text


def test_the_page_refuses_bad_input_viewers_and_missing_csrf(full_store: Path) -> None:
    analyst = browser(full_store, "ana")
    bad = analyst.post(
        "/backtests", {"attack_score": "0.2", "suspicious_score": "0.5"}, page="/backtests"
    )
    assert bad.status_code == 400 and "at most the attack score" in bad.text
    text = analyst.post(
        "/backtests", {"attack_score": "lots", "suspicious_score": "0.5"}, page="/backtests"
    )
    assert text.status_code == 400 and "not a number" in text.text
    forged = analyst.client.post(
        "/backtests", data={"attack_score": "0.3", "suspicious_score": "0.3"}
    )
    assert forged.status_code == 403
    viewer = browser(full_store, "vic")
    assert viewer.get("/backtests").status_code == 403
    assert "Backtest" not in viewer.get("/campaigns").text
    assert analyst.get("/backtests/20250101T000000-abcdef").status_code == 404
    assert analyst.get("/backtests/..%2Fconsole").status_code == 404


def test_without_an_exchange_store_the_page_says_so(
    tmp_path: Path, hunt_output: Path, users_db: Path
) -> None:
    from console_world import make_store

    folder = make_store(tmp_path / "store", hunt_output, users_db)
    analyst = browser(folder, "ana")
    assert "no history to backtest on" in analyst.get("/backtests").text
    refused = analyst.post(
        "/backtests", {"attack_score": "0.3", "suspicious_score": "0.3"}, page="/backtests"
    )
    assert refused.status_code == 400 and "exchange store" in refused.text


def test_a_backtest_that_fails_says_why_and_is_audited(full_store: Path) -> None:
    (full_store / "store" / "store.json").unlink()
    analyst = browser(full_store, "ana")
    response = analyst.post(
        "/backtests", {"attack_score": "0.4", "suspicious_score": "0.3"}, page="/backtests"
    )
    assert response.status_code == 303
    page = _wait(response.headers["location"], analyst.get)
    assert 'class="state failed"' in page and "not an exchange store" in page
    with sqlite3.connect(full_store / DATABASE) as conn:
        actions = [r[0] for r in conn.execute("SELECT action FROM audit ORDER BY id")]
    assert actions[-2:] == ["backtest.run", "backtest.failed"]
