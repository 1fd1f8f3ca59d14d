"""The guard's state between requests: sliding windows, token buckets, artefact links.

Everything is bounded: windows keep one entry per active minute for an hour, buckets and
links expire when idle, and the number of keys is capped (least recently used go first).
``MemoryState`` is the default, for one guard process; ``RedisState`` (``state_redis``)
shares the same state between replicas. Both implement ``State``; the tests run one suite
over both.

Buckets: each applicable limit is a bucket per key (an account, a cluster, a payment or
harness fingerprint, an API key). ``take`` checks every bucket of a request at once and, only
if none is empty, takes one request from each (all or nothing); tokens are charged after the
response with ``charge`` (a bucket can go negative: the next request waits until it refills).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from .context import Windows

WINDOW_S: Final = 3600
MINUTE: Final = 60
IDLE_S: Final = 2 * WINDOW_S
"""Keys not touched for this long are forgotten."""
EPSILON: Final = 1e-9
"""Bucket levels this close to what is needed count as enough (refills add up in floats)."""
LINK_MIN: Final = 2
"""Accounts of one cluster that must share an artefact before it links a newcomer."""
LINK_PURITY: Final = 0.8
"""Share of an artefact's accounts that must be in that cluster."""
LINK_ARTEFACTS: Final = 2
"""Artefacts of a newcomer that must each tie it to the same cluster. The hunt links two
accounts when what they share weighs a link (``hunt.linking.LINK_THRESHOLD``); of the kinds
the guard sees, a system prompt, a template or a network alone weighs less, any two more."""


class StateError(Exception):
    """The shared state cannot be reached; the policy's ``on_state_error`` decides."""


@dataclass(frozen=True, slots=True)
class Bucket:
    """One limit applied to one key."""

    limit: str
    key: str
    requests_per_minute: float | None
    tokens_per_minute: float | None
    burst: float = 1.0


@dataclass(frozen=True, slots=True)
class Observation:
    """One served (or refused) request, for the windows and links."""

    account: str
    cluster: str | None
    extraction: bool
    artefacts: tuple[str, ...] = ()
    """Artefact keys (``kind:hash``) the request showed, for linking newcomers."""


class State(Protocol):
    async def windows(self, account: str, cluster: str | None, now: float) -> Windows: ...

    async def take(self, buckets: Sequence[Bucket], now: float) -> dict[str, float]:
        """Seconds to wait per empty bucket (by limit name); empty dict: one request taken."""
        ...

    async def charge(self, buckets: Sequence[Bucket], tokens: int, now: float) -> None: ...

    async def observe(self, seen: Observation, now: float) -> None: ...

    async def linked(self, artefacts: Sequence[str]) -> str | None:
        """The known cluster that these artefacts tie a new account to, if any."""
        ...

    async def close(self) -> None: ...


class _Window:
    """Per-minute counts over the last hour, for one account or cluster, with their running
    sums (so the hour's totals do not walk all sixty minutes on every request)."""

    __slots__ = ("accounts", "counts", "extraction", "requests")

    def __init__(self) -> None:
        self.counts: OrderedDict[int, list[int]] = OrderedDict()  # minute → [requests, extr.]
        self.accounts: OrderedDict[str, float] = OrderedDict()  # clusters: account → last seen
        self.requests = 0  # sums over ``counts``
        self.extraction = 0

    def add(self, minute: int, extraction: bool) -> None:
        counts = self.counts
        slot = counts.get(minute)
        if slot is None:
            late = bool(counts) and next(reversed(counts)) > minute
            slot = counts[minute] = [0, 0]
            if late:  # a clock that stepped back: keep the minutes in order
                self.counts = counts = OrderedDict(sorted(counts.items()))
        slot[0] += 1
        slot[1] += extraction
        self.requests += 1
        self.extraction += extraction
        self._trim(minute)

    def _trim(self, minute: int) -> None:
        oldest = minute - WINDOW_S // MINUTE
        counts = self.counts
        while counts and next(iter(counts)) <= oldest:
            n, x = counts.popitem(last=False)[1]
            self.requests -= n
            self.extraction -= x

    def totals(self, minute: int) -> tuple[int, int, int]:
        """Requests in the current minute, in the hour, and extraction requests in the hour."""
        oldest = minute - WINDOW_S // MINUTE
        hour, extraction = self.requests, self.extraction
        for m, (n, x) in self.counts.items():  # in order: the minutes out of the hour lead
            if m > oldest:
                break
            hour -= n
            extraction -= x
        last = self.counts.get(minute, (0, 0))[0]
        return last, hour, extraction


class _Lru(OrderedDict[str, object]):
    """Keys in order of last use, capped."""

    def __init__(self, cap: int) -> None:
        super().__init__()
        self.cap = cap

    def touch(self, key: str, make: type) -> object:
        value = self.get(key)
        if value is None:
            value = self[key] = make()
            while len(self) > self.cap:
                self.popitem(last=False)
        else:
            self.move_to_end(key)
        return value


class _Level:
    __slots__ = ("requests", "tokens", "updated")

    def __init__(self) -> None:
        self.requests = math.nan  # full until first seen
        self.tokens = math.nan
        self.updated = 0.0


class _Link:
    __slots__ = ("accounts",)

    def __init__(self) -> None:
        self.accounts: OrderedDict[str, str | None] = OrderedDict()  # account → cluster


def refill(level: float, rate: float | None, burst: float, elapsed: float) -> float:
    """A bucket's level after ``elapsed`` seconds at ``rate`` per minute (NaN: full)."""
    if rate is None:
        return math.inf
    cap = rate * burst
    if math.isnan(level):
        return cap
    return min(cap, level + rate * elapsed / MINUTE)


