"""Guard benchmark: decision latency, proxy throughput against a bare proxy, memory.

    python bench/guard.py                       # the full run (about 8 minutes on 2 cores)
    python bench/guard.py --quick               # a smoke run (about 2 minutes)
    python bench/guard.py --profile             # also cProfile ``Guard.assess``: top costs
    python bench/guard.py --parts proxy --concurrency 4    # one part, other settings

1. **decision**, in this process: ``Guard.assess`` (identity, online signals from the rule
   files, watchlist lookup, windows and token buckets, ``decide``) and ``decide`` alone, per
   call with ``time.perf_counter_ns``, over the requests of simulated traffic (all three
   surfaces) replayed in time order on the traffic's own clock. The watchlist is a hunt of
   that traffic and the registry is the simulator's. ``finish`` runs after each request
   (untimed) so windows, buckets and links fill as they would. A breakdown times the parts
   of the online signals (normalising the request, the text rules) the same way.
2. **proxy**, as separate processes (uvicorn): upstream, proxy and load generator. The
   load generator (plain asyncio sockets, so that it costs little CPU) keeps N requests (32)
   in flight over keep-alive connections for a fixed time,
   plain JSON and streamed, against ``build_app(guard, upstream)`` and against a bare
   Starlette + httpx pass-through with the same client settings, alternating, in the same
   run. Two upstreams: the tests' model server (``tests/upstream.py``) and a canned one that
   answers with that server's replies computed once (so the proxy, not the upstream, is what
   runs out of CPU). The CPU each process used over the window is reported beside the rates.
3. **memory**, in a process of its own: resident memory of a ``Guard`` with ``MemoryState``
   before and after ``assess`` + ``finish`` traffic from many distinct accounts (each a few
   requests, each account on its own network, so every account leaves windows, token buckets
   and artefact links behind), with a watchlist covering them all.

Results go to ``bench/results/guard-<time>.json`` with the machine they ran on; the run
prints one JSON line and Markdown tables.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import cProfile
import csv
import gc
import gzip
import json
import os
import pstats
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Final

import httpx
import orjson
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from distillguard.exchange import RowBuffer
from distillguard.guard import Context, Guard, Policy, decide, load, loads
from distillguard.guard.engine import RELOAD_EVERY_S
from distillguard.guard.log import ExchangeLog
from distillguard.guard.online import OnlineSignals
from distillguard.guard.policy import default_path
from distillguard.guard.pool import POOLS, Upstream
from distillguard.guard.proxy import HOP_HEADERS, SURFACE_OF_PATH, build_app
from distillguard.guard.serve import settle_collector
from distillguard.guard.sse import output_tokens
from distillguard.guard.state import MemoryState
from distillguard.hashing import DEFAULT_KEY, Hasher
from distillguard.signals import load as load_rules
from distillguard.signals.expr import Condition
from distillguard.signals.match import OnlineMatcher
from distillguard.simulate import simulate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import CLI, machine

HERE: Final = Path(__file__).resolve().parent
TESTS: Final = HERE.parent / "tests"
SURFACES: Final = ("openai.chat", "openai.responses", "anthropic.messages")
PATH_OF: Final = {surface: path for path, surface in SURFACE_OF_PATH.items()}
ADMIN_TOKEN: Final = "bench-admin-token"
CONCURRENCY: Final = 32
POOL: Final = 4000
"""Requests the load generator cycles through (the first of the traffic, all surfaces)."""
EXTRA_LIMITS: Final = """
version: 1
limits:
  - name: every key
    scope: api_key
    when: always
    requests_per_minute: 600
    tokens_per_minute: 1000000
  - name: every account
    scope: account
    when: always
    requests_per_minute: 300
    tokens_per_minute: 600000
"""
"""Limits the memory part adds to the default policy's two, so every account holds buckets."""
TARGETS: Final = {
    "assess_p50_us": 100.0,
    "assess_p99_us": 1000.0,
    "proxy_ratio": 0.8,
    "memory_mib": 1024.0,
}


@dataclass(frozen=True)
class Sizes:
    scale: float
    days: int
    warmup: int
    """Requests of the replay that are not counted (the first ones)."""
    load_warmup_s: float
    load_seconds: float
    rounds: int
    """Proxy runs per (upstream, mode, proxy), alternating bare and guard; the median counts."""
    accounts: int
    per_account: int


FULL: Final = Sizes(
    scale=0.002,
    days=2,
    warmup=1000,
    load_warmup_s=3.0,
    load_seconds=10.0,
    rounds=3,
    accounts=100_000,
    per_account=3,
)
QUICK: Final = Sizes(
    scale=0.001,
    days=1,
    warmup=200,
    load_warmup_s=1.0,
    load_seconds=3.0,
    rounds=1,
    accounts=5_000,
    per_account=3,
)


# -- traffic ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Traffic:
    exchanges: Path
    watchlist: Path
    """A hunt's output folder (``accounts.csv``)."""
    registry: Path


