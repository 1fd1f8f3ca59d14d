"""Hunt benchmark: the whole hunt against DuckDB reading and grouping the same log.

    python bench/hunt.py                        # 250k, 1M and 4M exchanges
    python bench/hunt.py --sizes 100000         # a quick look

For each size it simulates labelled traffic (a pilot run calibrates the scale), then in
the same run measures, each step as its own process:

- the baseline: DuckDB ``read_json`` over the gzipped exchange log, grouped by account
  (``SELECT account_id, count(*) ... GROUP BY account_id``, materialised);
- ``distillguard hunt LOG --accounts --models --out``: from the gzipped log to the three
  output files (ingest included);
- ``distillguard hunt STORE --out``: the same hunt over the store the first run ingested.

It reports seconds, exchanges per second, the ratio of each hunt to the baseline, peak
memory (largest resident set of the process tree) and seconds per million exchanges, which
stays flat when cost is linear in traffic. Results go to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from memory import run_measured
from run import CLI, simulate

BASELINE = """
import sys, duckdb
con = duckdb.connect()
con.execute(
    "CREATE TABLE t AS SELECT account_id, count(*) AS n FROM read_json(?, "
    "format='newline_delimited') GROUP BY account_id",
    [sys.argv[1]],
)
print(con.execute("SELECT sum(n) FROM t").fetchone()[0])
"""


def calibrate(work: Path, seed: int) -> float:
    """Exchanges per unit of scale, from a small pilot run."""
    pilot = work / "pilot"
    _, _, exchanges = simulate(pilot, 0.002, seed)
    shutil.rmtree(pilot)
    return exchanges / 0.002


def measure(size: int, per_scale: float, work: Path, seed: int) -> dict[str, float]:
    traffic = work / f"traffic-{size}"
    sim_seconds, _, exchanges = simulate(traffic, size / per_scale, seed)
    log = str(traffic / "exchanges" / "*.jsonl.gz")
    base_seconds, base_peak = run_measured([sys.executable, "-c", BASELINE, log])
    out_logs = work / f"hunt-logs-{size}"
    logs_seconds, logs_peak = run_measured(
        [
            *CLI,
            "hunt",
            str(traffic / "exchanges"),
            "--accounts",
            str(traffic / "accounts.jsonl"),
            "--models",
            str(traffic / "models.jsonl"),
            "--out",
            str(out_logs),
        ]
    )
    out_store = work / f"hunt-store-{size}"
    store_seconds, store_peak = run_measured(
        [*CLI, "hunt", str(out_logs / "store"), "--out", str(out_store)]
    )
    for name in ("accounts.csv", "campaigns.json", "report.html"):
        if not (out_logs / name).is_file() or not (out_store / name).is_file():
            raise SystemExit(f"hunt did not write {name} at size {size}")
    return {
        "exchanges": exchanges,
        "simulate_seconds": sim_seconds,
        "duckdb_seconds": base_seconds,
        "duckdb_peak_mib": base_peak / 2**20,
        "hunt_logs_seconds": logs_seconds,
        "hunt_logs_peak_mib": logs_peak / 2**20,
        "hunt_logs_ratio": logs_seconds / base_seconds,
        "hunt_store_seconds": store_seconds,
        "hunt_store_peak_mib": store_peak / 2**20,
        "hunt_store_ratio": store_seconds / base_seconds,
        "hunt_logs_seconds_per_million": logs_seconds / exchanges * 1e6,
        "hunt_store_seconds_per_million": store_seconds / exchanges * 1e6,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[250_000, 1_000_000, 4_000_000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="distillguard-bench-"))
    results = []
    try:
        per_scale = calibrate(work, args.seed)
        for size in args.sizes:
            result = measure(size, per_scale, work, args.seed)
            results.append(result)
            print(json.dumps(result), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    folder = Path(__file__).resolve().parent / "results"
    folder.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (folder / f"hunt-{stamp}.json").write_text(json.dumps(results, indent=2))
    print_table(results)
    return 0


def print_table(results: list[dict[str, float]]) -> None:
    header = (
        "exchanges  duckdb s  hunt(log) s  ratio  peak MiB  s/M   hunt(store) s  ratio  peak MiB"
    )
    print(header)
    for r in results:
        print(
            f"{int(r['exchanges']):>9,}  {r['duckdb_seconds']:>8.1f}  "
            f"{r['hunt_logs_seconds']:>11.1f}  {r['hunt_logs_ratio']:>5.2f}  "
            f"{r['hunt_logs_peak_mib']:>8.0f}  {r['hunt_logs_seconds_per_million']:>4.0f}  "
            f"{r['hunt_store_seconds']:>13.1f}  {r['hunt_store_ratio']:>5.2f}  "
            f"{r['hunt_store_peak_mib']:>8.0f}"
        )


if __name__ == "__main__":
    raise SystemExit(main())
