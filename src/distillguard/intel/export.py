"""Export: a hunt's campaigns as a STIX 2.1 bundle that partners can match and nobody can read.

One bundle holds, per campaign: a Campaign (capabilities, first and last seen, confidence),
the Intrusion-set it is attributed to when it is, ``uses`` links to the MITRE ATLAS
techniques of model extraction, one Indicator per artefact that marks it (a STIX pattern
over the ``x-distillguard-artefact`` observable holding the artefact's keyed digest, and
that observable itself), and an Infrastructure object for each network or autonomous system
it runs through. Every object carries the chosen TLP marking; SDOs carry the campaign's
confidence.

Privacy by default: values leave as HMAC digests under the sharing key. ASNs, e-mail domains
and account ids leave in the clear only when ``share`` names their type; nothing else ever
does (see ``vocabulary.SHARE_TYPES``).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import stix2

from ..exchange import Store
from .hunted import Artefact, HuntedCampaign, hunted_campaigns
from .keys import SharingKey
from .validate import check_bundle
from .vocabulary import (
    ARTEFACT_TYPE,
    ATLAS_TECHNIQUES,
    AUTHOR,
    EXTENSION,
    EXTENSION_ID,
    INFRASTRUCTURE_KINDS,
    SPEC_VERSION,
    TLP,
    ShareType,
    Tlp,
    attack_pattern,
)


@dataclass(frozen=True)
class ExportOptions:
    producer: str = "distillguard user"  # the exporting organisation, as partners see it
    tlp: Tlp = "amber"
    share: frozenset[ShareType] = frozenset()
    min_confidence: float = 0.0
    actors: Mapping[str, str] = field(default_factory=dict)  # campaign id → actor name


def _stamp(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class _Builder:
    """Collects one bundle's objects; ids come from ``new_id`` (uuid4, injectable)."""

    def __init__(
        self, key: SharingKey, options: ExportOptions, now: datetime, value_key: str | None
    ) -> None:
        self.key = key
        self.value_key = value_key
        self.options = options
        self.now = _stamp(now)
        self.marking = TLP[options.tlp]
        self.producer = f"identity--{uuid.uuid4()}"
        self.objects: list[dict[str, Any]] = [
            dict(self.marking),
            dict(AUTHOR),
            dict(EXTENSION),
            {
                "type": "identity",
                "spec_version": SPEC_VERSION,
                "id": self.producer,
                "created": self.now,
                "modified": self.now,
                "name": options.producer,
                "identity_class": "organization",
                "object_marking_refs": [self.marking["id"]],
            },
            *(attack_pattern(t) for t in ATLAS_TECHNIQUES),
        ]

    def sdo(self, object_type: str, confidence: int | None, **properties: Any) -> str:
        ident = f"{object_type}--{uuid.uuid4()}"
        obj = {
            "type": object_type,
            "spec_version": SPEC_VERSION,
            "id": ident,
            "created_by_ref": self.producer,
            "created": self.now,
            "modified": self.now,
            **properties,
            "object_marking_refs": [self.marking["id"]],
        }
        if confidence is not None:
            obj["confidence"] = confidence
        self.objects.append(obj)
        return ident

    def sco(self, object_type: str, **properties: Any) -> str:
        obj: dict[str, Any] = {
            "type": object_type,
            "spec_version": SPEC_VERSION,
            **properties,
            "object_marking_refs": [self.marking["id"]],
        }
        if object_type == ARTEFACT_TYPE:
            # An explicit uuid4 id: the validator warns {103} on the uuid5 ids STIX
            # libraries derive for custom observables, and strict mode makes that an error.
            obj["id"] = f"{object_type}--{uuid.uuid4()}"
        else:  # standard observables get their deterministic uuid5 id, as the spec asks
            obj = json.loads(stix2.parse(obj, allow_custom=False).serialize())
        self.objects.append(obj)
        return str(obj["id"])

    def relate(self, source: str, kind: str, target: str, confidence: int | None) -> None:
        self.sdo(
            "relationship",
            confidence,
            relationship_type=kind,
            source_ref=source,
            target_ref=target,
        )

    def indicator(self, a: Artefact, campaign: str, valid_from: str, confidence: int) -> str:
        """An Indicator for ``a`` (clear only where its type is opted in) and its observable."""
        share = self.options.share
        observable: str | None = None
        if a.kind == "asn" and "asn" in share:
            pattern = f"[autonomous-system:number = {int(a.value)}]"
            observable = self.sco("autonomous-system", number=int(a.value))
        elif a.kind == "email_domain" and "email-domain" in share:
            pattern = f"[domain-name:value = {_quote(a.value)}]"
            observable = self.sco("domain-name", value=a.value)
        else:
            digest = self.key.digest(a.kind, a.value)
            value_key = (
                f"{ARTEFACT_TYPE}:value_key = {_quote(self.value_key)} AND "
                if self.value_key
                else ""
            )
            pattern = (
                f"[{ARTEFACT_TYPE}:kind = {_quote(a.kind)} AND "
                f"{ARTEFACT_TYPE}:key_id = {_quote(self.key.key_id)} AND {value_key}"
                f"{ARTEFACT_TYPE}:hmac = {_quote(digest)}]"
            )
            extra = {"value_key": self.value_key} if self.value_key else {}
            observable = self.sco(
                ARTEFACT_TYPE,
                kind=a.kind,
                key_id=self.key.key_id,
                hmac=digest,
                **extra,
                extensions={EXTENSION_ID: {"extension_type": "new-sco"}},
            )
        ident = self.sdo(
            "indicator",
            confidence,
            name=f"{a.kind.replace('_', ' ')} of {campaign}",
            description=(
                f"Used by {a.accounts} accounts of the campaign, "
                f"{a.accounts_overall} accounts in all."
            ),
            indicator_types=["malicious-activity"],
            pattern=pattern,
            pattern_type="stix",
            valid_from=valid_from,
        )
        self.relate(ident, "related-to", observable, confidence)
        return ident

    def campaign(self, c: HuntedCampaign) -> None:
        confidence = round(100 * min(max(c.confidence, 0.0), 1.0))
        name = f"{self.options.producer} {c.id}"
        shares = ", ".join(f"{k} {v:.0%}" for k, v in c.capabilities.items() if v >= 0.005)
        props: dict[str, Any] = {
            "name": name,
            "description": (
                f"API distillation campaign: {len(c.accounts)} accounts, {c.exchanges} "
                f"exchanges. Capabilities: {shares or 'unknown'}."
            ),
            "objective": "extract the model's capabilities to train another model",
        }
        if c.first_seen:
            props["first_seen"] = c.first_seen
        if c.last_seen:
            props["last_seen"] = c.last_seen
        campaign = self.sdo("campaign", confidence, **props)
        for technique in ATLAS_TECHNIQUES:
            self.relate(campaign, "uses", technique.id, confidence)
        actor = self.options.actors.get(c.id) or c.actor
        if actor:
            intrusion = self.sdo("intrusion-set", confidence, name=actor)
            self.relate(campaign, "attributed-to", intrusion, confidence)
        if "account-id" in self.options.share:
            for account in c.accounts:
                self.relate(campaign, "related-to", self.sco("user-account", user_id=account), None)
        valid_from = c.first_seen or self.now
        for number, a in enumerate(c.artefacts, start=1):
            indicator = self.indicator(a, name, valid_from, confidence)
            if a.kind in INFRASTRUCTURE_KINDS:
                infra = self.sdo(
                    "infrastructure",
                    confidence,
                    name=f"{name} {a.kind.replace('_', ' ')} {number}",
                    infrastructure_types=["anonymization"],
                )
                self.relate(indicator, "indicates", infra, confidence)
                self.relate(campaign, "uses", infra, confidence)
            else:
                self.relate(indicator, "indicates", campaign, confidence)