def prepare(work: Path, sizes: Sizes, seed: int) -> Traffic:
    """Simulated traffic and a hunt of it (the hunt as its own process)."""
    folder = work / "traffic"
    simulate(folder, scale=sizes.scale, days=sizes.days, seed=seed, evasion=0, workers=1)
    hunted = work / "hunt"
    subprocess.run(
        [
            *CLI,
            "hunt",
            str(folder / "exchanges"),
            "--accounts",
            str(folder / "accounts.jsonl"),
            "--models",
            str(folder / "models.jsonl"),
            "--out",
            str(hunted),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return Traffic(folder / "exchanges", hunted, folder / "accounts.jsonl")


def read_records(folder: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Exchange records of a simulated log, in time order."""
    out: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.jsonl.gz")):
        with gzip.open(path, "rb") as f:
            for line in f:
                out.append(orjson.loads(line))
                if limit is not None and len(out) >= limit:
                    break
        if limit is not None and len(out) >= limit:
            break
    out.sort(key=lambda record: str(record["ts"]))
    return out


def request_headers(record: Mapping[str, Any]) -> dict[str, str]:
    """What a client of this account sends (lower-case names, as the proxy passes them)."""
    headers = {"content-type": "application/json", "x-account-id": str(record["account_id"])}
    if record.get("api_key_id"):
        headers["authorization"] = f"Bearer {record['api_key_id']}"
    agent = (record.get("client") or {}).get("user_agent")
    if agent:
        headers["user-agent"] = str(agent)
    if record["surface"] == "anthropic.messages":
        headers["anthropic-version"] = "2023-06-01"
    return headers


def client_ip(record: Mapping[str, Any]) -> str | None:
    ip = (record.get("client") or {}).get("ip")
    return str(ip) if ip else None


def bench_policy(watchlist: Path, registry: Path | None, *, roomy: bool = False) -> Policy:
    """The shipped policy with a watchlist and a registry. ``roomy`` multiplies the limits'
    rates by 10,000: buckets are still checked and charged, but never empty."""
    policy = replace(load(default_path()), watchlist=watchlist, registry=registry)
    if roomy:
        policy = replace(
            policy,
            limits=tuple(
                replace(
                    limit,
                    requests_per_minute=_times(limit.requests_per_minute, 10_000),
                    tokens_per_minute=_times(limit.tokens_per_minute, 10_000),
                )
                for limit in policy.limits
            ),
        )
    return policy


def _times(rate: float | None, factor: float) -> float | None:
    return None if rate is None else rate * factor


# -- 1. decision latency ---------------------------------------------------------------------


class ReplayClock:
    """The time of the request being replayed."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class ReplayGuard(Guard):
    """A guard on the replay's clock that checks its files once per second of wall time, as
    a guard in production does (the replay's clock jumps seconds from one request to the
    next, so the guard's own check would stat the files on every request)."""

    def __init__(self, policy: Policy, clock: ReplayClock) -> None:
        super().__init__(policy, clock=clock)
        self._wall = time.monotonic()

    def _maybe_reload(self, now: float) -> None:
        wall = time.monotonic()
        if wall - self._wall >= RELOAD_EVERY_S:
            self._wall = wall
            self.reload()


@dataclass(frozen=True)
class Replayed:
    surface: str
    epoch: float
    body: dict[str, Any]
    headers: dict[str, str]
    ip: str | None
    response: dict[str, Any] | None
    tokens: int


def replayable(records: Sequence[Mapping[str, Any]]) -> list[Replayed]:
    out = []
    for record in records:
        response = record.get("response")
        response = response if isinstance(response, dict) else None
        out.append(
            Replayed(
                surface=str(record["surface"]),
                epoch=datetime.fromisoformat(str(record["ts"])).timestamp(),
                body=record["request"],
                headers=request_headers(record),
                ip=client_ip(record),
                response=response,
                tokens=output_tokens(str(record["surface"]), response),
            )
        )
    return out


async def replay(
    guard: Guard, clock: ReplayClock, requests: Sequence[Replayed]
) -> tuple[list[int], list[int], list[int], list[Context], list[str]]:
    """Assess and finish every request in order: nanoseconds per assess (wall, and CPU time
    of this thread) and per ``finish`` (after the response, off the decision's path), the
    contexts decided on and the actions."""
    took: list[int] = []
    finished: list[int] = []
    cpu: list[int] = []
    contexts: list[Context] = []
    actions: list[str] = []
    clock_ns = time.perf_counter_ns
    cpu_ns = time.thread_time_ns
    for request in requests:
        clock.now = request.epoch
        cpu_began = cpu_ns()
        began = clock_ns()
        assessment = await guard.assess(request.surface, request.body, request.headers, request.ip)
        ended = clock_ns()
        cpu.append(cpu_ns() - cpu_began)
        took.append(ended - began)
        contexts.append(assessment.context)
        actions.append(assessment.decision.action)
        began = clock_ns()
        await guard.finish(assessment, response=request.response, status=200, tokens=request.tokens)
        finished.append(clock_ns() - began)
    return took, cpu, finished, contexts, actions


def percentiles(values_ns: Sequence[int]) -> dict[str, float]:
    """p50, p90, p99, p99.9, max and mean in microseconds."""
    ordered = sorted(values_ns)
    n = len(ordered)

    def at(q: float) -> float:
        return ordered[min(n - 1, int(q * n))] / 1e3

    return {
        "n": n,
        "p50_us": round(at(0.50), 1),
        "p90_us": round(at(0.90), 1),
        "p99_us": round(at(0.99), 1),
        "p999_us": round(at(0.999), 1),
        "max_us": round(ordered[-1] / 1e3, 1),
        "mean_us": round(statistics.fmean(ordered) / 1e3, 1),
    }


def timed(function: Callable[..., object], calls: Iterable[tuple[Any, ...]]) -> list[int]:
    """Nanoseconds of ``function(*args)`` for each ``args``."""
    out = []
    clock_ns = time.perf_counter_ns
    for args in calls:
        began = clock_ns()
        function(*args)
        out.append(clock_ns() - began)
    return out


@contextlib.contextmanager
def frozen() -> Iterator[None]:
    """The collector set up as the guard server does at start (``serve.settle_collector``):
    what is in memory stays out of its walks (here that includes the replayed records, which
    a server never holds and whose walks would otherwise show in the slowest decisions)."""
    settle_collector()
    try:
        yield
    finally:
        gc.unfreeze()


def decision_bench(traffic: Traffic, sizes: Sizes, profile: bool) -> dict[str, Any]:
    records = read_records(traffic.exchanges)
    requests = replayable(records)
    clock = ReplayClock()
    guard = ReplayGuard(bench_policy(traffic.watchlist, traffic.registry), clock)
    busy_before, _ = machine_busy()
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    with frozen():
        took, cpu, finished, contexts, actions = asyncio.run(replay(guard, clock, requests))
    wall = time.perf_counter() - wall_before
    own = (time.process_time() - cpu_before) / wall
    other = (machine_busy()[0] - busy_before) / wall - own
    skip = min(sizes.warmup, len(requests) // 10)
    policy = guard.policy
    with frozen():
        decide_ns = timed(decide, ((policy, context) for context in contexts))[skip:]
    kept = range(skip, len(requests))
    by_surface = {
        surface: percentiles([took[i] for i in kept if requests[i].surface == surface])
        for surface in SURFACES
    }

    # The parts of the online signals on the same requests, each with fresh memos as the
    # replay had (public APIs, the guard's settings), the first requests again not counted.
    logged = [
        (
            {
                "id": "dg-bench",
                "ts": record["ts"],
                "account_id": record["account_id"],
                "api_key_id": None,
                "end_user_id": None,
                "surface": request.surface,
                "request": request.body,
                "client": {"ip": request.ip, "user_agent": request.headers.get("user-agent")},
                "response": None,
            },
        )
        for record, request in zip(records, requests, strict=True)
    ]

    def buffer() -> RowBuffer:
        return RowBuffer(Hasher(DEFAULT_KEY), output_text=False, online=True)

    rows = [buffer().row(r) for (r,) in logged]
    rules = load_rules()
    texts = [(row.get("prompt_text") or "", row.get("system_text") or "") for row in rows]
    conditions = [rule.condition for rule in rules.param]
    with frozen():
        signals_ns = timed(OnlineSignals().of, logged)[skip:]
        normalise_ns = timed(buffer().row, logged)
        text_ns = timed(OnlineMatcher(rules.text).match, texts)[skip:]
        param_ns = timed(_evaluate_all, ((conditions, row) for row in rows))[skip:]

    result: dict[str, Any] = {
        "requests": len(requests),
        "warmup": skip,
        "watchlist_entries": guard.watchlist.size,
        "surfaces": dict(collections.Counter(r.surface for r in requests)),
        "actions": dict(collections.Counter(actions[i] for i in kept)),
        "assess": percentiles(took[skip:]),
        "assess_cpu": percentiles(cpu[skip:]),
        "finish": percentiles(finished[skip:]),
        "replay_own_cores": round(own, 2),
        "replay_other_cores": round(other, 2),
        "assess_by_surface": by_surface,
        "decide": percentiles(decide_ns),
        "parts": {
            "signals": percentiles(signals_ns),
            "normalise": percentiles(normalise_ns[skip:]),
            "text_rules": percentiles(text_ns),
            "param_rules": percentiles(param_ns),
        },
        "text_rules": len(rules.text),
        "prompt_chars_mean": round(statistics.fmean(len(t[0]) for t in texts)),
    }
    if profile:
        with frozen():
            result["profile"] = profile_assess(traffic, requests)
    return result


def _evaluate_all(conditions: Sequence[Condition], row: Mapping[str, Any]) -> None:
    for condition in conditions:
        condition.evaluate(row)


def profile_assess(
    traffic: Traffic, requests: Sequence[Replayed], top: int = 15
) -> dict[str, list[Any]]:
    """cProfile of the same replay on a fresh guard, in microseconds per request: the
    functions that cost the most time of their own, and this project's functions that cost
    the most time including what they call."""
    clock = ReplayClock()
    guard = ReplayGuard(bench_policy(traffic.watchlist, traffic.registry), clock)

    async def assess_only() -> None:
        for request in requests:
            clock.now = request.epoch
            assessment = await guard.assess(
                request.surface, request.body, request.headers, request.ip
            )
            profiler.disable()
            await guard.finish(
                assessment, response=request.response, status=200, tokens=request.tokens
            )
            profiler.enable()

    profiler = cProfile.Profile()
    profiler.enable()
    asyncio.run(assess_only())
    profiler.disable()
    stats = pstats.Stats(profiler)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    ours = [item for item in raw.items() if "distillguard/" in item[0][0]]
    n = len(requests)

    def table(items: Sequence[Any]) -> list[Any]:
        return [
            {
                "function": f"{_short(file)}:{line}({name})",
                "calls_per_request": round(calls / n, 2),
                "own_us_per_request": round(own / n * 1e6, 1),
                "total_us_per_request": round(total / n * 1e6, 1),
            }
            for (file, line, name), (_, calls, own, total, _) in items
        ]

    return {
        "own": table(sorted(raw.items(), key=lambda item: item[1][2], reverse=True)[:top]),
        "inclusive": table(sorted(ours, key=lambda item: item[1][3], reverse=True)[:top]),
    }


def _short(file: str) -> str:
    """A source file without the machine's folders."""
    if "distillguard/" in file:
        return "distillguard/" + file.rsplit("distillguard/", 1)[1]
    return Path(file).name if file != "~" else "~"


# -- 2. proxy throughput: the processes ------------------------------------------------------


def bare_app(upstream: str, pools: int) -> Starlette:
    """A pass-through proxy for the three API paths with the guard proxy's client settings
    (the same ``Upstream`` clients): the body is read and forwarded, the answer relayed (SSE
    chunk by chunk)."""
    clients = Upstream(upstream, pools=pools)

    def headers(given: Mapping[str, str]) -> dict[str, str]:
        return {k: v for k, v in given.items() if k.lower() not in HOP_HEADERS}

    async def forward(request: Request) -> Response:
        raw = await request.body()
        client = clients.client()
        outgoing = client.build_request(
            "POST",
            request.url.path,
            params=request.query_params,
            headers=headers(request.headers),
            content=raw,
        )
        reply = await client.send(outgoing, stream=True)
        if "text/event-stream" in reply.headers.get("content-type", ""):
            return StreamingResponse(
                reply.aiter_raw(),
                status_code=reply.status_code,
                headers=headers(reply.headers),
                background=BackgroundTask(reply.aclose),
            )
        data = await reply.aread()
        await reply.aclose()
        return Response(data, status_code=reply.status_code, headers=headers(reply.headers))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await clients.aclose()

    routes = [Route(path, forward, methods=["POST"]) for path in SURFACE_OF_PATH]
    return Starlette(routes=routes, lifespan=lifespan)


def canned_app(pool: Path) -> ASGIApp:
    """An upstream that answers every request of a surface with the same reply: the one the
    tests' model server gives to the first request of that surface in the pool, plain or
    streamed (as the request's ``stream`` asks), computed once."""
    sys.path.insert(0, str(TESTS))
    import upstream

    makers = {
        "openai.chat": upstream.chat_completion,
        "openai.responses": upstream.response,
        "anthropic.messages": upstream.message,
    }
    replies: dict[tuple[str, bool], tuple[bytes, list[bytes]]] = {}
    for line in pool.read_bytes().splitlines():
        item = orjson.loads(line)
        surface = item["surface"]
        if (PATH_OF[surface], False) in replies:
            continue
        for stream in (False, True):
            answer = makers[surface](stream_body(item["body"], stream))
            if isinstance(answer, list):
                replies[(PATH_OF[surface], stream)] = (b"text/event-stream", answer)
            else:
                replies[(PATH_OF[surface], stream)] = (b"application/json", [orjson.dumps(answer)])

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        parts = []
        while True:
            message = await receive()
            parts.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        try:
            stream = orjson.loads(b"".join(parts)).get("stream") is True
        except (orjson.JSONDecodeError, AttributeError):
            stream = False
        kind, chunks = replies[(scope["path"], stream)]
        head = [(b"content-type", kind)]
        if not stream:
            head.append((b"content-length", str(len(chunks[0])).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": head})
        for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    return app


def test_upstream() -> ASGIApp:
    """The tests' model server; it keeps only the last request it saw (it keeps them all by
    default, which over a benchmark is a leak)."""
    sys.path.insert(0, str(TESTS))
    import upstream

    app = upstream.make_app()
    app.state.seen = collections.deque(maxlen=1)
    return app


def guard_app(args: argparse.Namespace) -> ASGIApp:
    """The guard as the CLI runs it (in-memory state, exchange log on), its limits roomy."""
    guard = Guard(
        bench_policy(Path(args.watchlist), Path(args.registry), roomy=True),
        state=MemoryState(),
        log=ExchangeLog(Path(args.log_dir)),
    )
    return build_app(guard, args.upstream, admin_token=ADMIN_TOKEN, pools=args.pools)


def serve_child(argv: Sequence[str]) -> int:
    """``_serve KIND``: serve on a free loopback port; the port is the first line printed."""
    import uvicorn

    parser = argparse.ArgumentParser(prog="guard.py _serve")
    parser.add_argument("kind", choices=["upstream", "canned", "guard", "bare"])
    parser.add_argument("--upstream", default="")
    parser.add_argument("--pool", default="")
    parser.add_argument("--watchlist", default="")
    parser.add_argument("--registry", default="")
    parser.add_argument("--log-dir", default="")
    parser.add_argument("--pools", type=int, default=POOLS)
    args = parser.parse_args(argv)
    app: ASGIApp
    if args.kind == "upstream":
        app = test_upstream()
    elif args.kind == "canned":
        app = canned_app(Path(args.pool))
    elif args.kind == "guard":
        app = guard_app(args)
    else:
        app = bare_app(args.upstream, args.pools)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    settle_collector()  # as the guard server does at start (``serve.run``), for every kind
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off" if args.kind == "canned" else "auto",
    )
    uvicorn.Server(config).run(sockets=[sock])
    return 0


# -- 2. proxy throughput: the load generator -------------------------------------------------


def stream_body(body: Mapping[str, Any], stream: bool) -> dict[str, Any]:
    out = dict(body)
    out["stream"] = stream
    if not stream:
        out.pop("stream_options", None)
    return out


def encode_requests(pool: Path, port: int, stream: bool) -> list[bytes]:
    """The pool as HTTP/1.1 requests on the wire."""
    out = []
    for line in pool.read_bytes().splitlines():
        item = orjson.loads(line)
        body = orjson.dumps(stream_body(item["body"], stream))
        head = [f"POST {PATH_OF[item['surface']]} HTTP/1.1", f"host: 127.0.0.1:{port}"]
        head += [f"{name}: {value}" for name, value in item["headers"].items()]
        head.append(f"content-length: {len(body)}")
        out.append(("\r\n".join(head) + "\r\n\r\n").encode("latin-1", "replace") + body)
    return out


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """One response read to its end: (status, whether the server closes the connection)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length: int | None = None
    chunked = close = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            close = b"close" in value.lower()
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length is not None:
        await reader.readexactly(length)
    return status, close


async def generate_load(
    port: int, requests: Sequence[bytes], warmup_s: float, seconds: float, concurrency: int
) -> dict[str, Any]:
    """``concurrency`` connections, each sending its next request when the last one is read;
    the responses that end in the measured window count."""
    start = time.perf_counter()
    measure_from = start + warmup_s
    stop_at = measure_from + seconds
    latencies: list[float] = []
    statuses: collections.Counter[int] = collections.Counter()
    errors = 0

    async def worker(first: int) -> None:
        nonlocal errors
        index = first
        connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while time.perf_counter() < stop_at:
            if connection is None:
                connection = await asyncio.open_connection("127.0.0.1", port)
            reader, writer = connection
            began = time.perf_counter()
            try:
                writer.write(requests[index % len(requests)])
                status, close = await read_response(reader)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                if measure_from <= time.perf_counter() <= stop_at:
                    errors += 1
                writer.close()
                connection = None
                continue
            ended = time.perf_counter()
            index += concurrency
            if measure_from <= ended <= stop_at:
                latencies.append(ended - began)
                statuses[status] += 1
            if close:
                writer.close()
                connection = None
        if connection is not None:
            connection[1].close()

    async def announce() -> None:
        await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
        print("measuring", flush=True)

    await asyncio.gather(announce(), *(worker(k) for k in range(concurrency)))
    latencies.sort()
    n = len(latencies)
    return {
        "requests": n,
        "per_s": round(n / seconds, 1),
        "errors": errors,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "latency_p50_ms": round(latencies[n // 2] * 1e3, 2) if n else None,
        "latency_p99_ms": round(latencies[min(n - 1, int(0.99 * n))] * 1e3, 2) if n else None,
    }


def load_child(argv: Sequence[str]) -> int:
    """``_load``: prints ``measuring`` when the window opens, then the result as JSON."""
    parser = argparse.ArgumentParser(prog="guard.py _load")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pool", type=Path, required=True)
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    args = parser.parse_args(argv)
    requests = encode_requests(args.pool, args.port, args.stream)
    work = generate_load(args.port, requests, args.warmup, args.seconds, args.concurrency)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        result = asyncio.run(work)
    else:
        result = uvloop.run(work)
    print(json.dumps(result), flush=True)
    return 0


# -- 2. proxy throughput: the runs -----------------------------------------------------------


_TICK: Final = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User and system time of a process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / _TICK, sum(values) / _TICK


class Child:
    """A server process of this script; its port is the first line it prints."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "_serve", *args], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.strip().isdigit():
            self.stop()
            raise RuntimeError(f"server {args[0]} did not start")
        self.port = int(line)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"server {args[0]} does not listen") from None
                time.sleep(0.05)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def one_load(
    proxy: Child, upstream: Child, pool: Path, stream: bool, sizes: Sizes, concurrency: int
) -> dict[str, Any]:
    """One run of the load generator against ``proxy``, with the CPU time each process
    used while it measured."""
    command = [
        sys.executable,
        __file__,
        "_load",
        "--port",
        str(proxy.port),
        "--pool",
        str(pool),
        "--warmup",
        str(sizes.load_warmup_s),
        "--seconds",
        str(sizes.load_seconds),
        "--concurrency",
        str(concurrency),
    ]
    if stream:
        command.append("--stream")
    loader = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert loader.stdout is not None
    out: IO[str] = loader.stdout
    if out.readline().strip() != "measuring":
        loader.wait()
        raise RuntimeError("the load generator failed")
    pids = {"loader": loader.pid, "upstream": upstream.pid, "proxy": proxy.pid}
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    busy_before, total_before = machine_busy()
    began = time.perf_counter()
    line = out.readline()
    elapsed = time.perf_counter() - began
    after = {name: cpu_seconds(pid) for name, pid in pids.items()}
    busy_after, total_after = machine_busy()
    if loader.wait() != 0 or not line:
        raise RuntimeError("the load generator failed")
    result: dict[str, Any] = json.loads(line)
    result["cpu_cores"] = {name: round((after[name] - before[name]) / elapsed, 2) for name in pids}
    busy = (busy_after - busy_before) / elapsed
    result["machine_busy_cores"] = round(busy, 2)
    result["other_cores"] = round(busy - sum(result["cpu_cores"].values()), 2)
    result["machine_cores"] = round((total_after - total_before) / elapsed, 2)
    served = max(result["requests"], 1)
    result["proxy_cpu_us_per_request"] = round((after["proxy"] - before["proxy"]) / served * 1e6, 1)
    return result


def guard_metrics(guard: Child) -> dict[str, Any]:
    """The decisions the guard proxy made and its mean decision time, from its metrics."""
    page = httpx.get(
        f"{guard.url}/_guard/metrics", headers={"authorization": f"Bearer {ADMIN_TOKEN}"}
    ).text
    actions: collections.Counter[str] = collections.Counter()
    total = count = 0.0
    for line in page.splitlines():
        if line.startswith("distillguard_decisions_total{"):
            labels, value = line.rsplit(" ", 1)
            action = labels.split('action="', 1)[1].split('"', 1)[0]
            actions[action] += int(float(value))
        elif line.startswith("distillguard_decision_seconds_sum "):
            total = float(line.split()[1])
        elif line.startswith("distillguard_decision_seconds_count "):
            count = float(line.split()[1])
    return {
        "actions": dict(actions),
        "assess_mean_us": round(total / count * 1e6, 1) if count else None,
    }


def write_pool(traffic: Traffic, path: Path) -> dict[str, int]:
    """The requests the load generator cycles through, with their accounts' headers."""
    records = read_records(traffic.exchanges, limit=POOL)
    with path.open("wb") as f:
        for record in records:
            item = {
                "surface": record["surface"],
                "headers": request_headers(record),
                "body": record["request"],
            }
            f.write(orjson.dumps(item) + b"\n")
    return dict(collections.Counter(str(r["surface"]) for r in records))


def proxy_bench(
    traffic: Traffic, work: Path, sizes: Sizes, concurrency: int, pools: int
) -> dict[str, Any]:
    pool = work / "pool.jsonl"
    surfaces = write_pool(traffic, pool)
    results: dict[str, Any] = {"pool": surfaces, "concurrency": concurrency, "runs": []}
    summary = []
    for upstream_kind in ("canned", "upstream"):
        upstream = Child(upstream_kind, "--pool", str(pool))
        proxies: dict[str, Child] = {}
        try:
            proxies["bare"] = Child("bare", "--upstream", upstream.url, "--pools", str(pools))
            proxies["guard"] = Child(
                "guard",
                "--pools",
                str(pools),
                "--upstream",
                upstream.url,
                "--watchlist",
                str(traffic.watchlist),
                "--registry",
                str(traffic.registry),
                "--log-dir",
                str(work / f"guard-log-{upstream_kind}"),
            )
            runs: dict[tuple[bool, str], list[dict[str, Any]]] = collections.defaultdict(list)
            for round_ in range(sizes.rounds):
                for stream in (False, True):
                    order = ("bare", "guard") if round_ % 2 == 0 else ("guard", "bare")
                    for name in order:
                        run = one_load(proxies[name], upstream, pool, stream, sizes, concurrency)
                        run.update(upstream=upstream_kind, stream=stream, proxy=name, round=round_)
                        results["runs"].append(run)
                        runs[(stream, name)].append(run)
                        print(json.dumps(run), file=sys.stderr, flush=True)
            results[f"guard_{upstream_kind}"] = guard_metrics(proxies["guard"])
        finally:
            for child in proxies.values():
                child.stop()
            upstream.stop()
        for stream in (False, True):
            bare, guard = runs[(stream, "bare")], runs[(stream, "guard")]
            summary.append(
                {
                    "upstream": upstream_kind,
                    "stream": stream,
                    "bare_per_s": round(_median(bare, "per_s"), 1),
                    "guard_per_s": round(_median(guard, "per_s"), 1),
                    "ratio": round(_median(guard, "per_s") / _median(bare, "per_s"), 3),
                    "bare_proxy_cpu_us": round(_median(bare, "proxy_cpu_us_per_request"), 1),
                    "guard_proxy_cpu_us": round(_median(guard, "proxy_cpu_us_per_request"), 1),
                    "cpu_ratio": round(
                        _median(bare, "proxy_cpu_us_per_request")
                        / _median(guard, "proxy_cpu_us_per_request"),
                        3,
                    ),
                    "bare_cores": _mean_cores(bare),
                    "guard_cores": _mean_cores(guard),
                    "bare_latency_ms": [
                        _mean(bare, "latency_p50_ms"),
                        _mean(bare, "latency_p99_ms"),
                    ],
                    "guard_latency_ms": [
                        _mean(guard, "latency_p50_ms"),
                        _mean(guard, "latency_p99_ms"),
                    ],
                    "guard_statuses": _merged([r["statuses"] for r in guard]),
                    "bare_statuses": _merged([r["statuses"] for r in bare]),
                    "machine_busy_cores": round(_mean(bare + guard, "machine_busy_cores"), 2),
                    "other_cores": round(_mean(bare + guard, "other_cores"), 2),
                }
            )
    results["summary"] = summary
    return results


def _mean(rows: Sequence[Mapping[str, Any]], key: str) -> float:
    return statistics.fmean(float(row[key]) for row in rows)


def _median(rows: Sequence[Mapping[str, Any]], key: str) -> float:
    return statistics.median(float(row[key]) for row in rows)


def _mean_cores(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    return {
        name: round(statistics.fmean(row["cpu_cores"][name] for row in rows), 2)
        for name in rows[0]["cpu_cores"]
    }


def _merged(counts: Sequence[Mapping[str, int]]) -> dict[str, int]:
    total: collections.Counter[str] = collections.Counter()
    for count in counts:
        total.update(count)
    return dict(total)


# -- 3. memory -------------------------------------------------------------------------------


def rss_mib() -> tuple[float, float]:
    """(VmRSS, VmHWM) of this process in MiB."""
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def synthetic_watchlist(folder: Path, accounts: int) -> None:
    """An ``accounts.csv`` for ``acct-000000``...: every 10th account an attack account (ten
    to a cluster, a hundred to a campaign), every 10th + 1 suspicious, the rest benign."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "accounts.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["account_id", "risk", "verdict", "cluster_id", "campaign_id", "exchanges", "reasons"]
        )
        for i in range(accounts):
            if i % 10 == 0:
                row = ["0.9", "attack", f"cluster-{i // 100}", f"campaign-{i // 1000}"]
            elif i % 10 == 1:
                row = ["0.6", "suspicious", "", ""]
            else:
                row = ["0.05", "benign", "", ""]
            writer.writerow([account_id(i), *row, "3", ""])


def account_id(i: int) -> str:
    return f"acct-{i:06d}"


async def memory_traffic(
    guard: Guard, clock: ReplayClock, pool: Sequence[Replayed], accounts: int, per_account: int
) -> None:
    """``per_account`` passes over all accounts, spread over 50 minutes (all inside the
    windows' hour); each account has its own key and its own /24 network."""
    total = accounts * per_account
    start = time.time()
    step = 3000.0 / total
    for j in range(per_account):
        for i in range(accounts):
            k = j * accounts + i
            request = pool[(i * per_account + j) % len(pool)]
            clock.now = start + k * step
            headers = {
                "x-account-id": account_id(i),
                "authorization": f"Bearer sk-bench-{i}",
                "user-agent": request.headers.get("user-agent", "bench"),
            }
            ip = f"{10 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}.{j + 1}"
            assessment = await guard.assess(request.surface, request.body, headers, ip)
            await guard.finish(
                assessment, response=request.response, status=200, tokens=request.tokens
            )


def memory_child(argv: Sequence[str]) -> int:
    """``_memory``: the memory part in a fresh process; prints its result as JSON."""
    parser = argparse.ArgumentParser(prog="guard.py _memory")
    parser.add_argument("--exchanges", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--accounts", type=int, required=True)
    parser.add_argument("--per-account", type=int, required=True)
    args = parser.parse_args(argv)
    gc.collect()
    start_rss, _ = rss_mib()
    pool = replayable(read_records(args.exchanges, limit=2000))
    synthetic_watchlist(args.work, args.accounts)
    extra = loads(EXTRA_LIMITS, source="<bench limits>")
    base = load(default_path())
    policy = replace(base, watchlist=args.work, limits=base.limits + extra.limits)
    clock = ReplayClock()
    guard = ReplayGuard(policy, clock)
    state = guard.state
    assert isinstance(state, MemoryState)
    gc.collect()
    ready_rss, _ = rss_mib()
    began = time.perf_counter()
    asyncio.run(memory_traffic(guard, clock, pool, args.accounts, args.per_account))
    seconds = time.perf_counter() - began
    gc.collect()
    end_rss, peak_rss = rss_mib()
    requests = args.accounts * args.per_account
    growth = end_rss - ready_rss
    result = {
        "accounts": args.accounts,
        "requests": requests,
        "watchlist_entries": guard.watchlist.size,
        "limits": [limit.name for limit in policy.limits],
        "rss_start_mib": round(start_rss, 1),
        "rss_ready_mib": round(ready_rss, 1),
        "rss_end_mib": round(end_rss, 1),
        "rss_peak_mib": round(peak_rss, 1),
        "growth_mib": round(growth, 1),
        "growth_bytes_per_account": round(growth * 2**20 / args.accounts),
        "state_keys": {
            "windows": len(state._windows),
            "buckets": len(state._levels),
            "links": len(state._links),
        },
        "seconds": round(seconds, 1),
        "assess_finish_us": round(seconds / requests * 1e6, 1),
    }
    print(json.dumps(result), flush=True)
    return 0


def memory_bench(traffic: Traffic, work: Path, sizes: Sizes) -> dict[str, Any]:
    done = subprocess.run(
        [
            sys.executable,
            __file__,
            "_memory",
            "--exchanges",
            str(traffic.exchanges),
            "--work",
            str(work / "memory"),
            "--accounts",
            str(sizes.accounts),
            "--per-account",
            str(sizes.per_account),
        ],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# -- the report ------------------------------------------------------------------------------


def verdicts(report: Mapping[str, Any]) -> dict[str, Any]:
    """The measured figures against the targets, for the parts that ran."""
    out: dict[str, Any] = {}
    if "decision" in report:
        assess = report["decision"]["assess"]
        out["assess_p50_us"] = assess["p50_us"]
        out["assess_p50_met"] = assess["p50_us"] <= TARGETS["assess_p50_us"]
        out["assess_p99_us"] = assess["p99_us"]
        out["assess_p99_met"] = assess["p99_us"] <= TARGETS["assess_p99_us"]
    if "proxy" in report:
        ratio = min(row["ratio"] for row in report["proxy"]["summary"])
        out["proxy_ratio_min"] = ratio
        out["proxy_ratio_met"] = ratio >= TARGETS["proxy_ratio"]
    if "memory" in report:
        rss = report["memory"]["rss_end_mib"]
        out["memory_mib"] = rss
        out["memory_met"] = rss <= TARGETS["memory_mib"]
    return out


def _row(cells: Sequence[object]) -> None:
    print("| " + " | ".join(str(c) for c in cells) + " |")


def _latency_row(name: str, p: Mapping[str, Any]) -> None:
    _row([name, f"{p['n']:,}", p["p50_us"], p["p90_us"], p["p99_us"], p["p999_us"], p["mean_us"]])


UPSTREAMS: Final = {"canned": "canned upstream", "upstream": "tests/upstream.py"}


def print_decision(decision: Mapping[str, Any]) -> None:
    print()
    _row(["decision (in process)", "requests", "p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "mean µs"])
    print("|---|---:|---:|---:|---:|---:|---:|")
    _latency_row("`Guard.assess`, all", decision["assess"])
    _latency_row("`Guard.assess`, all, CPU time of the thread", decision["assess_cpu"])
    for surface, p in decision["assess_by_surface"].items():
        _latency_row(f"`Guard.assess`, {surface}", p)
    _latency_row("`Guard.finish` (after the response)", decision["finish"])
    _latency_row("`decide` alone", decision["decide"])
    _latency_row("part of assess: online signals", decision["parts"]["signals"])
    _latency_row("part of signals: normalise the request", decision["parts"]["normalise"])
    _latency_row("part of signals: text rules", decision["parts"]["text_rules"])
    _latency_row("part of signals: parameter rules, once", decision["parts"]["param_rules"])
    print(
        f"\nDuring the replay this process used {decision['replay_own_cores']:.2f} cores and "
        f"other work on the machine {decision['replay_other_cores']:.2f}."
    )
    titles = {"own": "top own time", "inclusive": "top time with callees, this project's"}
    for kind, title in titles.items():
        if "profile" not in decision:
            break
        print()
        _row([f"assess: {title} (cProfile)", "calls/req", "own µs/req", "total µs/req"])
        print("|---|---:|---:|---:|")
        for p in decision["profile"][kind]:
            _row(
                [
                    f"`{p['function']}`",
                    p["calls_per_request"],
                    p["own_us_per_request"],
                    p["total_us_per_request"],
                ]
            )


def print_proxy(proxy: Mapping[str, Any]) -> None:
    print()
    _row(
        [
            f"proxy, {proxy['concurrency']} in flight",
            "bare req/s",
            "guard req/s",
            "guard / bare",
            "proxy CPU µs/req, bare / guard (ratio)",
            "CPU cores (loader, upstream, proxy), bare / guard",
            "other load, cores",
            "latency p50 / p99 ms, bare / guard",
        ]
    )
    print("|---|---:|---:|---:|---:|---|---:|---|")
    for s in proxy["summary"]:
        bare, guard = s["bare_latency_ms"], s["guard_latency_ms"]
        _row(
            [
                f"{UPSTREAMS[s['upstream']]}, {'streamed' if s['stream'] else 'JSON'}",
                f"{s['bare_per_s']:,.0f}",
                f"{s['guard_per_s']:,.0f}",
                f"{s['ratio']:.2f}",
                f"{s['bare_proxy_cpu_us']:,.0f} / {s['guard_proxy_cpu_us']:,.0f}"
                f" ({s['cpu_ratio']:.2f})",
                f"{_cores(s['bare_cores'])} / {_cores(s['guard_cores'])}",
                f"{s['other_cores']:.2f}",
                f"{bare[0]:.0f} / {bare[1]:.0f}, {guard[0]:.0f} / {guard[1]:.0f}",
            ]
        )


def print_memory(m: Mapping[str, Any]) -> None:
    print()
    _row(
        [
            "memory",
            "accounts",
            "requests",
            "RSS start",
            "RSS guard ready",
            "RSS after traffic",
            "growth",
            "per account",
            "state keys (windows, buckets, links)",
        ]
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    k = m["state_keys"]
    _row(
        [
            "`MemoryState`",
            f"{m['accounts']:,}",
            f"{m['requests']:,}",
            f"{m['rss_start_mib']:,.0f} MiB",
            f"{m['rss_ready_mib']:,.0f} MiB",
            f"{m['rss_end_mib']:,.0f} MiB",
            f"{m['growth_mib']:,.0f} MiB",
            f"{m['growth_bytes_per_account']:,} B",
            f"{k['windows']:,}, {k['buckets']:,}, {k['links']:,}",
        ]
    )


def _cores(c: Mapping[str, float]) -> str:
    return f"{c['loader']:.2f}, {c['upstream']:.2f}, {c['proxy']:.2f}"


PARTS: Final = ("decision", "proxy", "memory")


def main() -> int:
    children = {"_serve": serve_child, "_load": load_child, "_memory": memory_child}
    if len(sys.argv) > 1 and sys.argv[1] in children:
        return children[sys.argv[1]](sys.argv[2:])
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: small and short")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--parts", default=",".join(PARTS), help="which parts to run, comma-separated"
    )
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY, help="requests in flight")
    parser.add_argument(
        "--pools", type=int, default=POOLS, help="upstream connection pools of both proxies"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile Guard.assess too")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--work", type=Path, default=None, help="folder for generated files")
    args = parser.parse_args()
    parts = [part.strip() for part in args.parts.split(",") if part.strip()]
    if not parts or set(parts) - set(PARTS):
        parser.error(f"--parts takes some of {', '.join(PARTS)}")
    sizes = QUICK if args.quick else FULL
    report: dict[str, Any] = {
        "machine": machine(),
        "settings": {
            "quick": args.quick,
            "seed": args.seed,
            "concurrency": args.concurrency,
            "pools": args.pools,
            **sizes.__dict__,
        },
        "targets": TARGETS,
    }
    work = Path(tempfile.mkdtemp(prefix="distillguard-bench-guard-", dir=args.work))
    try:
        traffic = prepare(work, sizes, args.seed)
        if "decision" in parts:
            report["decision"] = decision_bench(traffic, sizes, args.profile)
            print(json.dumps({"decision": report["decision"]}), file=sys.stderr, flush=True)
        if "proxy" in parts:
            report["proxy"] = proxy_bench(traffic, work, sizes, args.concurrency, args.pools)
        if "memory" in parts:
            report["memory"] = memory_bench(traffic, work, sizes)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    report["verdicts"] = verdicts(report)
    folder = HERE / "results"
    folder.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    (folder / f"guard-{stamp}.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report))
    if "decision" in report:
        print_decision(report["decision"])
    if "proxy" in report:
        print_proxy(report["proxy"])
    if "memory" in report:
        print_memory(report["memory"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
