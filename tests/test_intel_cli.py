"""``distillguard intel``: the sub-app as a user runs it, on real hunt output."""

from __future__ import annotations

import orjson
import pytest
from typer.testing import CliRunner

import distillguard.intel as intel
from distillguard.intel import KEY_ENV, IntelStore
from distillguard.intel.cli import hunt_intel, intel_app
from intel_world import KEY, provider, scratch

runner = CliRunner()


def test_public_surface_is_pinned() -> None:
    assert len(set(intel.__all__)) == len(intel.__all__)
    assert all(hasattr(intel, name) for name in intel.__all__)
    assert set(intel.__all__) == {
        "ARTEFACT_KINDS", "ARTEFACT_TYPE", "EXTENSION_ID", "KEY_ENV", "MAX_BUNDLE_BYTES",
        "SHARE_TYPES", "Artefact", "BundleError", "ExportOptions", "HuntedCampaign",
        "ImportResult", "IntelError", "IntelStore", "MatchReport", "SharedIndicator",
        "SharedIntel", "SharingKey", "build_bundle", "check_bundle", "export_hunt",
        "hunted_campaigns", "parse_bundle", "read_indicators",
    }  # fmt: skip


def test_export_then_import_from_the_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY.secret.decode())
    folder = scratch("cli")
    bundle = folder / "bundle.json"
    result = runner.invoke(
        intel_app,
        ["export", str(provider(1).hunt), "--out", str(bundle), "--producer", "p1",
         "--tlp", "green", "--actor", "campaign-001=kite"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert KEY.key_id in result.output and KEY.secret.decode() not in result.output
    objects = orjson.loads(bundle.read_bytes())["objects"]
    assert [o["name"] for o in objects if o["type"] == "intrusion-set"] == ["kite"]

    store = folder / "intel"
    result = runner.invoke(intel_app, ["import", str(bundle), "--store", str(store)])
    assert result.exit_code == 0, result.output
    assert len(IntelStore(store).bundles()) == 1
    assert {i.actor for i in IntelStore(store).indicators()} >= {"kite"}
    assert hunt_intel(store).indicators == len(IntelStore(store).indicators())


def test_errors_exit_2_and_name_the_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    folder = scratch("cli-errors")
    result = runner.invoke(intel_app, ["export", str(provider(1).hunt), "--out", "b.json"])
    assert result.exit_code == 2 and KEY_ENV in result.output
    monkeypatch.setenv(KEY_ENV, KEY.secret.decode())
    result = runner.invoke(
        intel_app, ["export", str(provider(1).hunt), "--out", "b.json", "--share", "prompts"]
    )
    assert result.exit_code == 2 and "--share 'prompts'" in result.output
    bad = folder / "v20.json"
    bad.write_bytes(orjson.dumps({"type": "bundle", "id": "bundle--1", "spec_version": "2.0"}))
    result = runner.invoke(intel_app, ["import", str(bad), "--store", str(folder / "intel")])
    assert result.exit_code == 2 and "only STIX 2.1" in result.output
    assert not (folder / "intel").exists()


def test_the_main_hunt_command_reads_an_intel_store(monkeypatch: pytest.MonkeyPatch) -> None:
    from distillguard.cli import app

    monkeypatch.setenv(KEY_ENV, KEY.secret.decode())
    folder = scratch("cli-hunt")
    bundle = folder / "bundle.json"
    exported = runner.invoke(intel_app, ["export", str(provider(1).hunt), "--out", str(bundle)])
    assert exported.exit_code == 0, exported.output
    store = folder / "intel"
    assert runner.invoke(intel_app, ["import", str(bundle), "--store", str(store)]).exit_code == 0
    out = folder / "hunt"
    done = runner.invoke(
        app, ["hunt", str(provider(2).store), "--out", str(out), "--intel", str(store)]
    )
    assert done.exit_code == 0, done.output
    campaigns = orjson.loads((out / "campaigns.json").read_bytes())["campaigns"]
    assert any(c["attribution"] and "INTEL_MATCH" in c["reasons"] for c in campaigns)
    missing = runner.invoke(
        app, ["hunt", str(provider(2).store), "--out", str(out), "--intel", str(folder / "none")]
    )
    assert missing.exit_code == 2 and "no intel store" in missing.output
