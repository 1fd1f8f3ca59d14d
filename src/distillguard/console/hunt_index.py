"""A hunt's output held in memory: campaigns ranked once, accounts by opaque key.

Loaded when the console starts and again when ``accounts.csv`` or ``campaigns.json``
change, so a page request filters a ready list instead of reading files. Account ids never
appear in URLs: each account is addressed by a keyed hash (keyed BLAKE2b under a key derived
from the store's secret), which cannot be reversed or guessed from an account id without
the secret.
"""

from __future__ import annotations

import csv
import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ..errors import InputError
from ..guard.watchlist import file_stamps
from ..hunt.report import read_campaigns
from ..types import ACCOUNTS_CSV_COLUMNS
from .errors import StoreError

ACCOUNTS: Final = "accounts.csv"
CAMPAIGNS: Final = "campaigns.json"
NOTABLE_SHARE: Final = 0.25
"""A campaign shows a capability when at least this share of its exchanges do."""


@dataclass(frozen=True, slots=True)
class AccountRow:
    key: str
    account_id: str
    risk: float
    verdict: str
    cluster_id: str
    campaign_id: str
    exchanges: int
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Campaign:
    id: str
    risk: float
    confidence: float
    exchanges: int
    accounts: tuple[str, ...]
    clusters: tuple[str, ...]
    capabilities: tuple[tuple[str, float], ...]
    reasons: tuple[str, ...]
    first_seen: str
    last_seen: str
    raw: dict[str, Any] = field(repr=False)

    @property
    def notable(self) -> tuple[str, ...]:
        return tuple(name for name, share in self.capabilities if share >= NOTABLE_SHARE)


def account_key(key: bytes, account_id: str) -> str:
    """The opaque id of an account in URLs: a keyed BLAKE2b (a MAC under ``key``)."""
    data = account_id.encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, key=key, digest_size=12).hexdigest()


def _number(value: object, default: float = 0.0) -> float:
    return (
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default
    )


def _campaign(raw: dict[str, Any], where: str) -> Campaign:
    ident = raw.get("id")
    if not isinstance(ident, str) or not ident:
        raise StoreError(f"{where}: campaign without an id")
    caps = raw.get("capabilities")
    shares = (
        sorted(((str(k), _number(v)) for k, v in caps.items()), key=lambda kv: -kv[1])
        if isinstance(caps, dict)
        else []
    )
    score = raw.get("score")
    confidence = _number(raw.get("confidence"))
    risk = _number(score.get("risk"), confidence) if isinstance(score, dict) else confidence

    def strings(name: str) -> tuple[str, ...]:
        value = raw.get(name)
        return tuple(str(v) for v in value) if isinstance(value, list) else ()

    return Campaign(
        id=ident,
        risk=risk,
        confidence=confidence,
        exchanges=int(_number(raw.get("exchanges"))),
        accounts=strings("accounts"),
        clusters=strings("clusters"),
        capabilities=tuple(shares),
        reasons=strings("reasons"),
        first_seen=str(raw.get("first_seen") or ""),
        last_seen=str(raw.get("last_seen") or ""),
        raw=raw,
    )


