"""Matching partners' indicators against local traffic, inside a hunt.

    intel = SharedIntel.load(Path("intel"), SharingKey.from_env())
    hunt(store, out, HuntOptions(intel=intel))

The hunt's artefact values are digested under the sharing key and looked up among the
imported digests (clear ASNs and e-mail domains are compared as they are). An account that
holds a partner campaign's artefacts weighing at least the linking threshold (the hunt's own
kind weights: a payment instrument alone, or a harness and a template together) gets the
``attack`` verdict with ``INTEL_MATCH`` as its first reason, before its own traffic would
have convicted it: that is what sharing buys. Trusted accounts never do. Every campaign the
hunt then finds is attributed to the partner campaign (and its actor) it matches most.

Values under another key cannot match; ``warnings`` says so instead of finding nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..hunt.artefacts import Graph
from ..hunt.linking import KIND_WEIGHT, LINK_THRESHOLD
from ..hunt.scoring import Scores
from .indicators import SharedIndicator
from .keys import SharingKey
from .store import IntelStore, key_warnings, value_key_warnings
from .vocabulary import ARTEFACT_KINDS

log = logging.getLogger(__name__)
REASON = "INTEL_MATCH"


@dataclass
class MatchReport:
    """What the last ``apply`` did, for the command line and tests."""

    artefacts: int = 0  # local artefacts matched
    accounts: int = 0  # accounts matched strongly enough to convict
    convicted: int = 0  # of which were not attack by their own traffic
    campaigns: list[str] = field(default_factory=list)  # partner campaigns matched


class SharedIntel:
    """Imported indicators and the sharing key to match them with."""

    def __init__(self, indicators: Sequence[SharedIndicator], key: SharingKey) -> None:
        self._key = key
        self._digests: dict[tuple[str, str], list[SharedIndicator]] = {}
        self._clear: dict[tuple[str, str], list[SharedIndicator]] = {}
        for i in indicators:
            if i.digest is not None and i.key_id == key.key_id:
                self._digests.setdefault((i.kind, i.digest), []).append(i)
            elif i.value is not None:
                self._clear.setdefault((i.kind, i.value), []).append(i)
        self.indicators = len(indicators)
        self._indicators = tuple(indicators)
        self.warnings = key_warnings(tuple(indicators), key)
        self.report = MatchReport()

    @classmethod
    def load(cls, root: Path, key: SharingKey) -> SharedIntel:
        return cls(IntelStore(root).indicators(), key)

    def matches(self, graph: Graph) -> dict[int, list[SharedIndicator]]:
        """Partner indicators held by each of the graph's artefacts (artefact index → list)."""
        found: dict[int, list[SharedIndicator]] = {}
        for j, (kind, value) in enumerate(zip(graph.kinds, graph.values, strict=True)):
            if kind not in ARTEFACT_KINDS:
                continue
            hits = self._clear.get((kind, value), [])
            if self._digests:
                hits = hits + self._digests.get((kind, self._key.digest(kind, value)), [])
            if hits:
                found[j] = hits
        return found

    def apply(
        self,
        graph: Graph,
        scores: Scores,
        attack: npt.NDArray[np.bool_],
        trusted: npt.NDArray[np.bool_],
        cluster: npt.NDArray[np.int64],
        *,
        value_key: str | None = None,
    ) -> list[dict[str, Any]]:
        """Convict the accounts that partners' indicators tie to a campaign (``attack`` and
        ``scores`` are updated in place) and return those indicators in the hunt's
        known-indicator form, with local values, for the campaigns' attribution.

        A campaign is made of linked accounts, so only an account in a cluster (``cluster``
        at least 0) becomes ``attack``; a matched account linked to nobody yet becomes
        ``suspicious``, with the same reason, until its partners show up."""
        if value_key is not None:
            self.warnings = [*self.warnings, *value_key_warnings(self._indicators, value_key)]
        for warning in self.warnings:
            log.warning("shared intel: %s", warning)
        found = self.matches(graph)
        self.report = MatchReport(artefacts=len(found))
        if not found:
            return []
        held: dict[tuple[int, str], set[str]] = {}  # (account, partner campaign) → kinds
        partner: dict[str, SharedIndicator] = {}
        holders_of = {j: graph.account[graph.artefact == j].tolist() for j in found}
        for j, hits in found.items():
            for i in hits:
                partner.setdefault(i.campaign, i)
                for account in holders_of[j]:
                    held.setdefault((account, i.campaign), set()).add(graph.kinds[j])
        # Only what an account holds strongly enough counts: one shared e-mail domain or
        # network alone neither convicts nor attributes.
        strong_pairs = {
            pair
            for pair, kinds in held.items()
            if sum(KIND_WEIGHT.get(k, 0.3) for k in kinds) >= LINK_THRESHOLD
        }
        strong = sorted({account for account, _ in strong_pairs})
        entries: dict[str, dict[str, Any]] = {}
        for j, hits in found.items():
            holders = holders_of[j]
            for name in sorted({i.campaign for i in hits}):
                if not any((account, name) in strong_pairs for account in holders):
                    continue
                entry = entries.setdefault(
                    name,
                    {
                        "actor": partner[name].actor,
                        "source": f"shared intel: {name}",
                        "indicators": [],
                    },
                )
                entry["indicators"].append({"kind": graph.kinds[j], "value": graph.values[j]})
        for account in strong:
            if trusted[account]:
                continue
            self.report.accounts += 1
            if not attack[account] and cluster[account] >= 0:
                self.report.convicted += 1
                attack[account] = True
                scores.verdict[account] = "attack"
            elif not attack[account]:
                scores.verdict[account] = "suspicious"
            reasons = scores.reasons[account]
            scores.reasons[account] = [REASON, *(r for r in reasons if r != REASON)]
        self.report.campaigns = sorted(entries)
        return list(entries.values())
