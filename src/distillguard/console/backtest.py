"""Backtest: what a candidate operating point or rule change would do to stored history.

Before a change is switched on, the hunt runs again over the same exchange store with the
candidate settings, into a folder of its own (the current hunt's files are never touched),
and its verdicts are compared account by account with the current hunt's ``accounts.csv``:
accounts newly flagged (now ``attack``), released (no longer ``attack``) and any other change
of verdict. When the traffic is labelled (a ``labels.csv`` as the simulator writes it), the
changes are also counted by population, so a change that would flag a university lab's
accounts shows as such before anyone is flagged.

    result = backtest(store_dir, current_hunt_dir, BacktestOptions(OperatingPoint(0.5, 0.3)))
"""

from __future__ import annotations

import csv
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ..errors import DistillguardError
from ..exchange import Store
from ..exchange.store import STORE_MARKER
from ..hunt import HuntOptions, OperatingPoint, hunt
from ..signals.rules import RuleSet, load
from .errors import BacktestError

ABSENT: Final = "absent"
"""The verdict of an account one of the two hunts did not score."""
UNLABELLED: Final = "unlabelled"
LABELS: Final = "labels.csv"


@dataclass(frozen=True, slots=True)
class BacktestOptions:
    """The candidate: an operating point, and rule ids to leave out of the rule corpus."""

    point: OperatingPoint = field(default_factory=OperatingPoint)
    disabled_rules: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "attack_score": self.point.attack_score,
            "suspicious_score": self.point.suspicious_score,
            "disabled_rules": list(self.disabled_rules),
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> BacktestOptions:
        point = OperatingPoint(float(doc["attack_score"]), float(doc["suspicious_score"]))
        return cls(point, tuple(str(r) for r in doc["disabled_rules"]))

    def check(self) -> None:
        attack, suspicious = self.point.attack_score, self.point.suspicious_score
        if not 0.0 < attack < 1.0:
            raise BacktestError(f"attack score {attack:g} must be between 0 and 1")
        if not 0.0 < suspicious <= attack:
            raise BacktestError(
                f"suspicious score {suspicious:g} must be above 0 and at most the attack score"
            )


@dataclass(frozen=True, slots=True)
class Change:
    """One account whose verdict the candidate would change."""

    account_id: str
    before: str
    after: str
    risk_before: float
    risk_after: float
    population: str | None

    @property
    def kind(self) -> str:
        if self.after == "attack":
            return "flagged"
        if self.before == "attack":
            return "released"
        return "changed"


