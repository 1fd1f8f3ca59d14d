"""Replay labelled traffic through the guard, in time order, with the hunt in the loop.

``replay(labelled, out)`` feeds every exchange of a simulated (labelled) log to a ``Guard``
as if it arrived live: the guard decides on the request, the recorded response is served
(degraded as decided) or refused, and the exchange goes to the guard's own log. On a schedule
(daily by default) the hunt runs over what the guard has logged so far, and its
``accounts.csv`` and ``campaigns.json`` become the guard's watchlist: the loop a provider
runs. The labels are read only to score the outcome:

- **leakage** per campaign: the share of its exchanges served whole (allowed or only
  watermarked: neither degraded nor refused);
- **benign impact** per population: the share of benign exchanges throttled, degraded, sent
  to verification or blocked;
- **time to first action** per campaign: from its first exchange to the first one degraded
  or refused.
"""

from __future__ import annotations

import asyncio
import copy
import csv
import gzip
import heapq
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import orjson

from ..exchange import IngestOptions, Store, ingest, parse_ts
from ..hashing import DEFAULT_KEY
from ..hunt import HuntOptions, hunt
from ..signals import TextSignals
from .actions import degrade_response
from .engine import Guard
from .log import ExchangeLog
from .policy import SERVED, Policy, default_path, load
from .sse import output_tokens

LEAKED: Final = frozenset({"allow", "watermark"})
REFUSED_STATUS: Final = {"throttle": 429, "verify": 403, "block": 403}
Progress = Callable[[str], None]


@dataclass
class Tally:
    exchanges: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    first_seen: float | None = None
    first_action: float | None = None

    def add(self, action: str, ts: float) -> None:
        self.exchanges += 1
        self.actions[action] += 1
        if self.first_seen is None:
            self.first_seen = ts
        if action not in LEAKED and self.first_action is None:
            self.first_action = ts

    @property
    def leaked(self) -> float:
        served = sum(self.actions[a] for a in LEAKED)
        return served / self.exchanges if self.exchanges else 0.0

    @property
    def impacted(self) -> float:
        return 1.0 - self.leaked if self.exchanges else 0.0

    @property
    def hours_to_action(self) -> float | None:
        if self.first_seen is None or self.first_action is None:
            return None
        return (self.first_action - self.first_seen) / 3600


@dataclass(frozen=True)
class ReplayResult:
    campaigns: dict[str, Tally]
    populations: dict[str, Tally]
    hunts: int
    exchanges: int
    seconds: float

    @property
    def benign(self) -> Tally:
        total = Tally()
        for tally in self.populations.values():
            total.exchanges += tally.exchanges
            total.actions.update(tally.actions)
        return total

    def to_json(self) -> dict[str, Any]:
        def one(t: Tally) -> dict[str, Any]:
            return {
                "exchanges": t.exchanges,
                "actions": dict(sorted(t.actions.items())),
                "leakage": round(t.leaked, 5),
                "impact": round(t.impacted, 5),
                "hours_to_first_action": None
                if t.hours_to_action is None
                else round(t.hours_to_action, 2),
            }

        return {
            "exchanges": self.exchanges,
            "hunts": self.hunts,
            "seconds": round(self.seconds, 1),
            "campaigns": {k: one(v) for k, v in sorted(self.campaigns.items())},
            "populations": {k: one(v) for k, v in sorted(self.populations.items())},
            "benign": one(self.benign),
        }


def _ts(value: str) -> float:
    return parse_ts(value) / 1e6


