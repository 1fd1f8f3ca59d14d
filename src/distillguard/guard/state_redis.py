"""The guard's state in Redis, shared by every guard replica that points at the same server.

Same semantics as ``MemoryState`` (the tests run one suite over both); only the storage
differs. Every operation is one round trip, and every write is one Lua script, so a request's
buckets are checked and taken atomically across replicas (all or nothing), and replicas never
interleave half-done updates. Scripts use the ``now`` they are given, not the server's clock,
so one guard's clock drives its decisions (and tests can drive it).

Keys (all under ``prefix``, all with a TTL so memory stays bounded without a sweeper):

- ``wa:<account>``, ``wc:<cluster>``: hash of per-minute counts, fields ``n<minute>``
  (requests) and ``x<minute>`` (extraction requests); minutes older than the window are
  trimmed once a hash has more than ``WINDOW_FIELDS`` fields. TTL ``IDLE_S``.
- ``ca:<cluster>``: sorted set of the cluster's accounts by last seen, trimmed to the window
  and capped at ``link_accounts * 64`` (as ``MemoryState``). TTL ``IDLE_S``.
- ``b:<digest>``: one hash per bucket (limit and key, hashed: an API key is a bucket key and
  must not sit in the key space in clear), fields ``r`` (requests), ``t`` (tokens), ``u``
  (last update); a missing field is a full bucket. TTL ``IDLE_S``, or longer while the bucket
  refills (a debt of tokens is not forgiven by expiry), at most ``BUCKET_TTL_MAX_S``.
- ``l:<artefact>``: hash account → cluster, and ``lo:<artefact>``: its accounts in order of
  last use; capped at ``link_accounts`` (least recently used go first). TTL ``IDLE_S``.

Any Redis failure (refused, timed out, out of memory, read-only replica) raises
``StateError``; the policy's ``on_state_error`` decides whether the guard fails open or
closed. Timeouts are short (a guard must not hang on its state) and nothing is retried: a
failed call may have run its script, and running it twice would take or count twice. The
client reconnects by itself (a pooled connection the server closed is replaced before use),
so the same object works again once Redis is back, scripts included (loaded again on demand).

The scripts touch several keys per call, so on a Redis Cluster all keys must share a slot:
put a hash tag in the prefix (``prefix="{dg}:"``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Final

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from .context import Windows
from .state import (
    EPSILON,
    IDLE_S,
    MINUTE,
    WINDOW_S,
    Bucket,
    Observation,
    StateError,
    agreed_cluster,
)

BUCKET_TTL_MAX_S: Final = 24 * 3600
"""A bucket in debt (tokens charged beyond its level) is remembered at most this long idle."""
WINDOW_FIELDS: Final = 2 * (WINDOW_S // MINUTE + 2)
"""A window hash is trimmed of old minutes when it has more fields than this."""

_LUA_BUCKETS: Final = """
local function refill(level, rate, burst, elapsed)
  if rate == nil then return nil end
  local cap = rate * burst
  if level == nil then return cap end
  return math.min(cap, level + rate * elapsed / __MINUTE__)
end

local function wait(level, rate, need)
  if rate == nil or level == nil or level >= need - __EPSILON__ then return 0 end
  return (need - level) * __MINUTE__ / rate
end

local function load(levels, key, rpm, tpm, burst, now)
  local level = levels[key]
  if level == nil then
    local h = redis.call('HMGET', key, 'r', 't', 'u')
    level = {r = tonumber(h[1]), t = tonumber(h[2]), u = tonumber(h[3]) or now}
    levels[key] = level
  end
  local elapsed = math.max(0, now - level.u)
  level.r = refill(level.r, rpm, burst, elapsed)
  level.t = refill(level.t, tpm, burst, elapsed)
  level.u = math.max(level.u, now)
  level.rpm, level.tpm, level.burst = rpm, tpm, burst
  return level
end

