"""The guard's exchange log: what it writes is read back by ingest without a rejection, files
rotate by size and age, a killed writer's files are recovered, and an acknowledged append
survives SIGKILL.

Everything runs on real files in a temporary folder; the kill test runs a real child process.
"""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pytest

from distillguard.exchange.reader import expand
from distillguard.guard.log import OPEN_SUFFIX, PARTIAL_SUFFIX, WARNING_FIELD, ExchangeLog

if TYPE_CHECKING:
    from conftest import Logs

# -- records ------------------------------------------------------------------------------


def chat(n: int, *, pad: int = 0) -> dict[str, Any]:
    return {
        "id": f"chat-{n}",
        "ts": "2025-03-01T12:00:00Z",
        "account_id": "acct-1",
        "org_id": "org-1",
        "api_key_id": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "end_user_id": None,
        "surface": "openai.chat",
        "request": {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": f"Question {n}?" + " x" * pad}],
            "max_completion_tokens": 64,
        },
        "response": {
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Yes."}}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 1},
        },
        "status": 200,
        "latency_ms": 412.5,
        "client": {"ip": "203.0.113.7", "user_agent": "OpenAI/Python 1.54.0", "asn": 64500},
        "meta": {"guard": {"action": "allow", "shadow": False}},
    }


RESPONSES: dict[str, Any] = {
    "id": "resp-1",
    "ts": "2025-03-01T12:05:00+02:00",
    "account_id": "acct-2",
    "surface": "openai.responses",
    "request": {
        "model": "o4-mini",
        "instructions": "Be terse.",
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "Why?"}]}],
        "reasoning": {"effort": "high"},
        "max_output_tokens": 256,
    },
    "response": {
        "status": "completed",
        "output": [
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "Think."}]},
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Because."}],
            },
        ],
        "usage": {"input_tokens": 12, "output_tokens": 9},
    },
    "status": 200,
    "latency_ms": 980,
}

ANTHROPIC: dict[str, Any] = {
    "id": "anth-1",
    "ts": datetime(2025, 3, 1, 12, 10, tzinfo=UTC),  # orjson writes RFC 3339
    "account_id": "acct-3",
    "end_user_id": "eu-1",
    "surface": "anthropic.messages",
    "request": {
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "system": "You are helpful.",
        "messages": [{"role": "user", "content": "Say hi."}],
        "thinking": {"type": "enabled", "budget_tokens": 512},
        "metadata": {"user_id": "eu-1"},
        "stream": True,
    },
    "response": {
        "content": [
            {"type": "thinking", "thinking": "Greet.", "signature": "sig"},
            {"type": "text", "text": "Hi!"},
        ],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 15, "output_tokens": 4},
    },
    "status": 200,
    "latency_ms": 1500.25,
    "client": None,
    "meta": None,
}


def lines(folder: Path) -> list[dict[str, Any]]:
    """Every record of the finished files, in file-name order."""
    out: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.jsonl")):
        out.extend(orjson.loads(line) for line in path.read_bytes().splitlines())
    return out


