"""Checking a bundle before anything trusts it: size, JSON, STIX 2.1, known types, and the
OASIS ``stix2-validator`` in strict mode with references enforced.

Every check names its place (``objects[7] (indicator--…)``) and rejects the bundle whole:
a caller imports either all of it or none of it.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from .errors import BundleError
from .vocabulary import ARTEFACT_TYPE, SPEC_VERSION

MAX_BUNDLE_BYTES: Final = 32 * 1024 * 1024
MAX_OBJECTS: Final = 100_000

STIX_TYPES: Final = frozenset(
    {
        # SDOs
        "attack-pattern", "campaign", "course-of-action", "grouping", "identity", "incident",
        "indicator", "infrastructure", "intrusion-set", "location", "malware",
        "malware-analysis", "note", "observed-data", "opinion", "report", "threat-actor",
        "tool", "vulnerability",
        # SROs and meta objects
        "relationship", "sighting", "marking-definition", "language-content",
        "extension-definition",
        # SCOs
        "artifact", "autonomous-system", "directory", "domain-name", "email-addr",
        "email-message", "file", "ipv4-addr", "ipv6-addr", "mac-addr", "mutex",
        "network-traffic", "process", "software", "url", "user-account",
        "windows-registry-key", "x509-certificate",
    }
)  # fmt: skip
"""The object types of STIX 2.1 (OASIS standard, section 4 to 7)."""
KNOWN_TYPES: Final = STIX_TYPES | {ARTEFACT_TYPE}


def _at(index: int, obj: Any) -> str:
    ident = obj.get("id") if isinstance(obj, dict) else None
    return f"objects[{index}]" + (f" ({ident})" if isinstance(ident, str) else "")


def parse_bundle(data: bytes, *, source: str) -> dict[str, Any]:
    """The bundle in ``data``, checked (see ``check_bundle``); ``BundleError`` otherwise."""
    if len(data) > MAX_BUNDLE_BYTES:
        raise BundleError(
            f"bundle is {len(data):,} bytes, more than the {MAX_BUNDLE_BYTES:,} accepted",
            source=source,
        )
    try:
        bundle = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BundleError(f"not JSON: {exc}", source=source) from None
    check_bundle(bundle, source=source)
    return dict(bundle)


def check_bundle(bundle: Any, *, source: str) -> None:
    """Reject ``bundle`` unless it is a STIX 2.1 bundle of known types that the OASIS
    validator passes with no error in strict mode."""
    if not isinstance(bundle, dict) or bundle.get("type") != "bundle":
        raise BundleError(
            "not a STIX bundle (expected an object with type 'bundle')", source=source
        )
    if "spec_version" in bundle:  # STIX 2.0 put the version on the bundle; 2.1 forbids it
        raise BundleError(
            f"STIX {bundle['spec_version']} bundle: only STIX {SPEC_VERSION} is accepted",
            source=source,
            where="spec_version",
        )
    objects = bundle.get("objects", [])
    if not isinstance(objects, list):
        raise BundleError("'objects' must be a list", source=source, where="objects")
    if len(objects) > MAX_OBJECTS:
        raise BundleError(
            f"{len(objects):,} objects, more than the {MAX_OBJECTS:,} accepted", source=source
        )
    for index, obj in enumerate(objects):
        if not isinstance(obj, dict):
            raise BundleError("not an object", source=source, where=f"objects[{index}]")
        kind = obj.get("type")
        if obj.get("spec_version", SPEC_VERSION) != SPEC_VERSION:
            raise BundleError(
                f"spec_version {obj.get('spec_version')!r}: only {SPEC_VERSION} is accepted",
                source=source,
                where=f"{_at(index, obj)} field spec_version",
            )
        if kind not in KNOWN_TYPES:
            raise BundleError(
                f"unknown object type {kind!r}",
                source=source,
                where=f"{_at(index, obj)} field type",
            )
    # Imported here: the validator's JSON Schema format checkers take seconds to load, and
    # every command that imports the intel package would pay for them.
    from stix2validator import ValidationOptions, validate_instance

    options = ValidationOptions(version=SPEC_VERSION, strict=True, enforce_refs=True, silent=True)
    result = validate_instance(bundle, options)
    if not result.is_valid:
        first = result.errors[0] if result.errors else "invalid"
        raise BundleError(
            f"fails the STIX validator: {first}", source=source, where=_where(objects, str(first))
        )


def _where(objects: list[Any], message: str) -> str | None:
    """The object an OASIS validator message is about, found by the id it quotes."""
    for index, obj in enumerate(objects):
        ident = obj.get("id") if isinstance(obj, dict) else None
        if isinstance(ident, str) and ident in message:
            return _at(index, obj)
    return None
