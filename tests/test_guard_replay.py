"""Replay: labelled traffic through the guard in time order, the hunt in the loop."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from distillguard.cli import app
from distillguard.exchange import IngestOptions, ingest
from distillguard.guard.replay import ReplayResult, exchanges_in_order, replay
from distillguard.simulate import simulate


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("replay") / "traffic"
    simulate(root, scale=0.0015, days=3, seed=17, evasion=0, workers=1)
    return root


@pytest.fixture(scope="module")
def looped(traffic: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[ReplayResult, Path]:
    out = tmp_path_factory.mktemp("looped")
    return replay(traffic, out, refresh_hours=12, keep_hunts=True), out


def test_exchanges_come_in_time_order(traffic: Path) -> None:
    times = [ts for ts, _ in exchanges_in_order(traffic / "exchanges")]
    assert len(times) > 1000
    assert times == sorted(times)


def test_the_hunt_in_the_loop_stops_campaigns_and_spares_customers(
    traffic: Path, looped: tuple[ReplayResult, Path], tmp_path: Path
) -> None:
    result, out = looped
    alone = replay(traffic, tmp_path / "alone", refresh_hours=10_000)  # never hunts
    assert result.hunts >= 4 and alone.hunts == 0
    kept = sorted((out / "hunts").iterdir())  # the watchlist after every refresh
    assert len(kept) == result.hunts
    assert all({p.name for p in k.iterdir()} == {"accounts.csv", "campaigns.json"} for k in kept)
    assert not (tmp_path / "alone" / "hunts").exists()
    assert result.exchanges == alone.exchanges
    served = sum(t.exchanges for t in [*result.campaigns.values(), *result.populations.values()])
    assert served == result.exchanges  # every exchange is counted once
    # Without hunts the shipped policy knows only each request: it degrades what is shaped
    # like a reasoning-trace harvest from unverified accounts, and serves the rest whole.
    acted = [
        record["meta"]["guard"]
        for path in sorted((tmp_path / "alone" / "log").iterdir())
        for record in map(orjson.loads, path.read_bytes().splitlines())
        if record["meta"]["guard"]["action"] not in ("allow", "watermark")
    ]
    assert acted and all(g["action"] == "degrade" for g in acted)
    assert all(g["rules"] == ["unverified account harvesting reasoning"] for g in acted)
    # With hunts, campaigns lose most of what they came for, customers almost nothing.
    total = sum(t.exchanges for t in result.campaigns.values())
    leaked = sum(t.leaked * t.exchanges for t in result.campaigns.values())
    leaked_alone = sum(t.leaked * t.exchanges for t in alone.campaigns.values())
    assert leaked / total < 0.5 < leaked_alone / total
    assert result.benign.impacted < 0.01
    assert alone.benign.impacted < 0.01
    for tally in result.campaigns.values():
        assert tally.hours_to_action is None or tally.hours_to_action >= 0


def test_the_guard_log_of_a_replay_is_a_clean_exchange_log(
    looped: tuple[ReplayResult, Path], tmp_path: Path
) -> None:
    result, out = looped
    summary = ingest([out / "log"], tmp_path / "store", options=IngestOptions())
    # The simulated log repeats some exchanges (logged twice); the guard logs what it saw.
    assert summary.rejected == 0
    assert summary.exchanges + summary.duplicates == result.exchanges


def test_the_replay_command(traffic: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(
        app,
        [
            "replay",
            str(traffic),
            "--out",
            str(tmp_path / "o"),
            "--refresh-hours",
            "1000",
            "--json",
            str(tmp_path / "r.json"),
        ],
    )
    assert done.exit_code == 0, done.output
    assert "benign impact" in done.output and (tmp_path / "r.json").is_file()
    missing = runner.invoke(app, ["replay", str(tmp_path), "--out", str(tmp_path / "x")])
    assert missing.exit_code == 2 and "labels.csv" in missing.output


def test_with_hold_no_clustered_convict_near_the_line_is_let_go(tmp_path: Path) -> None:
    # Evasion 1: campaigns whose scores move about the operating point, so something is held.
    traffic = tmp_path / "traffic"
    simulate(traffic, scale=0.0015, days=3, seed=17, evasion=1, workers=1)
    replay(traffic, tmp_path / "held", refresh_hours=12, keep_hunts=True, hold=True)
    hunts = sorted((tmp_path / "held" / "hunts").iterdir())
    assert len(hunts) >= 3

    def verdicts(folder: Path) -> dict[str, dict[str, str]]:
        with (folder / "accounts.csv").open(encoding="utf-8", newline="") as handle:
            return {row["account_id"]: row for row in csv.DictReader(handle)}

    def release(folder: Path) -> float:
        point = orjson.loads((folder / "campaigns.json").read_bytes())["operating_point"]
        return (float(point["suspicious_score"]) + float(point["attack_score"])) / 2

    held = 0
    for before, after in itertools.pairwise(hunts):
        earlier, later = verdicts(before), verdicts(after)
        for account, row in earlier.items():
            now = later[account]
            if row["verdict"] != "attack":
                continue
            # A convict leaves only by falling under the release score (halfway between
            # suspicious and attack) or being linked to nobody.
            if now["verdict"] != "attack":
                fell = float(now["risk"]) < release(after)
                assert fell or not now["cluster_id"], account
            held += now["reasons"].startswith("HELD")
    assert held > 0, "this traffic should see a convict held"
    assert held == sum(
        1 for h in hunts[1:] for r in verdicts(h).values() if r["reasons"].startswith("HELD")
    )