local function full_in(level, rate, burst)
  if level == nil or rate == nil or rate <= 0 then return 0 end
  return (rate * burst - level) * __MINUTE__ / rate
end

local function save(key, level, idle, max_ttl)
  local ttl = idle
  for _, dim in ipairs({{'r', level.rpm}, {'t', level.tpm}}) do
    local value = level[dim[1]]
    if value == nil then
      redis.call('HDEL', key, dim[1])
    else
      redis.call('HSET', key, dim[1], string.format('%.17g', value))
      ttl = math.max(ttl, full_in(value, dim[2], level.burst))
    end
  end
  redis.call('HSET', key, 'u', string.format('%.17g', level.u))
  redis.call('EXPIRE', key, math.ceil(math.min(ttl, max_ttl)))
end
"""

_LUA_TAKE: Final = (
    _LUA_BUCKETS
    + """
-- KEYS: one hash per bucket. ARGV: now, idle, max_ttl, then rpm, tpm, burst per bucket
-- ('' for no rate). Returns the wait per bucket; takes one request from each bucket only
-- if every wait is zero.
local now, idle, max_ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local levels, order, waits, empty = {}, {}, {}, false
for i, key in ipairs(KEYS) do
  local rpm, tpm = tonumber(ARGV[3 * i + 1]), tonumber(ARGV[3 * i + 2])
  local level = load(levels, key, rpm, tpm, tonumber(ARGV[3 * i + 3]), now)
  local due = math.max(wait(level.r, rpm, 1), wait(level.t, tpm, 0))
  if due > 0 then empty = true end
  waits[i] = string.format('%.17g', due)
  order[i] = level
end
if not empty then
  for i = 1, #KEYS do
    if order[i].rpm ~= nil then order[i].r = order[i].r - 1 end
  end
end
for key, level in pairs(levels) do save(key, level, idle, max_ttl) end
return waits
"""
)

_LUA_CHARGE: Final = (
    _LUA_BUCKETS
    + """
-- KEYS: one hash per bucket with a token rate. ARGV: now, idle, max_ttl, tokens, then
-- rpm, tpm, burst per bucket.
local now, idle, max_ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tokens = tonumber(ARGV[4])
local levels = {}
for i, key in ipairs(KEYS) do
  local rpm, tpm = tonumber(ARGV[3 * i + 2]), tonumber(ARGV[3 * i + 3])
  local level = load(levels, key, rpm, tpm, tonumber(ARGV[3 * i + 4]), now)
  level.t = level.t - tokens
end
for key, level in pairs(levels) do save(key, level, idle, max_ttl) end
return 0
"""
)

_LUA_OBSERVE: Final = """
-- KEYS: account window, then (if ARGV[2] == '1') cluster window and cluster accounts,
-- then per artefact its link hash and its order set. ARGV: minute, has cluster, extraction,
-- now, idle, account, cluster value for links, link cap, cluster accounts cap, trim above,
-- start of the hour (times as the client's exact float text).
local minute, idle = tonumber(ARGV[1]), tonumber(ARGV[5])
local account, value = ARGV[6], ARGV[7]
local link_cap, accounts_cap, trim_above = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])

local function add(key)
  redis.call('HINCRBY', key, 'n' .. ARGV[1], 1)
  if ARGV[3] == '1' then redis.call('HINCRBY', key, 'x' .. ARGV[1], 1) end
  if redis.call('HLEN', key) > trim_above then
    local oldest = minute - __WINDOW_MINUTES__
    for _, field in ipairs(redis.call('HKEYS', key)) do
      local m = tonumber(string.sub(field, 2))
      if m == nil or m <= oldest then redis.call('HDEL', key, field) end
    end
  end
  redis.call('EXPIRE', key, idle)
end

