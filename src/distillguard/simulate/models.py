"""The simulated provider's model line-up, with one model released mid-period."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

DAY: Final = 86_400.0
HOUR: Final = 3_600.0


@dataclass(frozen=True, slots=True)
class Model:
    name: str
    snapshot: str  # what OpenAI-shaped responses echo back
    released_at: float  # epoch seconds
    reasoning: bool
    speed: float  # output tokens per second, for latencies


@dataclass(frozen=True, slots=True)
class Lineup:
    models: tuple[Model, ...]
    new: Model

    def get(self, name: str) -> Model:
        for model in self.models:
            if model.name == name:
                return model
        raise KeyError(name)


def release_time(start: float, days: int) -> float:
    """17:00 UTC on the middle day (a US-morning launch), so at least 7 h follow it."""
    return start + max(0, (days - 1) // 2) * DAY + 17 * HOUR


def lineup(start: float, days: int) -> Lineup:
    new = Model("vela-4", "vela-4-preview", release_time(start, days), True, 70.0)
    models = (
        Model("vela-2", "vela-2-0613", start - 420 * DAY, False, 90.0),
        Model("vela-3", "vela-3-2025-01-15", start - 150 * DAY, False, 80.0),
        Model("vela-3-mini", "vela-3-mini-2025-01-15", start - 150 * DAY, False, 160.0),
        Model("vela-3-reasoner", "vela-3-reasoner-2025-03-20", start - 60 * DAY, True, 110.0),
        new,
    )
    return Lineup(models, new)


def adoption(kind: str, since_release: float) -> float:
    """Share of an account's traffic on the new model, ``since_release`` seconds after it.

    ``pivot``: a distiller moves fast (about 60% within three hours); ``eval``: benchmark
    runs switch at once; ``early``: keen developers; ``slow``: most customers; ``never``:
    pinned production pipelines.
    """
    if since_release < 0:
        return 0.0
    if kind == "pivot":
        return 0.62 * min(1.0, since_release / (3 * HOUR))
    if kind == "eval":  # the release-day burst exists to benchmark the new model
        return 1.0 if since_release < 30 * HOUR else 0.5
    if kind == "early":
        return 0.5 * (1 - math.exp(-since_release / DAY))
    if kind == "slow":
        return 0.25 * (1 - math.exp(-since_release / (4 * DAY)))
    return 0.0
