"""Moving bundles through a TAXII 2.1 collection: ``push`` a bundle's objects, ``pull`` a
collection's objects into the intel store.

    collection = open_collection("https://taxii.example/taxii2/", "distillation", auth)
    push(collection, bundle)
    pull(collection, IntelStore(Path("intel")), key=key)

A pulled collection is checked like any imported file, as one bundle, and kept only whole.
The client is ``taxii2-client``; every failure it reports becomes an ``IntelError`` naming
the server.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import orjson
import requests
from taxii2client.exceptions import TAXIIServiceException
from taxii2client.v21 import Collection, Server, as_pages

from .errors import IntelError
from .keys import SharingKey
from .store import ImportResult, IntelStore
from .validate import MAX_OBJECTS
from .vocabulary import EXTENSION, EXTENSION_ID

PAGE: Final = 500
PULLED: Final = "taxii-pulled.json"  # collection URL → the bundle id it is stored as
TIMEOUT_S: Final = 60


@dataclass(frozen=True)
class TaxiiAuth:
    user: str | None = None
    password: str | None = field(default=None, repr=False)


@contextmanager
def _talking_to(url: str) -> Iterator[None]:
    try:
        yield
    except (TAXIIServiceException, requests.RequestException) as exc:
        raise IntelError(f"TAXII server {url}: {exc}") from None


def open_collection(discovery: str, collection: str, auth: TaxiiAuth | None = None) -> Collection:
    """The collection whose id or title is ``collection``, found from the server's
    discovery URL (``…/taxii2/``) through its API roots."""
    auth = auth or TaxiiAuth()
    with _talking_to(discovery):
        server = Server(discovery, user=auth.user, password=auth.password)
        seen = []
        for root in server.api_roots:
            for candidate in root.collections:
                if collection in (candidate.id, candidate.title):
                    return candidate
                seen.append(candidate.title or candidate.id)
    raise IntelError(
        f"TAXII server {discovery}: no collection {collection!r} "
        f"(found: {', '.join(seen) or 'none'})"
    )


@dataclass(frozen=True, slots=True)
class PushResult:
    objects: int  # sent
    succeeded: int
    failed: int
    present: int  # already in the collection, not sent again


def push(collection: Collection, bundle: dict[str, Any]) -> PushResult:
    """Add ``bundle``'s objects to ``collection`` and wait until the server has them all.

    Objects the collection already holds (the TLP marking, the ATLAS attack-patterns, a
    bundle pushed twice) are not sent again: a server may refuse a version it has."""
    with _talking_to(collection.url):
        present = {
            entry["id"]
            for page in as_pages(collection.get_manifest, per_request=PAGE)
            for entry in page.get("objects", [])
        }
    # Our extension-definition stays home: every distillguard knows it (``pull`` puts it
    # back), and medallion 3.0.0 cannot list a collection holding an object with a
    # ``version`` property, which every extension-definition has.
    wanted = [o for o in bundle.get("objects", []) if o.get("id") != EXTENSION_ID]
    objects = [o for o in wanted if o.get("id") not in present]
    if not objects:
        return PushResult(0, 0, 0, len(wanted))
    with _talking_to(collection.url):
        status = collection.add_objects(
            {"objects": objects}, wait_for_completion=True, poll_interval=1, timeout=TIMEOUT_S
        )
    if status.status != "complete":
        raise IntelError(
            f"TAXII server {collection.url}: push still {status.status} after {TIMEOUT_S} s"
        )
    if status.failure_count:
        reasons = "; ".join(str(f.get("message", f)) for f in (status.failures or [])[:3])
        raise IntelError(
            f"TAXII server {collection.url}: {status.failure_count} of {len(objects)} objects "
            f"refused: {reasons}"
        )
    return PushResult(
        len(objects),
        int(status.success_count or 0),
        int(status.failure_count),
        len(wanted) - len(objects),
    )


def pull(
    collection: Collection,
    store: IntelStore,
    *,
    key: SharingKey | None = None,
    added_after: datetime | None = None,
) -> ImportResult:
    """Import the objects of ``collection`` (those added after ``added_after``) as one
    bundle: checked whole, kept whole or not at all."""
    filters: dict[str, Any] = {}
    if added_after is not None:
        filters["added_after"] = added_after
    objects: list[dict[str, Any]] = []
    with _talking_to(collection.url):
        for envelope in as_pages(collection.get_objects, per_request=PAGE, **filters):
            objects.extend(envelope.get("objects", []))
            if len(objects) > MAX_OBJECTS:
                raise IntelError(
                    f"TAXII server {collection.url}: more than {MAX_OBJECTS:,} objects; "
                    "pull with an added_after time"
                )
    if any(EXTENSION_ID in o.get("extensions", {}) for o in objects) and not any(
        o.get("id") == EXTENSION_ID for o in objects
    ):
        objects.append(dict(EXTENSION))
    # One stored bundle per collection: pulling again replaces it rather than piling up.
    index = store.root / PULLED
    try:
        pulled = orjson.loads(index.read_bytes()) if index.is_file() else {}
    except (OSError, orjson.JSONDecodeError) as exc:
        raise IntelError(f"{index}: unreadable: {exc}") from None
    ident = pulled.get(collection.url) or f"bundle--{uuid.uuid4()}"
    bundle = {"type": "bundle", "id": ident, "objects": objects}
    result = store.add(orjson.dumps(bundle), source=f"TAXII collection {collection.url}", key=key)
    pulled[collection.url] = ident
    index.write_bytes(orjson.dumps(pulled, option=orjson.OPT_INDENT_2))
    return result
