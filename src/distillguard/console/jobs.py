"""Backtests run in the background: one at a time, results kept as JSON in the store.

A backtest is a whole hunt (seconds to minutes), too long for a request: the page starts it
and answers at once, and the result page reloads itself until it is done. One worker
thread runs them in turn, so analysts cannot start enough hunts at once to starve the
console. A finished backtest is written to ``backtests/<id>.json`` in the store folder, so
results outlive a restart; one still running when the console stops is lost (and says so
in the audit log only by having no ``backtest.done`` row).
"""

from __future__ import annotations

import os
import re
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from threading import Lock
from typing import Any, Final, Literal

import orjson

from .audit import record
from .backtest import BacktestOptions, BacktestResult, backtest
from .db import Database
from .errors import ConsoleError

FOLDER: Final = "backtests"
EXCHANGE_STORE: Final = "store"
"""Where ``distillguard hunt`` keeps the store it ingested, inside its output folder."""
JOB_ID: Final = re.compile(r"[0-9]{8}T[0-9]{6}-[0-9a-f]{6}")
SHOWN: Final = 20

Status = Literal["running", "done", "failed"]


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    actor: str
    started: str
    status: Status
    options: BacktestOptions
    result: BacktestResult | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "actor": self.actor,
            "started": self.started,
            "status": self.status,
            "result": None if self.result is None else self.result.to_json(),
            "error": self.error,
            "options": self.options.to_json(),
        }


def _job(doc: dict[str, Any]) -> Job:
    result = None if doc["result"] is None else BacktestResult.from_json(doc["result"])
    options = BacktestOptions.from_json(doc["options"])
    return Job(
        doc["id"], doc["actor"], doc["started"], doc["status"], options, result, doc["error"]
    )


class Backtests:
    """The backtests of one store: started here, run by one worker thread, kept on disk."""

    def __init__(self, store: Path, db: Database) -> None:
        self.store = store
        self.folder = store / FOLDER
        self.db = db
        self._running: dict[str, Job] = {}
        self._lock = Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="backtest")

    @property
    def exchange_store(self) -> Path:
        return self.store / EXCHANGE_STORE

    def start(self, options: BacktestOptions, *, actor: str) -> str:
        """Queue a backtest and audit it; its id. Bad options raise before anything runs."""
        options.check()
        now = datetime.now(UTC)
        ident = f"{now:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"
        job = Job(ident, actor, now.isoformat(timespec="seconds"), "running", options)
        with self.db.connect() as conn:
            record(conn, actor, "backtest.run", ident, detail=options.to_json())
        with self._lock:
            self._running[ident] = job
        self._pool.submit(self._run, job)
        return ident

    def _run(self, job: Job) -> None:
        try:
            result = backtest(self.exchange_store, self.store, job.options)
            done = Job(job.id, job.actor, job.started, "done", job.options, result)
            detail: dict[str, Any] = {
                "flagged": result.flagged,
                "released": result.released,
                "changed": len(result.changes),
            }
        except (ConsoleError, OSError) as exc:
            done = Job(job.id, job.actor, job.started, "failed", job.options, error=str(exc))
            detail = {"error": str(exc)[:500]}
        except Exception as exc:  # a worker must always record how its job ended
            done = Job(job.id, job.actor, job.started, "failed", job.options, error=repr(exc))
            detail = {"error": repr(exc)[:500]}
        self._save(done)
        with self.db.connect() as conn:
            record(conn, job.actor, f"backtest.{done.status}", job.id, detail=detail)
        with self._lock:
            self._running.pop(job.id, None)

    def _save(self, job: Job) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{job.id}.{os.getpid()}.tmp"
        tmp.write_bytes(orjson.dumps(job.to_json()))
        tmp.replace(self.folder / f"{job.id}.json")

    def get(self, ident: str) -> Job | None:
        if not JOB_ID.fullmatch(ident):
            return None
        with self._lock:
            if ident in self._running:
                return self._running[ident]
        try:
            return _job(orjson.loads((self.folder / f"{ident}.json").read_bytes()))
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None

    def recent(self) -> list[Job]:
        """The latest backtests, newest first (ids sort by start time)."""
        with self._lock:
            ids = set(self._running)
        if self.folder.is_dir():
            ids |= {p.stem for p in self.folder.glob("*.json") if JOB_ID.fullmatch(p.stem)}
        jobs = [self.get(i) for i in sorted(ids, reverse=True)[:SHOWN]]
        return [j for j in jobs if j is not None]
