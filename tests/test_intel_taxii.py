"""TAXII 2.1: push a bundle to a real medallion server and pull it into another store."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from distillguard.intel import IntelError, IntelStore, build_bundle
from distillguard.intel.cli import PASSWORD_ENV, intel_app
from distillguard.intel.keys import KEY_ENV
from distillguard.intel.taxii import TaxiiAuth, open_collection, pull, push
from intel_taxii import COLLECTION, COLLECTION_ID, PASSWORD, USER, Taxii, taxii_server
from intel_world import KEY, campaigns, scratch

AUTH = TaxiiAuth(USER, PASSWORD)
runner = CliRunner()


@pytest.fixture(scope="module")
def server() -> Iterator[Taxii]:
    with taxii_server(scratch("taxii")) as running:
        yield running


@pytest.fixture(scope="module")
def bundle() -> dict[str, Any]:
    return build_bundle(campaigns(1), KEY)


def test_push_then_pull_round_trips_every_indicator(server: Taxii, bundle: dict[str, Any]) -> None:
    collection = open_collection(server.discovery, COLLECTION, AUTH)
    assert collection.id == COLLECTION_ID
    result = push(collection, bundle)
    assert result.failed == 0 and result.present == 0
    assert result.succeeded == result.objects == len(bundle["objects"]) - 1  # see push

    store = IntelStore(scratch("pulled"))
    pulled = pull(open_collection(server.discovery, COLLECTION_ID, AUTH), store, key=KEY)
    exported = {o["id"] for o in bundle["objects"] if o["type"] == "indicator"}
    assert {i.id for i in store.indicators()} == exported
    assert pulled.indicators == len(exported) and pulled.warnings == ()
    again = pull(open_collection(server.discovery, COLLECTION, AUTH), store, key=KEY)
    assert again.bundle_id == pulled.bundle_id and len(store.bundles()) == 1


def test_wrong_password_is_an_intel_error_naming_the_server(server: Taxii) -> None:
    with pytest.raises(IntelError, match=r"TAXII server http://127\.0\.0\.1:\d+/taxii2/"):
        open_collection(server.discovery, COLLECTION, TaxiiAuth(USER, "wrong"))


def test_unknown_collection_lists_the_ones_there(server: Taxii) -> None:
    with pytest.raises(IntelError, match=rf"no collection 'nope' \(found: {COLLECTION}\)"):
        open_collection(server.discovery, "nope", AUTH)


@pytest.mark.slow  # the library path above is the default test; this adds the CLI
def test_push_and_pull_from_the_command_line(
    server: Taxii, bundle: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = scratch("taxii-cli")
    path = folder / "bundle.json"
    path.write_bytes(orjson.dumps(bundle))
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    monkeypatch.setenv(KEY_ENV, KEY.secret.decode())
    where = ["--url", server.discovery, "--collection", COLLECTION, "--user", USER]
    for _ in range(2):  # the second push finds every object there already
        pushed = runner.invoke(intel_app, ["push", str(path), *where])
        assert pushed.exit_code == 0, pushed.output
    assert "pushed 0 objects" in pushed.output
    path.write_bytes(orjson.dumps(build_bundle(campaigns(1), KEY)))
    pushed = runner.invoke(intel_app, ["push", str(path), *where])
    assert pushed.exit_code == 0, pushed.output
    # Only the fixed objects are there already: TLP, the project identity, 3 techniques.
    assert "(5 already there)" in pushed.output
    pulled = runner.invoke(intel_app, ["pull", *where, "--store", str(folder / "intel")])
    assert pulled.exit_code == 0, pulled.output
    assert len(IntelStore(folder / "intel").indicators()) >= len(
        [o for o in bundle["objects"] if o["type"] == "indicator"]
    )
    monkeypatch.setenv(PASSWORD_ENV, "wrong")
    refused = runner.invoke(intel_app, ["pull", *where, "--store", str(folder / "other")])
    assert refused.exit_code == 2 and "TAXII server" in refused.output
    assert not (folder / "other").exists()
