"""The guard without HTTP: who is asking, what is known, what to do, and what to remember.

``Guard.assess`` turns one request into a ``Decision`` (identity → online signals →
watchlist and on-the-fly links → windows and token buckets → ``decide``); ``Guard.finish``
charges the tokens the response cost, updates the windows and links, and appends the
exchange to the log. The proxy, the ASGI middleware and the LiteLLM guardrail are thin
wrappers around these two calls.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Protocol

from ..errors import ConfigError
from ..hashing import DEFAULT_KEY
from ..marks.keys import Keyring, epoch_of, scope_for
from . import policy as policies
from .context import Account, Context, Signals, Windows
from .decide import Decision, applicable_limits, decide
from .online import OnlineSignals
from .policy import Policy
from .signup import SignupIndex
from .state import LINK_ARTEFACTS, Bucket, MemoryState, Observation, State, StateError
from .watchlist import Watchlist

RELOAD_EVERY_S: Final = 1.0
ANONYMOUS: Final = "anonymous"
_PUBLIC_LABEL: Final = b"distillguard/watermark-key-id"


class Log(Protocol):
    def append(self, record: Mapping[str, Any]) -> None: ...


@dataclass(slots=True)
class Assessment:
    """One request on its way through the guard."""

    record: dict[str, Any]
    """The exchange-log record so far (request side)."""
    context: Context
    decision: Decision
    buckets: list[Bucket] = field(default_factory=list)
    artefacts: tuple[str, ...] = ()
    row: Mapping[str, Any] | None = None
    """The normalised request, when its artefacts are still to be taken (in ``finish``)."""
    started: float = 0.0
    state_error: str | None = None
    watermark_key: str | None = None
    """Public id of the key the upstream embeds, when the decision watermarks."""


class _ExchangeIds:
    """Exchange ids unique across replicas and restarts: a random 64-bit prefix per process
    (drawn again in a forked child), then a counter. ``uuid4`` per request cost 2 µs."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._prefix = f"dg-{secrets.token_hex(8)}-"
        self._counter = itertools.count()

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._counter):x}"


new_exchange_id: Final = _ExchangeIds()
os.register_at_fork(after_in_child=new_exchange_id.reset)
_KEY_IDS_MAX: Final = 65_536  # watermark key ids remembered, by (keyring, scope, epoch)


