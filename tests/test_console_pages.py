"""Console pages: ranking, filters, paging, pictures, and hostile strings escaped."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import orjson

import distillguard.console
from console_world import browser, hunt_output, store, top_campaign, users_db, write_synthetic

__all__ = ["hunt_output", "store", "users_db"]  # fixtures used here

SCRIPT = "<script>alert(1)</script>"
ATTR = '"onerror=alert(2) x="'
BIDI = "acct\u202eexe.txt"
LONG = "L" * 50_000


def test_public_surface() -> None:
    assert len(set(distillguard.console.__all__)) == len(distillguard.console.__all__)
    assert set(distillguard.console.__all__) == {
        "CASE_STATES",
        "ENFORCE_ACTIONS",
        "ROLES",
        "BacktestError",
        "BacktestOptions",
        "BacktestResult",
        "CaseError",
        "CaseState",
        "ConsoleError",
        "EnforceAction",
        "ExportError",
        "Role",
        "StoreError",
        "User",
        "UserError",
        "add_user",
        "backtest",
        "create_app",
    }


def test_campaign_page_draws_timeline_capabilities_and_artefacts(store: Path) -> None:
    cid = top_campaign(store)
    page = browser(store, "vic").get(f"/campaigns/{cid}").text
    assert page.count("<svg") == 3
    assert 'aria-label="exchanges over time"' in page
    assert "INTENT_COT" in page and "share a" in page  # reasons and evidence
    # The artefact graph draws accounts, each linked to its page, tied to what they share.
    graph = page.split('aria-label="accounts and the artefacts they share"')[1].split("</svg>")[0]
    drawn = re.findall(r'<a href="(/accounts/[^"]+)"><circle class="account"', graph)
    assert len(drawn) >= 2 and len(set(drawn)) == len(drawn)
    assert graph.count("<line") > graph.count('<circle class="kind-')  # spokes and ties
    for link in drawn[:5]:
        assert cid in browser(store, "vic").get(link).text  # the drawn accounts are the campaign's
    account = browser(store, "vic").get(re.findall(r'href="(/accounts/[^"]+)"', page)[0]).text
    assert "Verdict" in account and cid in account
    # Reason codes come with the sentence that explains them (the hunt's glossary).
    from markupsafe import escape

    from distillguard.hunt.reasons import REASONS

    code = re.findall(r"<li><code>([A-Z_]+)</code>", account)[0]
    assert str(escape(REASONS[code].meaning)) in account  # escaped as the templates do
    assert f'<code title="{escape(REASONS["INTENT_COT"].meaning)}">INTENT_COT</code>' in page


def test_campaigns_are_ranked_filtered_and_paged(tmp_path: Path, users_db: Path) -> None:
    folder = write_synthetic(tmp_path / "store", 10_000)
    shutil.copy(users_db / "console.sqlite", folder / "console.sqlite")
    viewer = browser(folder, "vic")
    started = time.perf_counter()
    first = viewer.get("/campaigns")
    elapsed = time.perf_counter() - started
    assert first.status_code == 200
    assert "10,000 campaigns" in first.text and "page 1 of 200" in first.text
    ids = re.findall(r'href="/campaigns/(cp-\d+)"', first.text)
    assert len(ids) == 50
    document = orjson.loads((folder / "campaigns.json").read_bytes())["campaigns"]
    ranked = sorted(document, key=lambda c: (-c["confidence"], -c["exchanges"], c["id"]))
    assert ids == [c["id"] for c in ranked[:50]]
    last = viewer.get("/campaigns?page=200").text
    assert len(re.findall(r'href="/campaigns/(cp-\d+)"', last)) == 50
    assert "page 200 of 200" in viewer.get("/campaigns?page=999").text
    assert "page 1 of 200" in viewer.get("/campaigns?page=-3").text
    coding = viewer.get("/campaigns?capability=coding&page=2").text
    assert "2,500 campaigns" in coding and "page 2 of 50" in coding
    assert "capability=coding" in coding  # paging keeps the filter
    assert "0 campaigns" in viewer.get("/campaigns?state=confirmed").text
    assert elapsed < 2.0  # the index is built once; a page only filters it


def _hostile(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    accounts = [SCRIPT, ATTR, BIDI, LONG]
    campaign = {
        "id": f"cp-{SCRIPT}",
        "accounts": accounts,
        "clusters": [ATTR],
        "exchanges": 5,
        "first_seen": SCRIPT,
        "last_seen": "2025-03-05T00:00:00Z",
        "capabilities": {SCRIPT: 0.5, "coding": 0.5},
        "reasons": [ATTR],
        "confidence": 0.9,
        "attribution": {"actor": SCRIPT},
        "evidence": [SCRIPT, ATTR, BIDI, LONG],
        "artefacts": [{"kind": SCRIPT, "value": ATTR, "accounts": 2, "members": [0, 1, 3]}],
    }
    (folder / "campaigns.json").write_bytes(orjson.dumps({"version": 1, "campaigns": [campaign]}))
    rows = ["account_id,risk,verdict,cluster_id,campaign_id,exchanges,reasons"]
    for account in accounts:
        quoted = account.replace('"', '""')
        rows.append(f'"{quoted}",0.9,attack,"{ATTR.replace(chr(34), 2 * chr(34))}",')
        rows[-1] += f'"cp-{SCRIPT}",3,"{SCRIPT};{ATTR.replace(chr(34), 2 * chr(34))}"'
    (folder / "accounts.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def _safe(html: str) -> None:
    assert "<script" not in html
    assert "onerror=" not in html.replace("&#34;onerror=", "")
    assert "\u202e" not in html
    assert LONG not in html
    assert len(html) < 60_000


def test_hostile_strings_are_escaped_everywhere(tmp_path: Path, users_db: Path) -> None:
    folder = tmp_path / "store"
    _hostile(folder)
    shutil.copy(users_db / "console.sqlite", folder / "console.sqlite")
    analyst = browser(folder, "ana")
    listing = analyst.get("/campaigns").text
    _safe(listing)
    link = re.findall(r'href="(/campaigns/[^"]+)"', listing)[0]
    assert "%3Cscript%3E" in link
    page = analyst.get(link)
    assert page.status_code == 200
    _safe(page.text)
    assert "&lt;script&gt;" in page.text and "[U+202E]" in page.text
    accounts = set(re.findall(r'href="(/accounts/[^"]+)"', page.text))
    assert len(accounts) == 4
    for account in accounts:
        assert re.fullmatch(r"/accounts/[0-9a-f]{24}", account)
        _safe(analyst.get(account).text)
    form = {"campaign": f"cp-{SCRIPT}", "op": "note", "body": SCRIPT + BIDI}
    assert analyst.post("/cases", form).status_code == 303
    decided = {"campaign": f"cp-{SCRIPT}", "op": "state", "state": "false_positive"}
    assert analyst.post("/cases", {**decided, "why": ATTR}).status_code == 303
    for path in (link, "/audit", "/rules", "/decisions/1"):
        _safe(analyst.get(path).text)


def test_odd_fields_in_the_hunt_output_do_not_break_a_page(tmp_path: Path, users_db: Path) -> None:
    folder = tmp_path / "store"
    folder.mkdir()
    odd = {
        "id": "odd",
        "timeline": {"points": [["a", "b"], "c", [1]]},
        "capabilities": {"coding": "lots"},
        "artefacts": [{"kind": "ip", "accounts": "many"}, {"kind": 3}],
        "evidence": "not a list",
        "score": {"risk": "high"},
        "exchanges": True,
    }
    document = {"version": 1, "campaigns": [{"id": "bare"}, odd]}
    (folder / "campaigns.json").write_bytes(orjson.dumps(document))
    shutil.copy(users_db / "console.sqlite", folder / "console.sqlite")
    viewer = browser(folder, "vic")
    for path in ("/campaigns", "/campaigns/bare", "/campaigns/odd", "/rules"):
        assert viewer.get(path).status_code == 200, path


def test_artefact_graph_ties_accounts_to_what_they_share() -> None:
    from distillguard.console.charts import MAX_ACCOUNT_NODES, artefact_graph

    accounts = [f"acct-{i:03d}" for i in range(100)]
    raw = {
        "artefacts": [
            {"kind": "payment", "value": "#a", "accounts": 100, "members": list(range(100))},
            {"kind": "harness", "value": "#b", "accounts": 3, "members": [5, 6, 7, 5, -1, 900]},
            {"kind": "ip_net", "value": "#c", "accounts": 2, "members": ["6", 7.0, True]},
        ]
    }
    graph = artefact_graph(raw, accounts, lambda name: "key-" + name)
    assert graph is not None
    assert [n.kind for n in graph.artefacts] == ["payment", "harness", "ip_net"]
    assert len(graph.accounts) == MAX_ACCOUNT_NODES
    assert graph.accounts_not_drawn == 100 - MAX_ACCOUNT_NODES
    drawn = {n.key for n in graph.accounts}
    # The accounts tied to two artefacts come first; bad members (out of range, not an int,
    # a bool) are ignored rather than breaking the page.
    assert {"key-acct-005", "key-acct-006", "key-acct-007"} <= drawn
    ties = sum(
        2 if n.key in {"key-acct-005", "key-acct-006", "key-acct-007"} else 1
        for n in graph.accounts
    )
    assert len(graph.edges) == len(graph.artefacts) + ties
    # Hunt output written before accounts were listed still draws its artefacts.
    bare = {"artefacts": [{"kind": "payment", "value": "#a", "accounts": 4}]}
    old = artefact_graph(bare, accounts, str)
    assert old is not None and old.accounts == () and len(old.edges) == 1
