"""Scoring hunt results against labelled traffic.

    from distillguard.hunt.evaluate import evaluate, render
    result = evaluate(Path("hunt"), Path("traffic/labels.csv"))

Reads ``accounts.csv`` and ``campaigns.json`` from a results folder (contract section 4) and
``labels.csv`` (section 5). The accounts evaluated are the labelled ones:

- a labelled account missing from ``accounts.csv`` counts as missed: verdict benign, no
  campaign, and never flagged at any risk threshold (it stays in the denominator of recall
  but is not on the precision-recall curve);
- an account in ``accounts.csv`` without a label is counted and left out;
- a ratio whose denominator is zero is undefined: ``None`` here, ``null`` in JSON, ``n/a`` in
  the tables. So precision is undefined when nothing is predicted positive, and recall when
  nothing is labelled attack. F1 is ``2TP / (2TP + FP + FN)``, which is 0 (not undefined)
  when there are attacks and no predictions, and undefined only when there are neither.

The predicted campaign of an account is the ``campaign_id`` column of ``accounts.csv``;
``campaigns.json`` gives each predicted campaign's capability shares. A missing
``campaigns.json`` means no campaign capabilities (noted in ``notes``). The true top
capability of each campaign comes from the simulator's ``summary.json``; without it the
capability check is reported as unknown.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import orjson
from rich import box
from rich.table import Table

from ..errors import InputError, Location
from ..types import BENIGN_POPULATIONS, CAPABILITIES, VERDICTS

ACCOUNT_COLUMNS: Final = ("account_id", "risk", "verdict", "campaign_id")
LABEL_COLUMNS: Final = ("account_id", "label", "population", "campaign_id")

Array = npt.NDArray[Any]


# -- metrics ------------------------------------------------------------------------------


def average_precision(
    risk: Sequence[float], attack: Sequence[bool], positives: int
) -> float | None:
    """Area under the precision-recall curve as average precision: the sum over risk
    thresholds (each distinct risk, highest first) of the recall gained times the precision
    there. Equal risks form one threshold. ``positives`` is the number of true attacks,
    which may exceed those in ``attack`` (attacks that were never scored); undefined when 0."""
    if positives == 0:
        return None
    scores = np.asarray(risk, dtype=np.float64)
    truth = np.asarray(attack, dtype=bool)
    if scores.size == 0:
        return 0.0
    order = np.argsort(-scores, kind="stable")
    scores, truth = scores[order], truth[order]
    hits = np.cumsum(truth)
    last = np.r_[np.flatnonzero(np.diff(scores)), scores.size - 1]
    precision = hits[last] / (last + 1)
    recall = hits[last] / positives
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _pairs(counts: Array) -> float:
    c = counts.astype(np.float64)
    return float(np.sum(c * (c - 1.0) / 2.0))


def adjusted_rand_index(truth: Sequence[object], predicted: Sequence[object]) -> float | None:
    """Adjusted Rand index of two partitions of the same items (Hubert and Arabie), from their
    contingency table: 1 for identical partitions whatever the names, about 0 for unrelated
    ones, negative for worse than chance. Undefined for no items; 1 when both partitions are
    all singletons or both a single group (the formula's 0/0)."""
    if len(truth) != len(predicted):
        raise ValueError("partitions of different lengths")
    n = len(truth)
    if n == 0:
        return None
    _, a = np.unique(np.asarray(truth, dtype=object).astype(str), return_inverse=True)
    _, b = np.unique(np.asarray(predicted, dtype=object).astype(str), return_inverse=True)
    cells = a.astype(np.int64) * (int(b.max()) + 1) + b.astype(np.int64)
    _, joint = np.unique(cells, return_counts=True)
    index = _pairs(joint)
    rows, cols = _pairs(np.bincount(a)), _pairs(np.bincount(b))
    total = n * (n - 1) / 2.0
    expected = rows * cols / total if total else 0.0
    maximum = (rows + cols) / 2.0
    if maximum == expected:
        return 1.0
    return (index - expected) / (maximum - expected)


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


@dataclass(frozen=True)
class Confusion:
    """Account-level counts with ``positive`` verdicts as the prediction, label attack as truth."""

    positive: tuple[str, ...]
    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float | None:
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float | None:
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float | None:
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    def to_json(self) -> dict[str, Any]:
        return {
            "positive": list(self.positive),
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "tn": self.tn,
            "precision": _round(self.precision),
            "recall": _round(self.recall),
            "f1": _round(self.f1),
        }


@dataclass(frozen=True)
class PopulationRate:
    """How many benign accounts of one population were given verdict attack (or suspicious)."""

    population: str
    accounts: int
    attack: int
    suspicious: int

    @property
    def rate(self) -> float | None:
        return _ratio(self.attack, self.accounts)

    def to_json(self) -> dict[str, Any]:
        return {
            "population": self.population,
            "accounts": self.accounts,
            "attack": self.attack,
            "suspicious": self.suspicious,
            "false_positive_rate": _round(self.rate),
        }


@dataclass(frozen=True)
class CampaignResult:
    """One true campaign: how much of it was caught, and where it landed.

    ``predicted`` is the predicted campaign holding the most of its accounts (ties: the
    smallest id), ``held`` how many, ``predicted_accounts`` how many labelled accounts that
    predicted campaign has in all (so ``held / predicted_accounts`` is its purity).
    ``capability`` is the true top capability (``None``: unknown), ``predicted_capability``
    the highest-share capability of ``predicted`` in ``campaigns.json`` (ties: vocabulary
    order)."""

    id: str
    accounts: int
    missing: int
    attack: int
    suspicious: int
    predicted: str | None
    held: int
    predicted_accounts: int
    capability: str | None
    predicted_capability: str | None

    @property
    def recall(self) -> float | None:
        return _ratio(self.attack, self.accounts)

    @property
    def capability_right(self) -> bool | None:
        if self.capability is None:
            return None
        return self.predicted_capability == self.capability

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "accounts": self.accounts,
            "missing": self.missing,
            "attack": self.attack,
            "suspicious": self.suspicious,
            "recall": _round(self.recall),
            "predicted": self.predicted,
            "held": self.held,
            "predicted_accounts": self.predicted_accounts,
            "capability": self.capability,
            "predicted_capability": self.predicted_capability,
            "capability_right": self.capability_right,
        }


