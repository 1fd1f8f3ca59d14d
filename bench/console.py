"""Server time per console page over a store with many campaigns, or over a real hunt.

    python bench/console.py                      # 10,000 campaigns, 30 requests per page
    python bench/console.py --campaigns 50000 --repeat 50 --json out.json
    python bench/console.py --hunt hunt-out/     # a real hunt's output folder
    python bench/console.py --hunt hunt-out/ --exchanges store/   # and its exchange store

Without ``--hunt`` it builds a synthetic hunt output (``--campaigns`` campaigns of three
accounts each, with a 24-point timeline and one shared artefact). With ``--hunt DIR`` it
copies that hunt's ``accounts.csv`` and ``campaigns.json`` (and ``forensics/``, if any) into
a scratch store and times the console over them.

The account and campaign pages also read the exchange store (``console.history``: an
account's exchanges per day, the latest exchanges of an account or campaign), which the
console finds in ``store/`` inside its folder. ``--exchanges STORE_DIR`` names an ingested
store (the folder ``distillguard ingest`` wrote); it is linked, not copied, into the scratch
store as ``store/`` (a symbolic link: the console only reads it, and removing the scratch
store removes the link, not the store). Without ``--exchanges``, a hunt folder's own
``store/`` (left there when the hunt ingested the logs itself) is linked; without either,
those queries do not run and the account and campaign pages are timed without them. Only
with ``--hunt``: the synthetic campaigns' accounts are not in any store.

Pages timed: the campaign list (first and last page, two filters), the riskiest, a middle
and the largest campaign (by exchanges; its page lists example exchanges of all its
accounts), the first account of the riskiest campaign, an account of median volume and the
account with the most exchanges (by ``accounts.csv``), and the rules, audit, backtests and
forensics pages. The console runs in this process and each page is asked for ``--repeat``
times (after one warm-up request) through an HTTP client on the application (no network, no
browser), logged in as an analyst. Reported per page: median and 95th percentile in
milliseconds; the target is a median of at most 300 ms. Also reported: the time to build
the in-memory index (once, at start-up and whenever the hunt's files change), for a real
hunt its accounts, exchanges and campaigns, the exchange store used, if any, and the
volume of the accounts and campaign picked.
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
from distillguard.errors import InputError
from distillguard.exchange import Store
from distillguard.exchange.store import STORE_MARKER

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


def _link_exchanges(exchanges: Path, root: Path) -> None:
    """The exchange store as ``store/`` in the scratch store: a symbolic link to it."""
    try:
        Store(exchanges)
    except InputError as exc:
        raise SystemExit(f"--exchanges: {exc}") from None
    (root / "store").symlink_to(exchanges.resolve(), target_is_directory=True)


def run(
    campaigns: int, repeat: int, hunt: Path | None = None, exchanges: Path | None = None
) -> dict[str, Any]:
    if exchanges is None and hunt is not None and (hunt / "store" / STORE_MARKER).is_file():
        exchanges = hunt / "store"
    if exchanges is not None and hunt is None:
        raise SystemExit("--exchanges needs --hunt: synthetic accounts are in no store")
    root = Path(tempfile.mkdtemp(prefix="bench-console-"))
    try:
        if hunt is None:
            write_store(root, campaigns)
            size: dict[str, Any] = {"campaigns": campaigns}
        else:
            size = {"hunt": str(hunt), **_hunt_copy(hunt, root)}
        if exchanges is not None:
            _link_exchanges(exchanges, root)
        size["exchange_store"] = None if exchanges is None else str(exchanges)
        started = time.perf_counter()
        index = HuntIndex(root, b"k" * 32)
        index_s = time.perf_counter() - started
        ranked = [c.id for c in index.campaigns]
        if not ranked:
            raise SystemExit("the hunt found no campaigns: nothing to time")
        add_user(root, "bench", PASSWORD, "analyst")
        app = create_app(root)
        client = TestClient(app)
        token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
        if token is None:
            raise SystemExit("no CSRF token on the log-in page")
        client.post("/login", data={"csrf": token.group(1), "name": "bench", "password": PASSWORD})
        top, middle = ranked[0], ranked[len(ranked) // 2]
        account = re.search(
            r'href="(/accounts/[0-9a-f]+)"', client.get(f"/campaigns/{quote(top, safe='')}").text
        )
        # The console's own index: account keys are keyed by the store's secret.
        live = app.state.console.index.get()
        largest = max(live.campaigns, key=lambda c: (c.exchanges, len(c.accounts)))
        by_volume = sorted(live.accounts.values(), key=lambda a: (a.exchanges, a.account_id))
        if not by_volume:
            raise SystemExit("the hunt has no accounts: nothing to time")
        mid, high = by_volume[len(by_volume) // 2], by_volume[-1]
        picked = {
            "campaign_largest": {
                "id": largest.id,
                "exchanges": largest.exchanges,
                "accounts": len(largest.accounts),
            },
            "account_mid_volume": {"exchanges": mid.exchanges, "verdict": mid.verdict},
            "account_high_volume": {"exchanges": high.exchanges, "verdict": high.verdict},
        }
        last = (len(ranked) - 1) // 50 + 1
        pages = {
            "campaigns (page 1)": "/campaigns",
            f"campaigns (page {last})": f"/campaigns?page={last}",
            "campaigns (capability filter)": "/campaigns?capability=coding&page=3",
            "campaigns (state filter)": "/campaigns?state=new&page=2",
            "campaign (riskiest)": f"/campaigns/{quote(top, safe='')}",
            "campaign (middle)": f"/campaigns/{quote(middle, safe='')}",
            "campaign (largest)": f"/campaigns/{quote(largest.id, safe='')}",
            "account": account.group(1) if account else "/campaigns",
            "account (mid volume)": f"/accounts/{mid.key}",
            "account (high volume)": f"/accounts/{high.key}",
            "rules": "/rules",
            "audit": "/audit",
            "backtests": "/backtests",
            "forensics": "/forensics",
        }
        figures = {name: _time(client, path, repeat) for name, path in pages.items()}
        return {
            **size,
            "repeat": repeat,
            "index_s": round(index_s, 2),
            "picked": picked,
            "pages": figures,
        }
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
    parser.add_argument(
        "--exchanges",
        type=Path,
        default=None,
        metavar="STORE_DIR",
        help="The ingested exchange store the hunt read (default: the hunt folder's store/, "
        "if any); linked into the console's folder as store/.",
    )
    args = parser.parse_args()
    if args.exchanges is not None and args.hunt is None:
        parser.error("--exchanges needs --hunt")
    result = run(args.campaigns, args.repeat, args.hunt, args.exchanges)
    if args.hunt is not None:
        print(
            f"hunt {args.hunt}: {result['accounts']:,} accounts, {result['exchanges']:,} exchanges"
        )
    print(f"exchange store: {result['exchange_store'] or 'none (history queries not run)'}")
    print(f"{result['campaigns']:,} campaigns; index built in {result['index_s']} s")
    picked = result["picked"]
    print(
        f"largest campaign {picked['campaign_largest']['id']}: "
        f"{picked['campaign_largest']['exchanges']:,} exchanges, "
        f"{picked['campaign_largest']['accounts']:,} accounts; accounts timed: "
        f"{picked['account_mid_volume']['exchanges']:,} exchanges (mid volume), "
        f"{picked['account_high_volume']['exchanges']:,} (high volume)"
    )
    for name, figure in result["pages"].items():
        flag = "" if figure["median_ms"] <= TARGET_MS else "  over target"
        print(
            f"{name:32} median {figure['median_ms']:8.1f} ms  p95 {figure['p95_ms']:8.1f} ms{flag}"
        )
    if args.json:
        args.json.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
