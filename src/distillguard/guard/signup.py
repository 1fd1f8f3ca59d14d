"""The sign-up check: score a new account from its registry fields against known clusters.

The reported campaigns came in through education, research and startup programs, with
shared payment methods and sign-ups in bursts from the same networks. ``SignupIndex`` holds,
for every artefact a registry row carries (payment fingerprint, sign-up network /24 or /48,
e-mail domain and its shape, program), the accounts and hunt clusters it was seen with;
``check`` scores a new row against it and recommends ``verify`` or ``allow`` with its reasons:

- ``shared_payment``: the payment instrument of an account in a risky cluster;
- ``shared_signup_network``: the sign-up network of risky-cluster accounts, and rare;
- ``shared_email_domain``: a rare e-mail domain that risky-cluster accounts used;
- ``signup_burst``: many sign-ups from one network or domain within the burst window;
- ``access_program``: an education, research or startup program, unverified (a weak prior
  that adds to the others, never enough alone).

Scores combine as a noisy-OR of the reasons' weights. Nothing here stores raw values: the
index keeps keyed hashes of the sign-up IP network, the payment fingerprint and the domain.
"""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ..errors import RecordError
from ..exchange.normalise import ip_prefix, parse_ts
from ..hashing import DEFAULT_KEY, Hasher
from .watchlist import registry_rows

RISKY: Final = 0.45
"""A cluster is risky when its highest account risk (from the hunt) reaches this."""
RARE: Final = 50
"""A network or domain shared by more accounts than this is common (a campus, a webmail)."""
BURST_WINDOW_S: Final = 3600.0
BURST_MIN: Final = 5
VERIFY_AT: Final = 0.5
PROGRAMS: Final = frozenset({"education", "research", "startup"})
WEIGHTS: Final = {
    "shared_payment": 0.9,
    "shared_signup_network": 0.45,
    "shared_email_domain": 0.45,
    "signup_burst": 0.35,
    "access_program": 0.15,
}
_BURST_KEEP: Final = 4096


class SignupError(ValueError):
    """A sign-up row is not usable; the message names the field."""


@dataclass(frozen=True, slots=True)
class SignupResult:
    score: float
    recommendation: str  # "verify" or "allow"
    reasons: tuple[str, ...]
    clusters: tuple[str, ...]
    """Risky clusters the new account shares artefacts with."""

    def to_json(self) -> dict[str, Any]:
        return {
            "score": round(self.score, 4),
            "recommendation": self.recommendation,
            "reasons": list(self.reasons),
            "clusters": list(self.clusters),
        }


@dataclass
class _Seen:
    accounts: set[str] = field(default_factory=set)
    clusters: set[str] = field(default_factory=set)