@dataclass(frozen=True)
class Evaluation:
    """Hunt results scored against labels.

    ``ari_attack`` is the adjusted Rand index over the accounts labelled attack, comparing
    the true ``campaign_id`` with the predicted one, where an account with no predicted
    campaign (or missing from ``accounts.csv``) is its own singleton. ``ari_all`` is the same
    over every labelled account, benign accounts being singletons on the true side."""

    accounts: int
    attack: int
    missing: int
    missing_attack: int
    unlabelled: int
    strict: Confusion
    lenient: Confusion
    pr_auc: float | None
    false_positives: tuple[PopulationRate, ...]
    ari_attack: float | None
    ari_all: float | None
    predicted_campaigns: int
    campaigns: tuple[CampaignResult, ...]
    notes: tuple[str, ...]

    @property
    def false_positive_rate(self) -> float | None:
        attack = sum(p.attack for p in self.false_positives)
        return _ratio(attack, sum(p.accounts for p in self.false_positives))

    def to_json(self) -> dict[str, Any]:
        return {
            "accounts": {
                "labelled": self.accounts,
                "attack": self.attack,
                "benign": self.accounts - self.attack,
                "missing": self.missing,
                "missing_attack": self.missing_attack,
                "unlabelled": self.unlabelled,
            },
            "verdict_attack": self.strict.to_json(),
            "verdict_attack_or_suspicious": self.lenient.to_json(),
            "pr_auc": _round(self.pr_auc),
            "prevalence": _round(_ratio(self.attack, self.accounts)),
            "false_positive_rate": _round(self.false_positive_rate),
            "false_positives": [p.to_json() for p in self.false_positives],
            "ari_attack": _round(self.ari_attack),
            "ari_all": _round(self.ari_all),
            "predicted_campaigns": self.predicted_campaigns,
            "campaigns": [c.to_json() for c in self.campaigns],
            "notes": list(self.notes),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


# -- reading ------------------------------------------------------------------------------


def _csv(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line, row) of every record of a CSV file with a header. A zero-byte file has none;
    blank lines are skipped; the line is where the record starts."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, strict=True)
        line = 1
        try:
            header = next(reader, None)
            if header is None:
                return
            absent = [c for c in required if c not in header]
            if absent:
                raise InputError(f"{Location(str(path), 1)}: no column {', '.join(absent)}")
            line = reader.line_num + 1
            for record in reader:
                if record:
                    if len(record) != len(header):
                        raise InputError(
                            f"{Location(str(path), line)}: {len(record)} fields, the header "
                            f"has {len(header)}"
                        )
                    yield line, dict(zip(header, record, strict=True))
                line = reader.line_num + 1
        except csv.Error as exc:
            raise InputError(f"{Location(str(path), line)}: not valid CSV: {exc}") from None
        except UnicodeDecodeError:
            # Text is decoded a block ahead of the parser: find the line from the bytes.
            raise InputError(f"{Location(str(path), _bad_utf8(path))}: not UTF-8") from None


def _bad_utf8(path: Path) -> int | None:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return None


@dataclass(frozen=True, slots=True)
class _Predicted:
    risk: float
    verdict: str
    campaign: str


@dataclass(frozen=True, slots=True)
class _Label:
    attack: bool
    population: str
    campaign: str


def _unique(seen: dict[str, int], account: str, path: Path, line: int) -> None:
    if not account:
        raise InputError(f"{Location(str(path), line)}: empty account_id")
    if account in seen:
        raise InputError(
            f"{Location(str(path), line)}: account {account} already on line {seen[account]}"
        )
    seen[account] = line


def _read_accounts(path: Path) -> dict[str, _Predicted]:
    """``accounts.csv``: account → risk, verdict, campaign (``""`` when none)."""
    out: dict[str, _Predicted] = {}
    lines: dict[str, int] = {}
    for line, row in _csv(path, ACCOUNT_COLUMNS):
        account = row["account_id"]
        _unique(lines, account, path, line)
        try:
            risk = float(row["risk"])
        except ValueError:
            risk = math.nan
        if not 0.0 <= risk <= 1.0:
            raise InputError(f"{Location(str(path), line)}: risk {row['risk']!r} is not in [0, 1]")
        if row["verdict"] not in VERDICTS:
            raise InputError(
                f"{Location(str(path), line)}: verdict {row['verdict']!r} is not one of "
                f"{', '.join(VERDICTS)}"
            )
        out[account] = _Predicted(risk, row["verdict"], row["campaign_id"])
    return out


def _read_labels(path: Path) -> dict[str, _Label]:
    """``labels.csv``: account → attack or not, population, campaign."""
    out: dict[str, _Label] = {}
    lines: dict[str, int] = {}
    for line, row in _csv(path, LABEL_COLUMNS):
        account, label, campaign = row["account_id"], row["label"], row["campaign_id"]
        where = Location(str(path), line)
        _unique(lines, account, path, line)
        if label not in ("attack", "benign"):
            raise InputError(f"{where}: label {label!r} is not attack or benign")
        if (label == "attack") != bool(campaign):
            raise InputError(f"{where}: an attack account needs a campaign_id, a benign one none")
        if not row["population"]:
            raise InputError(f"{where}: empty population")
        out[account] = _Label(label == "attack", row["population"], campaign)
    return out


def _json(path: Path) -> Any:
    text = path.read_bytes()
    if not text.strip():
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"{Location(str(path), exc.lineno)}: not valid JSON: {exc.msg}") from None


