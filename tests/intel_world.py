"""Real inputs for the intel tests: simulated providers, ingested and hunted once per run.

Two providers hit by the same actors (same harnesses, system prompts and templates; other
accounts, cards and networks) are the simulator with two seeds. Each is built once per test
process, in a temporary folder removed at exit, so every intel test file shares them.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from distillguard.exchange import IngestOptions, Store, ingest
from distillguard.hunt import HuntOptions, hunt
from distillguard.intel import HuntedCampaign, SharingKey, hunted_campaigns
from distillguard.signals import TextSignals
from distillguard.simulate import simulate

KEY: Final = SharingKey(b"sharing group test key, not secret")
OTHER_KEY: Final = SharingKey(b"another group's key, also not secret")
SCALE: Final = 0.002
DAYS: Final = 3


@dataclass(frozen=True)
class Provider:
    traffic: Path  # the simulator's output: exchanges/, accounts.jsonl, labels.csv, ...
    store: Path
    hunt: Path  # accounts.csv, campaigns.json


@functools.cache
def _root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="intel-world-"))
    atexit.register(shutil.rmtree, root, True)
    return root


def ingest_store(traffic: Path, logs: Path, store: Path) -> Store:
    ingest(
        [logs],
        store,
        accounts=traffic / "accounts.jsonl",
        models=traffic / "models.jsonl",
        options=IngestOptions(workers=1, overwrite=True, annotate=TextSignals()),
    )
    return Store(store)


@functools.cache
def provider(seed: int) -> Provider:
    """Provider ``seed``: simulated traffic, its store and a hunt without shared intel."""
    base = _root() / f"provider-{seed}"
    traffic = base / "traffic"
    simulate(traffic, scale=SCALE, days=DAYS, seed=seed, evasion=0, workers=1)
    store = ingest_store(traffic, traffic / "exchanges", base / "hunt" / "store")
    hunt(store, base / "hunt", HuntOptions())
    return Provider(traffic, store.root, base / "hunt")


@functools.cache
def _campaigns(seed: int) -> tuple[HuntedCampaign, ...]:
    return tuple(hunted_campaigns(provider(seed).hunt))


def campaigns(seed: int) -> list[HuntedCampaign]:
    """Provider ``seed``'s hunted campaigns with their artefacts (read once per run)."""
    return list(_campaigns(seed))


def scratch(name: str) -> Path:
    """A fresh folder under the world's temporary root."""
    path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=_root()))
    return path
