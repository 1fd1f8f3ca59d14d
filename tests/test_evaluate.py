"""Scoring hunt results against labels: small hand-made files with hand-computed metrics."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
import pytest
from rich.console import Console

from distillguard.errors import InputError
from distillguard.hunt.evaluate import adjusted_rand_index, average_precision, evaluate, render

ACCOUNTS_HEADER = "account_id,risk,verdict,cluster_id,campaign_id,exchanges,reasons"
LABELS_HEADER = "account_id,label,population,campaign_id,actor"

# Two true campaigns (X: a1-a3, Y: a4-a5) and five benign accounts. a5 is missing from
# accounts.csv; u1 has no label; b1 is a false positive pulled into camp-1.
LABELS = [
    "a1,attack,campaign,X,tern",
    "a2,attack,campaign,X,tern",
    "a3,attack,campaign,X,tern",
    "a4,attack,campaign,Y,kite",
    "a5,attack,campaign,Y,kite",
    "b1,benign,chat_app,,",
    "b2,benign,chat_app,,",
    "b3,benign,developer,,",
    "b4,benign,developer,,",
    "b5,benign,classroom,,",
]
ACCOUNTS = [
    "a1,0.9,attack,cluster-1,camp-1,10,INTENT_COT",
    "a2,0.8,attack,cluster-1,camp-1,10,INTENT_COT",
    "a3,0.3,benign,,,4,",
    "a4,0.7,attack,cluster-2,camp-2,7,SHARED_HARNESS",
    "b1,0.85,attack,cluster-1,camp-1,3,SHARED_IP_NETWORK",
    "b2,0.2,benign,,,5,",
    "b3,0.6,suspicious,,,5,SINGLE_TURN",
    "b4,0.1,benign,,,5,",
    "b5,0.05,benign,,,5,",
    "u1,0.5,attack,,,9,HIGH_VOLUME",
]
CAMPAIGNS = [
    {"id": "camp-1", "accounts": ["a1", "a2", "b1"], "capabilities": {"reasoning": 0.7}},
    {"id": "camp-2", "accounts": ["a4"], "capabilities": {"agentic": 0.4, "coding": 0.6}},
]
TRUTH = {
    "X": {"accounts": 3, "exchanges": 24, "capability": "reasoning"},
    "Y": {"accounts": 2, "exchanges": 7, "capability": "agentic"},
}


def _lines(path: Path, header: str, rows: Iterable[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def make(
    root: Path,
    *,
    accounts: Iterable[str] = ACCOUNTS,
    labels: Iterable[str] = LABELS,
    campaigns: list[dict[str, Any]] | None = None,
    truth: dict[str, Any] | None = None,
) -> tuple[Path, Path]:
    """A results folder and a labels file (with summary.json beside it unless ``truth``
    is empty)."""
    hunt, traffic = root / "hunt", root / "traffic"
    hunt.mkdir()
    traffic.mkdir()
    _lines(hunt / "accounts.csv", ACCOUNTS_HEADER, accounts)
    doc = {"version": 1, "campaigns": CAMPAIGNS if campaigns is None else campaigns}
    (hunt / "campaigns.json").write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    truth = TRUTH if truth is None else truth
    if truth:
        (traffic / "summary.json").write_bytes(orjson.dumps({"campaigns": truth}))
    return hunt, _lines(traffic / "labels.csv", LABELS_HEADER, labels)


# -- the worked example -------------------------------------------------------------------


def test_account_metrics_match_the_hand_computation(tmp_path: Path) -> None:
    e = evaluate(*make(tmp_path))
    assert (e.accounts, e.attack, e.missing, e.missing_attack, e.unlabelled) == (10, 5, 1, 1, 1)
    # attack verdicts on a1 a2 a4 b1: a3 and the missing a5 are missed
    assert (e.strict.tp, e.strict.fp, e.strict.fn, e.strict.tn) == (3, 1, 2, 4)
    assert e.strict.precision == pytest.approx(3 / 4)
    assert e.strict.recall == pytest.approx(3 / 5)
    assert e.strict.f1 == pytest.approx(6 / 9)
    # suspicious b3 joins the positives
    assert (e.lenient.tp, e.lenient.fp, e.lenient.fn, e.lenient.tn) == (3, 2, 2, 3)
    assert e.lenient.precision == pytest.approx(3 / 5)
    assert e.lenient.f1 == pytest.approx(6 / 10)
    # by risk: a1 b1 a2 a4 b3 a3 b2 b4 b5; attacks at ranks 1, 3, 4, 6; a5 never ranked
    assert e.pr_auc == pytest.approx((1 + 2 / 3 + 3 / 4 + 4 / 6) / 5)


def test_false_positive_rate_per_benign_population(tmp_path: Path) -> None:
    e = evaluate(*make(tmp_path))
    rates = {p.population: (p.accounts, p.attack, p.suspicious, p.rate) for p in e.false_positives}
    assert rates == {
        "chat_app": (2, 1, 0, 0.5),
        "developer": (2, 0, 1, 0.0),
        "classroom": (1, 0, 0, 0.0),
    }
    assert [p.population for p in e.false_positives] == ["chat_app", "developer", "classroom"]
    assert e.false_positive_rate == pytest.approx(1 / 5)


def test_campaign_partition_agreement(tmp_path: Path) -> None:
    e = evaluate(*make(tmp_path))
    # attack accounts: truth {a1 a2 a3}{a4 a5}; predicted {a1 a2}{a3}{a4}{a5}
    # pairs together: both 1, truth 4, predicted 1, of 10: (1 - 0.4) / (2.5 - 0.4)
    assert e.ari_attack == pytest.approx(2 / 7)
    # all accounts: truth adds five benign singletons; predicted camp-1 is {a1 a2 b1}
    # both 1, truth 4, predicted 3, of 45: (1 - 12/45) / (3.5 - 12/45)
    assert e.ari_all == pytest.approx(22 / 97)


def test_per_campaign_recall_holder_and_capability(tmp_path: Path) -> None:
    e = evaluate(*make(tmp_path))
    x, y = e.campaigns
    assert (x.id, x.accounts, x.missing, x.attack, x.suspicious) == ("X", 3, 0, 2, 0)
    assert x.recall == pytest.approx(2 / 3)
    assert (x.predicted, x.held, x.predicted_accounts) == ("camp-1", 2, 3)
    assert (x.capability, x.predicted_capability, x.capability_right) == (
        "reasoning",
        "reasoning",
        True,
    )
    assert (y.id, y.accounts, y.missing, y.attack) == ("Y", 2, 1, 1)
    assert y.recall == pytest.approx(1 / 2)
    assert (y.predicted, y.held, y.predicted_accounts) == ("camp-2", 1, 1)
    assert (y.capability, y.predicted_capability, y.capability_right) == (
        "agentic",
        "coding",
        False,
    )
    assert e.predicted_campaigns == 2
    assert e.notes == ()


def test_json_and_tables(tmp_path: Path) -> None:
    e = evaluate(*make(tmp_path))
    doc = orjson.loads(orjson.dumps(e.to_json()))
    assert doc["accounts"] == {
        "labelled": 10,
        "attack": 5,
        "benign": 5,
        "missing": 1,
        "missing_attack": 1,
        "unlabelled": 1,
    }
    assert doc["verdict_attack"]["precision"] == 0.75
    assert doc["verdict_attack_or_suspicious"]["fp"] == 2
    assert doc["pr_auc"] == pytest.approx(37 / 60, abs=1e-6)
    assert doc["prevalence"] == 0.5
    assert [c["capability_right"] for c in doc["campaigns"]] == [True, False]
    assert doc["false_positives"][0] == {
        "population": "chat_app",
        "accounts": 2,
        "attack": 1,
        "suspicious": 0,
        "false_positive_rate": 0.5,
    }
    console = Console(width=160, record=True)
    for table in render(e):
        console.print(table)
    text = console.export_text()
    for expected in ("0.750", "chat_app", "0.500", "camp-2", "agentic", "coding", "0.617"):
        assert expected in text


# -- edge cases ---------------------------------------------------------------------------


def test_no_predicted_attack_leaves_precision_undefined(tmp_path: Path) -> None:
    quiet = [",".join([row.split(",")[0], "0.1", "benign", "", "", "1", ""]) for row in ACCOUNTS]
    e = evaluate(*make(tmp_path, accounts=quiet))
    assert (e.strict.tp, e.strict.fp, e.strict.fn) == (0, 0, 5)
    assert e.strict.precision is None
    assert e.strict.recall == 0.0
    assert e.strict.f1 == 0.0  # 2TP / (2TP + FP + FN) is defined: attacks were missed
    # all risks equal: one threshold holding every scored account, 4 of 9 attacks
    assert e.pr_auc == pytest.approx(4 / 5 * 4 / 9)
    assert e.to_json()["verdict_attack"]["precision"] is None
    console = Console(width=160, record=True)
    console.print(render(e)[0])
    assert "n/a" in console.export_text()
    x, y = e.campaigns
    assert x.predicted is None and x.capability_right is False and y.predicted is None


def test_no_attacks_and_no_predictions_leave_recall_f1_and_ari_undefined(tmp_path: Path) -> None:
    benign = [row for row in LABELS if ",benign," in row]
    quiet = [f"b{i},0.0,benign,,,1," for i in range(1, 6)]
    e = evaluate(*make(tmp_path, accounts=quiet, labels=benign, campaigns=[], truth={}))
    assert e.strict.precision is None and e.strict.recall is None and e.strict.f1 is None
    assert e.pr_auc is None and e.ari_attack is None
    assert e.ari_all == 1.0  # all singletons on both sides
    assert e.campaigns == ()
    assert e.false_positive_rate == 0.0


def test_empty_files(tmp_path: Path) -> None:
    hunt, labels = make(tmp_path)
    (hunt / "accounts.csv").write_bytes(b"")
    (hunt / "campaigns.json").write_bytes(b"")
    e = evaluate(hunt, labels)
    assert (e.missing, e.missing_attack, e.strict.tp, e.strict.fn) == (10, 5, 0, 5)
    assert e.pr_auc == 0.0 and e.predicted_campaigns == 0
    assert e.ari_attack == pytest.approx(0.0)  # predicted: all singletons
    labels.write_text(LABELS_HEADER + "\n", encoding="utf-8")
    e = evaluate(hunt, labels)
    assert e.accounts == 0 and e.strict.f1 is None and e.false_positives == ()
    (hunt / "accounts.csv").write_text(ACCOUNTS_HEADER + "\n\n", encoding="utf-8")
    labels.write_bytes(b"")
    assert evaluate(hunt, labels).accounts == 0


def test_missing_campaigns_json_and_summary(tmp_path: Path) -> None:
    hunt, labels = make(tmp_path, truth={})
    (hunt / "campaigns.json").unlink()
    e = evaluate(hunt, labels)
    x, _ = e.campaigns
    assert x.predicted == "camp-1" and x.predicted_capability is None
    assert x.capability is None and x.capability_right is None
    assert any("campaigns.json" in note for note in e.notes)
    assert any("summary.json" in note for note in e.notes)
    console = Console(width=160, record=True)
    console.print(render(e)[2])
    assert "unknown" in console.export_text()
    with pytest.raises(InputError, match="no such file"):
        evaluate(hunt, labels, truth=tmp_path / "nowhere.json")


def test_explicit_truth_overrides_the_summary_beside_labels(tmp_path: Path) -> None:
    hunt, labels = make(tmp_path)
    other = tmp_path / "other.json"
    other.write_bytes(orjson.dumps({"campaigns": {"Y": {"capability": "coding"}}}))
    x, y = evaluate(hunt, labels, truth=other).campaigns
    assert x.capability is None and x.capability_right is None
    assert y.capability == "coding" and y.capability_right is True


def test_capability_ties_go_to_vocabulary_order(tmp_path: Path) -> None:
    tied = [
        {"id": "camp-1", "capabilities": {"rewriting": 0.5, "reasoning": 0.5}},
        {"id": "camp-2", "capabilities": {"coding": 0.5, "agentic": 0.5}},
    ]
    x, y = evaluate(*make(tmp_path, campaigns=tied)).campaigns
    assert x.predicted_capability == "reasoning" and x.capability_right is True
    assert y.predicted_capability == "coding" and y.capability_right is False


def test_inconsistent_campaign_files_are_noted(tmp_path: Path) -> None:
    only_one = [{"id": "camp-1", "accounts": ["a1", "a2"], "capabilities": {"reasoning": 1}}]
    e = evaluate(*make(tmp_path, campaigns=only_one))
    assert any("camp-2" in note for note in e.notes)
    assert any("2 accounts" in note for note in e.notes)  # b1 and a4


def test_plurality_holder_with_ties_broken_by_id(tmp_path: Path) -> None:
    split = [
        row.replace("a2,0.8,attack,cluster-1,camp-1", "a2,0.8,attack,cluster-9,alpha")
        for row in ACCOUNTS
    ]
    x, _ = evaluate(*make(tmp_path, accounts=split)).campaigns
    assert (x.predicted, x.held, x.predicted_accounts) == ("alpha", 1, 1)


# -- malformed input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("a1,high,attack,,,1,", r"accounts\.csv:3: risk 'high' is not in \[0, 1\]"),
        ("a1,1.5,attack,,,1,", r"accounts\.csv:3: risk '1.5'"),
        ("a1,nan,attack,,,1,", r"accounts\.csv:3: risk 'nan'"),
        ("a1,0.5,maybe,,,1,", r"accounts\.csv:3: verdict 'maybe'"),
        ("a1,0.5,attack,,,1", r"accounts\.csv:3: 6 fields, the header has 7"),
        (",0.5,attack,,,1,", r"accounts\.csv:3: empty account_id"),
        ("b2,0.5,attack,,,1,", r"accounts\.csv:3: account b2 already on line 2"),
        ('a1,0.5,attack,,,1,"unclosed', r"accounts\.csv:3: not valid CSV"),
    ],
)
def test_malformed_accounts_rows_name_file_and_line(tmp_path: Path, row: str, message: str) -> None:
    hunt, labels = make(tmp_path, accounts=["b2,0.2,benign,,,5,", row])
    with pytest.raises(InputError, match=message):
        evaluate(hunt, labels)


def test_line_numbers_count_quoted_line_breaks(tmp_path: Path) -> None:
    rows = ['a1,0.9,attack,,,10,"INTENT_COT;\nSINGLE_TURN"', "a2,0.8,attack,,,10,", "a3,x,,,,,"]
    hunt, labels = make(tmp_path, accounts=rows)
    with pytest.raises(InputError, match=r"accounts\.csv:5: risk 'x'"):
        evaluate(hunt, labels)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("c1,evil,campaign,X,", r"labels\.csv:2: label 'evil'"),
        ("c1,attack,campaign,,", r"labels\.csv:2: an attack account needs a campaign_id"),
        ("c1,benign,developer,X,", r"labels\.csv:2: .*a benign one none"),
        ("c1,benign,,,", r"labels\.csv:2: empty population"),
    ],
)
def test_malformed_label_rows_name_file_and_line(tmp_path: Path, row: str, message: str) -> None:
    hunt, labels = make(tmp_path, labels=[row])
    with pytest.raises(InputError, match=message):
        evaluate(hunt, labels)


def test_a_header_without_needed_columns_is_refused(tmp_path: Path) -> None:
    hunt, labels = make(tmp_path)
    (hunt / "accounts.csv").write_text("account_id,score\na1,0.5\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"accounts\.csv:1: no column risk, verdict, campaign_id"):
        evaluate(hunt, labels)


def test_bad_bytes_are_refused(tmp_path: Path) -> None:
    hunt, labels = make(tmp_path)
    labels.write_bytes(LABELS_HEADER.encode() + b"\nb1,benign,caf\xe9,,\n")
    with pytest.raises(InputError, match=r"labels\.csv:2: not UTF-8"):
        evaluate(hunt, labels)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b'{"version": 1,\n "campaigns": [\n  {"id": }]}', r"campaigns\.json:3: not valid JSON"),
        (b'{"version": 2, "campaigns": []}', r"version 2, this reads version 1"),
        (b'{"campaigns": {}}', r"expected an object with a 'campaigns' list"),
        (b'{"campaigns": [{"accounts": []}]}', r"campaigns\[0\] has no string 'id'"),
        (
            b'{"campaigns": [\n{"id": "k",\n "capabilities": {"coding": "most"}}]}',
            r"campaigns\.json:2: campaigns\[0\] \(k\): 'capabilities' must map",
        ),
        (
            b'{"campaigns": [{"id": "k", "accounts": [1]}]}',
            r"campaigns\[0\] \(k\): 'accounts' must be a list",
        ),
        (
            b'{"campaigns": [{"id": "k"},\n{"id": "k"}]}',
            r"campaigns\[1\] \(k\): appears twice",
        ),
    ],
)
def test_malformed_campaigns_json(tmp_path: Path, text: bytes, message: str) -> None:
    hunt, labels = make(tmp_path)
    (hunt / "campaigns.json").write_bytes(text)
    with pytest.raises(InputError, match=message):
        evaluate(hunt, labels)


def test_malformed_truth(tmp_path: Path) -> None:
    hunt, labels = make(tmp_path, truth={"X": {"capability": "telepathy"}})
    with pytest.raises(InputError, match=r"summary\.json:1: campaign X: unknown capability"):
        evaluate(hunt, labels)
    (labels.parent / "summary.json").write_bytes(b"[]")
    with pytest.raises(InputError, match=r"summary\.json: expected an object"):
        evaluate(hunt, labels)


# -- the metrics on their own -------------------------------------------------------------


def test_ari_known_values() -> None:
    assert adjusted_rand_index([0, 0, 1, 1], [0, 0, 1, 2]) == pytest.approx(4 / 7)
    assert adjusted_rand_index([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(-0.5)
    assert adjusted_rand_index(["a"], ["z"]) == 1.0
    assert adjusted_rand_index([], []) is None
    with pytest.raises(ValueError):
        adjusted_rand_index([1], [1, 2])


def test_ari_of_identical_partitions_is_one_whatever_the_names() -> None:
    rng = random.Random(3)
    truth = [rng.randrange(7) for _ in range(300)]
    renamed = [f"group-{(g * 5 + 2) % 7}" for g in truth]
    assert adjusted_rand_index(truth, renamed) == pytest.approx(1.0)
    assert adjusted_rand_index(list(range(50)), [f"s{i}" for i in range(50)]) == 1.0
    assert adjusted_rand_index([1] * 20, [2] * 20) == 1.0


def test_ari_of_a_random_partition_is_near_zero() -> None:
    rng = random.Random(7)
    scores = []
    for _ in range(20):
        truth = [rng.randrange(10) for _ in range(2000)]
        guess = [rng.randrange(10) for _ in range(2000)]
        value = adjusted_rand_index(truth, guess)
        assert value is not None and abs(value) < 0.01
        scores.append(value)
    assert abs(sum(scores) / len(scores)) < 0.003
    one = [0] * 1000 + [1] * 1000
    merged = [0] * 2000
    assert adjusted_rand_index(one, merged) == pytest.approx(0.0)


def _blocks(labels: list[int]) -> set[frozenset[int]]:
    return {frozenset(i for i, x in enumerate(labels) if x == g) for g in set(labels)}


def test_ari_is_symmetric_and_below_one_when_partitions_differ() -> None:
    rng = random.Random(11)
    for n, k in itertools.product((5, 40), (2, 4)):
        a = [rng.randrange(k) for _ in range(n)]
        b = [rng.randrange(k) for _ in range(n)]
        ab, ba = adjusted_rand_index(a, b), adjusted_rand_index(b, a)
        assert ab is not None and ab == pytest.approx(ba)
        assert (ab == pytest.approx(1.0)) == (_blocks(a) == _blocks(b))


def test_average_precision_by_hand() -> None:
    assert average_precision([0.9, 0.8, 0.1], [True, False, True], 2) == pytest.approx(
        (1 + 2 / 3) / 2
    )
    assert average_precision([0.5, 0.5], [True, False], 1) == pytest.approx(0.5)  # one threshold
    assert average_precision([0.9], [True], 2) == pytest.approx(0.5)  # one attack never scored
    assert average_precision([0.2, 0.9], [True, False], 1) == pytest.approx(0.5)
    assert average_precision([0.3], [False], 0) is None
    assert average_precision([], [], 3) == 0.0