def _line_of(path: Path, needle: str) -> int | None:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return number
    return None


def _top(shares: Mapping[str, float]) -> str | None:
    """The highest-share capability; ties go to the earlier one in the contract's vocabulary."""
    order: dict[str, int] = {name: i for i, name in enumerate(CAPABILITIES)}
    ranked = sorted(shares.items(), key=lambda kv: (-kv[1], order.get(kv[0], len(order)), kv[0]))
    return ranked[0][0] if ranked else None


def _read_campaigns(path: Path) -> tuple[dict[str, str | None], dict[str, str]]:
    """``campaigns.json``: (campaign → top capability, account → campaign from ``accounts``)."""
    doc = _json(path)
    if doc is None:
        return {}, {}
    if not isinstance(doc, dict) or not isinstance(doc.get("campaigns"), list):
        raise InputError(f"{path}: expected an object with a 'campaigns' list")
    if doc.get("version", 1) != 1:
        raise InputError(f"{path}: version {doc.get('version')!r}, this reads version 1")
    tops: dict[str, str | None] = {}
    members: dict[str, str] = {}
    for i, item in enumerate(doc["campaigns"]):
        cid = item.get("id") if isinstance(item, dict) else None
        if not isinstance(cid, str) or not cid:
            raise InputError(f"{path}: campaigns[{i}] has no string 'id'")
        problem = None
        shares = item.get("capabilities", {})
        accounts = item.get("accounts", [])
        if cid in tops:
            problem = "appears twice"
        elif not isinstance(shares, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in shares.values()
        ):
            problem = "'capabilities' must map capability names to shares"
        elif not isinstance(accounts, list) or not all(isinstance(a, str) for a in accounts):
            problem = "'accounts' must be a list of account ids"
        if problem:
            where = Location(str(path), _line_of(path, f'"{cid}"'))
            raise InputError(f"{where}: campaigns[{i}] ({cid}): {problem}")
        tops[cid] = _top(shares)
        members.update(dict.fromkeys(accounts, cid))
    return tops, members


