"""One simulated day: run every session that starts in it, write its exchanges in time order.

Session starts come from the schedule; running sessions wait in a heap keyed by the time of
their next call, so the file is written in time order while only the sessions in flight are
in memory. Sessions that run past midnight finish in their start day's file (the contract
allows any order; ``ts`` orders). Real logs' imperfections are added here: rate limits and
server errors (with the client's retry), dropped connections, missing client fields, the
odd exchange logged twice.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterator
from hashlib import blake2b
from pathlib import Path
from typing import Any, Final

import numpy as np
import orjson

from . import timing
from .accounts import Account
from .ids import Clock, hexid, rfc3339
from .kinds import KINDS
from .models import DAY
from .network import client_record
from .session import Ctx, Exchange, Sess
from .surfaces import error_body
from .world import World
from .writer import GzipLines

ENDPOINTS: Final = {
    "openai.chat": "/v1/chat/completions",
    "openai.responses": "/v1/responses",
    "anthropic.messages": "/v1/messages",
}
REGIONS: Final = ("us-east-1", "us-east-1", "us-west-2", "eu-west-1", "ap-southeast-1")
RETRYABLE: Final = (500, 500, 502, 503, 529, 504)
DUPLICATE: Final = 0.0005
TICK: Final = 2000
Entry = tuple[float, int, Sess, Iterator[Exchange], Exchange | None]


def day_file(world: World, day: int) -> str:
    return f"{rfc3339(world.config.start + day * DAY)[:10]}.jsonl.gz"


def _client(acct: Account, rng: random.Random) -> Any:
    traffic = acct.traffic
    net = traffic.net
    if net.rotating and (not net.fixed or rng.random() < net.p_rotate):
        endpoint = net.rotating[rng.randrange(len(net.rotating))].endpoint(rng)
    else:
        endpoint = net.fixed[rng.randrange(len(net.fixed))]
    u = rng.random()
    if u < 0.002:
        return None  # traffic that reached the model through an internal path
    client = client_record(endpoint, traffic.user_agent, traffic.tls)
    if u < 0.012:
        client["user_agent"] = None
    elif u < 0.03:
        client["tls_fingerprint"] = None  # HTTP/1.1 behind a load balancer: no JA4 logged
    elif u < 0.035:
        client["asn"] = client["asn_org"] = None  # the ASN lookup had no answer
    return client


def _end_user(acct: Account, rng: random.Random) -> str | None:
    n = acct.traffic.end_users
    if not n:
        return None
    k = rng.randrange(n)
    return blake2b(f"{acct.identity.account_id}/{k}".encode(), digest_size=12).hexdigest()


def _open(acct: Account, t: float, ctx: Ctx) -> tuple[Sess, Iterator[Exchange]]:
    rng = ctx.rng
    kinds, weights = zip(*acct.traffic.mix, strict=True)
    sess = Sess(acct, t, _client(acct, rng), _end_user(acct, rng))
    sess.key = acct.identity.key_ids[rng.randrange(len(acct.identity.key_ids))]
    sess.region = REGIONS[rng.randrange(len(REGIONS))]
    return sess, KINDS[rng.choices(kinds, weights)[0]](sess, ctx)


class Day:
    """Writes one day's exchanges and counts them per account."""

    def __init__(self, world: World, day: int, tick: Callable[[int], None] | None) -> None:
        cfg = world.config
        self.world = world
        self.day = day
        self.start = cfg.start + day * DAY
        self.rng = random.Random(f"distillguard-day/{cfg.seed}/{day}")
        self.ctx = Ctx(world.corpus, world.lineup, self.rng, cfg.evasion, cfg.seed)
        self.counts = np.zeros(len(world.accounts), dtype=np.int64)
        self.duplicates = 0
        self.clock = Clock()
        self.tick = tick
        self._pending = 0

    def run(self, path: Path) -> None:
        world, rng = self.world, self.rng
        np_rng = np.random.default_rng([world.config.seed, self.day, 0x5E55])
        starts, who = timing.day(world.plan, np_rng, self.start, world.lineup.new.released_at)
        heap: list[Entry] = []
        seq, i, n = 0, 0, len(starts)
        with GzipLines(path) as out:
            while i < n or heap:
                if heap and (i >= n or heap[0][0] <= starts[i]):
                    t, _, sess, gen, ex = heapq.heappop(heap)
                else:
                    t, acct = float(starts[i]), world.accounts[who[i]]
                    i += 1
                    sess, gen = _open(acct, t, self.ctx)
                    ex = None
                sess.t = t
                if ex is None:
                    ex = next(gen, None)
                    if ex is None:
                        continue
                seq += 1
                status = self._status(sess.acct, rng)
                if status in (429, *RETRYABLE):
                    self._write(out, sess, t, ex, status)
                    backoff = rng.uniform(1.0, 20.0) if status == 429 else rng.uniform(0.5, 4.0)
                    heapq.heappush(heap, (t + backoff, seq, sess, gen, ex))
                    continue
                self._write(out, sess, t, ex, status)
                heapq.heappush(heap, (t + ex.latency_ms / 1000 + ex.gap, seq, sess, gen, None))
        if self.tick and self._pending:
            self.tick(self._pending)

    def _status(self, acct: Account, rng: random.Random) -> int | None:
        u = rng.random()
        traffic = acct.traffic
        if u < traffic.limit_rate:
            return 429
        u -= traffic.limit_rate
        if u < traffic.error_rate:
            return RETRYABLE[rng.randrange(len(RETRYABLE))]
        u -= traffic.error_rate
        if u < 0.0006:
            return 400
        if u < 0.001:
            return None  # the client hung up before the response
        return 200

    def _write(
        self, out: GzipLines, sess: Sess, t: float, ex: Exchange, status: int | None
    ) -> None:
        rng, acct = self.rng, sess.acct
        response: Any = ex.response
        latency: float | None = ex.latency_ms
        if status is None:
            response, latency = None, round(ex.latency_ms * rng.random(), 1)
        elif status != 200:
            response = error_body(ex.surface, status)
            latency = None if rng.random() < 0.1 else round(rng.uniform(20.0, 900.0), 1)
        record: dict[str, Any] = {
            "id": "req_" + hexid(rng, 32),
            "ts": self.clock(t),
            "account_id": acct.identity.account_id,
        }
        if acct.identity.org_id:
            record["org_id"] = acct.identity.org_id
        record["api_key_id"] = sess.key
        if ex.end_user:
            record["end_user_id"] = ex.end_user
        record["surface"] = ex.surface
        record["request"] = ex.request
        record["response"] = response
        record["status"] = status
        record["latency_ms"] = latency
        record["client"] = sess.client
        if rng.random() > 0.01:
            meta: dict[str, Any] = {"endpoint": ENDPOINTS[ex.surface], "region": sess.region}
            if ex.request.get("stream"):
                meta["ttft_ms"] = int(ex.latency_ms * rng.uniform(0.05, 0.3))
            record["meta"] = meta
        line = orjson.dumps(record) + b"\n"
        out.write(line)
        if status == 200 and rng.random() < DUPLICATE:
            out.write(line)  # delivered twice by the logging pipeline
            self.duplicates += 1
        self.counts[acct.index] += 1
        self._pending += 1
        if self._pending >= TICK and self.tick:
            self.tick(self._pending)
            self._pending = 0
