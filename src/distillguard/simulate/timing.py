"""When sessions start: daily profiles, weekends, regular jobs, lockstep waves, bursts.

A day's schedule is drawn for all accounts at once with numpy (one array of start times,
one of account indices), so scheduling costs a few bytes per session however large the
population. Start times are drawn through each account's daily profile in its own time zone:
at random (``poisson``), evenly spaced (``regular``: cron jobs, harness workers) or in
lockstep waves shared by a campaign's accounts (``wave``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from .models import DAY

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

# Hourly weights in local time.
SHAPES: Final = {
    "office": (1, 1, 1, 1, 1, 2, 4, 10, 22, 30, 32, 30, 24, 28, 30, 30, 26, 18, 10, 6, 5, 4, 2, 1),
    "dev": (4, 2, 1, 1, 1, 1, 2, 5, 10, 16, 19, 19, 15, 18, 19, 18, 16, 13, 11, 12, 13, 12, 10, 7),
    "evening": (
        6,
        3,
        2,
        1,
        1,
        1,
        2,
        4,
        7,
        9,
        10,
        11,
        12,
        11,
        11,
        12,
        13,
        15,
        18,
        22,
        24,
        22,
        16,
        10,
    ),
    "flat": (10,) * 24,
    "night": (30, 34, 34, 30, 22, 12, 4, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 4, 10, 20),
    "class": (0, 0, 0, 0, 0, 0, 0, 1, 8, 20, 26, 22, 10, 18, 24, 20, 10, 4, 3, 4, 4, 2, 1, 0),
}
SHAPE_INDEX: Final = {name: i for i, name in enumerate(SHAPES)}
TIMINGS: Final = {"poisson": 0, "regular": 1, "wave": 2}
RELEASE_BURST: Final = 30 * 3600.0  # how long benchmark runs crowd a new model


def _curves() -> F64:
    """Cumulative daily profiles in UTC, indexed by shape * 25 + (tz + 12)."""
    rows = []
    for weights in SHAPES.values():
        local = np.asarray(weights, dtype=np.float64) + 0.05
        for tz in range(-12, 13):
            utc = np.roll(local, -tz)  # UTC hour h is local hour h + tz
            rows.append(np.concatenate(([0.0], np.cumsum(utc) / utc.sum())))
    return np.asarray(rows)


CURVES: Final = _curves()


@dataclass(frozen=True, slots=True)
class Plan:
    """Per-account scheduling parameters, one array entry per account."""

    sessions: F64  # expected sessions on an active weekday
    active: F64
    weekend: F64
    created: F64
    curve: I64
    timing: I64
    wave: I64
    burst: F64


def _through(curve: I64, u: F64) -> F64:
    """Seconds into the day at cumulative share ``u`` of each session's daily profile."""
    out = np.empty_like(u)
    for c in np.unique(curve):
        mask = curve == c
        cdf = CURVES[c]
        uu = u[mask]
        hour = np.clip(np.searchsorted(cdf, uu, side="right") - 1, 0, 23)
        width = cdf[hour + 1] - cdf[hour]
        out[mask] = (hour + (uu - cdf[hour]) / np.where(width > 0, width, 1.0)) * 3600.0
    return out


def day(plan: Plan, rng: np.random.Generator, day_start: float, release: float) -> tuple[F64, I64]:
    """Session start times (sorted) and the account of each, for one UTC day."""
    n = len(plan.sessions)
    weekday = int((day_start // DAY + 3) % 7)  # 1970-01-01 was a Thursday
    lam = plan.sessions * (rng.random(n) < plan.active)
    if weekday >= 5:
        lam = lam * plan.weekend
    # An account created during the day works only the rest of it.
    lam = lam * np.clip((day_start + DAY - plan.created) / DAY, 0.0, 1.0)

    counts = rng.poisson(lam)
    regular = plan.timing == TIMINGS["regular"]
    counts[regular] = np.floor(lam[regular] + rng.random(int(regular.sum()))).astype(np.int64)
    counts[plan.timing == TIMINGS["wave"]] = 0
    accts = np.repeat(np.arange(n), counts)
    u = rng.random(len(accts))
    # Regular accounts: the k-th of c sessions at (k + phase) / c of the profile, jittered.
    first = np.cumsum(counts) - counts
    k = np.arange(len(accts)) - np.repeat(first, counts)
    c = np.repeat(counts, counts).astype(np.float64)
    phase = np.repeat(rng.random(n), counts)
    even = ((k + phase + rng.uniform(-0.08, 0.08, len(accts))) / np.maximum(c, 1.0)) % 1.0
    u = np.where(regular[accts], even, u)
    starts = day_start + _through(plan.curve[accts], u)

    parts_t, parts_a = [starts], [accts]
    for group in np.unique(plan.wave[plan.wave >= 0]):
        members = np.flatnonzero(plan.wave == group)
        rate = lam[members]
        # As many waves as the busiest member has sessions: everyone joins most of them.
        waves = int(np.ceil(rate.max())) if len(rate) else 0
        if waves:
            times = day_start + rng.random() * DAY / waves + np.arange(waves) * DAY / waves
            joined = rng.random((len(members), waves)) < np.minimum(1.0, rate / waves)[:, None]
            who, when = np.nonzero(joined)
            parts_t.append(times[when] + rng.random(len(who)) * 6.0)  # within seconds
            parts_a.append(members[who])
    lo, hi = max(day_start, release), min(day_start + DAY, release + RELEASE_BURST)
    bursty = np.flatnonzero(plan.burst > 0)
    if hi > lo and len(bursty):
        extra = rng.poisson(plan.sessions[bursty] * plan.burst[bursty] * (hi - lo) / DAY)
        who = np.repeat(bursty, extra)
        parts_t.append(lo + rng.random(len(who)) * (hi - lo))
        parts_a.append(who)

    ts, acct = np.concatenate(parts_t), np.concatenate(parts_a).astype(np.int64)
    keep = ts >= plan.created[acct]
    ts, acct = ts[keep], acct[keep]
    order = np.lexsort((acct, ts))
    return ts[order], acct[order]
