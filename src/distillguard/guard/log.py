"""The guard's exchange log: one JSON Lines record per exchange, in the contract's format.

The guard appends every exchange it sees as one line of the exchange-log contract (section 1:
``id``, ``ts``, ``account_id``, ``surface``, ``request``, ``response``, ...), so ``distillguard
ingest`` and ``distillguard hunt`` read the guard's folder as it is.

Files. The log writes into one folder, one file at a time, named
``<prefix>-<UTC timestamp>-<pid>-<seq>.jsonl``. The file being written carries the extra suffix
``.open``; the readers only pick up ``.jsonl`` (and ``.jsonl.gz``, ``.parquet``, ...) files, so
they never see it. When the file passes ``max_bytes`` (the next line would take it over) or
``max_age_s`` (checked on each append, or by ``rotate_if_due``), or when the log is closed, the
file is closed and renamed to ``.jsonl``: a rename is atomic, so a ``.jsonl`` file is always
complete, made of whole lines, and never written again. A log that gets no traffic keeps its
file open until the next append; a server that wants its files on a schedule calls
``rotate_if_due`` from a periodic task.

Recovery. A process that is killed leaves its ``.open`` file behind. A new ``ExchangeLog`` on
the folder (or ``recover``) finishes such files: their complete lines are kept, a trailing
partial line (a write cut off by the kill) is cut off and saved, with its byte offset, to a
``.partial`` file next to it (one quarantine entry in the format of ``quarantine.jsonl``, which
the readers ignore), and the file is renamed to ``.jsonl``. The writer holds an exclusive
``flock`` on its open file, released by the kernel when the process dies however it dies;
recovery skips every file whose lock it cannot take, so several guard processes (workers,
replicas on a shared volume) can share one folder without finishing each other's live files.
POSIX only (Linux, macOS).

Durability (the flush guarantee). ``append`` serialises the record to one line and hands the
whole line to the kernel with one ``os.write`` on a file descriptor opened with ``O_APPEND``;
there is no buffer in Python or C in between (a write the kernel takes only in part, which for
a regular file happens when the disk is full, is continued with the rest). When ``append``
returns, the record is in the operating system's page cache: it survives the guard process
crashing or being killed, including ``SIGKILL`` and the out-of-memory killer, and any process
that reads the file sees it (the hunt once the file is finished). It does not yet survive a
crash of the operating system or a power cut. With ``fsync=True``, ``append`` also calls
``fsync`` before it returns, so a record whose ``append`` returned is on stable storage (as far
as the disk honours flushes). With ``fsync=True`` and ``fsync_interval_s=N``, a background
thread calls ``fsync`` every N seconds instead, if anything was written, so a power cut loses at
most the records of about the last N seconds. Files are also synced before they are renamed,
and the folder after, when ``fsync`` is on. When ``append`` raises, the record is not logged
and no part of it stays in the file: a partly written line is cut back off (if even that fails,
the file is left ``.open`` for recovery, which cuts it off). A write cut off by the process
being killed in the middle of the call leaves at most one partial last line, which recovery
moves to the ``.partial`` file.

Serialisation. Records are written with ``orjson``. A record that ``orjson`` cannot write
(objects it does not know, keys that are not strings, integers over 64 bits, strings with lone
surrogates, nesting too deep) is not lost: the parts that cannot be written are written as
text, and ``meta.log_warning`` says so.

Privacy. The writer never sees the raw API key: ``api_key_id`` is the caller's hash of it
(``engine.key_hash``). As a defence against a caller logging request headers, ``append``
refuses (``ValueError``) a record whose ``meta``, or a mapping directly inside ``meta``, has a
key named like a credential (``authorization``, ``api_key``, ``x-api-key``, ...). Files are
created readable by their owner only: they hold prompts and responses.
"""

from __future__ import annotations

import fcntl
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import orjson

from ..exchange.quarantine import Rejected

