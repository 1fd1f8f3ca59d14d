"""Import: partners' bundles are checked whole; a bad one names its place and leaves the
store exactly as it was."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest

from distillguard.exchange import Store
from distillguard.intel import (
    MAX_BUNDLE_BYTES,
    BundleError,
    IntelError,
    IntelStore,
    SharedIntel,
    build_bundle,
)
from distillguard.intel.hunted import store_graph
from intel_world import KEY, OTHER_KEY, campaigns, provider, scratch


@pytest.fixture(scope="module")
def bundle() -> dict[str, Any]:
    return build_bundle(campaigns(1), KEY)


def _write(bundle: Any, name: str = "bundle.json") -> Path:
    path = scratch("bundles") / name
    path.write_bytes(orjson.dumps(bundle))
    return path


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_import_keeps_every_indicator_with_its_campaign(bundle: dict[str, Any]) -> None:
    store = IntelStore(scratch("store"))
    result = store.add_file(_write(bundle), key=KEY)
    indicators = store.indicators()
    exported = [o for o in bundle["objects"] if o["type"] == "indicator"]
    assert result.indicators == len(indicators) == len(exported)
    assert result.skipped == 0 and result.warnings == ()
    assert result.campaigns == len([o for o in bundle["objects"] if o["type"] == "campaign"])
    assert {i.key_id for i in indicators} == {KEY.key_id}
    assert all(i.campaign.startswith("distillguard user campaign-") for i in indicators)
    again = store.add_file(_write(bundle), key=KEY)  # the same bundle replaces itself
    assert again.path == result.path and len(store.bundles()) == 1


def test_wrong_key_matches_nothing_and_says_why(bundle: dict[str, Any]) -> None:
    store = IntelStore(scratch("store"))
    result = store.add_file(_write(bundle), key=OTHER_KEY)
    [warning] = result.warnings
    assert KEY.key_id in warning and OTHER_KEY.key_id in warning
    assert "cannot match" in warning
    graph = store_graph(Store(provider(2).store))
    intel = SharedIntel(store.indicators(), OTHER_KEY)
    assert intel.warnings == [warning]
    assert intel.matches(graph) == {}
    right = SharedIntel(store.indicators(), KEY)
    assert right.warnings == [] and right.matches(graph)


def _edited(bundle: dict[str, Any], edit: Any) -> dict[str, Any]:
    copied = copy.deepcopy(bundle)
    edit(copied)
    return copied


def _indicator(b: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return next((i, o) for i, o in enumerate(b["objects"]) if o["type"] == "indicator")


BAD: list[tuple[str, Any, str]] = [
    ("not json", b'{"type": "bundle", ', "not JSON"),
    ("not a bundle", {"type": "indicator"}, "not a STIX bundle"),
    (
        "STIX 2.0",
        lambda b: b.update(spec_version="2.0"),
        r"STIX 2.0 bundle: only STIX 2.1 is accepted",
    ),
    (
        "object of STIX 2.0",
        lambda b: _indicator(b)[1].update(spec_version="2.0"),
        r"objects\[\d+\] \(indicator--.*\) field spec_version",
    ),
    (
        "unknown type",
        lambda b: b["objects"].append({"type": "x-unknown-thing", "id": "x-unknown-thing--1"}),
        r"objects\[\d+\] \(x-unknown-thing--1\) field type: unknown object type",
    ),
    (
        "bad pattern digest",
        lambda b: _indicator(b)[1].update(
            pattern=_indicator(b)[1]["pattern"].replace("hmac = '", "hmac = 'zz")
        ),
        r"objects\[\d+\] \(indicator--.*\) field pattern: hmac must be",
    ),
    (
        "unknown artefact kind",
        lambda b: _indicator(b)[1].update(
            pattern=_indicator(b)[1]["pattern"].replace("kind = '", "kind = 'shoe_size")
        ),
        r"unknown artefact kind",
    ),
    (
        "invalid STIX",
        lambda b: _indicator(b)[1].pop("valid_from"),
        r"objects\[\d+\] \(indicator--.*\): fails the STIX validator",
    ),
    (
        "dangling reference",
        lambda b: next(o for o in b["objects"] if o["type"] == "relationship").update(
            target_ref="campaign--00000000-0000-4000-8000-000000000000"
        ),
        r"fails the STIX validator",
    ),
]


@pytest.fixture(scope="module")
def filled(bundle: dict[str, Any]) -> Path:
    """A store that already holds one good bundle (copied by each test that changes it)."""
    root = scratch("filled")
    IntelStore(root).add_file(_write(bundle), key=KEY)
    return root


@pytest.mark.parametrize(("name", "change", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_bundles_are_refused_whole(
    bundle: dict[str, Any], filled: Path, name: str, change: Any, message: str
) -> None:
    root = scratch("store") / "intel"
    shutil.copytree(filled, root)
    store = IntelStore(root)
    before = _snapshot(root)
    assert before
    if isinstance(change, bytes):
        data = change
    elif isinstance(change, dict):
        data = orjson.dumps(change)
    else:
        data = orjson.dumps(_edited(bundle, change))
    path = scratch("bad") / f"{name}.json"
    path.write_bytes(data)
    with pytest.raises(BundleError, match=message) as caught:
        store.add_file(path, key=KEY)
    assert str(path) in str(caught.value)
    assert _snapshot(root) == before


def test_huge_bundle_is_refused_before_it_is_read(bundle: dict[str, Any]) -> None:
    root = scratch("store")
    path = scratch("huge") / "huge.json"
    with path.open("wb") as handle:
        handle.truncate(MAX_BUNDLE_BYTES + 1)
    with pytest.raises(BundleError, match="more than the"):
        IntelStore(root).add_file(path)
    assert not any(root.rglob("*.json"))


def test_missing_bundle_is_an_intel_error() -> None:
    with pytest.raises(IntelError, match="cannot read"):
        IntelStore(scratch("store")).add_file(Path("no-such-bundle.json"))
