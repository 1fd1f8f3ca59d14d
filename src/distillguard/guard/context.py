"""What the guard knows about one request when it decides: the names a policy may use.

A ``Context`` is built per request from four sources and then frozen:

- the **request** (online signals from the rule files: intents, parameter patterns,
  capability, an online score);
- the **account** (the hunt's verdict and risk, its cluster and campaign, an analyst's
  watchlist entry, the registry's program / verification / trust);
- **windows** over recent traffic (requests and extraction share of the account and its
  cluster);
- **limits**: which token buckets are empty, and for how long.

``row()`` gives the flat mapping that policy conditions are evaluated on; ``NAMES`` is the
set of names a policy may use (a policy naming anything else does not load).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from ..signals.groups import PARAM_GROUPS
from ..signals.rules import INTENTS
from ..types import CAPABILITIES

PARAMS: Final = tuple(PARAM_GROUPS)

_ACCOUNT: Final = (
    "account_known",  # the account is in the watchlist (a hunt has seen it)
    "verdict",  # attack | suspicious | benign | unknown
    "risk",
    "cluster_risk",
    "in_cluster",
    "in_campaign",
    "campaign_exchanges",
    "campaign_confidence",
    "linked",  # tied to a known cluster on the fly by two shared artefacts
    "watch",  # an analyst's action for the account or its cluster, or null
    "program",
    "verified",
    "trusted",
)
_REQUEST: Final = (
    "surface",
    "model",
    "stream",
    "capability",
    "online_score",
    "extraction",  # any intent or parameter pattern fired on this request
)
_WINDOWS: Final = (
    "account_requests_1m",
    "account_requests_1h",
    "account_extraction_share_1h",
    "cluster_requests_1h",
    "cluster_accounts_1h",
)
NAMES: Final = frozenset(
    (
        *_ACCOUNT,
        *_REQUEST,
        *_WINDOWS,
        *(f"intent_{name}" for name in INTENTS),
        *(f"param_{name}" for name in PARAMS),
        *(f"cap_{name}" for name in CAPABILITIES),
        "throttled",  # some applicable token bucket is empty
        "always",
        "never",
    )
)


@dataclass(frozen=True, slots=True)
class Account:
    """What is known about the account before this request."""

    account_id: str
    known: bool = False
    verdict: str = "unknown"
    risk: float = 0.0
    cluster_id: str | None = None
    cluster_risk: float = 0.0
    campaign_id: str | None = None
    campaign_exchanges: int = 0
    """Exchanges the hunt has seen from the account's campaign: how much evidence it rests on."""
    campaign_confidence: float = 0.0
    linked: bool = False
    watch: str | None = None
    program: str | None = None
    verified: bool | None = None
    trusted: bool = False
    payment: str | None = None
    """Payment fingerprint (hashed), for per-payment limits."""


@dataclass(frozen=True, slots=True)
class Signals:
    """What the rule files find in this request (``online.request_signals``)."""

    surface: str
    model: str | None
    stream: bool
    intents: frozenset[str] = frozenset()
    params: frozenset[str] = frozenset()
    capabilities: frozenset[str] = frozenset()
    capability: str = "other"
    rule_ids: tuple[str, ...] = ()
    harness: str = ""
    template_fp: int | None = None
    """``None`` also when the guard left it for after the response (see ``Guard.assess``)."""
    score: float = 0.0

    @property
    def extraction(self) -> bool:
        return bool(self.intents or self.params)


@dataclass(frozen=True, slots=True)
class Windows:
    account_requests_1m: int = 0
    account_requests_1h: int = 0
    account_extraction_share_1h: float = 0.0
    cluster_requests_1h: int = 0
    cluster_accounts_1h: int = 0


@dataclass(frozen=True, slots=True)
class Context:
    account: Account
    signals: Signals
    windows: Windows = field(default_factory=Windows)
    waits: Mapping[str, float] = field(default_factory=dict)
    """Seconds until each applicable, empty token bucket (by limit name) allows a request."""

    def row(self) -> dict[str, Any]:
        a, s, w = self.account, self.signals, self.windows
        row: dict[str, Any] = {
            "account_known": a.known,
            "verdict": a.verdict,
            "risk": a.risk,
            "cluster_risk": a.cluster_risk,
            "in_cluster": a.cluster_id is not None,
            "in_campaign": a.campaign_id is not None,
            "campaign_exchanges": a.campaign_exchanges,
            "campaign_confidence": a.campaign_confidence,
            "linked": a.linked,
            "watch": a.watch,
            "program": a.program,
            "verified": a.verified,
            "trusted": a.trusted,
            "surface": s.surface,
            "model": s.model,
            "stream": s.stream,
            "capability": s.capability,
            "online_score": s.score,
            "extraction": s.extraction,
            "account_requests_1m": w.account_requests_1m,
            "account_requests_1h": w.account_requests_1h,
            "account_extraction_share_1h": w.account_extraction_share_1h,
            "cluster_requests_1h": w.cluster_requests_1h,
            "cluster_accounts_1h": w.cluster_accounts_1h,
            "throttled": any(wait > 0 for wait in self.waits.values()),
            "always": True,
            "never": False,
        }
        for name, column in _INTENT_COLUMNS:
            row[column] = name in s.intents
        for name, column in _PARAM_COLUMNS:
            row[column] = name in s.params
        for name, column in _CAP_COLUMNS:
            row[column] = name in s.capabilities
        return row


_INTENT_COLUMNS: Final = tuple((name, f"intent_{name}") for name in INTENTS)
_PARAM_COLUMNS: Final = tuple((name, f"param_{name}") for name in PARAMS)
_CAP_COLUMNS: Final = tuple((name, f"cap_{name}") for name in CAPABILITIES)