add(KEYS[1])
local first = 2
if ARGV[2] == '1' then
  add(KEYS[2])
  redis.call('ZADD', KEYS[3], ARGV[4], account)
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[11])
  local n = redis.call('ZCARD', KEYS[3])
  if n > accounts_cap then redis.call('ZREMRANGEBYRANK', KEYS[3], 0, n - accounts_cap - 1) end
  redis.call('EXPIRE', KEYS[3], idle)
  first = 4
end
for i = first, #KEYS, 2 do
  local links, order = KEYS[i], KEYS[i + 1]
  local top = redis.call('ZRANGE', order, -1, -1, 'WITHSCORES')
  local seq = 1
  if top[2] ~= nil then seq = tonumber(top[2]) + 1 end
  redis.call('ZADD', order, seq, account)
  redis.call('HSET', links, account, value)
  local n = redis.call('ZCARD', order)
  if n > link_cap then
    local old = redis.call('ZRANGE', order, 0, n - link_cap - 1)
    redis.call('ZREM', order, unpack(old))
    redis.call('HDEL', links, unpack(old))
  end
  redis.call('EXPIRE', links, idle)
  redis.call('EXPIRE', order, idle)
end
return 0
"""

_LUA_WINDOWS: Final = """
-- KEYS: account window, then optionally cluster window and cluster accounts. ARGV: minute,
-- start of the hour (exclusive). Returns requests this minute, in the hour, extraction in the
-- hour, cluster requests in the hour, cluster accounts seen in the hour.
local minute = tonumber(ARGV[1])

local function totals(key)
  local oldest = minute - __WINDOW_MINUTES__
  local last, hour, extraction = 0, 0, 0
  local h = redis.call('HGETALL', key)
  for i = 1, #h, 2 do
    local m = tonumber(string.sub(h[i], 2))
    if m ~= nil and m > oldest then
      local n = tonumber(h[i + 1])
      if string.sub(h[i], 1, 1) == 'n' then
        hour = hour + n
        if m == minute then last = n end
      else
        extraction = extraction + n
      end
    end
  end
  return last, hour, extraction
end

local last, hour, extraction = totals(KEYS[1])
local c_hour, c_accounts = 0, 0
if #KEYS == 3 then
  local _
  _, c_hour = totals(KEYS[2])
  c_accounts = redis.call('ZCOUNT', KEYS[3], '(' .. ARGV[2], '+inf')
