"""Export: real hunt output → a STIX 2.1 bundle that the OASIS validator passes, that names
the ATLAS techniques, and that carries no raw customer value unless asked to."""

from __future__ import annotations

import functools
import gzip
import hashlib
import hmac
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from stix2validator import ValidationOptions, validate_string

from distillguard.errors import InputError
from distillguard.intel import (
    ARTEFACT_TYPE,
    EXTENSION_ID,
    BundleError,
    ExportOptions,
    build_bundle,
    check_bundle,
    export_hunt,
    hunted_campaigns,
)
from intel_world import KEY, OTHER_KEY, campaigns, provider, scratch


@pytest.fixture(scope="module")
def exported() -> tuple[dict[str, Any], bytes]:
    p = provider(1)
    out = scratch("export") / "bundle.json"
    bundle = export_hunt(p.hunt, out, KEY, ExportOptions(producer="provider one"))
    return bundle, out.read_bytes()


def _objects(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [o for o in bundle["objects"] if o["type"] == kind]


def test_oasis_validator_passes_with_no_error_and_no_warning(
    exported: tuple[dict[str, Any], bytes],
) -> None:
    _, data = exported
    for strict in (False, True):
        options = ValidationOptions(version="2.1", strict=strict, enforce_refs=True)
        result = validate_string(data.decode(), options)
        assert result.is_valid, [str(e) for e in result.errors]
        assert not result.errors
        assert not result.warnings, result.warnings


def test_bundle_holds_the_hunts_campaigns_and_their_structure(
    exported: tuple[dict[str, Any], bytes],
) -> None:
    bundle, _ = exported
    hunted = orjson.loads((provider(1).hunt / "campaigns.json").read_bytes())["campaigns"]
    campaigns = _objects(bundle, "campaign")
    assert len(campaigns) == len(hunted) > 0
    assert {c["name"] for c in campaigns} == {f"provider one {c['id']}" for c in hunted}
    for c in campaigns:
        assert 0 <= c["confidence"] <= 100
        assert c["first_seen"] <= c["last_seen"]
    ids = {o["id"] for o in bundle["objects"]}
    tlp = next(o for o in _objects(bundle, "marking-definition") if o["name"] == "TLP:AMBER")
    shared = ("marking-definition", "extension-definition", "attack-pattern")
    project = "identity--7a586187-b442-4bbf-a4a6-bf0ef13ca980"  # defines the extension
    for o in bundle["objects"]:
        if o["type"] not in shared and o["id"] != project:
            assert o["object_marking_refs"] == [tlp["id"]], o["id"]
    for r in _objects(bundle, "relationship"):
        assert r["source_ref"] in ids and r["target_ref"] in ids
    atlas = {
        ref["external_id"]
        for ap in _objects(bundle, "attack-pattern")
        for ref in ap["external_references"]
    }
    assert atlas == {"AML.T0024.002", "AML.T0005", "AML.T0005.001"}
    uses = [r for r in _objects(bundle, "relationship") if r["relationship_type"] == "uses"]
    assert {r["target_ref"] for r in uses} >= {
        ap["id"] for ap in _objects(bundle, "attack-pattern")
    }


def test_indicators_are_keyed_digests_over_the_extension_observable(
    exported: tuple[dict[str, Any], bytes],
) -> None:
    bundle, _ = exported
    [extension] = _objects(bundle, "extension-definition")
    assert extension["id"] == EXTENSION_ID and extension["extension_types"] == ["new-sco"]
    observables = _objects(bundle, ARTEFACT_TYPE)
    assert observables and all(
        o["extensions"] == {EXTENSION_ID: {"extension_type": "new-sco"}} for o in observables
    )
    indicators = _objects(bundle, "indicator")
    assert len(indicators) == len(observables)
    kinds = {o["kind"] for o in observables}
    assert {"harness", "template", "system_prompt"} <= kinds
    # Recompute one digest from the hunt's own value: partners with the key get the same.
    campaign = campaigns(1)[0]
    artefact = campaign.artefacts[0]
    expected = hmac.new(
        KEY.secret, f"{artefact.kind}\x1f{artefact.value}".encode(), hashlib.sha256
    ).hexdigest()
    assert any(expected in i["pattern"] for i in indicators)
    assert all(f"key_id = '{KEY.key_id}'" in i["pattern"] for i in indicators)
    assert all(re.search(r"hmac = '[0-9a-f]{64}'", i["pattern"]) for i in indicators)
    infrastructure = _objects(bundle, "infrastructure")
    assert infrastructure, "the campaigns' networks are shared as infrastructure"


def test_another_key_gives_other_digests() -> None:
    hunted = campaigns(1)[-2:]  # the smallest: digests differ the same way everywhere
    one = {o.get("hmac") for o in build_bundle(hunted, KEY)["objects"]} - {None}
    two = {o.get("hmac") for o in build_bundle(hunted, OTHER_KEY)["objects"]} - {None}
    assert one and two and not one & two


def _log_records(traffic: Path) -> Iterator[dict[str, Any]]:
    for path in sorted((traffic / "exchanges").glob("*.jsonl.gz")):
        with gzip.open(path, "rb") as handle:
            for line in handle:
                yield orjson.loads(line)


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)


