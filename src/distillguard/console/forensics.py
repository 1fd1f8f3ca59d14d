"""Forensics reports found in the store folder: ``forensics/*.json``.

Each is a ``distillguard marks forensics`` report (``Finding.to_json()``): whether a suspect
model was trained on our watermarked text, with an exact p-value, and the key, so the
cluster, it points to. The console only reads them; a file that is not such a report is
listed with what is wrong instead of breaking the page. Reports are re-read only when the
folder's listing or a file changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from threading import Lock
from typing import Any, Final

import orjson

FOLDER: Final = "forensics"
MAX_FILES: Final = 500
MAX_BYTES: Final = 8 * 1024 * 1024
CLUSTER_SCOPE: Final = "cluster:"


@dataclass(frozen=True, slots=True)
class Report:
    file: str
    marked: bool | None
    p_value: float | None
    alpha: float | None
    key_id: str | None
    scope: str | None
    tests: int | None
    summary: str
    error: str | None = None

    @property
    def verdict(self) -> str:
        if self.error:
            return "unreadable"
        return "trained on marked text" if self.marked else "no evidence"

    @property
    def cluster(self) -> str | None:
        """The hunt cluster the report points to, when its key's scope is a cluster."""
        if self.scope and self.scope.startswith(CLUSTER_SCOPE):
            return self.scope[len(CLUSTER_SCOPE) :]
        return None


def _number(value: object) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok else None  # type: ignore[arg-type]


def read_report(path: Path) -> Report:
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ValueError(f"larger than {MAX_BYTES:,} bytes")
        doc = orjson.loads(path.read_bytes())
        if not isinstance(doc, dict) or "p_value" not in doc:
            raise ValueError("not a forensics report (no p_value)")
    except (OSError, ValueError) as exc:  # orjson.JSONDecodeError is a ValueError
        return Report(path.name, None, None, None, None, None, None, "", error=str(exc)[:200])
    points: Any = doc.get("points_to")
    best: Any = points if isinstance(points, dict) else None
    if best is None:  # not marked: the smallest raw p-value still names the closest key
        evidence = [e for e in doc.get("evidence") or [] if isinstance(e, dict)]
        best = min(evidence, key=lambda e: _number(e.get("p_value")) or 1.0, default=None)
    tests = doc.get("tests")
    return Report(
        file=path.name,
        marked=bool(doc.get("trained_on_marked_text")),
        p_value=_number(doc.get("p_value")),
        alpha=_number(doc.get("alpha")),
        key_id=str(best["key_id"]) if best and best.get("key_id") else None,
        scope=str(best["scope"]) if best and best.get("scope") else None,
        tests=tests if isinstance(tests, int) and not isinstance(tests, bool) else None,
        summary=str(doc.get("summary") or ""),
    )


class Reports:
    """The store's forensics reports, cached until the folder changes."""

    def __init__(self, store: Path) -> None:
        self.folder = store / FOLDER
        self._stamp: tuple[tuple[str, int, int], ...] = ()
        self._reports: list[Report] = []
        self._lock = Lock()

    def _listing(self) -> tuple[tuple[str, int, int], ...]:
        if not self.folder.is_dir():
            return ()
        out = []
        for path in sorted(self.folder.glob("*.json"))[:MAX_FILES]:
            try:
                st = path.stat()
            except OSError:
                continue
            out.append((path.name, st.st_mtime_ns, st.st_size))
        return tuple(out)

    def all(self) -> list[Report]:
        stamp = self._listing()
        with self._lock:
            if stamp != self._stamp:
                self._reports = [read_report(self.folder / name) for name, _, _ in stamp]
                self._stamp = stamp
            return list(self._reports)

    def for_clusters(self, clusters: tuple[str, ...]) -> list[Report]:
        wanted = set(clusters)
        return [r for r in self.all() if r.cluster is not None and r.cluster in wanted]
