"""Server time per console page over a store with many campaigns.

    python bench/console.py                      # 10,000 campaigns, 30 requests per page
    python bench/console.py --campaigns 50000 --repeat 50 --json out.json

Builds a synthetic hunt output (``--campaigns`` campaigns of three accounts each, with a
24-point timeline and one shared artefact), starts the console in this process and asks
for each page ``--repeat`` times through an HTTP client on the application (no network,
no browser), logged in as an analyst. Reported per page: median and 95th percentile in
milliseconds; the target is a median of at most 300 ms. Also reported: the time to build
the in-memory index (once, at start-up and whenever the hunt's files change).
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Final

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


def run(campaigns: int, repeat: int) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="bench-console-"))
    try:
        write_store(root, campaigns)
        started = time.perf_counter()
        HuntIndex(root, b"k" * 32)
        index_s = time.perf_counter() - started
        add_user(root, "bench", PASSWORD, "analyst")
        client = TestClient(create_app(root))
        token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
        if token is None:
            raise SystemExit("no CSRF token on the log-in page")
        client.post("/login", data={"csrf": token.group(1), "name": "bench", "password": PASSWORD})
        middle = campaigns // 2
        account = re.search(
            r'href="(/accounts/[0-9a-f]+)"', client.get("/campaigns/cp-000000").text
        )
        pages = {
            "campaigns (page 1)": "/campaigns",
            f"campaigns (page {middle // 50 + 1})": f"/campaigns?page={middle // 50 + 1}",
            "campaigns (capability filter)": "/campaigns?capability=coding&page=3",
            "campaigns (state filter)": "/campaigns?state=new&page=2",
            "campaign": f"/campaigns/cp-{middle:06d}",
            "account": account.group(1) if account else "/campaigns",
            "rules": "/rules",
            "audit": "/audit",
        }
        figures = {name: _time(client, path, repeat) for name, path in pages.items()}
        return {
            "campaigns": campaigns,
            "repeat": repeat,
            "index_s": round(index_s, 2),
            "pages": figures,
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--campaigns", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    result = run(args.campaigns, args.repeat)
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