def _day(path: Path) -> list[tuple[float, int, dict[str, Any]]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    rows = []
    with opener(path, "rb") as f:
        for i, line in enumerate(f):
            if line.strip():
                record = orjson.loads(line)
                rows.append((_ts(record["ts"]), i, record))
    rows.sort(key=lambda r: (r[0], r[1]))
    return rows


def exchanges_in_order(folder: Path) -> Iterator[tuple[float, dict[str, Any]]]:
    """The exchanges of a labelled log in time order, one day file in memory at a time
    (the simulator writes one file per UTC day; records within a file may be out of order)."""
    files = sorted(p for p in folder.iterdir() if p.name.endswith((".jsonl", ".jsonl.gz")))
    pending: list[tuple[float, int, dict[str, Any]]] = []
    for n, path in enumerate(files):
        day = _day(path)
        if not day:
            continue
        # Records of later files may only start after this file's first: merge what is held.
        start = day[0][0]
        while pending and pending[0][0] <= start:
            ts, _, record = heapq.heappop(pending)
            yield ts, record
        for ts, i, record in day:
            heapq.heappush(pending, (ts, n * 10_000_000 + i, record))
    while pending:
        ts, _, record = heapq.heappop(pending)
        yield ts, record


def _labels(path: Path) -> dict[str, tuple[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return {
            row["account_id"]: (row["population"], row.get("campaign_id") or "")
            for row in csv.DictReader(f)
        }


def replay(
    labelled: Path,
    out: Path,
    *,
    policy: Path | None = None,
    refresh_hours: float = 24.0,
    hash_key: bytes = DEFAULT_KEY,
    progress: Progress | None = None,
    keep_hunts: bool = False,
    hold: bool = False,
) -> ReplayResult:
    """Replay ``labelled`` (a ``distillguard simulate`` folder) through a guard; work in ``out``.

    With ``keep_hunts`` every hunt's ``accounts.csv`` and ``campaigns.json`` stay in
    ``out/hunts/NNNNN/``: the watchlist as it stood after each refresh, to see which verdict
    an action rested on (a campaign that a later hunt no longer finds still did its harm).
    With ``hold`` each hunt holds the last one's convictions (``hunt --previous``)."""
    return asyncio.run(
        _replay(
            labelled,
            out,
            policy,
            refresh_hours,
            hash_key,
            progress or (lambda _: None),
            keep_hunts,
            hold,
        )
    )


async def _replay(
    labelled: Path,
    out: Path,
    policy_path: Path | None,
    refresh_hours: float,
    hash_key: bytes,
    step: Progress,
    keep_hunts: bool,
    hold: bool,
) -> ReplayResult:
    started = time.perf_counter()
    labels = _labels(labelled / "labels.csv")
    registry = labelled / "accounts.jsonl"
    models = labelled / "models.jsonl"
    for folder in ("watch", "log", "store", "segments", "hunt", "hunts"):
        shutil.rmtree(out / folder, ignore_errors=True)
    (out / "watch").mkdir(parents=True)
    policy: Policy = load(policy_path or default_path())
    policy = replace(
        policy,
        watchlist=out / "watch",
        registry=registry if registry.is_file() else None,
    )
    now = [0.0]
    log = ExchangeLog(out / "log", max_age_s=refresh_hours * 3600 * 100)
    guard = Guard(policy, log=log, hash_key=hash_key, clock=lambda: now[0])
    campaigns: dict[str, Tally] = {}
    populations: dict[str, Tally] = {}
    hunts = exchanges = 0
    next_hunt: float | None = None
    for ts, record in exchanges_in_order(labelled / "exchanges"):
        now[0] = ts
        if next_hunt is None:
            next_hunt = ts + refresh_hours * 3600
        elif ts >= next_hunt:
            log.close()
            step(f"hunt {hunts + 1}: {exchanges:,} exchanges logged so far")
            _hunt(out, registry, models, hash_key, hunts, hold=hold)
            if keep_hunts and (out / "hunt").is_dir():
                kept = out / "hunts" / f"{hunts:05d}"
                kept.mkdir(parents=True)
                for name in ("accounts.csv", "campaigns.json"):
                    shutil.copyfile(out / "hunt" / name, kept / name)
            guard.watchlist.reload(force=True)
            hunts += 1
            log = ExchangeLog(out / "log", max_age_s=refresh_hours * 3600 * 100)
            guard.log = log
            while next_hunt <= ts:
                next_hunt += refresh_hours * 3600
        response = record.get("response")
        assessment = await guard.assess_record(record, ts)
        decision = assessment.decision
        if decision.action in SERVED:
            served = response if isinstance(response, dict) else None
            if served is not None and decision.degrade is not None:
                served = degrade_response(
                    record["surface"], copy.deepcopy(served), decision.degrade
                )
            status = int(record.get("status") or 200)
            await guard.finish(
                assessment,
                response=served,
                status=status,
                tokens=output_tokens(record["surface"], served),
            )
        else:
            await guard.finish(assessment, response=None, status=REFUSED_STATUS[decision.action])
        exchanges += 1
        population, campaign = labels.get(str(record["account_id"]), ("unlabelled", ""))
        if campaign:
            campaigns.setdefault(campaign, Tally()).add(decision.action, ts)
        else:
            populations.setdefault(population, Tally()).add(decision.action, ts)
    log.close()
    return ReplayResult(campaigns, populations, hunts, exchanges, time.perf_counter() - started)


def _hunt(
    out: Path, registry: Path, models: Path, hash_key: bytes, segment: int, *, hold: bool
) -> None:
    """Hunt the guard's log so far; its accounts.csv becomes the watchlist.

    Only the log files finished since the last hunt are ingested (into a segment store whose
    exchange files then join the main store), so a replay costs one ingest of the traffic,
    not one per hunt.
    """
    done = out / "store" / "ingested.txt"
    seen = set(done.read_text().split("\n")) if done.exists() else set()
    fresh = sorted(p for p in (out / "log").glob("*.jsonl") if p.name not in seen)
    if fresh:
        part = out / "segments" / f"{segment:05d}"
        ingest(
            fresh,
            part,
            accounts=registry if registry.is_file() else None,
            models=models if models.is_file() else None,
            options=IngestOptions(hash_key=hash_key, overwrite=True, annotate=TextSignals()),
        )
        main = out / "store"
        if not main.exists():
            shutil.copytree(part, main)
        else:
            for file in (part / "exchanges").glob("*/*.parquet"):
                target = main / "exchanges" / file.parent.name
                target.mkdir(exist_ok=True)
                file.replace(target / f"segment-{segment:05d}-{file.name}")
        shutil.rmtree(part)
        seen.update(p.name for p in fresh)
        done.write_text("\n".join(sorted(seen)))
    if not (out / "store").exists():
        return
    # With ``hold``, the last hunt's convictions stay while the accounts are suspicious.
    held = hold and (out / "hunt" / "accounts.csv").is_file()
    previous = out / "hunt" if held else None
    hunt(Store(out / "store"), out / "hunt", HuntOptions(previous=previous))
    for name in ("campaigns.json", "accounts.csv"):
        shutil.copyfile(out / "hunt" / name, out / "watch" / f"{name}.tmp")
        (out / "watch" / f"{name}.tmp").replace(out / "watch" / name)
