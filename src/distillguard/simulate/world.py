"""The simulated world: every account, its behaviour, and the schedule parameters.

Built from the configuration alone, deterministically, so each worker process can rebuild
the same world instead of receiving it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from .accounts import Account
from .campaigns import SPECS
from .corpus import Corpus, load
from .identities import Minter
from .kinds import mean_session
from .models import Lineup, lineup
from .operators import campaign, resellers
from .populations import BUILDERS, Row
from .timing import SHAPE_INDEX, TIMINGS, Plan


@dataclass(frozen=True, slots=True)
class Config:
    scale: float
    days: int
    seed: int
    evasion: int
    start: float  # epoch seconds of the first day's midnight, UTC


@dataclass(frozen=True, slots=True)
class World:
    config: Config
    corpus: Corpus
    lineup: Lineup
    accounts: tuple[Account, ...]
    plan: Plan


def _plan(accounts: tuple[Account, ...]) -> Plan:
    t = [a.traffic for a in accounts]
    return Plan(
        sessions=np.array([x.rate / mean_session(x) for x in t], dtype=np.float64),
        active=np.array([x.active_p for x in t], dtype=np.float64),
        weekend=np.array([x.weekend for x in t], dtype=np.float64),
        created=np.array([a.identity.created_at for a in accounts], dtype=np.float64),
        curve=np.array([SHAPE_INDEX[x.shape] * 25 + x.tz + 12 for x in t], dtype=np.int64),
        timing=np.array([TIMINGS[x.timing] for x in t], dtype=np.int64),
        wave=np.array([x.wave for x in t], dtype=np.int64),
        burst=np.array([x.extra.get("burst", 0.0) for x in t], dtype=np.float64),
    )


def build(config: Config) -> World:
    rng = random.Random(f"distillguard-simulate/{config.seed}")
    minter = Minter(rng, config.start, config.days)
    rows: list[Row] = []
    for builder in BUILDERS.values():
        rows += builder(minter, config.scale)
    hydras = resellers(minter, config.scale)
    for wave, spec in enumerate(SPECS):
        rows += campaign(minter, spec, config.scale, config.evasion, hydras, wave)
    accounts = tuple(Account(i, *row) for i, row in enumerate(rows))
    return World(config, load(), lineup(config.start, config.days), accounts, _plan(accounts))
