"""Peak resident memory of a command and all its child processes (Linux /proc)."""

from __future__ import annotations

import subprocess
import threading
import time
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


def run_measured(command: list[str], *, interval: float = 0.05) -> tuple[float, int]:
    """Run ``command``; return (wall seconds, peak resident memory of its tree in bytes)."""
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
    if code not in (0, 1):  # 1: finished with rejected records, still a complete run
        raise RuntimeError(f"{command} exited {code}")
    return seconds, peak * 1024