def key_hash(secret: str) -> str:
    """How an API key is named in logs and key maps: its SHA-256, never the key."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


class Guard:
    def __init__(
        self,
        policy: Policy,
        *,
        policy_path: Path | None = None,
        state: State | None = None,
        log: Log | None = None,
        hash_key: bytes = DEFAULT_KEY,
        clock: Callable[[], float] = time.time,
        signals: OnlineSignals | None = None,
        keyring: Keyring | None = None,
    ) -> None:
        self.policy = policy
        self.keyring = keyring
        """Derives watermark key ids from the master secret; without one, ids come from a
        public label (stable per cluster, but no model server can turn them into keys)."""
        self.policy_path = policy_path
        self.state: State = state if state is not None else MemoryState()
        self.log = log
        self.clock = clock
        self.signals = signals if signals is not None else OnlineSignals(hash_key=hash_key)
        self.watchlist = Watchlist(policy.watchlist, policy.registry)
        self._hash_key = hash_key
        self._signup: SignupIndex | None = None
        self._signup_stamp: tuple[object, ...] = ()
        self.keys = _read_keys(policy.identity.keys)
        self._policy_stamp = _stamp(policy_path)
        self._checked = clock()
        self.reload_errors: list[str] = []
        self._key_ids: dict[tuple[Keyring | None, str, int], str] = {}

    # -- reloading ---------------------------------------------------------------------

    def reload(self) -> list[str]:
        """Reload the policy and the watchlist if their files changed. On an error the
        running policy stays in force; the errors are returned (and kept for /status)."""
        errors: list[str] = []
        stamp = _stamp(self.policy_path)
        if self.policy_path is not None and stamp != self._policy_stamp:
            try:
                fresh = policies.load(self.policy_path)
            except ConfigError as exc:
                errors.append(str(exc))
            else:
                if (fresh.watchlist, fresh.registry) != (
                    self.policy.watchlist,
                    self.policy.registry,
                ):
                    self.watchlist = Watchlist(fresh.watchlist, fresh.registry)
                if fresh.identity.keys != self.policy.identity.keys:
                    self.keys = _read_keys(fresh.identity.keys)
                self.policy = fresh
                self._policy_stamp = stamp
        errors.extend(self.watchlist.reload())
        self.reload_errors = errors
        return errors

    def _maybe_reload(self, now: float) -> None:
        if now - self._checked >= RELOAD_EVERY_S:
            self._checked = now
            self.reload()

    def signup_index(self) -> SignupIndex:
        """The sign-up index over the registry and the watchlist's hunt output, rebuilt when
        either changes."""
        policy = self.policy
        hunted = policy.watchlist / "accounts.csv" if policy.watchlist is not None else None
        stamp = (policy.registry, _stamp(policy.registry), hunted, _stamp(hunted))
        if self._signup is None or stamp != self._signup_stamp:
            if policy.registry is not None and policy.registry.is_file():
                self._signup = SignupIndex.from_files(policy.registry, hunted, self._hash_key)
            else:
                self._signup = SignupIndex(self._hash_key)
            self._signup_stamp = stamp
        return self._signup

    # -- one request -------------------------------------------------------------------

    def identify(self, headers: Mapping[str, str]) -> tuple[str, str | None]:
        """The account and the hashed API key of a request (headers with lower-case names)."""
        secret = _api_key(headers)
        hashed = key_hash(secret) if secret else None
        account = headers.get(self.policy.identity.account_header)
        if account:
            return account[:256], hashed
        if hashed is not None:
            return self.keys.get(hashed) or f"key:{hashed[:24]}", hashed
        return ANONYMOUS, None

    async def assess(
        self,
        surface: str,
        body: dict[str, Any],
        headers: Mapping[str, str],
        client_ip: str | None = None,
    ) -> Assessment:
        """Decide on one request. ``RecordError`` if the body is not a request of ``surface``."""
        now = self.clock()
        account_id, api_key = self.identify(headers)
        record: dict[str, Any] = {
            "id": new_exchange_id(),
            "ts": datetime.fromtimestamp(now, UTC).isoformat(timespec="microseconds"),
            "account_id": account_id,
            "api_key_id": api_key,
            "end_user_id": None,
            "surface": surface,
            "request": body,
            "client": {"ip": client_ip, "user_agent": headers.get("user-agent")},
        }
        return await self.assess_record(record, now)

    async def assess_record(self, record: dict[str, Any], now: float | None = None) -> Assessment:
        """Decide on a request given as an exchange-log record (its ``response`` is ignored).

        The record is what gets logged (``finish`` adds the response); replays and adapters
        that already hold the contract's fields (client, key id, end user) come in here.
        """
        now = self.clock() if now is None else now
        self._maybe_reload(now)
        started = time.perf_counter()
        account_id = str(record["account_id"])
        api_key = record.get("api_key_id")
        account = self.watchlist.account(account_id)
        # Only a request from an account no hunt has placed is linked now, by what it shares;
        # for the others the template fingerprint (the costliest signal) waits for ``finish``.
        linking = not account.known and account.cluster_id is None
        found = self.signals.of({**record, "response": None}, template=linking)
        signals = found.signals
        artefacts = _artefacts(found.row, signals.template_fp) if linking else ()
        policy = self.policy
        state_error: str | None = None
        windows = Windows()
        waits: dict[str, float] = {}
        buckets: list[Bucket] = []
        row: dict[str, Any] | None = None
        try:
            if linking and len(artefacts) >= LINK_ARTEFACTS:  # fewer can tie it to nobody
                cluster = await self.state.linked(artefacts)
                if cluster is not None:
                    account = self.watchlist.with_cluster(account, cluster, linked=True)
            windows = await self.state.windows(account_id, account.cluster_id, now)
            context = Context(account, signals, windows)
            row = context.row()
            buckets = _buckets(
                policy, context, row, api_key if isinstance(api_key, str) else None, signals
            )
            if buckets:
                waits = await self.state.take(buckets, now)
                row["throttled"] = any(wait > 0 for wait in waits.values())
        except StateError as exc:
            state_error = str(exc)
        context = Context(account, signals, windows, waits)
        if state_error is not None and policy.on_state_error == "closed":
            decision = Decision("block", rules=("state_unavailable",))
        else:
            decision = decide(policy, context, row=row)
        return Assessment(
            record=record,
            context=context,
            decision=decision,
            buckets=buckets,
            artefacts=artefacts,
            row=None if linking else found.row,
            started=started,
            state_error=state_error,
            watermark_key=self.watermark_key(account, now) if decision.watermark else None,
        )

    def watermark_key(self, account: Account, now: float) -> str:
        """The public id of the watermark key of ``account``'s cluster (or the account), in
        the key epoch of ``now``."""
        scope = scope_for(cluster_id=account.cluster_id, account_id=account.account_id)
        keyring = self.keyring
        epoch = (
            0 if keyring is None else epoch_of(datetime.fromtimestamp(now, UTC), keyring.epoch_days)
        )
        known = self._key_ids.get((keyring, scope, epoch))
        if known is None:
            if keyring is not None:
                known = keyring.key_id(scope, epoch)
            else:
                known = hmac.new(_PUBLIC_LABEL, scope.encode(), "sha256").hexdigest()[:16]
            if len(self._key_ids) >= _KEY_IDS_MAX:
                self._key_ids.clear()
            self._key_ids[keyring, scope, epoch] = known
        return known

    async def finish(
        self,
        assessment: Assessment,
        *,
        response: dict[str, Any] | None,
        status: int,
        tokens: int = 0,
        error: str | None = None,
    ) -> dict[str, Any]:
        """Charge, observe and log one exchange; returns the record that was logged."""
        now = self.clock()
        context = assessment.context
        record = assessment.record
        record["response"] = response
        record["status"] = status
        record["latency_ms"] = round((time.perf_counter() - assessment.started) * 1000, 3)
        meta: dict[str, Any] = {
            "guard": assessment.decision.to_json(),
            "rules_fired": list(context.signals.rule_ids),
            "online_score": context.signals.score,
        }
        if context.account.cluster_id is not None:
            meta["cluster_id"] = context.account.cluster_id
            meta["linked"] = context.account.linked
        if assessment.watermark_key is not None:
            meta["watermark_key"] = assessment.watermark_key
        if error is not None:
            meta["error"] = error
        if assessment.state_error is not None:
            meta["state_error"] = assessment.state_error
        record["meta"] = meta
        artefacts = assessment.artefacts
        if assessment.row is not None:
            artefacts = _artefacts(assessment.row, self.signals.template(assessment.row))
        try:
            if tokens and assessment.buckets and assessment.decision.served:
                await self.state.charge(assessment.buckets, tokens, now)
            await self.state.observe(
                Observation(
                    account=record["account_id"],
                    cluster=context.account.cluster_id,
                    extraction=context.signals.extraction,
                    artefacts=artefacts,
                ),
                now,
            )
        except StateError as exc:
            meta["state_error"] = str(exc)
        if self.log is not None:
            self.log.append(record)
        return record


def _api_key(headers: Mapping[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer " and auth[7:].strip():
        return auth[7:].strip()
    key = headers.get("x-api-key") or headers.get("api-key")
    return key.strip() if key and key.strip() else None


def _artefacts(row: Mapping[str, Any], template_fp: int | None) -> tuple[str, ...]:
    """What a request shares with others that can tie a new account to a known cluster:
    its system prompt, its prompt template and its network (hashed at normalisation)."""
    out: list[str] = []
    if row.get("system_hash") is not None:
        out.append(f"system:{row['system_hash']}")
    if template_fp is not None:
        out.append(f"template:{template_fp}")
    client = row.get("ip_prefix_hash")
    if client is not None:
        out.append(f"net:{client}")
    return tuple(out)


def _buckets(
    policy: Policy,
    context: Context,
    row: dict[str, Any],
    api_key: str | None,
    signals: Signals,
) -> list[Bucket]:
    account = context.account
    keys = {
        "account": account.account_id,
        "cluster": account.cluster_id,
        "payment": account.payment,
        "api_key": api_key,
    }
    out = []
    for limit in applicable_limits(policy, row):
        if limit.scope == "harness":
            key: str | None = hashlib.sha256(signals.harness.encode()).hexdigest()[:24]
        else:
            key = keys[limit.scope]
        if key is None:
            continue
        out.append(
            Bucket(
                limit=limit.name,
                key=f"{limit.scope}:{key}",
                requests_per_minute=limit.requests_per_minute,
                tokens_per_minute=limit.tokens_per_minute,
                burst=limit.burst,
            )
        )
    return out


def _stamp(path: Path | None) -> tuple[int, int] | None:
    if path is None:
        return None
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def _read_keys(path: Path | None) -> dict[str, str]:
    """``api_key_sha256,account_id`` lines (a header line is allowed)."""
    if path is None:
        return {}
    out: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the key map: {exc}", file=str(path)) from None
    for number, line in enumerate(lines, 1):
        if not line.strip() or (number == 1 and line.startswith("api_key")):
            continue
        digest, _, account = line.partition(",")
        digest = digest.strip().lower()
        if len(digest) != 64 or not account.strip():
            raise ConfigError("expected api_key_sha256,account_id", file=str(path), line=number)
        out[digest] = account.strip()
    return out
