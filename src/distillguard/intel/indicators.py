"""Reading partners' indicators out of a checked bundle.

An indicator is usable when its pattern is one of the shapes distillguard writes: the
``x-distillguard-artefact`` observable (kind, key id, digest), an autonomous system number,
or a domain name (an e-mail domain shared in the clear). Each is tied to what it indicates:
the campaign, directly or through an infrastructure the campaign uses, and the intrusion set
or threat actor the campaign is attributed to. Other patterns are valid STIX but say nothing
a hunt can match; they are counted, not imported.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from stix2patterns.v21.pattern import Pattern

from .errors import BundleError
from .vocabulary import ARTEFACT_KINDS, ARTEFACT_TYPE

_HEX64: Final = re.compile(r"[0-9a-f]{64}")
_HEX16: Final = re.compile(r"[0-9a-f]{16}")
_HEX8: Final = re.compile(r"[0-9a-f]{8}")


@dataclass(frozen=True, slots=True)
class SharedIndicator:
    """One partner indicator: a digest under ``key_id``, or a clear ``value``."""

    kind: str
    key_id: str | None
    digest: str | None
    value_key: str | None  # the exporter's store hash key check, when the bundle says
    value: str | None
    campaign: str  # the partner's campaign name
    actor: str | None
    producer: str | None
    confidence: int | None
    id: str  # the indicator's STIX id

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class Reading:
    indicators: tuple[SharedIndicator, ...]
    skipped: int  # valid indicators whose patterns no hunt can match


def _literal(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def _shape(pattern: str) -> tuple[str, dict[str, str]] | None:
    data = Pattern(pattern).inspect()
    if data.observation_ops or data.qualifiers or len(data.comparisons) != 1:
        return None
    [(kind, comparisons)] = data.comparisons.items()
    fields: dict[str, str] = {}
    for path, op, value in comparisons:
        if op != "=" or len(path) != 1 or not isinstance(path[0], str) or path[0] in fields:
            return None
        fields[path[0]] = _literal(str(value))
    return kind, fields


def _artefact(
    kind: str, fields: Mapping[str, str], where: str, source: str
) -> tuple[str, str | None, str | None, str | None, str | None] | None:
    """(kind, key id, digest, value key, clear value) of a pattern, or None when it is no
    artefact."""
    if kind == "autonomous-system" and set(fields) == {"number"} and fields["number"].isdigit():
        return "asn", None, None, None, fields["number"]
    if kind == "domain-name" and set(fields) == {"value"}:
        return "email_domain", None, None, None, fields["value"].lower()
    if kind != ARTEFACT_TYPE:
        return None
    if not {"kind", "key_id", "hmac"} <= set(fields) <= {"kind", "key_id", "hmac", "value_key"}:
        raise BundleError(
            f"{ARTEFACT_TYPE} pattern needs kind, key_id and hmac (and may have value_key), "
            f"has {sorted(fields)}",
            source=source,
            where=f"{where} field pattern",
        )
    if fields["kind"] not in ARTEFACT_KINDS:
        raise BundleError(
            f"unknown artefact kind {fields['kind']!r}", source=source, where=f"{where} pattern"
        )
    if not _HEX64.fullmatch(fields["hmac"]) or not _HEX16.fullmatch(fields["key_id"]):
        raise BundleError(
            "hmac must be 64 and key_id 16 lower-case hex digits",
            source=source,
            where=f"{where} field pattern",
        )
    value_key = fields.get("value_key")
    if value_key is not None and not _HEX8.fullmatch(value_key):
        raise BundleError(
            "value_key must be 8 lower-case hex digits", source=source, where=f"{where} pattern"
        )
    return fields["kind"], fields["key_id"], fields["hmac"], value_key, None


def read_indicators(bundle: Mapping[str, Any], *, source: str) -> Reading:
    """The usable indicators of a bundle that ``check_bundle`` passed."""
    objects: list[dict[str, Any]] = list(bundle.get("objects", []))
    by_id = {o["id"]: o for o in objects}
    targets: dict[str, list[str]] = {}
    for o in objects:
        if o["type"] == "relationship":
            targets.setdefault(o["source_ref"], []).append(o["target_ref"])
            if o["relationship_type"] == "uses":  # infrastructure → the campaign using it
                targets.setdefault(o["target_ref"], []).append(o["source_ref"])

    def linked(ident: str, types: tuple[str, ...]) -> dict[str, Any] | None:
        for target in targets.get(ident, []):
            obj = by_id.get(target)
            if obj is not None and obj["type"] in types:
                return obj
        return None

    found: list[SharedIndicator] = []
    skipped = 0
    for index, o in enumerate(objects):
        if o["type"] != "indicator" or o.get("pattern_type") != "stix":
            continue
        where = f"objects[{index}] ({o['id']})"
        shape = _shape(o["pattern"])
        artefact = _artefact(*shape, where, source) if shape else None
        target = linked(o["id"], ("campaign", "infrastructure"))
        if target is not None and target["type"] == "infrastructure":
            target = linked(target["id"], ("campaign",))
        if artefact is None or target is None:
            skipped += 1
            continue
        actor = linked(target["id"], ("intrusion-set", "threat-actor"))
        producer = by_id.get(o.get("created_by_ref", ""))
        kind, key_id, digest, value_key, value = artefact
        found.append(
            SharedIndicator(
                kind=kind,
                key_id=key_id,
                digest=digest,
                value_key=value_key,
                value=value,
                campaign=str(target.get("name", target["id"])),
                actor=str(actor["name"]) if actor else None,
                producer=str(producer["name"]) if producer else None,
                confidence=o.get("confidence"),
                id=o["id"],
            )
        )
    return Reading(tuple(found), skipped)
