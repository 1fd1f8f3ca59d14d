"""Running a simulation: the world, the days (in worker processes), the summary.

Each day is written by one worker from the configuration alone, so the bytes do not depend
on how many workers there are or which one wrote which day.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import orjson

from ..types import BENIGN_POPULATIONS, CAMPAIGN_POPULATION, Capability
from .campaigns import SPECS
from .engine import Day, day_file
from .world import Config, World, build
from .writer import write_labels, write_models, write_registry

DEFAULT_START = datetime(2025, 3, 3, tzinfo=UTC)  # a Monday
OUTPUTS = ("accounts.jsonl", "models.jsonl", "labels.csv", "summary.json")
CAPABILITY: Final[Mapping[str, Capability]] = {spec.id: spec.capability for spec in SPECS}
"""Each campaign's intended top capability, the truth an evaluation checks the hunt against."""


@dataclass(frozen=True)
class SimulationSummary:
    """What a simulation wrote. ``populations`` and ``campaigns`` map a name to (accounts,
    exchanges); ``files`` are the paths written, the exchange log's day files first. In
    ``summary.json`` each campaign also names its intended top ``capability``."""

    out: Path
    scale: float
    days: int
    seed: int
    evasion: int
    start: datetime
    exchanges: int
    duplicates: int
    accounts: int
    populations: Mapping[str, tuple[int, int]]
    campaigns: Mapping[str, tuple[int, int]]
    new_model: str
    released_at: datetime
    files: tuple[Path, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        """The summary as written to ``summary.json``: paths relative to ``out``."""
        return {
            "version": 1,
            "scale": self.scale,
            "days": self.days,
            "seed": self.seed,
            "evasion": self.evasion,
            "start": self.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "exchanges": self.exchanges,
            "duplicates": self.duplicates,
            "accounts": self.accounts,
            "populations": {
                k: {"accounts": a, "exchanges": e} for k, (a, e) in self.populations.items()
            },
            "campaigns": {
                k: {"accounts": a, "exchanges": e, "capability": CAPABILITY.get(k)}
                for k, (a, e) in self.campaigns.items()
            },
            "new_model": {
                "model": self.new_model,
                "released_at": self.released_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            "files": [p.relative_to(self.out).as_posix() for p in self.files],
        }


# Worker-process state: set once by the pool initializer, read by every task it runs.
_world: World | None = None
_out: Path | None = None
_counter: Any = None


def _init(config: Config, out: Path, counter: Any) -> None:
    global _world, _out, _counter
    _world, _out, _counter = build(config), out, counter


def _tick(n: int) -> None:
    with _counter.get_lock():
        _counter.value += n


def _run(day: int) -> tuple[int, npt.NDArray[np.int64], int]:
    if _world is None or _out is None:
        raise RuntimeError("worker used before its initializer ran")
    work = Day(_world, day, _tick)
    work.run(_out / "exchanges" / day_file(_world, day))
    return day, work.counts, work.duplicates


def _parallel(
    config: Config, out: Path, workers: int, progress: Callable[[int], None] | None
) -> Iterator[tuple[int, Any, int]]:
    context = mp.get_context("spawn")  # no fork: safe beside threads (progress bars)
    counter = context.Value("q", 0)
    with context.Pool(workers, _init, (config, out, counter)) as pool:
        results = pool.imap_unordered(_run, range(config.days))
        for _ in range(config.days):
            while True:
                try:
                    item = results.next(timeout=0.2)
                    break
                except mp.TimeoutError:
                    if progress:
                        progress(counter.value)
            if progress:
                progress(counter.value)
            yield item


def _sequential(
    world: World, out: Path, progress: Callable[[int], None] | None
) -> Iterator[tuple[int, Any, int]]:
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress(done)

    for day in range(world.config.days):
        work = Day(world, day, tick)
        work.run(out / "exchanges" / day_file(world, day))
        yield day, work.counts, work.duplicates


def _validate(scale: float, days: int, seed: int, evasion: int) -> None:
    if not scale > 0:
        raise ValueError(f"scale must be positive, not {scale}")
    if days < 1:
        raise ValueError(f"days must be at least 1, not {days}")
    if seed < 0:
        raise ValueError(f"seed must be 0 or more, not {seed}")
    if evasion not in (0, 1, 2, 3):
        raise ValueError(f"evasion must be 0, 1, 2 or 3, not {evasion}")


def _first_day(start: datetime | None) -> datetime:
    if start is None:
        return DEFAULT_START
    moment = start.replace(tzinfo=UTC) if start.tzinfo is None else start.astimezone(UTC)
    return datetime.combine(moment.date(), time(), UTC)


def _clear(out: Path) -> None:
    """Remove what an earlier simulation wrote here, and nothing else."""
    for path in (out / "exchanges").glob("*.jsonl.gz"):
        path.unlink()
    for name in OUTPUTS:
        (out / name).unlink(missing_ok=True)


def simulate(
    out: Path,
    *,
    scale: float,
    days: int,
    seed: int,
    evasion: int,
    start: datetime | None = None,
    progress: Callable[[int], None] | None = None,
    workers: int | None = None,
) -> SimulationSummary:
    """Write labelled traffic into ``out``: ``exchanges/`` (one gzip JSON Lines file per UTC
    day), ``accounts.jsonl``, ``models.jsonl``, ``labels.csv`` and ``summary.json``.

    ``scale`` 1.0 is the reported volume (about 16M campaign exchanges over 24,000 accounts
    in 14 days, next to a proportionate benign population); volumes are per day, so ``days``
    changes the total. ``start`` is the first UTC day (its time of day is ignored; default
    2025-03-03). ``evasion`` 0 to 3 makes the campaigns harder to find, see
    ``distillguard.simulate.campaigns``. The same arguments give the same bytes, whatever
    ``workers`` (default: one per CPU, at most one per day). ``progress`` is called with the
    number of exchanges written so far.
    """
    _validate(scale, days, seed, evasion)
    first = _first_day(start)
    config = Config(scale, days, seed, evasion, first.timestamp())
    world = build(config)
    out.mkdir(parents=True, exist_ok=True)
    (out / "exchanges").mkdir(exist_ok=True)
    _clear(out)
    write_registry(out / "accounts.jsonl", world.accounts)
    write_models(out / "models.jsonl", world.lineup)
    write_labels(out / "labels.csv", world.accounts)

    workers = min(os.cpu_count() or 1, days) if workers is None else max(1, workers)
    runs = (
        _sequential(world, out, progress)
        if workers == 1
        else _parallel(config, out, workers, progress)
    )
    counts = np.zeros(len(world.accounts), dtype=np.int64)
    duplicates = 0
    for _, day_counts, day_duplicates in runs:
        counts += day_counts
        duplicates += day_duplicates
    return _summarise(world, out, first, counts, duplicates)


def _summarise(
    world: World, out: Path, first: datetime, counts: npt.NDArray[np.int64], duplicates: int
) -> SimulationSummary:
    populations = {name: [0, 0] for name in (*BENIGN_POPULATIONS, CAMPAIGN_POPULATION)}
    campaigns = {spec.id: [0, 0] for spec in SPECS}
    for account in world.accounts:
        n = int(counts[account.index])
        for table, key in (
            (populations, account.truth.population),
            (campaigns, account.truth.campaign_id),
        ):
            if key in table:
                table[key][0] += 1
                table[key][1] += n
    cfg = world.config
    files = tuple(out / "exchanges" / day_file(world, d) for d in range(cfg.days))
    summary = SimulationSummary(
        out=out,
        scale=cfg.scale,
        days=cfg.days,
        seed=cfg.seed,
        evasion=cfg.evasion,
        start=first,
        exchanges=int(counts.sum()),
        duplicates=duplicates,
        accounts=len(world.accounts),
        populations={k: (a, e) for k, (a, e) in populations.items()},
        campaigns={k: (a, e) for k, (a, e) in campaigns.items()},
        new_model=world.lineup.new.name,
        released_at=datetime.fromtimestamp(world.lineup.new.released_at, UTC),
        files=(*files, *(out / name for name in OUTPUTS)),
    )
    (out / "summary.json").write_bytes(
        orjson.dumps(summary.to_json(), option=orjson.OPT_INDENT_2) + b"\n"
    )
    return summary
