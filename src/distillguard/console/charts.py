"""Geometry for the campaign page's pictures, computed here and drawn as inline SVG by the
templates, so the page needs no script and every label still goes through autoescaping."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

WIDTH: Final = 720
HEIGHT: Final = 120
MAX_BARS: Final = 400
MAX_NODES: Final = 16


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    w: float
    h: float
    label: str


@dataclass(frozen=True, slots=True)
class Timeline:
    width: int
    height: int
    bars: tuple[Bar, ...]
    start: str
    end: str
    peak: int
    bucket: str


@dataclass(frozen=True, slots=True)
class Node:
    x: float
    y: float
    r: float
    kind: str
    label: str


@dataclass(frozen=True, slots=True)
class Graph:
    width: int
    height: int
    centre: Node
    nodes: tuple[Node, ...]
    widths: tuple[float, ...]


def _count(value: object) -> int:
    """A count from the hunt's JSON; anything else (text, negative, true) counts as 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _points(raw: dict[str, Any]) -> list[tuple[str, int]]:
    timeline = raw.get("timeline")
    points = timeline.get("points") if isinstance(timeline, dict) else None
    out = []
    for point in points if isinstance(points, list) else []:
        if isinstance(point, list) and len(point) >= 2:
            out.append((str(point[0]), _count(point[1])))
    return out


def timeline(raw: dict[str, Any], first: str, last: str, exchanges: int) -> Timeline | None:
    """Exchanges per bucket from the hunt's timeline; without one, the span from first to
    last seen as a single bar of the campaign's volume."""
    points = _points(raw)
    bucket = str((raw.get("timeline") or {}).get("bucket", "")) if points else ""
    if not points:
        if not (_time(first) and _time(last)):
            return None
        points, bucket = [(first, exchanges)], "whole campaign"
    if len(points) > MAX_BARS:  # merge neighbours so bars stay at least ~2 px wide
        step = math.ceil(len(points) / MAX_BARS)
        points = [
            (points[i][0], sum(n for _, n in points[i : i + step]))
            for i in range(0, len(points), step)
        ]
    peak = max((n for _, n in points), default=0) or 1
    w = WIDTH / len(points)
    bars = tuple(
        Bar(
            round(i * w, 2),
            round(HEIGHT - HEIGHT * n / peak, 2),
            round(max(w - 0.5, 0.5), 2),
            round(HEIGHT * n / peak, 2),
            f"{ts}: {n:,} exchanges",
        )
        for i, (ts, n) in enumerate(points)
    )
    return Timeline(WIDTH, HEIGHT, bars, first, last, peak, bucket)


def capability_bars(shares: tuple[tuple[str, float], ...], row: int = 22) -> list[Bar]:
    """One horizontal bar per capability; the width is the share of exchanges."""
    return [
        Bar(140, i * row, round(max(share, 0.0) * 400, 2), row - 6, f"{name} {share:.1%}")
        for i, (name, share) in enumerate(shares)
    ]


def artefact_graph(raw: dict[str, Any], accounts: int) -> Graph | None:
    """The campaign in the middle, the artefacts that tie its accounts around it; a spoke's
    width grows with how many of the campaign's accounts share that artefact. Values are
    the hunt's hashed forms (``#…``), never the artefact itself."""
    items = raw.get("artefacts")
    if not isinstance(items, list):
        return None
    found = [a for a in items if isinstance(a, dict) and isinstance(a.get("kind"), str)]
    if not found:
        return None
    found = found[:MAX_NODES]
    size, radius = 520, 190
    centre = Node(size / 2, size / 2, 26, "campaign", f"{accounts:,} accounts")
    nodes, widths = [], []
    most = max(_count(a.get("accounts")) for a in found) or 1
    for i, artefact in enumerate(found):
        angle = 2 * math.pi * i / len(found) - math.pi / 2
        shared = _count(artefact.get("accounts"))
        nodes.append(
            Node(
                round(size / 2 + radius * math.cos(angle), 1),
                round(size / 2 + radius * math.sin(angle), 1),
                10,
                str(artefact["kind"]),
                f"{artefact['kind']} {str(artefact.get('value', ''))[:16]} ({shared:,})",
            )
        )
        widths.append(round(1 + 7 * shared / most, 1))
    return Graph(size, size, centre, tuple(nodes), tuple(widths))