end
return {last, hour, extraction, c_hour, c_accounts}
"""


class RedisState:
    """Windows, buckets and artefact links in Redis, for several guard replicas.

    ``url`` is a redis-py URL (``redis://``, ``rediss://`` or ``unix://``); ``timeout_s``
    bounds connecting and each reply (a state call fails with ``StateError`` rather than
    hold a request); ``link_accounts`` caps the accounts remembered per artefact (and, times
    64, per cluster), as in ``MemoryState``."""

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "dg:",
        timeout_s: float = 0.05,
        link_accounts: int = 64,
    ) -> None:
        self._redis = Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
        )
        self._prefix = prefix
        self._link_accounts = link_accounts
        self._take = self._redis.register_script(_lua(_LUA_TAKE))
        self._charge = self._redis.register_script(_lua(_LUA_CHARGE))
        self._observe = self._redis.register_script(_lua(_LUA_OBSERVE))
        self._windows = self._redis.register_script(_lua(_LUA_WINDOWS))

    async def windows(self, account: str, cluster: str | None, now: float) -> Windows:
        keys = [f"{self._prefix}wa:{account}"]
        if cluster is not None:
            keys += [f"{self._prefix}wc:{cluster}", f"{self._prefix}ca:{cluster}"]
        args: list[str | int | float] = [int(now // MINUTE), repr(float(now - WINDOW_S))]
        try:
            last, hour, extraction, c_hour, c_accounts = await self._windows(keys, args)
        except (RedisError, OSError) as exc:
            raise _error("windows", exc) from exc
        return Windows(
            account_requests_1m=int(last),
            account_requests_1h=int(hour),
            account_extraction_share_1h=int(extraction) / int(hour) if hour else 0.0,
            cluster_requests_1h=int(c_hour),
            cluster_accounts_1h=int(c_accounts),
        )

    async def take(self, buckets: Sequence[Bucket], now: float) -> dict[str, float]:
        if not buckets:
            return {}
        args: list[str | int | float] = [repr(float(now)), IDLE_S, BUCKET_TTL_MAX_S]
        for bucket in buckets:
            args += _rates(bucket)
        try:
            found: list[Any] = await self._take([self._bucket(b) for b in buckets], args)
        except (RedisError, OSError) as exc:
            raise _error("take", exc) from exc
        waits: dict[str, float] = {}
        for bucket, due_text in zip(buckets, found, strict=True):
            due = float(due_text)
            if due > 0:
                waits[bucket.limit] = max(due, waits.get(bucket.limit, 0.0))
        return waits

    async def charge(self, buckets: Sequence[Bucket], tokens: int, now: float) -> None:
        charged = [b for b in buckets if b.tokens_per_minute is not None]
        if not charged:
            return
        args: list[str | int | float] = [repr(float(now)), IDLE_S, BUCKET_TTL_MAX_S, tokens]
        for bucket in charged:
            args += _rates(bucket)
        try:
            await self._charge([self._bucket(b) for b in charged], args)
        except (RedisError, OSError) as exc:
            raise _error("charge", exc) from exc

    async def observe(self, seen: Observation, now: float) -> None:
        p = self._prefix
        keys = [f"{p}wa:{seen.account}"]
        if seen.cluster is not None:
            keys += [f"{p}wc:{seen.cluster}", f"{p}ca:{seen.cluster}"]
        for artefact in seen.artefacts:
            keys += [f"{p}l:{artefact}", f"{p}lo:{artefact}"]
        args: list[str | int | float] = [
            int(now // MINUTE),
            "1" if seen.cluster is not None else "0",
            "1" if seen.extraction else "0",
            repr(float(now)),
            IDLE_S,
            seen.account,
            "" if seen.cluster is None else "=" + seen.cluster,
            self._link_accounts,
            self._link_accounts * 64,
            WINDOW_FIELDS,
            repr(float(now - WINDOW_S)),
        ]
        try:
            await self._observe(keys, args)
        except (RedisError, OSError) as exc:
            raise _error("observe", exc) from exc

    async def linked(self, artefacts: Sequence[str]) -> str | None:
        if not artefacts:
            return None
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for artefact in artefacts:
                    pipe.hvals(f"{self._prefix}l:{artefact}")
                found: list[list[str]] = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise _error("linked", exc) from exc
        return agreed_cluster([[v[1:] if v else None for v in values] for values in found])

    async def close(self) -> None:
        await self._redis.aclose()

    def _bucket(self, bucket: Bucket) -> str:
        digest = hashlib.blake2b(f"{bucket.limit}\0{bucket.key}".encode(), digest_size=16)
        return f"{self._prefix}b:{digest.hexdigest()}"


def _lua(source: str) -> str:
    """A script with the module's constants filled in."""
    return (
        source.replace("__MINUTE__", str(MINUTE))
        .replace("__WINDOW_MINUTES__", str(WINDOW_S // MINUTE))
        .replace("__EPSILON__", repr(EPSILON))
    )


def _rates(bucket: Bucket) -> list[str | int | float]:
    """A bucket's rates as script arguments ('' for no rate: never empty)."""
    rpm, tpm = bucket.requests_per_minute, bucket.tokens_per_minute
    return [
        "" if rpm is None else repr(float(rpm)),
        "" if tpm is None else repr(float(tpm)),
        repr(float(bucket.burst)),
    ]


def _error(operation: str, exc: BaseException) -> StateError:
    return StateError(f"redis {operation}: {type(exc).__name__}: {exc}")
