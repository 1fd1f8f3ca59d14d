"""Holding convictions from one hunt to the next (``hunt.hold``): hysteresis on verdicts."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from distillguard.errors import InputError
from distillguard.exchange import IngestOptions, Store, ingest
from distillguard.hunt import HuntOptions, hunt
from distillguard.hunt.hold import HELD, hold, read_convicted, release_score
from distillguard.hunt.scoring import Scores
from distillguard.simulate import simulate
from distillguard.types import ACCOUNTS_CSV_COLUMNS


def _scores(verdicts: list[str]) -> Scores:
    n = len(verdicts)
    return Scores(
        risk=np.full(n, 0.4),
        verdict=list(verdicts),
        reasons=[["INTENT_COT"] for _ in range(n)],
        cluster_risk=np.zeros(1),
        cluster_attack=np.zeros(1, dtype=bool),
        attack_threshold=0.45,
        suspicious_threshold=0.3,
    )


def test_only_suspicious_clustered_untrusted_convicts_near_the_line_are_held() -> None:
    names = ["held", "fell", "trusted", "alone", "new", "still", "sank"]
    verdicts = ["suspicious", "benign", "suspicious", "suspicious", "suspicious", "attack"]
    scores = _scores([*verdicts, "suspicious"])
    scores.risk[6] = 0.37  # suspicious, but under the release score (0.375 here)
    attack = np.asarray([v == "attack" for v in scores.verdict])
    trusted = np.asarray([False, False, True, False, False, False, False])
    cluster = np.asarray([0, 0, 0, -1, 0, 0, 0], dtype=np.int64)
    convicted = frozenset({"held", "fell", "trusted", "alone", "still", "sank"})
    assert release_score(scores) == pytest.approx(0.375)
    assert hold(convicted, names, scores, attack, trusted, cluster) == 1
    assert scores.verdict == [
        "attack",
        "benign",
        "suspicious",
        "suspicious",
        "suspicious",
        "attack",
        "suspicious",
    ]
    assert scores.reasons[0] == [HELD, "INTENT_COT"] and scores.reasons[4] == ["INTENT_COT"]
    assert attack.tolist() == [True, False, False, False, False, True, False]


def _write(path: Path, rows: list[list[str]], header: list[str] | None = None) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header or ACCOUNTS_CSV_COLUMNS)
        writer.writerows(rows)
    return path


def test_previous_hunt_files_are_checked(tmp_path: Path) -> None:
    good = [["a", "0.9", "attack", "", "", "3", ""], ["b", "0.1", "benign", "", "", "1", ""]]
    _write(tmp_path / "accounts.csv", good)
    assert read_convicted(tmp_path) == {"a"}  # a folder: its accounts.csv
    assert read_convicted(tmp_path / "accounts.csv") == {"a"}
    with pytest.raises(InputError, match=r"other\.csv: line 1: not a hunt's accounts\.csv"):
        read_convicted(_write(tmp_path / "other.csv", [["x"]], header=["account"]))
    ragged = _write(tmp_path / "ragged.csv", [*good, ["c", "attack"]])
    with pytest.raises(InputError, match=r"ragged\.csv: line 4: 2 fields"):
        read_convicted(ragged)
    huge = _write(tmp_path / "huge.csv", [["x" * 5000, "0.9", "attack", "", "", "1", ""]])
    with pytest.raises(InputError, match=r"huge\.csv: line 2: account_id is over"):
        read_convicted(huge)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"account_id,verdict\n\xff\xfe,attack\n")
    with pytest.raises(InputError, match=r"binary\.csv: cannot read"):
        read_convicted(binary)
    with pytest.raises(InputError, match=r"missing\.csv: cannot read"):
        read_convicted(tmp_path / "missing.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputError, match=r"empty\.csv: line 1"):
        read_convicted(empty)


def test_a_hunt_holds_what_the_previous_one_convicted(tmp_path: Path) -> None:
    traffic = tmp_path / "traffic"
    simulate(traffic, scale=0.001, days=3, seed=5, evasion=0, workers=1)
    ingest(
        [traffic / "exchanges"],
        tmp_path / "store",
        accounts=traffic / "accounts.jsonl",
        models=traffic / "models.jsonl",
        options=IngestOptions(workers=1),
    )
    store = Store(tmp_path / "store")
    hunt(store, tmp_path / "first")
    with (tmp_path / "first" / "accounts.csv").open(encoding="utf-8", newline="") as handle:
        first = list(csv.DictReader(handle))
    # Clustered suspicious accounts, as if the previous hunt had convicted them: those at or
    # above the release score are held, those under it let go.
    release = (0.3 + 0.45) / 2  # the default operating point's
    suspects = [r for r in first if r["verdict"] == "suspicious" and r["cluster_id"]]
    chosen = [r for r in suspects if float(r["risk"]) >= release]
    sank = [r for r in suspects if float(r["risk"]) < release]
    assert chosen and sank, "this traffic should have clustered suspicious accounts both sides"
    convicted = chosen + sank
    previous = [
        [r["account_id"], r["risk"], "attack" if r in convicted else r["verdict"], "", "", "1", ""]
        for r in first
    ]
    _write(tmp_path / "previous.csv", previous)
    hunt(store, tmp_path / "second", HuntOptions(previous=tmp_path / "previous.csv"))
    with (tmp_path / "second" / "accounts.csv").open(encoding="utf-8", newline="") as handle:
        second = {r["account_id"]: r for r in csv.DictReader(handle)}
    for row in chosen:
        now = second[row["account_id"]]
        assert now["verdict"] == "attack" and now["reasons"].startswith(HELD)
        assert now["campaign_id"]  # held accounts belong to a campaign like any other
    # Everything else (those under the release score too) is as the first hunt had it.
    others = {r["account_id"]: r["verdict"] for r in first if r not in chosen}
    assert all(second[a]["verdict"] == v for a, v in others.items())
    # The previous hunt may be the folder being written to: it is read first.
    hunt(store, tmp_path / "second", HuntOptions(previous=tmp_path / "second"))
    with (tmp_path / "second" / "accounts.csv").open(encoding="utf-8", newline="") as handle:
        again = {r["account_id"]: r["verdict"] for r in csv.DictReader(handle)}
    assert all(again[r["account_id"]] == "attack" for r in chosen)


def test_the_command_names_a_bad_previous_hunt(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from distillguard.cli import app

    traffic = tmp_path / "traffic"
    simulate(traffic, scale=0.0005, days=1, seed=3, evasion=0, workers=1)
    bad = _write(tmp_path / "bad.csv", [["x"]], header=["who"])
    result = CliRunner().invoke(
        app,
        [
            "hunt",
            str(traffic / "exchanges"),
            "--out",
            str(tmp_path / "out"),
            "--previous",
            str(bad),
        ],
    )
    assert result.exit_code != 0
    said = " ".join(result.output.split())  # the terminal may wrap the message
    assert "bad.csv: line 1: not a hunt's accounts.csv" in said
    assert not (tmp_path / "out").exists()  # refused before anything was ingested
