"""The fixed STIX vocabulary of distillguard's bundles: the custom observable, its
extension-definition, the artefact kinds, the opt-in sharing types, TLP and ATLAS.

Ids here are fixed uuid4 values, written once: every bundle from every version names the
same extension and the same techniques, so partners can deduplicate them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

from stix2.v21 import TLP_AMBER, TLP_GREEN, TLP_RED, TLP_WHITE

SPEC_VERSION: Final = "2.1"
ARTEFACT_TYPE: Final = "x-distillguard-artefact"
"""The custom observable: one account-level artefact as ``kind``, ``key_id`` and ``hmac``."""

EXTENSION_ID: Final = "extension-definition--1a29f7b7-bf55-4d70-9dc0-1851cac7d9c3"
AUTHOR_ID: Final = "identity--7a586187-b442-4bbf-a4a6-bf0ef13ca980"
_STAMP: Final = "2026-01-01T00:00:00.000Z"
_EXTENSION_STAMP: Final = "2026-11-29T00:00:00.000Z"  # version 1.1.0: value_key

AUTHOR: Final[Mapping[str, Any]] = {
    "type": "identity",
    "spec_version": SPEC_VERSION,
    "id": AUTHOR_ID,
    "created": _STAMP,
    "modified": _STAMP,
    "name": "distillguard",
    "identity_class": "system",
}
"""Who defines the extension: the project, not the provider that exports."""

EXTENSION: Final[Mapping[str, Any]] = {
    "type": "extension-definition",
    "spec_version": SPEC_VERSION,
    "id": EXTENSION_ID,
    "created_by_ref": AUTHOR_ID,
    "created": _STAMP,
    "modified": _EXTENSION_STAMP,
    "name": "distillguard artefact",
    "description": (
        "An account-level artefact of an API distillation campaign (payment, request "
        "harness, prompt template, system prompt, e-mail domain, client, network), shared "
        "as a keyed digest that only members of a sharing group can compute."
    ),
    "schema": (
        f"{ARTEFACT_TYPE}: kind (string, one of the artefact kinds of distillguard's "
        "docs/intel.md), key_id (string: 16 hex digits naming the sharing key), hmac "
        "(string: 64 hex digits, HMAC-SHA256 under the sharing key of kind, U+001F, value), "
        "value_key (optional string: 8 hex digits naming the key the exporter's store hashed "
        "values under; digests of hashed values match only between equal value keys)."
    ),
    "version": "1.1.0",
    "extension_types": ["new-sco"],
}

ArtefactKind = Literal[
    "payment",
    "harness",
    "template",
    "system_prompt",
    "email_domain",
    "client",
    "ip_network",
    "signup_network",
    "asn",
]
ARTEFACT_KINDS: Final[tuple[ArtefactKind, ...]] = get_args(ArtefactKind)
"""The hunt's artefact kinds that are worth sharing. ``signup_burst`` is not: a sign-up
hour on one provider says nothing on another."""
INFRASTRUCTURE_KINDS: Final = frozenset({"ip_network", "signup_network", "asn"})

ShareType = Literal["account-id", "asn", "email-domain"]
SHARE_TYPES: Final[tuple[ShareType, ...]] = ("account-id", "asn", "email-domain")
"""What may leave in the clear, each only when asked for. Raw IP addresses, prompt text,
e-mail addresses and API keys never do: the exporter reads only the store's keyed hashes."""

Tlp = Literal["clear", "green", "amber", "red"]
TLP: Final[Mapping[str, Mapping[str, Any]]] = {
    name: json.loads(marking.serialize())
    for name, marking in (
        ("clear", TLP_WHITE),
        ("green", TLP_GREEN),
        ("amber", TLP_AMBER),
        ("red", TLP_RED),
    )
}
"""The TLP marking-definitions of STIX 2.1 (TLP:CLEAR is the spec's TLP:WHITE object)."""


@dataclass(frozen=True, slots=True)
class Technique:
    id: str  # STIX id of the attack-pattern, fixed
    atlas: str  # MITRE ATLAS technique id
    name: str


ATLAS_TECHNIQUES: Final = (
    Technique(
        "attack-pattern--ecff0d13-cf0a-486f-86b1-766f05a3a667",
        "AML.T0024.002",
        "Extract AI Model",
    ),
    Technique(
        "attack-pattern--25af1d6d-21a0-435f-988b-2d64fb440c6c",
        "AML.T0005",
        "Create Proxy AI Model",
    ),
    Technique(
        "attack-pattern--01ab8683-6846-4ad8-9993-496711ec940c",
        "AML.T0005.001",
        "Train Proxy via Replication",
    ),
)
"""Model extraction through an inference API, and making a proxy model from what was
extracted (sources in docs/intel.md)."""


def attack_pattern(technique: Technique) -> dict[str, Any]:
    # No URL in the reference: strict validation wants a hash with every URL ({302}).
    return {
        "type": "attack-pattern",
        "spec_version": SPEC_VERSION,
        "id": technique.id,
        "created_by_ref": AUTHOR_ID,
        "created": _STAMP,
        "modified": _STAMP,
        "name": technique.name,
        "external_references": [
            {
                "source_name": "mitre-atlas",
                "external_id": technique.atlas,
            }
        ],
    }
