"""Foundations benchmarks: simulator and ingest throughput, ingest against DuckDB, memory.

    python bench/run.py                      # 100k and 1M exchanges
    python bench/run.py --sizes 20000        # a quick look

For each size it simulates labelled traffic (two pilot runs calibrate the scale), then reads
the same files twice in the same run: with DuckDB's own ``read_json`` (materialising every
column into a table: the bare read) and with ``distillguard ingest``. Ingest time is
reported as a ratio to DuckDB's. Each step runs as its own process, and peak memory is
that process tree's largest resident set. Results go to bench/results/ (one JSON file per
run, with the machine and the commit state) and are printed as a Markdown table.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from memory import Measured, run_profiled

# ``python -m distillguard.cli`` would only import the module: call its entry point.
CLI = [sys.executable, "-c", "from distillguard.cli import main; main()"]
DAYS = 14
PILOT_SCALE = 0.001
DUCKDB_READ = """
import sys, duckdb
con = duckdb.connect()
con.execute(
    "CREATE TABLE t AS SELECT * FROM read_json(?, format='newline_delimited')", [sys.argv[1]]
)
print(con.execute("SELECT count(*) FROM t").fetchone()[0])
"""


def simulated_exchanges(folder: Path) -> int:
    with (folder / "summary.json").open() as f:
        return int(json.load(f)["exchanges"])


def simulate(out: Path, scale: float, seed: int) -> tuple[float, int, int]:
    """(wall seconds, peak bytes, exchanges) of one simulation (bench/hunt.py uses it)."""
    measured, exchanges = simulate_profiled(out, scale, seed)
    return measured.seconds, measured.peak_bytes, exchanges


def simulate_profiled(out: Path, scale: float, seed: int) -> tuple[Measured, int]:
    command = [
        *CLI,
        "simulate",
        "--out",
        str(out),
        "--scale",
        str(scale),
        "--days",
        str(DAYS),
        "--seed",
        str(seed),
    ]
    return run_profiled(command), simulated_exchanges(out)


def input_bytes(folder: Path) -> tuple[int, int, int]:
    """(compressed bytes, uncompressed bytes, lines) of the exchange log files."""
    packed = raw = lines = 0
    for path in sorted((folder / "exchanges").glob("*.jsonl.gz")):
        packed += path.stat().st_size
        with gzip.open(path, "rb") as f:
            while block := f.read(1 << 24):
                raw += len(block)
                lines += block.count(b"\n")
    return packed, raw, lines


def duckdb_read(folder: Path) -> Measured:
    """DuckDB materialising every line of the log into a table, in its own process."""
    glob = str(folder / "exchanges" / "*.jsonl.gz")
    return run_profiled([sys.executable, "-c", DUCKDB_READ, glob])


def ingest(folder: Path, store: Path) -> Measured:
    command = [
        *CLI,
        "ingest",
        str(folder / "exchanges"),
        "--out",
        str(store),
        "--accounts",
        str(folder / "accounts.jsonl"),
        "--models",
        str(folder / "models.jsonl"),
        "--overwrite",
    ]
    return run_profiled(command)


def machine() -> dict[str, Any]:
    """What the numbers were measured on: cores, memory, Python, and the commit state."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, check=True
            )
        except (OSError, subprocess.CalledProcessError):
            return "unknown"
        return done.stdout.strip()

    memory_kib = 0
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    return {
        "date": time.strftime("%Y-%m-%d"),
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kib / 2**20, 1),
        "python": platform.python_version(),
        "commit": git("rev-parse", "--short", "HEAD"),
        "uncommitted_changes": bool(git("status", "--porcelain", "--untracked-files=no")),
        "load_average_at_start": os.getloadavg()[0],
    }


def measure(work: Path, target: int, scale: float, seed: int) -> dict[str, Any]:
    folder = work / f"traffic-{target}"
    sim, exchanges = simulate_profiled(folder, scale, seed)
    packed, raw, lines = input_bytes(folder)
    duck = duckdb_read(folder)
    ing = ingest(folder, work / f"store-{target}")
    return {
        "scale": round(scale, 5),
        "exchanges": exchanges,
        "lines": lines,
        "input_mb_gz": round(packed / 1e6, 1),
        "input_mb": round(raw / 1e6, 1),
        "simulate_s": round(sim.seconds, 2),
        "simulate_per_s": round(exchanges / sim.seconds),
        "simulate_peak_mib": round(sim.peak_bytes / 2**20),
        "duckdb_read_s": round(duck.seconds, 2),
        "duckdb_cpu_s": round(duck.cpu_seconds, 1),
        "duckdb_peak_mib": round(duck.peak_bytes / 2**20),
        "ingest_s": round(ing.seconds, 2),
        "ingest_cpu_s": round(ing.cpu_seconds, 1),
        "ingest_per_s": round(exchanges / ing.seconds),
        "ingest_mb_per_s": round(raw / 1e6 / ing.seconds, 1),
        "ingest_vs_duckdb": round(ing.seconds / duck.seconds, 2),
        "ingest_vs_duckdb_cpu": round(ing.cpu_seconds / duck.cpu_seconds, 2),
        "ingest_peak_mib": round(ing.peak_bytes / 2**20),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument(
        "--sizes", default="100000,1000000", help="exchange counts, comma-separated"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument(
        "--work", type=Path, default=None, help="folder for the generated files (default: temp)"
    )
    args = parser.parse_args()
    about = machine()
    results = []
    work = Path(tempfile.mkdtemp(prefix="distillguard-bench-", dir=args.work))
    try:
        # Exchanges grow with the scale plus a fixed part (every population and campaign
        # has a floor): two pilots fit the line that the sizes asked for are read off.
        low = simulate(work / "pilot-1", PILOT_SCALE, args.seed)[2]
        high = simulate(work / "pilot-2", 2 * PILOT_SCALE, args.seed)[2]
        slope = max((high - low) / PILOT_SCALE, 1.0)
        fixed = low - slope * PILOT_SCALE
        for target in (int(s) for s in args.sizes.split(",")):
            scale = max((target - fixed) / slope, PILOT_SCALE / 10)
            row = measure(work, target, scale, args.seed)
            results.append(row)
            print(json.dumps(row), flush=True)
            if not args.keep:
                shutil.rmtree(work / f"traffic-{target}")
                shutil.rmtree(work / f"store-{target}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    report = {"machine": about, "results": results}
    (out / f"foundations-{stamp}.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(about))
    print_table(results)
    return 0


def print_table(results: list[dict[str, Any]]) -> None:
    keys = list(results[0]) if results else []
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in results:
        print("| " + " | ".join(str(row[k]) for k in keys) + " |")


if __name__ == "__main__":
    sys.exit(main())
