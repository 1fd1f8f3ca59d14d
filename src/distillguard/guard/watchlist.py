"""What the hunt, the analysts and the registry know about accounts, reloaded on change.

Two sources, both optional, in one folder (the policy's ``watchlist``):

``accounts.csv``
    A hunt's output (contract section 4): verdict, risk, cluster and campaign per account.
    A cluster's risk is the highest risk among its accounts.
``campaigns.json``
    The same hunt's campaigns: how many exchanges and what confidence each rests on.
``watchlist.jsonl``
    An analyst's decisions, one JSON object per line:
    ``{"scope": "account" | "cluster" | "campaign", "id": "...", "action": "block"}``
    with ``action`` one of allow, degrade, throttle, verify, block. An account's own entry
    wins over its cluster's, which wins over its campaign's.

The account registry (contract section 2, JSON Lines or CSV; the policy's ``registry``) adds
each account's access program, verification, trust and (hashed) payment fingerprint.

A file that fails to load leaves the previous contents in force (``reload`` returns the
errors); lines that are wrong are skipped and counted, with file and line.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import orjson

from ..types import ACCOUNTS_CSV_COLUMNS, VERDICTS
from .context import Account

ACCOUNTS: Final = "accounts.csv"
ENTRIES: Final = "watchlist.jsonl"
CAMPAIGNS: Final = "campaigns.json"
MAX_CAMPAIGNS_BYTES: Final = 512 * 1024 * 1024
WATCH_ACTIONS: Final = ("allow", "degrade", "throttle", "verify", "block")
SCOPES: Final = ("account", "cluster", "campaign")
MAX_LINE: Final = 64 * 1024
CACHE_ENTRIES: Final = 200_000


def file_stamps(paths: Iterable[Path]) -> tuple[tuple[int, int], ...]:
    """(modification time in ns, size) of each file, (0, -1) for one that is missing: equal
    stamps mean nothing to reload."""
    out = []
    for path in paths:
        try:
            st = path.stat()
            out.append((st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((0, -1))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Known:
    verdict: str
    risk: float
    cluster_id: str | None
    campaign_id: str | None


@dataclass(frozen=True, slots=True)
class Registered:
    program: str | None
    verified: bool | None
    trusted: bool
    payment: str | None


@dataclass(slots=True)
class Snapshot:
    accounts: dict[str, Known] = field(default_factory=dict)
    cluster_risk: dict[str, float] = field(default_factory=dict)
    cluster_campaign: dict[str, str] = field(default_factory=dict)
    watch: dict[tuple[str, str], str] = field(default_factory=dict)
    registry: dict[str, Registered] = field(default_factory=dict)
    campaigns: dict[str, tuple[int, float]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


class Watchlist:
    def __init__(self, folder: Path | None, registry: Path | None = None) -> None:
        self.folder = folder
        self.registry = registry
        self._stamp: tuple[tuple[int, int], ...] = ()
        self._now = Snapshot()
        self._accounts: dict[str, Account] = {}
        self.errors: list[str] = []
        self.reload()

    @property
    def size(self) -> int:
        return len(self._now.accounts) + len(self._now.watch)

    @property
    def problems(self) -> list[str]:
        return list(self._now.problems)

    def _stamps(self) -> tuple[tuple[int, int], ...]:
        names = (ACCOUNTS, ENTRIES, CAMPAIGNS)
        paths = [] if self.folder is None else [self.folder / name for name in names]
        if self.registry is not None:
            paths.append(self.registry)
        return file_stamps(paths)

    def changed(self) -> bool:
        return self._stamps() != self._stamp

    def reload(self, *, force: bool = False) -> list[str]:
        """Load the files again if they changed; the errors that kept the old contents."""
        stamp = self._stamps()
        if not force and stamp == self._stamp:
            return []
        try:
            fresh = _load(self.folder, self.registry)
        except (OSError, ValueError) as exc:
            self.errors = [str(exc)]
            return self.errors
        self._now, self._stamp, self.errors = fresh, stamp, []
        self._accounts.clear()
        return []

    def account(self, account_id: str) -> Account:
        """What is known about an account (remembered until the next reload)."""
        found = self._accounts.get(account_id)
        if found is None:
            if len(self._accounts) >= CACHE_ENTRIES:
                self._accounts.clear()
            found = self._accounts[account_id] = self._account(account_id)
        return found

    def _account(self, account_id: str) -> Account:
        known = self._now.accounts.get(account_id)
        account = Account(account_id, watch=self._now.watch.get(("account", account_id)))
        row = self._now.registry.get(account_id)
        if row is not None:
            account = replace(
                account,
                program=row.program,
                verified=row.verified,
                trusted=row.trusted,
                payment=row.payment,
            )
        if known is None:
            return account
        evidence = self._now.campaigns.get(known.campaign_id or "", (0, 0.0))
        account = replace(
            account,
            known=True,
            verdict=known.verdict,
            risk=known.risk,
            campaign_id=known.campaign_id,
            campaign_exchanges=evidence[0],
            campaign_confidence=evidence[1],
        )
        return self.with_cluster(account, known.cluster_id)

    def with_cluster(
        self, account: Account, cluster_id: str | None, *, linked: bool = False
    ) -> Account:
        """``account`` placed in ``cluster_id`` (from the hunt, or linked on the fly)."""
        watch = self._now.watch
        entry = (
            watch.get(("account", account.account_id))
            or (watch.get(("cluster", cluster_id)) if cluster_id else None)
            or (watch.get(("campaign", account.campaign_id)) if account.campaign_id else None)
        )
        placed = replace(
            account,
            cluster_id=cluster_id,
            cluster_risk=self._now.cluster_risk.get(cluster_id, 0.0) if cluster_id else 0.0,
            linked=linked,
            watch=entry,
        )
        if linked and cluster_id:
            # A newcomer carries the evidence of the campaign its cluster belongs to.
            campaign = self._now.cluster_campaign.get(cluster_id)
            exchanges, confidence = self._now.campaigns.get(campaign or "", (0, 0.0))
            placed = replace(placed, campaign_exchanges=exchanges, campaign_confidence=confidence)
        return placed


def _load(folder: Path | None, registry: Path | None) -> Snapshot:
    snap = Snapshot()
    if registry is not None:
        _read_registry(registry, snap)
    if folder is None:
        return snap
    accounts = folder / ACCOUNTS
    if accounts.exists():
        _read_accounts(accounts, snap)
    entries = folder / ENTRIES
    if entries.exists():
        _read_entries(entries, snap)
    campaigns = folder / CAMPAIGNS
    if campaigns.exists():
        _read_campaigns(campaigns, snap)
    return snap


def _read_campaigns(path: Path, snap: Snapshot) -> None:
    if path.stat().st_size > MAX_CAMPAIGNS_BYTES:
        raise ValueError(f"{path}: over {MAX_CAMPAIGNS_BYTES} bytes")
    try:
        document = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from None
    campaigns = document.get("campaigns") if isinstance(document, dict) else None
    if not isinstance(campaigns, list):
        raise ValueError(f"{path}: no campaigns list")
    for i, campaign in enumerate(campaigns):
        if not isinstance(campaign, dict):
            snap.problems.append(f"{path}: campaigns[{i}] is not an object")
            continue
        ident, exchanges = campaign.get("id"), campaign.get("exchanges")
        confidence = campaign.get("confidence")
        if (
            not isinstance(ident, str)
            or not isinstance(exchanges, int)
            or not isinstance(confidence, int | float)
        ):
            snap.problems.append(f"{path}: campaigns[{i}] lacks id, exchanges or confidence")
            continue
        snap.campaigns[ident] = (exchanges, float(confidence))


def registry_rows(path: Path, problems: list[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows of the account registry, JSON Lines or CSV (by the file's first byte), with their
    line; unreadable lines are named in ``problems``. CSV flags become booleans."""
    with path.open("rb") as f:
        first = f.read(1)
    if first == b"{":
        with path.open("rb") as f:
            for line, raw in enumerate(f, 1):
                try:
                    value = orjson.loads(raw) if raw.strip() else None
                except orjson.JSONDecodeError:
                    problems.append(f"{path}:{line}: not JSON")
                    continue
                if isinstance(value, dict):
                    yield line, value
    else:
        with path.open(newline="", encoding="utf-8", errors="replace") as f:
            reader = csv.DictReader(f)
            for row in reader:
                cells: dict[str, Any] = dict(row)
                for name in ("verified", "trusted"):
                    cells[name] = _flag(cells.get(name))
                yield reader.line_num, cells


