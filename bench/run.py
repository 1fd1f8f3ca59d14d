"""Foundations benchmarks: simulator and ingest throughput, ingest against DuckDB, memory.

    python bench/run.py                      # 100k and 1M exchanges
    python bench/run.py --sizes 20000        # a quick look

For each size it simulates labelled traffic (a pilot run calibrates the scale), then reads
the same files twice in the same run: with DuckDB's own ``read_json`` (materialising every
column into a table: the bare read) and with ``distillguard ingest``. Ingest time is
reported as a ratio to DuckDB's. Each step runs as its own process, and peak memory is
that process tree's largest resident set. Results go to bench/results/.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from memory import run_measured

CLI = [sys.executable, "-m", "distillguard.cli"]
DAYS = 14


def simulated_exchanges(folder: Path) -> int:
    with (folder / "summary.json").open() as f:
        return int(json.load(f)["exchanges"])


def simulate(out: Path, scale: float, seed: int) -> tuple[float, int, int]:
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
    seconds, peak = run_measured(command)
    return seconds, peak, simulated_exchanges(out)


def input_bytes(folder: Path) -> tuple[int, int]:
    """(compressed, uncompressed) bytes of the exchange log files."""
    packed = raw = 0
    for path in sorted((folder / "exchanges").glob("*.jsonl.gz")):
        packed += path.stat().st_size
        with gzip.open(path, "rb") as f:
            while block := f.read(1 << 24):
                raw += len(block)
    return packed, raw


def duckdb_read(folder: Path) -> float:
    glob = str(folder / "exchanges" / "*.jsonl.gz")
    started = time.perf_counter()
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_json('{glob}', format='newline_delimited')")
    con.close()
    return time.perf_counter() - started


def ingest(folder: Path, store: Path) -> tuple[float, int]:
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
    return run_measured(command)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes", default="100000,1000000", help="exchange counts, comma-separated"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    args = parser.parse_args()
    results = []
    work = Path(tempfile.mkdtemp(prefix="distillguard-bench-"))
    try:
        pilot = work / "pilot"
        _, _, pilot_exchanges = simulate(pilot, 0.001, args.seed)
        per_scale = pilot_exchanges / 0.001
        for target in (int(s) for s in args.sizes.split(",")):
            folder = work / f"traffic-{target}"
            sim_s, sim_peak, exchanges = simulate(folder, target / per_scale, args.seed)
            packed, raw = input_bytes(folder)
            duck_s = duckdb_read(folder)
            ing_s, ing_peak = ingest(folder, work / f"store-{target}")
            row = {
                "exchanges": exchanges,
                "input_mb_gz": round(packed / 1e6, 1),
                "input_mb": round(raw / 1e6, 1),
                "simulate_s": round(sim_s, 2),
                "simulate_per_s": round(exchanges / sim_s),
                "simulate_peak_mib": round(sim_peak / 2**20),
                "duckdb_read_s": round(duck_s, 2),
                "ingest_s": round(ing_s, 2),
                "ingest_per_s": round(exchanges / ing_s),
                "ingest_mb_per_s": round(raw / 1e6 / ing_s, 1),
                "ingest_vs_duckdb": round(ing_s / duck_s, 2),
                "ingest_peak_mib": round(ing_peak / 2**20),
            }
            results.append(row)
            print(json.dumps(row), flush=True)
            if not args.keep:
                shutil.rmtree(folder)
                shutil.rmtree(work / f"store-{target}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    (out / f"foundations-{stamp}.json").write_text(json.dumps(results, indent=2))
    print_table(results)
    return 0


def print_table(results: list[dict[str, float]]) -> None:
    keys = list(results[0]) if results else []
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in results:
        print("| " + " | ".join(str(row[k]) for k in keys) + " |")


if __name__ == "__main__":
    sys.exit(main())