@functools.cache
def raw_values(traffic: Path) -> dict[str, set[str]]:
    """Every customer value of the input that must not leave by default, by type."""
    found: dict[str, set[str]] = {
        "account-id": set(),
        "ip": set(),
        "email-domain": set(),
        "payment": set(),
        "api-key": set(),
        "prompt": set(),
        "org": set(),
        "user-agent": set(),
    }
    for line in (traffic / "accounts.jsonl").read_bytes().splitlines():
        row = orjson.loads(line)
        found["account-id"].add(row["account_id"])
        for field, kind in (
            ("org_id", "org"),
            ("email_domain", "email-domain"),
            ("payment_fingerprint", "payment"),
            ("signup_ip", "ip"),
        ):
            if row.get(field):
                found[kind].add(row[field])
    for record in _log_records(traffic):
        found["account-id"].add(record["account_id"])
        for field, kind in (("org_id", "org"), ("api_key_id", "api-key"), ("end_user_id", "org")):
            if record.get(field):
                found[kind].add(record[field])
        client = record.get("client") or {}
        if client.get("ip"):
            found["ip"].add(client["ip"])
        if client.get("user_agent"):
            found["user-agent"].add(client["user_agent"])
        for part in ("request", "response"):
            found["prompt"].update(t for t in _texts(record.get(part)) if len(t) >= 24)
    return found


def test_no_raw_customer_value_leaves_by_default(exported: tuple[dict[str, Any], bytes]) -> None:
    _, data = exported
    text = data.decode()
    values = raw_values(provider(1).traffic)
    assert all(values[k] for k in ("account-id", "ip", "email-domain", "payment", "prompt"))
    for kind, items in values.items():
        leaked = sorted(v for v in items if len(v) >= 6 and v in text)
        assert not leaked, f"{kind} leaked: {leaked[:3]}"
    bundle = orjson.loads(data)
    assert not _objects(bundle, "user-account")
    assert not _objects(bundle, "autonomous-system")
    assert not _objects(bundle, "domain-name")


def test_opt_in_shares_exactly_the_types_asked_for() -> None:
    # The smallest campaign with an autonomous system among its artefacts: quick to check.
    hunted = [c for c in campaigns(1) if any(a.kind == "asn" for a in c.artefacts)][-1:]
    assert hunted
    bundle = build_bundle(
        hunted, KEY, ExportOptions(share=frozenset({"account-id", "asn"}), tlp="green")
    )
    text = orjson.dumps(bundle).decode()
    accounts = {u["user_id"] for u in _objects(bundle, "user-account")}
    assert accounts == {a for c in hunted for a in c.accounts}
    assert _objects(bundle, "autonomous-system")
    assert any(
        i["pattern"].startswith("[autonomous-system:number = ")
        for i in _objects(bundle, "indicator")
    )
    values = raw_values(provider(1).traffic)
    for kind in ("ip", "email-domain", "payment", "prompt", "api-key"):
        assert not [v for v in values[kind] if len(v) >= 6 and v in text], kind
    assert {m["name"] for m in _objects(bundle, "marking-definition")} == {"TLP:GREEN"}


def test_check_bundle_rejects_what_the_validator_rejects(
    exported: tuple[dict[str, Any], bytes],
) -> None:
    bundle = orjson.loads(exported[1])
    indicator = next(i for i, o in enumerate(bundle["objects"]) if o["type"] == "indicator")
    del bundle["objects"][indicator]["pattern_type"]
    with pytest.raises(BundleError, match=rf"objects\[{indicator}\] \(indicator--"):
        check_bundle(bundle, source="edited.json")


def test_a_hunt_without_its_store_asks_for_one() -> None:
    folder = scratch("hunt-without-store")
    shutil.copy(provider(1).hunt / "campaigns.json", folder / "campaigns.json")
    with pytest.raises(InputError, match=r"name it \(--store\)"):
        hunted_campaigns(folder)
    assert hunted_campaigns(folder, provider(1).store)