@dataclass(frozen=True, slots=True)
class BacktestResult:
    options: BacktestOptions
    accounts: int
    exchanges: int
    before: dict[str, int]
    after: dict[str, int]
    attack_threshold: float
    suspicious_threshold: float
    changes: tuple[Change, ...]
    labelled: bool
    seconds: float

    @property
    def flagged(self) -> int:
        return sum(1 for c in self.changes if c.kind == "flagged")

    @property
    def released(self) -> int:
        return sum(1 for c in self.changes if c.kind == "released")

    def by_population(self) -> dict[str, dict[str, int]]:
        """Population → how many of its accounts are flagged, released, otherwise changed."""
        out: dict[str, Counter[str]] = defaultdict(Counter)
        for change in self.changes:
            out[change.population or UNLABELLED][change.kind] += 1
        return {name: dict(counts) for name, counts in sorted(out.items())}

    def to_json(self) -> dict[str, Any]:
        return {
            "options": self.options.to_json(),
            "accounts": self.accounts,
            "exchanges": self.exchanges,
            "before": self.before,
            "after": self.after,
            "attack_threshold": self.attack_threshold,
            "suspicious_threshold": self.suspicious_threshold,
            "changes": [
                [c.account_id, c.before, c.after, c.risk_before, c.risk_after, c.population]
                for c in self.changes
            ],
            "labelled": self.labelled,
            "seconds": self.seconds,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> BacktestResult:
        return cls(
            options=BacktestOptions.from_json(doc["options"]),
            accounts=int(doc["accounts"]),
            exchanges=int(doc["exchanges"]),
            before={str(k): int(v) for k, v in doc["before"].items()},
            after={str(k): int(v) for k, v in doc["after"].items()},
            attack_threshold=float(doc["attack_threshold"]),
            suspicious_threshold=float(doc["suspicious_threshold"]),
            changes=tuple(
                Change(str(a), str(b), str(c), float(d), float(e), None if f is None else str(f))
                for a, b, c, d, e, f in doc["changes"]
            ),
            labelled=bool(doc["labelled"]),
            seconds=float(doc["seconds"]),
        )


def rules_without(disabled: tuple[str, ...]) -> RuleSet:
    """The shipped rule corpus minus ``disabled`` (each must be a known rule id)."""
    rules = load()
    unknown = sorted(set(disabled) - set(rules.by_id()))
    if unknown:
        raise BacktestError(f"no rule with id {', '.join(unknown)[:200]}")
    off = set(disabled)
    return RuleSet(
        tuple(r for r in rules.text if r.id not in off),
        tuple(r for r in rules.param if r.id not in off),
        tuple(r for r in rules.correlation if r.id not in off),
    )


def read_verdicts(path: Path) -> dict[str, tuple[str, float]]:
    """``accounts.csv``: account → (verdict, risk)."""
    out: dict[str, tuple[str, float]] = {}
    try:
        with path.open(newline="", encoding="utf-8") as f:
            for line, row in enumerate(csv.DictReader(f), start=2):
                try:
                    out[row["account_id"]] = (row["verdict"] or "", float(row["risk"]))
                except (KeyError, TypeError, ValueError):
                    raise BacktestError(f"{path}:{line}: no account_id, verdict or risk") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise BacktestError(f"{path}: cannot read verdicts ({exc})") from None
    return out


def read_populations(path: Path) -> dict[str, str]:
    """``labels.csv``: account → population (attack accounts are in their own population)."""
    out: dict[str, str] = {}
    try:
        with path.open(newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                account, population = row.get("account_id"), row.get("population")
                if account and population:
                    out[account] = population
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise BacktestError(f"{path}: cannot read labels ({exc})") from None
    return out


def diff(
    before: dict[str, tuple[str, float]],
    after: dict[str, tuple[str, float]],
    populations: dict[str, str] | None = None,
) -> list[Change]:
    """Accounts whose verdict differs, most affected first (flagged, released, changed),
    then by the larger of the two risks."""
    changes = []
    for account in before.keys() | after.keys():
        old, old_risk = before.get(account, (ABSENT, 0.0))
        new, new_risk = after.get(account, (ABSENT, 0.0))
        if old != new:
            population = None if populations is None else populations.get(account, UNLABELLED)
            changes.append(Change(account, old, new, old_risk, new_risk, population))
    order = {"flagged": 0, "released": 1, "changed": 2}
    changes.sort(key=lambda c: (order[c.kind], -max(c.risk_before, c.risk_after), c.account_id))
    return changes


def backtest(
    store_dir: Path,
    current_hunt_dir: Path,
    options: BacktestOptions,
    *,
    labels: Path | None = None,
    work: Path | None = None,
) -> BacktestResult:
    """Hunt ``store_dir`` with the candidate ``options`` and compare the verdicts with the
    hunt in ``current_hunt_dir``. ``labels`` defaults to ``current_hunt_dir/labels.csv``
    when there is one; the candidate's files go to ``work`` (default: a temporary folder,
    removed afterwards)."""
    options.check()
    if not (store_dir / STORE_MARKER).is_file():
        raise BacktestError(f"{store_dir}: not an exchange store (no {STORE_MARKER})")
    current = read_verdicts(current_hunt_dir / "accounts.csv")
    if labels is None and (current_hunt_dir / LABELS).is_file():
        labels = current_hunt_dir / LABELS
    populations = read_populations(labels) if labels is not None else None
    rules = rules_without(options.disabled_rules)
    out = work or Path(tempfile.mkdtemp(prefix="backtest-"))
    started = time.perf_counter()
    try:
        result = hunt(Store(store_dir), out, HuntOptions(point=options.point, rules=rules))
        candidate = read_verdicts(out / "accounts.csv")
    except BacktestError:
        raise
    except DistillguardError as exc:
        raise BacktestError(f"the candidate hunt failed: {exc}") from exc
    finally:
        if work is None:
            shutil.rmtree(out, ignore_errors=True)
    changes = diff(current, candidate, populations)
    return BacktestResult(
        options=options,
        accounts=result.accounts,
        exchanges=result.exchanges,
        before=dict(Counter(v for v, _ in current.values())),
        after=dict(Counter(v for v, _ in candidate.values())),
        attack_threshold=result.attack_threshold,
        suspicious_threshold=result.suspicious_threshold,
        changes=tuple(changes),
        labelled=populations is not None,
        seconds=round(time.perf_counter() - started, 2),
    )