def _read_truth(path: Path) -> dict[str, str | None]:
    """The simulator's ``summary.json``: campaign → intended top capability (``None`` when
    the summary predates the ``capability`` key)."""
    doc = _json(path)
    campaigns = doc.get("campaigns") if isinstance(doc, dict) else None
    if not isinstance(campaigns, dict):
        raise InputError(f"{path}: expected an object with a 'campaigns' object")
    out: dict[str, str | None] = {}
    for cid, item in campaigns.items():
        capability = item.get("capability") if isinstance(item, dict) else None
        if capability is not None and capability not in CAPABILITIES:
            where = Location(str(path), _line_of(path, f'"{cid}"'))
            raise InputError(f"{where}: campaign {cid}: unknown capability {capability!r}")
        out[cid] = capability
    return out


# -- evaluation ---------------------------------------------------------------------------


def _partition(ids: list[str], campaigns: list[str]) -> list[str]:
    """Campaign ids, with an account outside any campaign as its own singleton."""
    return [f"c:{c}" if c else f"a:{a}" for a, c in zip(ids, campaigns, strict=True)]


def _populations(labels: Mapping[str, _Label]) -> list[str]:
    found = {label.population for label in labels.values() if not label.attack}
    known = [p for p in BENIGN_POPULATIONS if p in found]
    return known + sorted(found - set(known))


def evaluate(hunt_dir: Path, labels: Path, *, truth: Path | None = None) -> Evaluation:
    """Score ``hunt_dir/accounts.csv`` and ``hunt_dir/campaigns.json`` against ``labels``.

    ``truth`` is the simulator's ``summary.json`` (true top capability of each campaign);
    by default ``summary.json`` beside ``labels`` when it exists. Malformed input raises
    ``InputError`` naming file and line."""
    predicted = _read_accounts(hunt_dir / "accounts.csv")
    labelled = _read_labels(labels)
    notes: list[str] = []
    campaigns_file = hunt_dir / "campaigns.json"
    if campaigns_file.is_file():
        tops, members = _read_campaigns(campaigns_file)
    else:
        tops, members = {}, {}
        notes.append("no campaigns.json: predicted campaigns have no capabilities")
    if truth is None and (labels.parent / "summary.json").is_file():
        truth = labels.parent / "summary.json"
    if truth is not None and not truth.is_file():
        raise InputError(f"{truth}: no such file")
    true_caps = _read_truth(truth) if truth is not None else {}
    if truth is None:
        notes.append("no summary.json: true top capabilities unknown")

    ids = sorted(labelled)
    lab = [labelled[a] for a in ids]
    pred = [predicted.get(a) for a in ids]
    attack = np.asarray([x.attack for x in lab], dtype=bool)
    present = np.asarray([p is not None for p in pred], dtype=bool)
    verdict = np.asarray([p.verdict if p else "benign" for p in pred], dtype=object)
    risk = np.asarray([p.risk if p else 0.0 for p in pred], dtype=np.float64)
    pcamp = [p.campaign if p else "" for p in pred]

    def confusion(positive: tuple[str, ...]) -> Confusion:
        flagged = np.isin(verdict, positive)
        return Confusion(
            positive,
            tp=int(np.sum(flagged & attack)),
            fp=int(np.sum(flagged & ~attack)),
            fn=int(np.sum(~flagged & attack)),
            tn=int(np.sum(~flagged & ~attack)),
        )

    rates = []
    for population in _populations(labelled):
        mask = np.asarray([not x.attack and x.population == population for x in lab])
        rates.append(
            PopulationRate(
                population,
                accounts=int(mask.sum()),
                attack=int(np.sum(mask & (verdict == "attack"))),
                suspicious=int(np.sum(mask & (verdict == "suspicious"))),
            )
        )

    tcamp = [x.campaign for x in lab]
    at = np.flatnonzero(attack).tolist()
    ari_attack = adjusted_rand_index(
        _partition([ids[i] for i in at], [tcamp[i] for i in at]),
        _partition([ids[i] for i in at], [pcamp[i] for i in at]),
    )
    ari_all = adjusted_rand_index(_partition(ids, tcamp), _partition(ids, pcamp))

    size = Counter(c for c in pcamp if c)
    results = []
    for cid in sorted(set(tcamp) - {""}):
        mine = [i for i, c in enumerate(tcamp) if c == cid]
        holders = Counter(pcamp[i] for i in mine if pcamp[i])
        best = min(holders.items(), key=lambda kv: (-kv[1], kv[0]), default=None)
        results.append(
            CampaignResult(
                cid,
                accounts=len(mine),
                missing=int(np.sum(~present[mine])),
                attack=int(np.sum(verdict[mine] == "attack")),
                suspicious=int(np.sum(verdict[mine] == "suspicious")),
                predicted=best[0] if best else None,
                held=best[1] if best else 0,
                predicted_accounts=size[best[0]] if best else 0,
                capability=true_caps.get(cid),
                predicted_capability=tops.get(best[0]) if best else None,
            )
        )

    named = {p.campaign for p in predicted.values() if p.campaign}
    unknown = sorted(named - set(tops))
    if tops and unknown:
        notes.append(f"campaigns in accounts.csv but not in campaigns.json: {', '.join(unknown)}")
    disagree = sum(members.get(a, "") != p.campaign for a, p in predicted.items())
    if members and disagree:
        notes.append(f"{disagree} accounts' campaign_id differs from campaigns.json's lists")

    positives = int(attack.sum())
    return Evaluation(
        accounts=len(ids),
        attack=positives,
        missing=int(np.sum(~present)),
        missing_attack=int(np.sum(~present & attack)),
        unlabelled=sum(a not in labelled for a in predicted),
        strict=confusion(("attack",)),
        lenient=confusion(("attack", "suspicious")),
        pr_auc=average_precision(risk[present], attack[present], positives),
        false_positives=tuple(rates),
        ari_attack=ari_attack,
        ari_all=ari_all,
        predicted_campaigns=len(named | set(tops)),
        campaigns=tuple(results),
        notes=tuple(notes),
    )


