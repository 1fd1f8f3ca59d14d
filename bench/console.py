"""Server time per console page over a store with many campaigns, or over a real hunt.

    python bench/console.py                      # 10,000 campaigns, 30 requests per page
    python bench/console.py --campaigns 50000 --repeat 50 --json out.json
    python bench/console.py --hunt hunt-out/     # a real hunt's output folder

Without ``--hunt`` it builds a synthetic hunt output (``--campaigns`` campaigns of three
accounts each, with a 24-point timeline and one shared artefact). With ``--hunt DIR`` it
copies that hunt's ``accounts.csv`` and ``campaigns.json`` (and ``forensics/``, if any) into
a scratch store and times the console over them: the riskiest and a middle campaign, the
first account of the riskiest. Either way it starts the console in this process and asks
for each page ``--repeat`` times through an HTTP client on the application (no network, no
browser), logged in as an analyst. Reported per page: median and 95th percentile in
milliseconds; the target is a median of at most 300 ms. Also reported: the time to build
the in-memory index (once, at start-up and whenever the hunt's files change) and, for a real
hunt, its accounts and exchanges.
"""

from __future__ import annotations

import argparse
import csv
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

import orjson
from starlette.testclient import TestClient

from distillguard.console import add_user, create_app
from distillguard.console.hunt_index import HuntIndex

PASSWORD: Final = "bench password, not a secret"
TARGET_MS: Final = 300.0
CAPS: Final = ("coding", "math", "reasoning", "agentic")


def write_store(folder: Path, campaigns: int) -> None:
    items, rows = [], ["account_id,risk,verdict,cluster_id,campaign_id,exchanges,reasons"]
    for i in range(campaigns):
        ids = [f"acct-{i}-{j}" for j in range(3)]
        items.append(
            {
                "id": f"cp-{i:06d}",
                "accounts": ids,
                "clusters": [f"cl-{i}"],
                "exchanges": 100 + i % 977,
                "first_seen": "2025-03-03T00:00:00Z",
                "last_seen": "2025-03-04T00:00:00Z",
                "capabilities": {CAPS[i % 4]: 0.7, "other": 0.3},
                "reasons": ["INTENT_COT", "SHARED_PAYMENT"],
                "confidence": round((i * 7919 % 1000) / 1000, 3),
                "attribution": None,
                "evidence": [f"3 accounts share a payment (#{i:010d})"],
                "timeline": {
                    "bucket": "hour",
                    "points": [[f"2025-03-03T{h:02d}:00:00Z", 5 + h, 2] for h in range(24)],
                },
                "artefacts": [{"kind": "payment", "value": f"#{i:010d}", "accounts": 3}],
            }
        )
        rows += [f"{a},0.9,attack,cl-{i},cp-{i:06d},40,INTENT_COT;SHARED_PAYMENT" for a in ids]
    (folder / "campaigns.json").write_bytes(orjson.dumps({"version": 1, "campaigns": items}))
    (folder / "accounts.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def _time(client: TestClient, path: str, repeat: int) -> dict[str, float]:
    client.get(path)  # warm: templates compiled, caches filled
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{path}: HTTP {response.status_code}")
    samples.sort()
    return {
        "median_ms": round(statistics.median(samples), 2),
        "p95_ms": round(samples[int(0.95 * (len(samples) - 1))], 2),
    }


def _hunt_copy(hunt: Path, root: Path) -> dict[str, int]:
    """The hunt's files in the scratch store; its size in accounts, exchanges, campaigns."""
    for name in ("accounts.csv", "campaigns.json"):
        shutil.copy(hunt / name, root / name)
    if (hunt / "forensics").is_dir():
        shutil.copytree(hunt / "forensics", root / "forensics")
    with (root / "accounts.csv").open(newline="", encoding="utf-8") as f:
        volumes = [int(row["exchanges"] or 0) for row in csv.DictReader(f)]
    document = orjson.loads((root / "campaigns.json").read_bytes())
    return {
        "accounts": len(volumes),
        "exchanges": sum(volumes),
        "campaigns": len(document["campaigns"]),
    }


def run(campaigns: int, repeat: int, hunt: Path | None = None) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="bench-console-"))
    try:
        if hunt is None:
            write_store(root, campaigns)
            size: dict[str, Any] = {"campaigns": campaigns}
        else:
            size = {"hunt": str(hunt), **_hunt_copy(hunt, root)}
        started = time.perf_counter()
        index = HuntIndex(root, b"k" * 32)
        index_s = time.perf_counter() - started
        ranked = [c.id for c in index.campaigns]
        if not ranked:
            raise SystemExit("the hunt found no campaigns: nothing to time")
        add_user(root, "bench", PASSWORD, "analyst")
        client = TestClient(create_app(root))
        token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
        if token is None:
            raise SystemExit("no CSRF token on the log-in page")
        client.post("/login", data={"csrf": token.group(1), "name": "bench", "password": PASSWORD})
        top, middle = ranked[0], ranked[len(ranked) // 2]
        account = re.search(
            r'href="(/accounts/[0-9a-f]+)"', client.get(f"/campaigns/{quote(top, safe='')}").text
        )
        last = (len(ranked) - 1) // 50 + 1
        pages = {
            "campaigns (page 1)": "/campaigns",
            f"campaigns (page {last})": f"/campaigns?page={last}",
            "campaigns (capability filter)": "/campaigns?capability=coding&page=3",
            "campaigns (state filter)": "/campaigns?state=new&page=2",
            "campaign (riskiest)": f"/campaigns/{quote(top, safe='')}",
            "campaign (middle)": f"/campaigns/{quote(middle, safe='')}",
            "account": account.group(1) if account else "/campaigns",
            "rules": "/rules",
            "audit": "/audit",
            "backtests": "/backtests",
            "forensics": "/forensics",
        }
        figures = {name: _time(client, path, repeat) for name, path in pages.items()}
        return {**size, "repeat": repeat, "index_s": round(index_s, 2), "pages": figures}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--campaigns", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--hunt", type=Path, default=None, help="A hunt's output folder to time instead."
    )
    args = parser.parse_args()
    result = run(args.campaigns, args.repeat, args.hunt)
    if args.hunt is not None:
        print(
            f"hunt {args.hunt}: {result['accounts']:,} accounts, {result['exchanges']:,} exchanges"
        )
    print(f"{result['campaigns']:,} campaigns; index built in {result['index_s']} s")
    for name, figure in result["pages"].items():
        flag = "" if figure["median_ms"] <= TARGET_MS else "  over target"
        print(
            f"{name:32} median {figure['median_ms']:8.1f} ms  p95 {figure['p95_ms']:8.1f} ms{flag}"
        )
    if args.json:
        args.json.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