class Clock:
    def __init__(self, now: float = 1_740_830_400.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- round trip ---------------------------------------------------------------------------


def test_round_trip_through_ingest(tmp_path: Path, logs: Logs) -> None:
    folder = tmp_path / "guard-logs"
    records = [chat(1), RESPONSES, ANTHROPIC, chat(2)]
    with ExchangeLog(folder) as log:
        for record in records:
            log.append(record)
        assert log.current is not None and log.current.name.endswith(OPEN_SUFFIX)
    assert not list(folder.glob(f"*{OPEN_SUFFIX}"))
    written = lines(folder)
    assert [r["id"] for r in written] == ["chat-1", "resp-1", "anth-1", "chat-2"]
    assert written[0] == chat(1)
    assert written[2]["ts"] == "2025-03-01T12:10:00+00:00"

    ingested = logs.ingest(folder)
    assert ingested.summary.rejected == 0, ingested.quarantine
    assert ingested.summary.warnings_by_reason == {}
    assert ingested.summary.exchanges == 4
    assert ingested.ids == ["anth-1", "chat-1", "chat-2", "resp-1"]
    assert {row["surface"] for row in ingested.rows} == {
        "openai.chat",
        "openai.responses",
        "anthropic.messages",
    }


def test_file_names_and_mode(tmp_path: Path) -> None:
    with ExchangeLog(tmp_path, prefix="edge-1", clock=Clock()) as log:
        log.append(chat(1))
    (path,) = tmp_path.glob("*.jsonl")
    prefix, stamp, pid, seq = path.name.removesuffix(".jsonl").rsplit("-", 3)
    assert (prefix, stamp, pid, seq) == (
        "edge-1",
        "20250301T120000.000000Z",
        str(os.getpid()),
        "000000",
    )
    assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


def test_unserialisable_record_is_still_written(tmp_path: Path, logs: Logs) -> None:
    record = chat(1)
    record["meta"] = {"obj": object(), "big": 2**80, "lone": "a\udc80b", 7: "int key"}
    record["request"]["stop"] = {"END"}
    with ExchangeLog(tmp_path / "g") as log:
        log.append(record)
        log.append(chat(2))
    first, second = lines(tmp_path / "g")
    assert first["id"] == "chat-1" and first["request"]["stop"] == ["END"]
    meta = first["meta"]
    assert meta["big"] == str(2**80) and meta["lone"] == "a\\udc80b" and meta["7"] == "int key"
    assert meta["obj"].startswith("<object object")
    assert "not JSON" in meta[WARNING_FIELD]
    assert WARNING_FIELD not in second["meta"]
    assert logs.ingest(tmp_path / "g").summary.rejected == 0


@pytest.mark.parametrize(
    "meta",
    [
        {"Authorization": "Bearer sk-live"},
        {"x-api-key": "sk-ant-123"},
        {"api_key": "sk-123"},
        {"headers": {"proxy-authorization": "Basic abc"}},
    ],
)
def test_refuses_credentials_in_meta(tmp_path: Path, meta: dict[str, Any]) -> None:
    with ExchangeLog(tmp_path) as log:
        with pytest.raises(ValueError, match="credential"):
            log.append(chat(1, pad=0) | {"meta": meta})
        log.append(chat(2) | {"meta": {"api_key_id": "hash", "route": "/v1/chat"}})
    assert [r["id"] for r in lines(tmp_path)] == ["chat-2"]


# -- rotation -----------------------------------------------------------------------------


def test_rotation_by_size(tmp_path: Path, logs: Logs) -> None:
    max_bytes = 2000
    with ExchangeLog(tmp_path / "g", max_bytes=max_bytes, clock=Clock()) as log:
        for n in range(20):
            log.append(chat(n, pad=100))
            # the reader sees finished files only, never the one being written
            assert log.current not in expand([tmp_path / "g"])
        log.append(chat(99, pad=3000))  # a line larger than max_bytes gets a file of its own
    files = sorted((tmp_path / "g").glob("*.jsonl"))
    assert len(files) > 3
    sizes = [path.stat().st_size for path in files]
    assert all(size <= max_bytes for size in sizes[:-1]) and sizes[-1] > max_bytes
    assert [r["id"] for r in lines(tmp_path / "g")] == [f"chat-{n}" for n in [*range(20), 99]]
    assert logs.ingest(tmp_path / "g").summary.rejected == 0


def test_rotation_by_age(tmp_path: Path) -> None:
    clock = Clock()
    with ExchangeLog(tmp_path, max_age_s=60, clock=clock) as log:
        log.append(chat(1))
        clock.now += 30
        log.append(chat(2))
        assert not list(tmp_path.glob("*.jsonl"))
        clock.now += 31
        log.append(chat(3))  # the first file is 61 s old: finished before this line
        assert len(list(tmp_path.glob("*.jsonl"))) == 1
        assert not log.rotate_if_due()
        clock.now += 60
        assert log.rotate_if_due()
        assert log.current is None
        log.append(chat(4))
    files = sorted(tmp_path.glob("*.jsonl"))
    per_file = [[orjson.loads(x)["id"] for x in p.read_bytes().splitlines()] for p in files]
    assert per_file == [["chat-1", "chat-2"], ["chat-3"], ["chat-4"]]


# -- recovery -----------------------------------------------------------------------------


def test_recovers_open_file_with_partial_line(tmp_path: Path, logs: Logs) -> None:
    whole = b"".join(orjson.dumps(chat(n)) + b"\n" for n in range(3))
    partial = orjson.dumps(chat(3))[:57]
    name = "guard-20250301T120000.000000Z-4242-000000"
    (tmp_path / f"{name}{OPEN_SUFFIX}").write_bytes(whole + partial)
    (tmp_path / f"guard-20250301T120001.000000Z-4242-000001{OPEN_SUFFIX}").write_bytes(b"")
    (tmp_path / f"guard-20250301T120002.000000Z-4242-000002{OPEN_SUFFIX}").write_bytes(b'{"id"')

    with ExchangeLog(tmp_path) as log:
        recovery = log.recovered
        assert [p.name for p in recovery.files] == [f"{name}.jsonl"]
        assert recovery.partial_lines == 2
        log.append(chat(4))
    assert not list(tmp_path.glob(f"*{OPEN_SUFFIX}"))  # empty and partial-only files removed
    assert (tmp_path / f"{name}.jsonl").read_bytes() == whole
    entry = orjson.loads((tmp_path / f"{name}.jsonl{PARTIAL_SUFFIX}").read_bytes())
    assert entry["reason"] == "partial_line"
    assert entry["offset"] == len(whole) and entry["record"] == partial.decode()
    assert entry["file"] == f"{name}.jsonl"

    ingested = logs.ingest(tmp_path)
    assert ingested.summary.rejected == 0
    assert ingested.ids == [f"chat-{n}" for n in (0, 1, 2, 4)]


def test_does_not_recover_a_live_file(tmp_path: Path, logs: Logs) -> None:
    first = ExchangeLog(tmp_path)
    first.append(chat(1))
    live = first.current
    assert live is not None
    with ExchangeLog(tmp_path) as second:  # e.g. another worker starting on the same folder
        assert second.recovered.files == () and live.exists()
        second.append(chat(2))
        first.append(chat(3))
    first.close()
    ingested = logs.ingest(tmp_path)
    assert ingested.summary.rejected == 0 and ingested.ids == ["chat-1", "chat-2", "chat-3"]


def test_failed_write_leaves_whole_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = os.write
    with ExchangeLog(tmp_path) as log:
        log.append(chat(1))
        ours = log._fd
        calls: list[int] = []

        def short_write(fd: int, data: bytes) -> int:
            """The disk fills up: the kernel takes 10 bytes, then refuses the rest."""
            if fd != ours:
                return real_write(fd, data)
            if not calls:
                calls.append(len(data))
                return real_write(fd, bytes(data[:10]))
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(os, "write", short_write)
        with pytest.raises(OSError):
            log.append(chat(2))
        assert calls  # the short write happened
        monkeypatch.setattr(os, "write", real_write)
        log.append(chat(3))
    assert [r["id"] for r in lines(tmp_path)] == ["chat-1", "chat-3"]


# -- durability ---------------------------------------------------------------------------


def _counting_fsync(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return calls


def test_fsync_per_append(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _counting_fsync(monkeypatch)
    with ExchangeLog(tmp_path, fsync=True) as log:
        for n in range(5):
            log.append(chat(n))
        assert len(calls) >= 5


def test_fsync_interval(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _counting_fsync(monkeypatch)
    with ExchangeLog(tmp_path, fsync=True, fsync_interval_s=0.01) as log:
        log.append(chat(1))
        before = len(calls)
        deadline = time.monotonic() + 5
        while len(calls) == before and time.monotonic() < deadline:
            time.sleep(0.005)
        assert len(calls) > before
    with pytest.raises(ValueError):
        ExchangeLog(tmp_path, fsync_interval_s=1.0)


def test_closed_log(tmp_path: Path) -> None:
    log = ExchangeLog(tmp_path)
    log.close()
    log.close()
    with pytest.raises(ValueError, match="closed"):
        log.append(chat(1))
    assert not list(tmp_path.iterdir())


CHILD: str = """
import sys
from pathlib import Path
from distillguard.guard.log import ExchangeLog

log = ExchangeLog(Path(sys.argv[1]), max_bytes=int(sys.argv[2]))
pad = "lorem ipsum " * 200
n = 0
while True:
    log.append({
        "id": f"k-{n}",
        "ts": "2025-03-01T12:00:00Z",
        "account_id": f"acct-{n % 5}",
        "surface": "openai.chat",
        "request": {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": f"q{n} " + pad * (1 + n % 9)}],
        },
        "response": {"choices": [{"index": 0, "message": {"role": "assistant", "content": "a"}}]},
    })
    sys.stdout.write(f"{n}\\n")
    sys.stdout.flush()
    n += 1
"""


def _acknowledged(out: bytes) -> int:
    """The last append the child reported as returned (whole lines only)."""
    return int(out[: out.rfind(b"\n")].rsplit(b"\n", 1)[-1])


def test_acknowledged_appends_survive_sigkill(tmp_path: Path, logs: Logs) -> None:
    folder = tmp_path / "guard-logs"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(folder), str(64 * 1024)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,  # unbuffered: lines read ahead into a buffer would be lost to communicate()
    )
    assert child.stdout is not None and child.stderr is not None
    seen = b""
    try:
        for raw in child.stdout:
            seen += raw
            if int(raw) >= 400:
                break
    finally:
        os.kill(child.pid, signal.SIGKILL)
        rest, err = child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL, err.decode()
    acked = _acknowledged(seen + rest)
    assert acked >= 400

    with ExchangeLog(folder) as log:
        recovery = log.recovered
    assert recovery.partial_lines <= 1
    assert len(recovery.files) <= 1  # the file the child was writing, if it had one
    assert not list(folder.glob(f"*{OPEN_SUFFIX}"))
    assert len(list(folder.glob("*.jsonl"))) > 10  # it rotated by size while running

    numbers = [int(record["id"].removeprefix("k-")) for record in lines(folder)]
    assert numbers == list(range(len(numbers)))  # each once, in order, none missing
    assert acked + 1 <= len(numbers) <= acked + 2  # at most the one in flight beyond acked
    for path in recovery.partial:
        entry = orjson.loads(path.read_bytes())
        assert entry["record"].startswith(f'{{"id":"k-{len(numbers)}"')

    ingested = logs.ingest(folder)
    assert ingested.summary.rejected == 0
    assert ingested.summary.duplicates == 0
    assert ingested.summary.exchanges == len(numbers)