class HuntIndex:
    """One hunt output, read once."""

    def __init__(self, folder: Path, key: bytes) -> None:
        self.folder = folder
        self._key = key
        self.stamp = self.stamps(folder)
        self.campaigns: list[Campaign] = []
        self.by_campaign: dict[str, Campaign] = {}
        self.accounts: dict[str, AccountRow] = {}
        self.by_key: dict[str, AccountRow] = {}
        self.reason_counts: Counter[str] = Counter()
        self.reason_by_verdict: dict[str, Counter[str]] = defaultdict(Counter)
        self.operating_point: dict[str, Any] = {}
        self._read_campaigns(folder / CAMPAIGNS)
        self._read_accounts(folder / ACCOUNTS)
        self.campaigns.sort(key=lambda c: (-c.risk, -c.exchanges, c.id))
        # For the rules and forensics pages: counted once here, not on every request.
        self.campaign_reason_counts: Counter[str] = Counter()
        self.by_cluster: dict[str, Campaign] = {}
        for campaign in self.campaigns:
            self.campaign_reason_counts.update(set(campaign.reasons))
            for cluster in campaign.clusters:
                self.by_cluster.setdefault(cluster, campaign)

    @staticmethod
    def stamps(folder: Path) -> tuple[tuple[int, int], ...]:
        return file_stamps(folder / name for name in (ACCOUNTS, CAMPAIGNS))

    def key_of(self, account_id: str) -> str:
        return account_key(self._key, account_id)

    def _read_campaigns(self, path: Path) -> None:
        if not path.exists():
            return
        try:
            document = read_campaigns(path)  # the hunt report's reader: checked, or refused
        except InputError as exc:
            raise StoreError(str(exc)) from None
        point = document.get("operating_point")
        self.operating_point = point if isinstance(point, dict) else {}
        for i, raw in enumerate(document["campaigns"]):
            campaign = _campaign(raw, f"{path}: campaigns[{i}]")
            self.campaigns.append(campaign)
            self.by_campaign[campaign.id] = campaign

    def _read_accounts(self, path: Path) -> None:
        if not path.exists():
            return
        try:
            with path.open(newline="", encoding="utf-8") as f:
                reader = csv.DictReader(f)
                missing = set(ACCOUNTS_CSV_COLUMNS) - set(reader.fieldnames or ())
                if missing:
                    raise StoreError(f"{path}: header lacks {', '.join(sorted(missing))}")
                for row in reader:
                    self._add_account(row, f"{path}:{reader.line_num}")
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise StoreError(f"{path}: cannot read accounts ({exc})") from None

    def _add_account(self, row: dict[str, str], where: str) -> None:
        try:
            risk, exchanges = float(row["risk"]), int(row["exchanges"] or 0)
        except (TypeError, ValueError):
            raise StoreError(f"{where}: risk or exchanges is not a number") from None
        reasons = tuple(code for code in (row["reasons"] or "").split(";") if code)
        account = AccountRow(
            key=self.key_of(row["account_id"]),
            account_id=row["account_id"],
            risk=risk,
            verdict=row["verdict"] or "",
            cluster_id=row["cluster_id"] or "",
            campaign_id=row["campaign_id"] or "",
            exchanges=exchanges,
            reasons=reasons,
        )
        self.accounts[account.account_id] = account
        self.by_key[account.key] = account
        self.reason_counts.update(reasons)
        self.reason_by_verdict[account.verdict].update(reasons)

    def accounts_of(self, campaign: Campaign) -> list[AccountRow]:
        """The campaign's accounts that ``accounts.csv`` knows, riskiest first."""
        rows = [self.accounts[a] for a in campaign.accounts if a in self.accounts]
        return sorted(rows, key=lambda a: (-a.risk, -a.exchanges, a.key))

    def select(
        self,
        states: dict[str, str],
        *,
        state: str | None = None,
        capability: str | None = None,
    ) -> list[Campaign]:
        """Campaigns in rank order, filtered by case state and notable capability."""
        out = self.campaigns
        if state:
            out = [c for c in out if states.get(c.id, "new") == state]
        if capability:
            out = [c for c in out if capability in c.notable]
        return out


class LiveIndex:
    """The current ``HuntIndex``, replaced when the hunt's files change.

    Files that fail to load (a hunt half way through writing them, say) leave the previous
    index in force; ``error`` says why until a later load succeeds.
    """

    def __init__(self, folder: Path, key: bytes) -> None:
        self.folder = folder
        self._key = key
        self._index = HuntIndex(folder, key)
        self._failed: tuple[tuple[int, int], ...] = ()
        self.error: str | None = None

    def get(self) -> HuntIndex:
        stamp = HuntIndex.stamps(self.folder)
        if stamp != self._index.stamp and stamp != self._failed:
            try:
                self._index, self.error = HuntIndex(self.folder, self._key), None
            except StoreError as exc:
                self._failed, self.error = stamp, str(exc)
        return self._index