def _read_registry(path: Path, snap: Snapshot) -> None:
    for line, row in registry_rows(path, snap.problems):
        account = row.get("account_id")
        if not isinstance(account, str) or not account:
            snap.problems.append(f"{path}:{line}: no account_id")
            continue
        program, payment = row.get("program"), row.get("payment_fingerprint")
        snap.registry[account] = Registered(
            program=program if isinstance(program, str) and program else None,
            verified=_flag(row.get("verified")),
            trusted=_flag(row.get("trusted")) is True,
            payment=payment if isinstance(payment, str) and payment else None,
        )


def _flag(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    return None


def _read_accounts(path: Path, snap: Snapshot) -> None:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = set(ACCOUNTS_CSV_COLUMNS[:5]) - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: header lacks {', '.join(sorted(missing))}")
        for row in reader:
            line = reader.line_num
            try:
                risk = float(row["risk"])
            except (TypeError, ValueError):
                snap.problems.append(f"{path}:{line}: risk {row.get('risk')!r} is not a number")
                continue
            verdict = row.get("verdict") or ""
            if verdict not in VERDICTS or not 0.0 <= risk <= 1.0:
                snap.problems.append(f"{path}:{line}: verdict or risk out of range")
                continue
            cluster = row.get("cluster_id") or None
            snap.accounts[row["account_id"]] = Known(
                verdict, risk, cluster, row.get("campaign_id") or None
            )
            if cluster is not None:
                snap.cluster_risk[cluster] = max(risk, snap.cluster_risk.get(cluster, 0.0))
                if row.get("campaign_id"):
                    snap.cluster_campaign.setdefault(cluster, row["campaign_id"])


def _read_entries(path: Path, snap: Snapshot) -> None:
    with path.open("rb") as f:
        for line, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            where = f"{path}:{line}"
            if len(raw) > MAX_LINE:
                snap.problems.append(f"{where}: line over {MAX_LINE} bytes")
                continue
            try:
                entry = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                snap.problems.append(f"{where}: not JSON ({exc})")
                continue
            if not isinstance(entry, dict):
                snap.problems.append(f"{where}: not an object")
                continue
            scope, ident, action = entry.get("scope"), entry.get("id"), entry.get("action")
            if scope not in SCOPES or not isinstance(ident, str) or action not in WATCH_ACTIONS:
                snap.problems.append(
                    f"{where}: needs scope ({'/'.join(SCOPES)}), id and action "
                    f"({'/'.join(WATCH_ACTIONS)})"
                )
                continue
            snap.watch[(scope, ident)] = action  # later lines win
