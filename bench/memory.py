"""Wall time, peak resident memory and CPU time of a command and all its child processes
(Linux: memory from /proc, CPU time from the children's resource usage)."""

from __future__ import annotations

import resource
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

_PAGE_KIB = 4


def _tree_rss_kib(root: int) -> int:
    """Resident memory of ``root`` and its descendants, in KiB."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        pid = int(status.parent.name)
        children.setdefault(int(fields[1]), []).append(pid)
        rss[pid] = int(fields[21]) * _PAGE_KIB
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


@dataclass(frozen=True)
class Measured:
    seconds: float
    """Wall time."""
    peak_bytes: int
    """Largest resident memory of the process tree."""
    cpu_seconds: float
    """User and system time of the process and all its children: unlike wall time, hardly
    changed by other work on the machine."""


def run_measured(command: list[str], *, interval: float = 0.05) -> tuple[float, int]:
    """Run ``command``; return (wall seconds, peak resident memory of its tree in bytes)."""
    measured = run_profiled(command, interval=interval)
    return measured.seconds, measured.peak_bytes


def run_profiled(command: list[str], *, interval: float = 0.05) -> Measured:
    """Run ``command``; return its wall time, peak memory and CPU time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss_kib(process.pid))
            time.sleep(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = process.wait()
    done.set()
    sampler.join()
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if code not in (0, 1):  # 1: finished with rejected records, still a complete run
        raise RuntimeError(f"{command} exited {code}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Measured(seconds, peak * 1024, cpu)