# -- rendering ----------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def render(evaluation: Evaluation) -> list[Table]:
    """Tables for a terminal: accounts, false positives by population, campaigns."""
    e = evaluation
    accounts = Table(title="Accounts", show_header=True)
    for column in ("positive verdicts", "precision", "recall", "F1", "TP", "FP", "FN", "TN"):
        accounts.add_column(column, justify="left" if column.startswith("pos") else "right")
    for c in (e.strict, e.lenient):
        accounts.add_row(
            " or ".join(c.positive),
            _fmt(c.precision),
            _fmt(c.recall),
            _fmt(c.f1),
            *(str(n) for n in (c.tp, c.fp, c.fn, c.tn)),
        )
    accounts.caption = (
        f"{e.accounts} labelled ({e.attack} attack); {e.missing} missing from accounts.csv "
        f"({e.missing_attack} attack); {e.unlabelled} unlabelled left out. "
        f"PR-AUC {_fmt(e.pr_auc)} (prevalence {_fmt(_ratio(e.attack, e.accounts))}); "
        f"ARI attack {_fmt(e.ari_attack)}, all {_fmt(e.ari_all)}"
    )

    benign = Table(title="False positives (benign given verdict attack)")
    for column in ("population", "accounts", "attack", "rate", "suspicious"):
        benign.add_column(column, justify="left" if column == "population" else "right")
    for p in e.false_positives:
        benign.add_row(
            p.population, str(p.accounts), str(p.attack), _fmt(p.rate), str(p.suspicious)
        )
    total = sum(p.accounts for p in e.false_positives)
    benign.add_row(
        "all benign",
        str(total),
        str(sum(p.attack for p in e.false_positives)),
        _fmt(e.false_positive_rate),
        str(sum(p.suspicious for p in e.false_positives)),
        style="bold",
    )

    campaigns = Table(
        title=f"Campaigns ({e.predicted_campaigns} predicted)",
        caption="held: its accounts in the predicted campaign / all labelled accounts there",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for column in ("campaign", "recall", "predicted", "held", "capability", "found"):
        campaigns.add_column(column, justify="right" if column == "recall" else "left")
    campaigns.add_column("right")
    for r in e.campaigns:
        right = {None: "unknown", True: "yes", False: "no"}[r.capability_right]
        campaigns.add_row(
            r.id,
            _fmt(r.recall),
            r.predicted or "-",
            f"{r.held}/{r.predicted_accounts}" if r.predicted else "-",
            r.capability or "unknown",
            r.predicted_capability or "-",
            right,
        )
    if e.notes:
        campaigns.caption = f"{campaigns.caption}. Notes: {'; '.join(e.notes)}"
    return [accounts, benign, campaigns]
