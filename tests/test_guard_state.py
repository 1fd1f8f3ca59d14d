"""One behavioural suite for the guard's state, run over ``MemoryState`` and ``RedisState``.

Every shared test runs once per backend: windows (requests per minute and hour, extraction
share, cluster accounts, forgetting after an hour), token buckets (burst, wait, refill, token
charges, all or nothing across a request's buckets) and artefact links. The clock is driven by
the ``now`` argument, so no test sleeps.

The Redis tests start a redis-server of their own on a free port (no dependency on a daemon
the machine may run); they are skipped only when the ``redis-server`` binary is absent. The
Redis-only tests check what only a shared store can get wrong: two replicas sharing buckets
(also under concurrent takes), every key expiring, bounded hashes, and failures: a stopped or
hung server raises ``StateError`` quickly, and the same object works again once it is back.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Final, Protocol

import pytest
from redis.asyncio import Redis

from distillguard.guard.context import Windows
from distillguard.guard.state import (
    IDLE_S,
    MINUTE,
    WINDOW_S,
    Bucket,
    MemoryState,
    Observation,
    State,
    StateError,
)
from distillguard.guard.state_redis import BUCKET_TTL_MAX_S, WINDOW_FIELDS, RedisState

pytestmark = pytest.mark.anyio

T0: Final = 1_700_000_040.0
"""A minute boundary."""
assert T0 % MINUTE == 0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# -- a redis-server of the tests' own ---------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _pong(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """A redis-server subprocess on a free port, without persistence, that a test may stop,
    start again (same port), pause and resume."""

    def __init__(self, binary: str, folder: Path) -> None:
        self.binary = binary
        self.folder = folder
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [self.binary, "--bind", "127.0.0.1", "--port", str(self.port)]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.folder)]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10.0
        while not _pong(self.port):
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("redis-server did not answer PING within 10 s")
            time.sleep(0.01)

    def stop(self) -> None:
        if self.process is None:
            return
        self.resume()
        self.process.terminate()
        try:
            self.process.wait(5.0)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def pause(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGCONT)


@pytest.fixture(scope="session")
def redis_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed: the RedisState tests need a real server")
    return binary


@pytest.fixture(scope="session")
def redis_server(
    redis_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RedisServer]:
    server = RedisServer(redis_binary, tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_redis(redis_binary: str, tmp_path: Path) -> Iterator[RedisServer]:
    """A server for one test alone, which it may stop or pause."""
    server = RedisServer(redis_binary, tmp_path)
    server.start()
    yield server
    server.stop()


def _prefix() -> str:
    return f"t{uuid.uuid4().hex[:12]}:"


# -- the shared suite ---------------------------------------------------------------------------


class Make(Protocol):
    def __call__(self, *, link_accounts: int = 64) -> State: ...


@pytest.fixture(params=["memory", "redis"])
async def make(request: pytest.FixtureRequest) -> AsyncIterator[Make]:
    """Makes fresh, empty states of one backend (each Redis one under its own prefix)."""
    server: RedisServer | None = None
    if request.param == "redis":
        server = request.getfixturevalue("redis_server")
    made: list[State] = []

    def make(*, link_accounts: int = 64) -> State:
        state: State
        if server is None:
            state = MemoryState(link_accounts=link_accounts)
        else:
            state = RedisState(
                server.url, prefix=_prefix(), timeout_s=2.0, link_accounts=link_accounts
            )
        made.append(state)
        return state

    yield make
    for state in made:
        await state.close()


def _seen(
    account: str,
    cluster: str | None = None,
    extraction: bool = False,
    artefacts: tuple[str, ...] = (),
) -> Observation:
    return Observation(account, cluster, extraction, artefacts)


async def test_windows_count_requests_and_extraction_share(make: Make) -> None:
    state = make()
    assert await state.windows("a", None, T0) == Windows()
    for offset, extraction in ((0, True), (1, True), (2, False)):
        await state.observe(_seen("a", extraction=extraction), T0 + offset)
    for offset in (60, 61):
        await state.observe(_seen("a"), T0 + offset)
    await state.observe(_seen("b", extraction=True), T0 + 61)

    w = await state.windows("a", None, T0 + 61)
    assert w.account_requests_1m == 2
    assert w.account_requests_1h == 5
    assert w.account_extraction_share_1h == pytest.approx(2 / 5)
    assert (w.cluster_requests_1h, w.cluster_accounts_1h) == (0, 0)
    b = await state.windows("b", None, T0 + 61)
    assert (b.account_requests_1m, b.account_requests_1h) == (1, 1)
    assert b.account_extraction_share_1h == 1.0


async def test_windows_forget_after_an_hour(make: Make) -> None:
    state = make()
    await state.observe(_seen("a", extraction=True), T0)
    await state.observe(_seen("a"), T0 + 1800)
    await state.observe(_seen("a"), T0 + 1801)

    w = await state.windows("a", None, T0 + WINDOW_S - 1)
    assert (w.account_requests_1m, w.account_requests_1h) == (0, 3)
    assert w.account_extraction_share_1h == pytest.approx(1 / 3)
    # The first minute leaves the window when the minute an hour later starts.
    w = await state.windows("a", None, T0 + WINDOW_S)
    assert w.account_requests_1h == 2
    assert w.account_extraction_share_1h == 0.0
    assert await state.windows("a", None, T0 + 1800 + WINDOW_S) == Windows()

    # Observing again after the hour counts from zero (old minutes are gone, not revived).
    await state.observe(_seen("a", extraction=True), T0 + 3 * WINDOW_S)
    w = await state.windows("a", None, T0 + 3 * WINDOW_S)
    assert (w.account_requests_1m, w.account_requests_1h) == (1, 1)
    assert w.account_extraction_share_1h == 1.0


async def test_cluster_windows_count_accounts_and_requests(make: Make) -> None:
    state = make()
    await state.observe(_seen("a1", "C"), T0)
    await state.observe(_seen("a2", "C"), T0 + 10)
    await state.observe(_seen("a1", "C"), T0 + 20)
    await state.observe(_seen("a3", "D"), T0 + 30)

    w = await state.windows("a1", "C", T0 + 30)
    assert (w.cluster_requests_1h, w.cluster_accounts_1h) == (3, 2)
    assert (w.account_requests_1m, w.account_requests_1h) == (2, 2)
    w = await state.windows("a1", "D", T0 + 30)  # the account's own counts do not depend on it
    assert (w.cluster_requests_1h, w.cluster_accounts_1h) == (1, 1)
    assert w.account_requests_1h == 2
    w = await state.windows("a1", None, T0 + 30)
    assert (w.cluster_requests_1h, w.cluster_accounts_1h) == (0, 0)
    w = await state.windows("new", "unknown", T0 + 30)
    assert w == Windows()

    await state.observe(_seen("a4", "C"), T0 + 1800)
    w = await state.windows("a4", "C", T0 + 1800)
    assert (w.cluster_requests_1h, w.cluster_accounts_1h) == (4, 3)
    # An hour on: accounts by the second they were last seen (a1 at +20 stays, a2 at +10
    # goes), requests by the minute (all of the first minute goes).
    w = await state.windows("a4", "C", T0 + WINDOW_S + 15)
    assert (w.cluster_requests_1h, w.cluster_accounts_1h) == (1, 2)
    w = await state.windows("a4", "C", T0 + 1800 + WINDOW_S)
    assert (w.cluster_requests_1h, w.cluster_accounts_1h) == (0, 0)

    # Last seen is kept to the fraction of a second, not rounded.
    seen = T0 + 2**-20
    await state.observe(_seen("e1", "E"), seen)
    w = await state.windows("e1", "E", seen + WINDOW_S - 2**-21)
    assert w.cluster_accounts_1h == 1
    w = await state.windows("e1", "E", seen + WINDOW_S)
    assert w.cluster_accounts_1h == 0


async def test_cluster_accounts_are_capped(make: Make) -> None:
    state = make(link_accounts=2)  # a cluster remembers 2 * 64 accounts
    for i in range(200):
        await state.observe(_seen(f"a{i}", "C"), T0 + i * 0.25)
    w = await state.windows("a0", "C", T0 + 60)
    assert w.cluster_accounts_1h == 128
    assert w.cluster_requests_1h == 200


def _rpm(limit: str, key: str, rpm: float, burst: float = 1.0) -> Bucket:
    return Bucket(limit, key, requests_per_minute=rpm, tokens_per_minute=None, burst=burst)


def _tpm(limit: str, key: str, tpm: float, burst: float = 1.0) -> Bucket:
    return Bucket(limit, key, requests_per_minute=None, tokens_per_minute=tpm, burst=burst)


async def test_bucket_lets_a_burst_through_then_waits_and_refills(make: Make) -> None:
    state = make()
    bucket = _rpm("per_account", "account:a", rpm=6, burst=2)  # 12 requests, then 1 per 10 s
    for i in range(12):
        assert await state.take([bucket], T0) == {}, f"request {i + 1} of the burst"
    assert await state.take([bucket], T0) == {"per_account": pytest.approx(10.0)}
    # A refused request takes nothing: the wait does not grow.
    assert await state.take([bucket], T0) == {"per_account": pytest.approx(10.0)}
    assert await state.take([bucket], T0 + 4) == {"per_account": pytest.approx(6.0)}
    assert await state.take([bucket], T0 + 10) == {}
    assert await state.take([bucket], T0 + 10) == {"per_account": pytest.approx(10.0)}
    # Refilling stops at the cap: after an hour idle, again exactly one burst.
    later = T0 + WINDOW_S
    for i in range(12):
        assert await state.take([bucket], later) == {}, f"request {i + 1} after refill"
    assert await state.take([bucket], later) == {"per_account": pytest.approx(10.0)}
    # Another key of the same limit is its own bucket.
    assert await state.take([_rpm("per_account", "account:b", 6, 2)], later) == {}


async def test_fractional_rates_and_bursts(make: Make) -> None:
    state = make()
    bucket = _rpm("slow", "k", rpm=0.5, burst=3.5)  # holds 1.75 requests, 1 per 2 minutes
    assert await state.take([bucket], T0) == {}
    assert await state.take([bucket], T0) == {"slow": pytest.approx(30.0)}  # 0.75 left
    assert await state.take([bucket], T0 + 30) == {}
    assert await state.take([bucket], T0 + 30) == {"slow": pytest.approx(120.0)}
    later = T0 + WINDOW_S
    assert await state.take([bucket], later) == {}
    assert await state.take([bucket], later) == {"slow": pytest.approx(30.0)}


async def test_token_charge_makes_the_next_take_wait(make: Make) -> None:
    state = make()
    bucket = _tpm("tokens", "account:a", tpm=1000)
    for _ in range(3):  # no request rate: takes alone never empty it
        assert await state.take([bucket], T0) == {}
    await state.charge([bucket], 1500, T0)  # 1000 - 1500: 500 in debt
    assert await state.take([bucket], T0) == {"tokens": pytest.approx(30.0)}
    assert await state.take([bucket], T0 + 20) == {"tokens": pytest.approx(10.0)}
    # Back to zero (give or take the rounding of two refills): a request may go.
    assert await state.take([bucket], T0 + 30 + 1e-6) == {}
    # Charging a bucket without a token rate does nothing.
    requests = _rpm("requests", "account:a", rpm=60)
    await state.charge([requests], 10**9, T0 + 30)
    assert await state.take([requests], T0 + 30) == {}
    # A new bucket starts full, and a charge within it leaves requests through.
    fresh = _tpm("tokens", "account:b", tpm=1000)
    await state.charge([fresh], 999, T0)
    assert await state.take([fresh], T0) == {}
    await state.charge([fresh], 2, T0)
    assert await state.take([fresh], T0) == {"tokens": pytest.approx(0.06)}


async def test_requests_and_tokens_in_one_bucket(make: Make) -> None:
    state = make()
    bucket = Bucket("both", "k", requests_per_minute=2, tokens_per_minute=600)
    assert await state.take([bucket], T0) == {}
    await state.charge([bucket], 900, T0)  # tokens -300: 30 s; requests 1 left
    assert await state.take([bucket], T0) == {"both": pytest.approx(30.0)}
    assert await state.take([bucket], T0 + 30) == {}  # requests 1 + 1 = 2, capped at 2
    assert await state.take([bucket], T0 + 30) == {}
    assert await state.take([bucket], T0 + 30) == {"both": pytest.approx(30.0)}


async def test_take_is_all_or_nothing_across_buckets(make: Make) -> None:
    state = make()
    account = _rpm("per_account", "account:a", rpm=60)  # 60 requests
    cluster = _rpm("per_cluster", "cluster:C", rpm=1)  # 1 request
    assert await state.take([account, cluster], T0) == {}
    for _ in range(5):
        assert await state.take([account, cluster], T0) == {"per_cluster": pytest.approx(60.0)}
    # The refused requests took nothing from the account bucket: 59 are left, not 54.
    for i in range(59):
        assert await state.take([account], T0) == {}, f"request {i + 1}"
    assert await state.take([account], T0) == {"per_account": pytest.approx(1.0)}
    # Both empty: both waits are reported.
    assert await state.take([account, cluster], T0) == {
        "per_account": pytest.approx(1.0),
        "per_cluster": pytest.approx(60.0),
    }
    assert await state.take([], T0) == {}


async def test_waits_of_one_limit_over_several_keys_take_the_longest(make: Make) -> None:
    state = make()
    short = _rpm("per_key", "api_key:x", rpm=4, burst=0.5)  # 2 requests, then 15 s each
    long = _rpm("per_key", "api_key:y", rpm=2)  # 2 requests, then 30 s each
    other = _rpm("per_payment", "payment:p", rpm=60)
    for _ in range(2):
        assert await state.take([short, long, other], T0) == {}
    assert await state.take([short, long, other], T0) == {"per_key": pytest.approx(30.0)}
    assert await state.take([long, short], T0) == {"per_key": pytest.approx(30.0)}
    assert await state.take([short], T0) == {"per_key": pytest.approx(15.0)}
    assert await state.take([other], T0) == {}


async def test_two_artefacts_of_a_cluster_link_a_newcomer(make: Make) -> None:
    state = make()
    both = ["system:x", "net:1"]
    assert await state.linked([]) is None
    assert await state.linked(both) is None
    await state.observe(_seen("a1", "C", artefacts=("system:x", "net:1")), T0)
    # One account is not enough, however often it is seen.
    await state.observe(_seen("a1", "C", artefacts=("system:x", "net:1")), T0 + 1)
    assert await state.linked(both) is None
    await state.observe(_seen("a2", "C", artefacts=("system:x", "net:1")), T0 + 2)
    assert await state.linked(both) == "C"
    assert await state.linked(["template:1", *both]) == "C"
    # One artefact alone weighs less than a link, as in the hunt.
    assert await state.linked(["system:x"]) is None
    assert await state.linked(["net:1", "template:1"]) is None
    assert await state.linked(["template:1"]) is None


async def test_artefacts_tying_a_newcomer_to_different_clusters_link_it_to_neither(
    make: Make,
) -> None:
    state = make()
    for i in range(2):
        await state.observe(_seen(f"c{i}", "C", artefacts=("system:x",)), T0 + i)
        await state.observe(_seen(f"d{i}", "D", artefacts=("net:1",)), T0 + 10 + i)
    assert await state.linked(["system:x", "net:1"]) is None
    for i in range(2):
        await state.observe(_seen(f"d{i}", "D", artefacts=("template:7",)), T0 + 20 + i)
    assert await state.linked(["system:x", "net:1", "template:7"]) == "D"


async def test_an_artefact_mostly_of_unclustered_accounts_links_nobody(make: Make) -> None:
    state = make()
    campus = ["net:campus", "template:essay"]
    for i in range(3):
        await state.observe(_seen(f"c{i}", "C", artefacts=tuple(campus)), T0 + i)
    assert await state.linked(campus) == "C"
    for i in range(2):  # 3 of 5: below the purity
        await state.observe(_seen(f"u{i}", None, artefacts=("net:campus",)), T0 + 10 + i)
    assert await state.linked(campus) is None
    # An account seen again with a cluster counts once, with its latest cluster.
    await state.observe(_seen("u0", "C", artefacts=("net:campus",)), T0 + 20)
    await state.observe(_seen("u1", "C", artefacts=("net:campus",)), T0 + 21)
    assert await state.linked(campus) == "C"
    # Another cluster's accounts only dilute it.
    for i in range(2):
        await state.observe(_seen(f"d{i}", "D", artefacts=("net:campus",)), T0 + 30 + i)
    assert await state.linked(campus) is None


async def test_artefact_links_keep_the_latest_accounts(make: Make) -> None:
    state = make(link_accounts=4)
    x = ("system:x", "net:1")
    for i, (account, cluster) in enumerate(
        [("c1", "C"), ("c2", "C"), ("u1", None), ("u2", None), ("u3", None)]
    ):
        await state.observe(_seen(account, cluster, artefacts=x), T0 + i)
    assert await state.linked(x) is None  # c2, u1, u2, u3 (c1 went)
    await state.observe(_seen("c2", "C", artefacts=x), T0 + 5)  # c2 is used again: kept
    await state.observe(_seen("c3", "C", artefacts=x), T0 + 6)  # u1 goes
    await state.observe(_seen("c4", "C", artefacts=x), T0 + 7)  # u2 goes
    assert await state.linked(x) is None  # u3, c2, c3, c4: 3 of 4 is below the purity
    await state.observe(_seen("c5", "C", artefacts=x), T0 + 8)  # u3 goes
    assert await state.linked(x) == "C"


# -- Redis only -----------------------------------------------------------------------------


async def test_replicas_share_buckets_windows_and_links(redis_server: RedisServer) -> None:
    prefix = _prefix()
    one = RedisState(redis_server.url, prefix=prefix, timeout_s=2.0)
    two = RedisState(redis_server.url, prefix=prefix, timeout_s=2.0)
    other = RedisState(redis_server.url, prefix=_prefix(), timeout_s=2.0)
    try:
        bucket = _rpm("per_account", "account:a", rpm=6, burst=2)
        for i in range(12):
            replica = (one, two)[i % 2]
            assert await replica.take([bucket], T0) == {}, f"request {i + 1}"
        assert await one.take([bucket], T0) == {"per_account": pytest.approx(10.0)}
        assert await two.take([bucket], T0 + 4) == {"per_account": pytest.approx(6.0)}
        assert await other.take([bucket], T0) == {}  # another prefix: another deployment

        tokens = _tpm("tokens", "account:a", tpm=1000)
        await one.charge([tokens], 1500, T0)
        assert await two.take([tokens], T0) == {"tokens": pytest.approx(30.0)}

        await one.observe(_seen("a1", "C", True, ("system:x", "net:1")), T0)
        await two.observe(_seen("a2", "C", False, ("system:x", "net:1")), T0 + 1)
        w = await two.windows("a1", "C", T0 + 1)
        assert (w.account_requests_1h, w.account_extraction_share_1h) == (1, 1.0)
        assert (w.cluster_requests_1h, w.cluster_accounts_1h) == (2, 2)
        assert await one.linked(["system:x", "net:1"]) == "C"
        assert await other.linked(["system:x", "net:1"]) is None

        # Concurrent takes from both replicas: exactly the burst gets through, and the
        # all-or-nothing rule holds (the refused requests took nothing from the wide bucket).
        narrow = _rpm("per_cluster", "cluster:C", rpm=30)
        wide = _rpm("per_account", "account:z", rpm=1000)
        results = await asyncio.gather(
            *(replica.take([wide, narrow], T0) for _ in range(40) for replica in (one, two))
        )
        assert sum(result == {} for result in results) == 30
        assert all(r == {} or set(r) == {"per_cluster"} for r in results)
        taken = 0
        while await one.take([wide], T0) == {}:
            taken += 1
        assert taken == 1000 - 30
    finally:
        for state in (one, two, other):
            await state.close()


async def test_replica_clocks_a_little_apart_do_not_refill_twice(
    redis_server: RedisServer,
) -> None:
    """A replica whose clock is behind neither refills a bucket nor moves its last update
    back (else the replica ahead would refill the same seconds again). ``MemoryState`` has one
    clock and moves the update back; this is Redis only."""
    prefix = _prefix()
    ahead = RedisState(redis_server.url, prefix=prefix, timeout_s=2.0)
    behind = RedisState(redis_server.url, prefix=prefix, timeout_s=2.0)
    try:
        bucket = _rpm("per_account", "account:a", rpm=60)  # 60 requests, 1 a second
        for _ in range(60):
            assert await ahead.take([bucket], T0) == {}
        assert await ahead.take([bucket], T0 + 10) == {}  # 10 refilled, 9 left
        assert await behind.take([bucket], T0 + 5) == {}  # 8 left
        taken = 0
        while await ahead.take([bucket], T0 + 10) == {}:
            taken += 1
        assert taken == 8
    finally:
        await ahead.close()
        await behind.close()


async def test_every_key_expires(redis_server: RedisServer) -> None:
    prefix = _prefix()
    state = RedisState(redis_server.url, prefix=prefix, timeout_s=2.0)
    client = Redis.from_url(redis_server.url, decode_responses=True)
    try:
        await state.observe(_seen("a", "C", True, ("system:x", "net:1")), T0)
        await state.observe(_seen("b", None, False, ("system:x",)), T0)
        both = Bucket("both", "account:a", requests_per_minute=10, tokens_per_minute=1000)
        await state.take([both, _rpm("per_cluster", "cluster:C", 5)], T0)
        debt = _tpm("tokens", "account:debtor", tpm=1000)
        await state.charge([debt], 10**7, T0)  # ~7 days to refill: kept a day at most
        keys = sorted([key async for key in client.scan_iter(match=f"{prefix}*")])
        # wa:a wa:b wc:C ca:C, l: and lo: of two artefacts, three buckets
        assert len(keys) == 11, keys
        ttls = {key: await client.ttl(key) for key in keys}
        debtor = [key for key, ttl in ttls.items() if ttl > IDLE_S]
        assert len(debtor) == 1, ttls
        assert BUCKET_TTL_MAX_S - 5 <= ttls.pop(debtor[0]) <= BUCKET_TTL_MAX_S
        assert all(IDLE_S - 5 <= ttl <= IDLE_S for ttl in ttls.values()), ttls
        assert not any("account:" in key for key in keys)  # bucket keys are hashed
    finally:
        await client.aclose()
        await state.close()


async def test_window_and_link_hashes_stay_bounded(redis_server: RedisServer) -> None:
    prefix = _prefix()
    state = RedisState(redis_server.url, prefix=prefix, timeout_s=2.0, link_accounts=8)
    client = Redis.from_url(redis_server.url, decode_responses=True)
    try:
        for m in range(3 * 60):  # three hours, one request a minute
            await state.observe(_seen("a", "C", True, ("net:1",)), T0 + m * MINUTE)
        assert await client.hlen(f"{prefix}wa:a") <= WINDOW_FIELDS + 2
        assert await client.hlen(f"{prefix}wc:C") <= WINDOW_FIELDS + 2
        w = await state.windows("a", "C", T0 + (3 * 60 - 1) * MINUTE)
        assert (w.account_requests_1h, w.cluster_requests_1h) == (60, 60)
        assert w.account_extraction_share_1h == 1.0

        for i in range(50):
            await state.observe(_seen(f"u{i}", None, False, ("net:1",)), T0 + i)
        assert await client.hlen(f"{prefix}l:net:1") == 8
        assert await client.zcard(f"{prefix}lo:net:1") == 8
    finally:
        await client.aclose()
        await state.close()


async def _all_fail(state: RedisState, budget_s: float) -> None:
    """Every operation raises ``StateError`` within ``budget_s``."""
    bucket = _rpm("per_account", "account:down", rpm=60)
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "windows": lambda: state.windows("down", "C", T0),
        "take": lambda: state.take([bucket], T0),
        "charge": lambda: state.charge([_tpm("tokens", "account:down", 100)], 10, T0),
        "observe": lambda: state.observe(_seen("down", "C", True, ("system:x",)), T0),
        "linked": lambda: state.linked(["system:x"]),
    }
    for name, call in calls.items():
        began = time.perf_counter()
        with pytest.raises(StateError):
            await call()
        took = time.perf_counter() - began
        assert took < budget_s, f"{name} took {took:.2f} s to fail"


async def test_a_stopped_server_raises_state_error_and_the_state_reconnects(
    own_redis: RedisServer,
) -> None:
    state = RedisState(own_redis.url, prefix=_prefix(), timeout_s=0.2)
    try:
        bucket = _rpm("per_account", "account:a", rpm=1)
        assert await state.take([bucket], T0) == {}
        assert await state.take([bucket], T0) == {"per_account": pytest.approx(60.0)}
        own_redis.stop()
        await _all_fail(state, budget_s=1.0)
        await _all_fail(state, budget_s=1.0)  # and again: no backoff piles up

        own_redis.start()  # same port, empty (no persistence), no scripts loaded
        assert await state.take([bucket], T0) == {}
        assert await state.take([bucket], T0) == {"per_account": pytest.approx(60.0)}
        await state.observe(_seen("a", "C", True, ("system:x",)), T0)
        w = await state.windows("a", "C", T0)
        assert (w.account_requests_1h, w.cluster_accounts_1h) == (1, 1)
    finally:
        await state.close()


async def test_a_closed_port_raises_state_error_quickly() -> None:
    state = RedisState(f"redis://127.0.0.1:{_free_port()}/0", timeout_s=0.2)
    try:
        await _all_fail(state, budget_s=1.0)
    finally:
        await state.close()


async def test_a_hung_server_times_out_and_later_replies_are_not_mixed_up(
    own_redis: RedisServer,
) -> None:
    state = RedisState(own_redis.url, prefix=_prefix(), timeout_s=0.1)
    try:
        await state.observe(_seen("a"), T0)  # connected before the server hangs
        own_redis.pause()
        await _all_fail(state, budget_s=1.0)
        own_redis.resume()
        # Fresh keys (the timed-out writes may still have run) and exact answers: a reply
        # meant for a timed-out call must not be read as the answer to a later one.
        bucket = _rpm("per_account", "account:after", rpm=1)
        assert await state.take([bucket], T0) == {}
        assert await state.take([bucket], T0) == {"per_account": pytest.approx(60.0)}
        await state.observe(_seen("after", "D", True, ("system:after", "net:after")), T0)
        w = await state.windows("after", "D", T0)
        assert w == Windows(1, 1, 1.0, 1, 1)
        assert await state.linked(["system:after", "net:after"]) is None
    finally:
        own_redis.resume()
        await state.close()


async def test_memory_windows_match_a_recount_of_what_was_observed() -> None:
    """Random traffic over hours, the clock now and then a few minutes back: every window of
    ``MemoryState`` (which keeps running sums) equals a recount of the observations an hour
    back from the query. Minutes that a later observation aged out stay out; Redis keeps
    them until they expire, so after a clock steps back the two may differ, by design."""
    import random

    rng = random.Random(3)
    state = MemoryState()
    kept: list[tuple[int, bool]] = []  # (minute, extraction) not yet aged out
    now = T0
    for step in range(400):
        now += rng.choice([1, 5, 30, 90, 600]) if rng.random() > 0.1 else -rng.choice([30, 200])
        extraction = rng.random() < 0.3
        await state.observe(_seen("a", extraction=extraction), now)
        minute = int(now // 60)
        kept = [(m, x) for m, x in [*kept, (minute, extraction)] if m > minute - WINDOW_S // 60]
        if step % 7 == 0:
            asked = now + rng.choice([0, 0, 30, 1800])
            q = int(asked // 60)
            inside = [(m, x) for m, x in kept if m > q - WINDOW_S // 60]
            w = await state.windows("a", None, asked)
            assert w.account_requests_1h == len(inside), step
            assert w.account_requests_1m == sum(1 for m, _ in kept if m == q), step
            share = sum(x for _, x in inside) / len(inside) if inside else 0.0
            assert w.account_extraction_share_1h == pytest.approx(share), step