MiB: Final = 1024 * 1024
DEFAULT_MAX_BYTES: Final = 256 * MiB
DEFAULT_MAX_AGE_S: Final = 3600.0
DEFAULT_PREFIX: Final = "guard"
SUFFIX: Final = ".jsonl"
OPEN_SUFFIX: Final = ".jsonl.open"
PARTIAL_SUFFIX: Final = ".partial"
FILE_MODE: Final = 0o600
"""Owner only: the log holds prompts and responses."""
TAIL_BLOCK: Final = 64 * 1024
"""Bytes read at a time, backwards from the end, to find the last complete line."""
MAX_DEPTH: Final = 200
"""Nesting kept when a record has to be made writable (orjson stops at 255 levels)."""
WARNING_FIELD: Final = "log_warning"

_PREFIX_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_OPEN_FLAGS: Final = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC


# -- privacy ------------------------------------------------------------------------------


def _credential(key: object) -> bool:
    """True for a key named like a credential header or field."""
    name = str(key).lower().replace("-", "_")
    return "authorization" in name or name.endswith(("api_key", "apikey"))


def check_meta(record: Mapping[str, Any]) -> None:
    """Refuse a record whose ``meta`` (or a mapping directly inside it) names a credential."""
    meta = record.get("meta")
    if not isinstance(meta, Mapping):
        return
    inner = [value for value in meta.values() if isinstance(value, Mapping)]
    for mapping in (meta, *inner):
        for key in mapping:
            if _credential(key):
                raise ValueError(
                    f"exchange log: meta has a key {str(key)!r}, named like a credential; "
                    "log a hash of the key as api_key_id, never the key"
                )


# -- serialisation ------------------------------------------------------------------------


def _text(value: object) -> str:
    """``str(value)`` as valid UTF-8 text (lone surrogates escaped), whatever ``value`` is."""
    try:
        text = value if isinstance(value, str) else str(value)
    except Exception:
        text = f"<unprintable {type(value).__name__}>"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _plain(value: object, depth: int = 0) -> object:
    """``value`` with everything orjson cannot write replaced by text."""
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**64 else str(value)
    if isinstance(value, str):
        return _text(value)
    if depth >= MAX_DEPTH:
        return _text(value)
    if isinstance(value, Mapping):
        return {_text(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v, depth + 1) for v in value]
    try:  # datetimes, UUIDs, enums, dataclasses ... as orjson writes them
        orjson.dumps(value)
    except TypeError:
        return _text(value)
    return value


def _warn(record: dict[str, Any], warning: str) -> None:
    """Put ``warning`` into the record's ``meta``, keeping what ``meta`` held."""
    meta = record.get("meta")
    if isinstance(meta, dict):
        meta[WARNING_FIELD] = warning
    elif meta is None:
        record["meta"] = {WARNING_FIELD: warning}
    else:
        record["meta"] = {"value": meta, WARNING_FIELD: warning}


def encode(record: Mapping[str, Any]) -> bytes:
    """One JSON line (newline included) for ``record``; never fails on the values."""
    data = record if isinstance(record, dict) else dict(record)
    try:
        return orjson.dumps(data, option=orjson.OPT_APPEND_NEWLINE)
    except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
        plain = _plain(data)
        assert isinstance(plain, dict)
        _warn(plain, f"not JSON as logged ({exc}); the values that were not are written as text")
        return orjson.dumps(plain, option=orjson.OPT_APPEND_NEWLINE)


# -- files --------------------------------------------------------------------------------


def _lock(fd: int) -> bool:
    """Take the exclusive lock of a log file without waiting; False if another holder has it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _same(fd: int, path: Path) -> bool:
    """True while ``path`` still names the file open as ``fd`` (not renamed or removed)."""
    try:
        here, there = os.fstat(fd), path.stat()
    except FileNotFoundError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def _sync_folder(folder: Path) -> None:
    """Make renames and new files in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _final_name(path: Path) -> Path:
    """The ``.jsonl`` name of an ``.open`` file; never one that exists already."""
    stem = path.name.removesuffix(OPEN_SUFFIX)
    target = path.with_name(stem + SUFFIX)
    n = 0
    while target.exists():
        n += 1
        target = path.with_name(f"{stem}~{n}{SUFFIX}")
    return target


def _finish(fd: int, path: Path, target: Path, size: int, *, fsync: bool) -> Path | None:
    """Finish a file open (and locked) as ``fd``: rename it to ``target``, or remove it if it
    is empty. Returns the finished file, None if it was removed. Closes ``fd``."""
    try:
        if size == 0:
            path.unlink()
            return None
        if fsync:
            os.fsync(fd)
        path.rename(target)
        if fsync:
            _sync_folder(path.parent)
        return target
    finally:
        os.close(fd)


