"""The intel store: partners' bundles that passed every check, one file per bundle.

    store = IntelStore(Path("intel"))
    result = store.add_file(Path("partner.json"), key=SharingKey.from_env())

A bundle is checked whole (size, JSON, STIX 2.1, the OASIS validator, every indicator's
pattern) before a byte is written, then written to a temporary file and renamed into place:
a rejected or interrupted import leaves the store exactly as it was. Importing a bundle
again (same bundle id) replaces it.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import orjson

from .errors import BundleError, IntelError
from .indicators import SharedIndicator, read_indicators
from .keys import SharingKey
from .validate import MAX_BUNDLE_BYTES, parse_bundle

BUNDLES: Final = "bundles"


@dataclass(frozen=True, slots=True)
class ImportResult:
    bundle_id: str
    path: Path
    indicators: int
    skipped: int  # valid indicators no hunt can match
    campaigns: int
    warnings: tuple[str, ...]


def key_warnings(indicators: tuple[SharedIndicator, ...], key: SharingKey | None) -> list[str]:
    """Why hashed indicators cannot match under ``key``: they name another key id."""
    if key is None:
        return []
    other = Counter(i.key_id for i in indicators if i.key_id not in (None, key.key_id))
    return [
        f"{n} indicators were hashed under sharing key id {key_id}, but your key's id is "
        f"{key.key_id}: they cannot match until you hold the key they were made with"
        for key_id, n in sorted(other.items())
    ]


def value_key_warnings(indicators: tuple[SharedIndicator, ...], value_key: str) -> list[str]:
    """Why hashed indicators cannot match this store: the exporter's store hashed its values
    under another hash key (``DISTILLGUARD_HASH_KEY``), so the same artefact has another
    value there. Clear values (ASNs, e-mail domains) still match."""
    other = Counter(i.value_key for i in indicators if i.value_key not in (None, value_key))
    return [
        f"{n} indicators were computed from values hashed under another store hash key (check "
        f"{check}, this store's is {value_key}): hashed artefacts match only when partners "
        "ingest with the same DISTILLGUARD_HASH_KEY"
        for check, n in sorted(other.items())
    ]


class IntelStore:
    """A folder of imported bundles."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def bundles(self) -> list[Path]:
        folder = self.root / BUNDLES
        return sorted(folder.glob("bundle--*.json")) if folder.is_dir() else []

    def add_file(self, path: Path, *, key: SharingKey | None = None) -> ImportResult:
        try:
            size = path.stat().st_size
            if size > MAX_BUNDLE_BYTES:  # refuse before reading a huge file into memory
                raise BundleError(
                    f"bundle is {size:,} bytes, more than the {MAX_BUNDLE_BYTES:,} accepted",
                    source=str(path),
                )
            data = path.read_bytes()
        except OSError as exc:
            raise IntelError(f"{path}: cannot read: {exc.strerror}") from None
        return self.add(data, source=str(path), key=key)

    def add(self, data: bytes, *, source: str, key: SharingKey | None = None) -> ImportResult:
        """Check ``data`` whole, then keep it; ``BundleError`` leaves the store untouched."""
        bundle = parse_bundle(data, source=source)
        reading = read_indicators(bundle, source=source)
        folder = self.root / BUNDLES
        try:
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / f"{bundle['id']}.json"
            handle, temporary = tempfile.mkstemp(dir=folder, prefix=".import-", suffix=".tmp")
            try:
                with os.fdopen(handle, "wb") as out:
                    out.write(orjson.dumps(bundle))
                    out.flush()
                    os.fsync(out.fileno())
                Path(temporary).replace(target)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise IntelError(f"{self.root}: cannot write the intel store: {exc}") from None
        return ImportResult(
            bundle_id=str(bundle["id"]),
            path=target,
            indicators=len(reading.indicators),
            skipped=reading.skipped,
            campaigns=len({i.campaign for i in reading.indicators}),
            warnings=tuple(key_warnings(reading.indicators, key)),
        )

    def indicators(self) -> list[SharedIndicator]:
        """Every usable indicator in the store (bundles were checked when imported)."""
        found: list[SharedIndicator] = []
        for path in self.bundles():
            try:
                bundle = orjson.loads(path.read_bytes())
            except (OSError, orjson.JSONDecodeError) as exc:
                raise IntelError(f"{path}: unreadable intel store entry: {exc}") from None
            found.extend(read_indicators(bundle, source=str(path)).indicators)
        return found
