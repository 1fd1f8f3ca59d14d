"""Intel and marks on the console: a campaign exported as a STIX bundle from its page, a
partner's matching indicators shown on the campaign, forensics reports listed."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from console_world import browser, full_store, hunt_output, top_campaign, users_db
from distillguard.console.db import DATABASE
from distillguard.exchange.store import Store
from distillguard.hunt import HuntOptions, hunt
from distillguard.intel import KEY_ENV, IntelStore, SharedIntel, SharingKey, check_bundle
from distillguard.marks import Emitted, GumbelSampler
from distillguard.marks.forensics import investigate
from marks_world import RING, VOCAB, model, prompts

__all__ = ["full_store", "hunt_output", "users_db"]  # fixtures used here

KEY = "console-tests-sharing-key-0123456789"


def _export(store: Path, cid: str) -> Any:
    return browser(store, "ana").post("/export", {"campaign": cid}, page=f"/campaigns/{cid}")


def test_without_a_sharing_key_the_page_says_what_to_set(
    full_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    response = _export(full_store, top_campaign(full_store))
    assert response.status_code == 400
    assert "no sharing key: set DISTILLGUARD_INTEL_KEY" in response.text


def test_a_campaign_exports_as_a_valid_bundle_a_partner_can_match(
    full_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    cid = top_campaign(full_store)
    page = browser(full_store, "ana").get(f"/campaigns/{cid}").text
    assert 'action="/export"' in page and "Export as STIX bundle" in page
    assert 'action="/export"' not in browser(full_store, "vic").get(f"/campaigns/{cid}").text
    response = _export(full_store, cid)
    assert response.status_code == 200
    headers = response.headers
    assert headers["content-type"].startswith("application/stix+json")
    assert headers["content-disposition"] == f'attachment; filename="{cid}.stix.json"'
    bundle = orjson.loads(response.content)
    check_bundle(bundle, source="console export")
    campaigns = [o for o in bundle["objects"] if o["type"] == "campaign"]
    assert len(campaigns) == 1 and any(o["type"] == "indicator" for o in bundle["objects"])
    text = response.content.decode()
    for account in orjson.loads((full_store / "campaigns.json").read_bytes())["campaigns"][0][
        "accounts"
    ]:
        assert account not in text  # no account ids leave
    with sqlite3.connect(full_store / DATABASE) as conn:
        audit = conn.execute(
            "SELECT actor, target, detail FROM audit WHERE action = 'intel.export'"
        ).fetchall()
    assert [(a, t) for a, t, _ in audit] == [("ana", cid)]
    assert orjson.loads(audit[0][2])["key_id"] == SharingKey(KEY.encode()).key_id

    # The partner (here: the same traffic hunted again) imports it; the match shows.
    (tmp_path / "bundle.json").write_bytes(response.content)
    IntelStore(tmp_path / "intel").add_file(tmp_path / "bundle.json", key=SharingKey(KEY.encode()))
    intel = SharedIntel.load(tmp_path / "intel", SharingKey(KEY.encode()))
    hunt(Store(full_store / "store"), full_store, HuntOptions(intel=intel))
    viewer = browser(full_store, "vic")
    matched = max(
        orjson.loads((full_store / "campaigns.json").read_bytes())["campaigns"],
        key=lambda c: len((c.get("attribution") or {}).get("matched") or []),
    )
    page = viewer.get(f"/campaigns/{matched['id']}").text
    assert "Attribution and shared intel" in page
    assert f"shared intel: distillguard user {cid}" in page
    count = re.search(r"(\d+) of the campaign's accounts matched", page)
    assert count is not None and int(count.group(1)) > 0


def test_without_the_exchange_store_export_says_why(
    full_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    (full_store / "store" / "store.json").unlink()
    response = _export(full_store, top_campaign(full_store))
    assert response.status_code == 400
    assert "exchange store is not in the store folder" in response.text
    assert browser(full_store, "vic").post("/export", {"campaign": "x"}).status_code == 403


def _report(scope: str, marked: bool) -> dict[str, object]:
    """A real forensics report: text generated under ``scope``'s key when ``marked``, else
    under an unrelated key the test does not know."""
    key = RING.key(scope, 3)
    served = key if marked else RING.key("cluster:someone-else", 3)
    sampler = GumbelSampler(served, VOCAB, context_width=2)
    rng = np.random.default_rng(5)
    texts = [model().generate_marked(list(p), 150, sampler.start(rng)) for p in prompts(6, 6, 5)]
    emitted = Emitted(VOCAB, 2)
    emitted.add(key.key_id, texts)
    found: dict[str, object] = investigate(
        texts, [key], emitted, vocab_size=VOCAB, context_width=2
    ).to_json()
    return found


def test_forensics_reports_are_listed_and_shown_on_their_campaign(full_store: Path) -> None:
    campaign = orjson.loads((full_store / "campaigns.json").read_bytes())["campaigns"][0]
    cluster = campaign["clusters"][0]
    folder = full_store / "forensics"
    folder.mkdir()
    marked = _report(f"cluster:{cluster}", marked=True)
    clean = _report("cluster:cluster-9999", marked=False)
    (folder / "suspect-a.json").write_bytes(orjson.dumps(marked))
    (folder / "suspect-b.json").write_bytes(orjson.dumps(clean))
    (folder / "broken.json").write_text("{not json", encoding="utf-8")
    (folder / "notes.txt").write_text("ignored", encoding="utf-8")
    hostile = {**clean, "summary": "<script>alert(1)</script>", "points_to": None}
    hostile["evidence"] = [{"key_id": '"><b>x', "scope": "<i>", "p_value": 0.5}]
    (folder / "<script>.json").write_bytes(orjson.dumps(hostile))
    viewer = browser(full_store, "vic")
    page = viewer.get("/forensics").text
    assert page.count("<tr>") == 5  # header and four reports
    assert "<script" not in page and "<b>" not in page and "<i>" not in page
    assert "&lt;script&gt;.json" in page and "&lt;script&gt;alert(1)" in page
    assert "trained on marked text" in page and "no evidence" in page and "unreadable" in page
    assert f"{marked['p_value']:.3g}" in page and f"{clean['p_value']:.3g}" in page
    points = marked["points_to"]
    assert isinstance(points, dict) and points["key_id"] in page
    assert f'href="/campaigns/{campaign["id"]}"' in page
    on_campaign = viewer.get(f"/campaigns/{campaign['id']}").text
    assert "Forensics" in on_campaign and "suspect-a.json" in on_campaign
    assert "suspect-b.json" not in on_campaign
