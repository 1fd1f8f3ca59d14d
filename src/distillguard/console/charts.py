"""Geometry for the campaign page's pictures, computed here and drawn as inline SVG by the
templates, so the page needs no script and every label still goes through autoescaping."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

WIDTH: Final = 720
HEIGHT: Final = 120
MAX_BARS: Final = 400
MAX_NODES: Final = 16
MAX_ACCOUNT_NODES: Final = 48
ART_RADIUS: Final = 130
ACCOUNT_RADIUS: Final = 250


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
    key: str = ""
    """For an account, its opaque key (the console's URL for it)."""


@dataclass(frozen=True, slots=True)
class Edge:
    x1: float
    y1: float
    x2: float
    y2: float
    width: float


@dataclass(frozen=True, slots=True)
class Graph:
    width: int
    height: int
    centre: Node
    artefacts: tuple[Node, ...]
    accounts: tuple[Node, ...]
    edges: tuple[Edge, ...]
    accounts_not_drawn: int


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


def _members(artefact: dict[str, Any], accounts: int) -> list[int]:
    found = artefact.get("members")
    if not isinstance(found, list):
        return []
    return sorted({m for m in found if type(m) is int and 0 <= m < accounts})


def artefact_graph(
    raw: dict[str, Any], accounts: Sequence[str], key_of: Callable[[str], str]
) -> Graph | None:
    """Who is tied to what: the campaign in the middle, the artefacts its accounts share on
    a ring around it (a spoke's width grows with how many of its accounts share that
    artefact), and on an outer ring the accounts most tied to them, each with an edge to
    every drawn artefact it uses and a link to its page (by its opaque key). Artefact
    values are the hunt's hashed forms (``#…``), never the artefact itself."""
    items = raw.get("artefacts")
    if not isinstance(items, list):
        return None
    found = [a for a in items if isinstance(a, dict) and isinstance(a.get("kind"), str)]
    if not found:
        return None
    found = found[:MAX_NODES]
    size = 560
    mid = size / 2
    centre = Node(mid, mid, 24, "campaign", f"{len(accounts):,} accounts")
    most = max(_count(a.get("accounts")) for a in found) or 1
    artefacts, spokes, angle_of = [], [], []
    ties: dict[int, list[int]] = {}
    for i, artefact in enumerate(found):
        angle = 2 * math.pi * i / len(found) - math.pi / 2
        angle_of.append(angle)
        shared = _count(artefact.get("accounts"))
        x, y = _polar(mid, ART_RADIUS, angle)
        label = f"{artefact['kind']} {str(artefact.get('value', ''))[:16]} ({shared:,})"
        artefacts.append(Node(x, y, 9, str(artefact["kind"]), label))
        spokes.append(Edge(mid, mid, x, y, round(1 + 6 * shared / most, 1)))
        for member in _members(artefact, len(accounts)):
            ties.setdefault(member, []).append(i)
    # The accounts tied to the most drawn artefacts, placed near the artefacts they use.
    chosen = sorted(ties, key=lambda m: (-len(ties[m]), m))[:MAX_ACCOUNT_NODES]
    chosen.sort(key=lambda m: _mean_angle([angle_of[i] for i in ties[m]]))
    nodes: list[Node] = []
    edges: list[Edge] = []
    for k, member in enumerate(chosen):
        angle = 2 * math.pi * k / len(chosen) - math.pi / 2
        x, y = _polar(mid, ACCOUNT_RADIUS, angle)
        name = accounts[member]
        label = f"{name} ({len(ties[member])} shared)"
        nodes.append(Node(x, y, 5, "account", label, key_of(name)))
        edges.extend(Edge(x, y, artefacts[i].x, artefacts[i].y, 0.8) for i in ties[member])
    return Graph(
        size,
        size,
        centre,
        tuple(artefacts),
        tuple(nodes),
        tuple(spokes + edges),
        len(ties) - len(chosen),
    )


def _polar(mid: float, radius: float, angle: float) -> tuple[float, float]:
    return round(mid + radius * math.cos(angle), 1), round(mid + radius * math.sin(angle), 1)


def _mean_angle(angles: list[float]) -> float:
    """The circular mean, in [0, 2π) measured from the top, so neighbours sort together."""
    mean = math.atan2(sum(map(math.sin, angles)), sum(map(math.cos, angles)))
    return (mean + math.pi / 2) % (2 * math.pi)
