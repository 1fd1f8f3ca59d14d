"""Intel: share campaign indicators with other providers without leaking customer data.

Export a hunt as a STIX 2.1 bundle whose artefacts are HMAC digests under the sharing
group's key; import partners' bundles (checked whole, never half-way); let the next hunt
match them; move bundles through a TAXII 2.1 collection. See docs/intel.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import BundleError, IntelError
from .keys import KEY_ENV, SharingKey
from .vocabulary import ARTEFACT_KINDS, ARTEFACT_TYPE, EXTENSION_ID, SHARE_TYPES

if TYPE_CHECKING:
    from .export import ExportOptions, build_bundle, export_hunt
    from .hunted import Artefact, HuntedCampaign, hunted_campaigns
    from .indicators import SharedIndicator, read_indicators
    from .match import MatchReport, SharedIntel
    from .store import ImportResult, IntelStore
    from .validate import MAX_BUNDLE_BYTES, check_bundle, parse_bundle

# The rest is loaded when first named: the hunt's store and the STIX libraries take seconds
# to import, and the ``distillguard`` command imports this package for its ``intel`` commands.
_LAZY = {
    "ExportOptions": ".export",
    "build_bundle": ".export",
    "export_hunt": ".export",
    "Artefact": ".hunted",
    "HuntedCampaign": ".hunted",
    "hunted_campaigns": ".hunted",
    "SharedIndicator": ".indicators",
    "read_indicators": ".indicators",
    "MatchReport": ".match",
    "SharedIntel": ".match",
    "ImportResult": ".store",
    "IntelStore": ".store",
    "MAX_BUNDLE_BYTES": ".validate",
    "check_bundle": ".validate",
    "parse_bundle": ".validate",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)


__all__ = [
    "ARTEFACT_KINDS",
    "ARTEFACT_TYPE",
    "EXTENSION_ID",
    "KEY_ENV",
    "MAX_BUNDLE_BYTES",
    "SHARE_TYPES",
    "Artefact",
    "BundleError",
    "ExportOptions",
    "HuntedCampaign",
    "ImportResult",
    "IntelError",
    "IntelStore",
    "MatchReport",
    "SharedIndicator",
    "SharedIntel",
    "SharingKey",
    "build_bundle",
    "check_bundle",
    "export_hunt",
    "hunted_campaigns",
    "parse_bundle",
    "read_indicators",
]
