"""Intel: share campaign indicators with other providers without leaking customer data.

Export a hunt as a STIX 2.1 bundle whose artefacts are HMAC digests under the sharing
group's key; import partners' bundles (checked whole, never half-way); let the next hunt
match them; move bundles through a TAXII 2.1 collection. See docs/intel.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports
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
if not TYPE_CHECKING:  # type checkers read the imports above; an unknown name stays an error
    __getattr__ = lazy_exports(
        __name__,
        {
            ".export": ("ExportOptions", "build_bundle", "export_hunt"),
            ".hunted": ("Artefact", "HuntedCampaign", "hunted_campaigns"),
            ".indicators": ("SharedIndicator", "read_indicators"),
            ".match": ("MatchReport", "SharedIntel"),
            ".store": ("ImportResult", "IntelStore"),
            ".validate": ("MAX_BUNDLE_BYTES", "check_bundle", "parse_bundle"),
        },
    )


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