def build_bundle(
    campaigns: list[HuntedCampaign],
    key: SharingKey,
    options: ExportOptions | None = None,
    *,
    now: datetime | None = None,
    value_key: str | None = None,
) -> dict[str, Any]:
    """The bundle of ``campaigns`` (those at ``min_confidence`` or more); checked by the
    OASIS validator before it is returned, so a bundle that leaves always validates.
    ``value_key`` is the check of the hash key the store hashed the values under
    (``Store.key_check``), carried so a partner whose store uses another key is told why
    nothing matches."""
    options = options or ExportOptions()
    builder = _Builder(key, options, now or datetime.now(UTC), value_key)
    for c in campaigns:
        if c.confidence >= options.min_confidence and c.artefacts:
            builder.campaign(c)
    bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": builder.objects}
    check_bundle(bundle, source="export")
    return bundle


def export_hunt(
    hunt_dir: Path,
    out: Path,
    key: SharingKey,
    options: ExportOptions | None = None,
    *,
    store: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Export the hunt in ``hunt_dir`` to the bundle file ``out``; returns the bundle."""
    step = progress or (lambda _: None)
    step("reading the hunt's artefacts")
    campaigns = hunted_campaigns(hunt_dir, store)
    value_key: str | None = Store(store if store is not None else hunt_dir / "store").key_check
    if not re.fullmatch(r"[0-9a-f]{8}", value_key or ""):
        value_key = None  # a store written before stores recorded their key check
    step("building and validating the bundle")
    bundle = build_bundle(campaigns, key, options, value_key=value_key)
    out.write_bytes(orjson.dumps(bundle, option=orjson.OPT_INDENT_2) + b"\n")
    return bundle