def wait(level: float, rate: float | None, need: float) -> float:
    """Seconds until ``level`` reaches ``need`` at ``rate`` per minute."""
    if rate is None or level >= need - EPSILON:
        return 0.0
    return (need - level) * MINUTE / rate


class MemoryState:
    """State in this process, bounded by ``max_keys`` per kind."""

    def __init__(self, max_keys: int = 250_000, link_accounts: int = 64) -> None:
        self._windows = _Lru(max_keys)
        self._levels = _Lru(max_keys)
        self._links = _Lru(max_keys)
        self._link_accounts = link_accounts

    async def windows(self, account: str, cluster: str | None, now: float) -> Windows:
        minute = int(now // MINUTE)
        mine = self._windows.get(f"a:{account}")
        last, hour, extraction = mine.totals(minute) if isinstance(mine, _Window) else (0, 0, 0)
        c_hour = c_accounts = 0
        if cluster is not None:
            theirs = self._windows.get(f"c:{cluster}")
            if isinstance(theirs, _Window):
                c_hour = theirs.totals(minute)[1]
                seen = theirs.accounts  # in order of last request: the stale ones lead
                while seen and next(iter(seen.values())) <= now - WINDOW_S:
                    seen.popitem(last=False)
                c_accounts = len(seen)
        return Windows(
            account_requests_1m=last,
            account_requests_1h=hour,
            account_extraction_share_1h=extraction / hour if hour else 0.0,
            cluster_requests_1h=c_hour,
            cluster_accounts_1h=c_accounts,
        )

    async def take(self, buckets: Sequence[Bucket], now: float) -> dict[str, float]:
        levels: list[tuple[Bucket, _Level]] = []
        waits: dict[str, float] = {}
        for bucket in buckets:
            level = self._levels.touch(f"{bucket.limit}\0{bucket.key}", _Level)
            assert isinstance(level, _Level)
            _refresh(level, bucket, now)
            due = max(
                wait(level.requests, bucket.requests_per_minute, 1.0),
                wait(level.tokens, bucket.tokens_per_minute, 0.0),
            )
            if due > 0:
                waits[bucket.limit] = max(due, waits.get(bucket.limit, 0.0))
            levels.append((bucket, level))
        if not waits:
            for bucket, level in levels:
                if bucket.requests_per_minute is not None:
                    level.requests -= 1.0
        return waits

    async def charge(self, buckets: Sequence[Bucket], tokens: int, now: float) -> None:
        for bucket in buckets:
            if bucket.tokens_per_minute is None:
                continue
            level = self._levels.touch(f"{bucket.limit}\0{bucket.key}", _Level)
            assert isinstance(level, _Level)
            _refresh(level, bucket, now)
            level.tokens -= tokens

    async def observe(self, seen: Observation, now: float) -> None:
        minute = int(now // MINUTE)
        mine = self._windows.touch(f"a:{seen.account}", _Window)
        assert isinstance(mine, _Window)
        mine.add(minute, seen.extraction)
        if seen.cluster is not None:
            theirs = self._windows.touch(f"c:{seen.cluster}", _Window)
            assert isinstance(theirs, _Window)
            theirs.add(minute, seen.extraction)
            theirs.accounts[seen.account] = now
            theirs.accounts.move_to_end(seen.account)
            while len(theirs.accounts) > self._link_accounts * 64:
                theirs.accounts.popitem(last=False)
        for artefact in seen.artefacts:
            link = self._links.touch(artefact, _Link)
            assert isinstance(link, _Link)
            link.accounts[seen.account] = seen.cluster
            link.accounts.move_to_end(seen.account)
            while len(link.accounts) > self._link_accounts:
                link.accounts.popitem(last=False)

    async def linked(self, artefacts: Sequence[str]) -> str | None:
        holders = []
        for artefact in artefacts:
            link = self._links.get(artefact)
            holders.append(list(link.accounts.values()) if isinstance(link, _Link) else [])
        return agreed_cluster(holders)

    async def close(self) -> None:
        return None


def _refresh(level: _Level, bucket: Bucket, now: float) -> None:
    elapsed = max(0.0, now - level.updated)
    level.requests = refill(level.requests, bucket.requests_per_minute, bucket.burst, elapsed)
    level.tokens = refill(level.tokens, bucket.tokens_per_minute, bucket.burst, elapsed)
    level.updated = max(level.updated, now)  # a clock that steps back refills nothing twice


def agreed_cluster(holders: Sequence[Sequence[str | None]]) -> str | None:
    """The cluster that at least ``LINK_ARTEFACTS`` of a newcomer's artefacts tie it to, given
    the clusters of each artefact's recent accounts."""
    votes: dict[str, int] = {}
    for clusters in holders:
        found = link_cluster(clusters)
        if found is not None:
            votes[found] = votes.get(found, 0) + 1
    best = max(votes, key=lambda c: (votes[c], c), default=None)
    return best if best is not None and votes[best] >= LINK_ARTEFACTS else None


def link_cluster(clusters: Sequence[str | None]) -> str | None:
    """The cluster an artefact ties newcomers to: shared by at least ``LINK_MIN`` of its
    accounts and held by at least ``LINK_PURITY`` of them (a busy proxy or a campus network
    whose accounts are mostly unclustered ties nobody)."""
    if not clusters:
        return None
    counts: dict[str, int] = {}
    for cluster in clusters:
        if cluster is not None:
            counts[cluster] = counts.get(cluster, 0) + 1
    if not counts:
        return None
    best = max(counts, key=lambda c: (counts[c], c))
    if counts[best] >= LINK_MIN and counts[best] >= LINK_PURITY * len(clusters):
        return best
    return None
