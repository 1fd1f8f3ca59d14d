"""One campaign as a STIX 2.1 bundle for partners, built with ``distillguard.intel``.

The bundle is the same as ``distillguard intel export`` makes for a whole hunt, cut to one
campaign: its artefacts' values are read back from the exchange store the hunt ingested
(``store/`` inside the store folder) and leave only as HMAC digests under the sharing
group's key (``$DISTILLGUARD_INTEL_KEY``). Without the key or the store there is nothing
safe to export, and the error says which is missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import DistillguardError
from ..exchange import Store
from ..exchange.store import STORE_MARKER
from ..intel import ExportOptions, HuntedCampaign, SharingKey, build_bundle
from ..intel.hunted import campaign_artefacts, store_graph
from .errors import ExportError
from .hunt_index import Campaign


def sharing_key() -> SharingKey:
    try:
        return SharingKey.from_env()
    except DistillguardError as exc:
        raise ExportError(
            "no sharing key: set DISTILLGUARD_INTEL_KEY for the console "
            "(the sharing group's key) and restart it"
        ) from exc


def campaign_bundle(
    campaign: Campaign, exchange_store: Path, key: SharingKey, options: ExportOptions
) -> dict[str, Any]:
    """The bundle of ``campaign``; raises ``ExportError`` when it cannot be built."""
    if not (exchange_store / STORE_MARKER).is_file():
        raise ExportError(
            "the hunt's exchange store is not in the store folder (store/): the artefact "
            "values to share come from it"
        )
    try:
        graph = store_graph(Store(exchange_store))
    except DistillguardError as exc:
        raise ExportError(f"cannot read the exchange store: {exc}") from exc
    artefacts = campaign_artefacts(graph, list(campaign.accounts))
    if not artefacts:
        raise ExportError(
            "nothing to share: no artefact is used by two or more of this campaign's "
            "accounts and mostly by them"
        )
    attribution = campaign.raw.get("attribution")
    actor = attribution.get("actor") if isinstance(attribution, dict) else None
    caps = campaign.raw.get("capabilities")
    hunted = HuntedCampaign(
        id=campaign.id,
        accounts=campaign.accounts,
        exchanges=campaign.exchanges,
        first_seen=campaign.first_seen or None,
        last_seen=campaign.last_seen or None,
        confidence=campaign.confidence,
        capabilities=dict(caps) if isinstance(caps, dict) else {},
        actor=str(actor) if actor else None,
        artefacts=artefacts,
    )
    try:
        return build_bundle([hunted], key, options)
    except DistillguardError as exc:
        raise ExportError(f"the bundle did not validate: {exc}") from exc
