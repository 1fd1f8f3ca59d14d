"""An account's history and example exchanges: read from the exchange store, text redacted."""

from __future__ import annotations

import re
from pathlib import Path

from console_world import browser, full_store, hunt_output, store, top_campaign, users_db
from distillguard.console.history import activity, examples, redact
from distillguard.exchange import IngestOptions, ingest

__all__ = ["full_store", "hunt_output", "store", "users_db"]  # fixtures used here


def test_account_and_campaign_pages_show_history_and_examples(full_store: Path) -> None:
    cid = top_campaign(full_store)
    page = browser(full_store, "vic").get(f"/campaigns/{cid}").text
    assert "Example exchanges" in page and page.count("<tr>") > 5
    link = re.findall(r'href="(/accounts/[^"]+)"', page)[0]
    account = browser(full_store, "vic").get(link).text
    assert 'aria-label="exchanges per day"' in account and "Example exchanges" in account
    days = activity(full_store, re.findall(r'class="id">([^<]+)<', account)[0])
    assert days and sum(n for _, n in days) > 0


def test_without_an_exchange_store_the_account_page_says_why(store: Path) -> None:
    cid = top_campaign(store)
    page = browser(store, "vic").get(f"/campaigns/{cid}").text
    assert "Example exchanges" not in page
    link = re.findall(r'href="(/accounts/[^"]+)"', page)[0]
    assert "holds no exchange store" in browser(store, "vic").get(link).text


def test_kept_text_is_shown_redacted(full_store: Path, hunt_output: Path, tmp_path: Path) -> None:
    traffic = hunt_output.parent / "traffic"
    root = tmp_path / "kept"
    ingest(
        [traffic / "exchanges"],
        root / "store",
        options=IngestOptions(workers=1, keep_text=True),
    )
    accounts = [
        line.split(",")[0] for line in (full_store / "accounts.csv").read_text().splitlines()[1:6]
    ]
    shown = examples(root, accounts, limit=20)
    assert shown and any(e.text for e in shown)
    assert all(e.text is None or len(e.text) <= 280 for e in shown)


def test_redaction_replaces_personal_data() -> None:
    text = (
        "Write to jane.doe+x@mail.example.org, see https://intra.example.com/a?b=1, server "
        "192.168.10.4 or fe80::1ff:fe23:4567:890a, key sk-live_0123456789abcdef, token "
        "QWxhZGRpbjpvcGVuIHNlc2FtZQ0123456789abcdef, call +44 20 7946 0958, card "
        "4111 1111 1111 1111. Keep the year 2024 and the word Paris."
    )
    out = redact(text)
    for secret in (
        "jane.doe",
        "intra.example",
        "192.168",
        "fe80",
        "sk-live",
        "QWxh",
        "7946",
        "4111",
    ):
        assert secret not in out, secret
    assert "2024" in out and "Paris" in out
    long = redact("word " * 200)
    assert long.endswith("…") and len(long) == 280
    assert redact("y" * 1000) == "[token]"  # one long run is a token, not 1,000 characters


def test_examples_are_the_latest_across_days(full_store: Path) -> None:
    """Reading the newest days first gives what a scan of the whole store gives: the latest
    exchanges of the accounts, newest first, across day boundaries."""
    import duckdb

    from distillguard.exchange import Store

    source = Store(full_store / "store").exchanges_glob
    with duckdb.connect() as con:
        counts = con.execute(
            f"SELECT account_id, count(DISTINCT CAST(ts AS DATE)) AS days, count(*) AS n "
            f"FROM read_parquet('{source}') GROUP BY account_id ORDER BY days DESC, n, account_id"
        ).fetchall()
        # An account active on several days, with few exchanges a day: its latest 20 span days.
        account = counts[0][0]
        assert counts[0][1] >= 2
        expected = con.execute(
            f"SELECT ts, account_id FROM read_parquet('{source}') WHERE account_id = ? "
            "ORDER BY ts DESC LIMIT 20",
            [account],
        ).fetchall()
    shown = examples(full_store, [account], limit=20)
    assert [(e.account_id) for e in shown] == [a for _, a in expected]
    assert [e.ts for e in shown] == [t.isoformat(timespec="seconds") for t, _ in expected]
    assert len({e.ts[:10] for e in shown}) >= 2 or len(shown) == counts[0][2]