class SignupIndex:
    def __init__(self, hash_key: bytes = DEFAULT_KEY) -> None:
        self._hash = Hasher(hash_key)
        self._seen: dict[str, _Seen] = {}
        self._recent: dict[str, deque[float]] = {}

    @classmethod
    def build(
        cls,
        registry: Iterable[Mapping[str, Any]],
        clusters: Mapping[str, tuple[str, float]],
        hash_key: bytes = DEFAULT_KEY,
    ) -> SignupIndex:
        """From registry rows and the hunt's ``account → (cluster, risk)``; only clusters whose
        best risk reaches ``RISKY`` count as risky."""
        best: dict[str, float] = {}
        for cluster, risk in clusters.values():
            best[cluster] = max(risk, best.get(cluster, 0.0))
        index = cls(hash_key)
        for row in registry:
            account = row.get("account_id")
            if not isinstance(account, str):
                continue
            cluster, _ = clusters.get(account, ("", 0.0))
            risky = cluster if cluster and best.get(cluster, 0.0) >= RISKY else None
            for key in index._artefacts(row):
                seen = index._seen.setdefault(key, _Seen())
                seen.accounts.add(account)
                if risky is not None:
                    seen.clusters.add(risky)
        return index

    @classmethod
    def from_files(
        cls, registry: Path, accounts_csv: Path | None, hash_key: bytes = DEFAULT_KEY
    ) -> SignupIndex:
        """From a registry file (JSON Lines or CSV) and a hunt's ``accounts.csv``."""
        clusters: dict[str, tuple[str, float]] = {}
        if accounts_csv is not None and accounts_csv.is_file():
            with accounts_csv.open(newline="", encoding="utf-8") as f:
                for row in csv.DictReader(f):
                    if row.get("cluster_id"):
                        try:
                            clusters[row["account_id"]] = (row["cluster_id"], float(row["risk"]))
                        except (KeyError, ValueError):
                            continue
        rows = (row for _, row in registry_rows(registry, []))
        return cls.build(rows, clusters, hash_key)

    def _artefacts(self, row: Mapping[str, Any]) -> list[str]:
        out = []
        payment = row.get("payment_fingerprint")
        if isinstance(payment, str) and payment:
            out.append(f"payment:{self._hash(payment)}")
        ip = row.get("signup_ip")
        if isinstance(ip, str) and ip:
            prefix = ip_prefix(ip)
            if prefix is not None:
                out.append(f"net:{self._hash(prefix)}")
        domain = row.get("email_domain")
        if isinstance(domain, str) and domain:
            out.append(f"domain:{self._hash(domain.strip().lower())}")
        return out

    def check(self, row: Mapping[str, Any], now: float | None = None) -> SignupResult:
        """Score one new account's registry fields (``SignupError`` names a bad field)."""
        _validate(row)
        when = now if now is not None else _created(row)
        reasons: list[str] = []
        clusters: set[str] = set()
        for key in self._artefacts(row):
            kind = key.split(":", 1)[0]
            seen = self._seen.get(key)
            if seen is not None and seen.clusters:
                rare = kind == "payment" or len(seen.accounts) <= RARE
                if rare:
                    reasons.append(
                        {
                            "payment": "shared_payment",
                            "net": "shared_signup_network",
                            "domain": "shared_email_domain",
                        }[kind]
                    )
                    clusters.update(seen.clusters)
            if kind in ("net", "domain") and when is not None:
                recent = self._recent.setdefault(key, deque(maxlen=_BURST_KEEP))
                while recent and recent[0] < when - BURST_WINDOW_S:
                    recent.popleft()
                recent.append(when)
                if len(recent) >= BURST_MIN and "signup_burst" not in reasons:
                    reasons.append("signup_burst")
        program = row.get("program")
        if program in PROGRAMS and row.get("verified") is not True:
            reasons.append("access_program")
        miss = 1.0
        for reason in reasons:
            miss *= 1.0 - WEIGHTS[reason]
        score = 1.0 - miss
        reasons.sort(key=lambda r: -WEIGHTS[r])
        return SignupResult(
            score=score,
            recommendation="verify" if score >= VERIFY_AT else "allow",
            reasons=tuple(reasons),
            clusters=tuple(sorted(clusters)),
        )


_STRINGS: Final = ("account_id", "payment_fingerprint", "signup_ip", "email_domain", "program")


def _validate(row: Mapping[str, Any]) -> None:
    if not isinstance(row, Mapping):
        raise SignupError("a sign-up must be a JSON object")
    for name in _STRINGS:
        value = row.get(name)
        if value is not None and not isinstance(value, str):
            raise SignupError(f"{name}: must be a string or null")
        if isinstance(value, str) and len(value) > 512:
            raise SignupError(f"{name}: longer than 512 characters")
    verified = row.get("verified")
    if verified is not None and not isinstance(verified, bool):
        raise SignupError("verified: must be true, false or null")
    created = row.get("created_at")
    if created is not None and (not isinstance(created, str) or _created(row) is None):
        raise SignupError("created_at: must be an RFC 3339 time")


def _created(row: Mapping[str, Any]) -> float | None:
    value = row.get("created_at")
    if not isinstance(value, str):
        return None
    try:
        return parse_ts(value) / 1e6
    except RecordError:
        return None