def _complete_end(fd: int, size: int) -> int:
    """Byte offset just after the last newline of the file (0 if it has none)."""
    end = size
    while end > 0:
        start = max(0, end - TAIL_BLOCK)
        cut = os.pread(fd, end - start, start).rfind(b"\n")
        if cut >= 0:
            return start + cut + 1
        end = start
    return 0


@dataclass(frozen=True, slots=True)
class Recovery:
    """What recovering a folder did: files finished, partial last lines quarantined."""

    files: tuple[Path, ...] = ()
    partial: tuple[Path, ...] = ()
    """One ``.partial`` file per partial last line cut off."""

    @property
    def partial_lines(self) -> int:
        return len(self.partial)


def _quarantine(target: Path, offset: int, tail: bytes) -> Path:
    """Save the partial last line cut at ``offset`` off the file finished as ``target``, as
    ``<target>.partial``."""
    entry = Rejected(
        target.name,
        None,
        "partial_line",
        f"partial last line of {len(tail)} bytes at byte {offset}, left by a killed writer",
        record=tail,
        offset=offset,
    )
    out = target.with_name(target.name + PARTIAL_SUFFIX)
    out.write_bytes(orjson.dumps(entry.to_json()) + b"\n")
    return out


def _recover_file(path: Path, *, fsync: bool) -> tuple[Path | None, Path | None]:
    """Finish one ``.open`` file left by a dead writer: (finished file, partial file)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:  # finished by someone else meanwhile
        return None, None
    if not _lock(fd) or not _same(fd, path):  # still being written, or finished meanwhile
        os.close(fd)
        return None, None
    partial = None
    try:
        target = _final_name(path)
        size = os.fstat(fd).st_size
        end = _complete_end(fd, size)
        if end < size:
            partial = _quarantine(target, end, os.pread(fd, size - end, end))
            os.ftruncate(fd, end)
    except BaseException:
        os.close(fd)
        raise
    return _finish(fd, path, target, end, fsync=fsync), partial


def recover(folder: Path, *, prefix: str = DEFAULT_PREFIX, fsync: bool = False) -> Recovery:
    """Finish the ``.open`` files that dead writers left in ``folder``; live ones are left."""
    files: list[Path] = []
    partial: list[Path] = []
    for path in sorted(folder.glob(f"{prefix}-*{OPEN_SUFFIX}")):
        done, cut = _recover_file(path, fsync=fsync)
        if done is not None:
            files.append(done)
        if cut is not None:
            partial.append(cut)
    return Recovery(tuple(files), tuple(partial))


# -- the log ------------------------------------------------------------------------------


class ExchangeLog:
    """Appends exchange records to rotating JSON Lines files in ``folder`` (see the module
    docstring for the files, the recovery and the durability guarantee). Thread-safe."""

    def __init__(
        self,
        folder: Path,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_age_s: float = DEFAULT_MAX_AGE_S,
        prefix: str = DEFAULT_PREFIX,
        fsync: bool = False,
        fsync_interval_s: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_bytes <= 0 or max_age_s <= 0:
            raise ValueError("exchange log: max_bytes and max_age_s must be positive")
        if not _PREFIX_RE.fullmatch(prefix):
            raise ValueError(f"exchange log: prefix {prefix!r} must be letters, digits, _ . -")
        if fsync_interval_s < 0 or (fsync_interval_s > 0 and not fsync):
            raise ValueError("exchange log: fsync_interval_s must be >= 0 and needs fsync=True")
        self.folder = folder
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self.prefix = prefix
        self.fsync = fsync
        self.fsync_interval_s = fsync_interval_s
        self.clock = clock
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._path: Path | None = None
        self._size = 0
        self._opened = 0.0
        self._seq = 0
        self._closed = False
        self._dirty = False
        self._sync_error: OSError | None = None
        self.folder.mkdir(parents=True, exist_ok=True)
        self.recovered = recover(folder, prefix=prefix, fsync=fsync)
        """What recovery at start did (files of killed writers finished)."""
        self._stop = threading.Event()
        self._syncer: threading.Thread | None = None
        if fsync and fsync_interval_s > 0:
            self._syncer = threading.Thread(target=self._sync_loop, name="exchange-log-fsync")
            self._syncer.daemon = True
            self._syncer.start()

    @property
    def current(self) -> Path | None:
        """The file being written (``.open``), None before the first append or after close."""
        return self._path

    def append(self, record: Mapping[str, Any]) -> None:
        """Write one exchange record as one line; see the module docstring for what holds
        once this returns. Raises ValueError for a record that names a credential in ``meta``
        or when the log is closed; OSError when the write fails (nothing of the line is kept)
        or a background ``fsync`` failed since the last call (then the record is not written)."""
        check_meta(record)
        line = encode(record)
        with self._lock:
            if self._closed:
                raise ValueError("exchange log: append to a closed log")
            if self._sync_error is not None:
                error, self._sync_error = self._sync_error, None
                raise error
            self._rotate_if(self._due(len(line)))
            fd = self._fd if self._fd is not None else self._open()
            self._write(fd, line)
            if self.fsync:
                if self.fsync_interval_s > 0:
                    self._dirty = True
                else:
                    os.fsync(fd)

    def rotate_if_due(self) -> bool:
        """Finish the current file if it is older than ``max_age_s``; True if it did."""
        with self._lock:
            due = self._due(0)
            self._rotate_if(due)
            return due

    def close(self) -> None:
        """Finish the current file and stop; closing twice does nothing."""
        self._stop.set()
        if self._syncer is not None:
            self._syncer.join()
        with self._lock:
            self._closed = True
            self._rotate_if(True)

    def __enter__(self) -> ExchangeLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- under the lock ---------------------------------------------------------------------

    def _due(self, incoming: int) -> bool:
        """True when the current file must be finished before ``incoming`` more bytes."""
        if self._fd is None:
            return False
        if self._size > 0 and self._size + incoming > self.max_bytes:
            return True
        return self.clock() - self._opened >= self.max_age_s

    def _rotate_if(self, due: bool) -> None:
        if due and self._fd is not None and self._path is not None:
            fd, path, size = self._fd, self._path, self._size
            self._fd, self._path, self._size, self._dirty = None, None, 0, False
            _finish(fd, path, _final_name(path), size, fsync=self.fsync)

    def _open(self) -> int:
        """Create, lock and start the next file (a free name: another writer may share the
        folder, and recovery elsewhere may take a file before its lock is held)."""
        now = self.clock()
        stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        while True:
            name = f"{self.prefix}-{stamp}-{os.getpid()}-{self._seq:06d}"
            self._seq += 1
            path = self.folder / (name + OPEN_SUFFIX)
            if (self.folder / (name + SUFFIX)).exists():
                continue
            try:
                fd = os.open(path, _OPEN_FLAGS, FILE_MODE)
            except FileExistsError:
                continue
            if _lock(fd) and _same(fd, path):
                break
            os.close(fd)
        if self.fsync:
            _sync_folder(self.folder)
        self._fd, self._path, self._size, self._opened = fd, path, 0, now
        return fd

    def _write(self, fd: int, line: bytes) -> None:
        """Write the whole line (one ``os.write`` unless the kernel takes less); on failure cut
        what was written back off, or, if that fails too, leave the file to recovery."""
        done = 0
        try:
            while done < len(line):
                n = os.write(fd, line[done:] if done else line)
                if n <= 0:
                    raise OSError("exchange log: the write made no progress")
                done += n
        except OSError:
            try:
                os.ftruncate(fd, self._size)
            except OSError:
                self._abandon(fd)
            raise
        self._size += done

    def _abandon(self, fd: int) -> None:
        """Stop writing to a file that may end in a partial line: it stays ``.open``, and
        recovery (the next start, or another process) cuts the partial line off."""
        os.close(fd)
        self._fd, self._path, self._size = None, None, 0

    def _sync_loop(self) -> None:
        while not self._stop.wait(self.fsync_interval_s):
            with self._lock:
                if self._dirty and self._fd is not None:
                    try:
                        os.fsync(self._fd)
                        self._dirty = False
                    except OSError as exc:
                        self._sync_error = exc
