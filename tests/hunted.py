"""A hunt's output for guard tests: a campaign of two accounts and one customer."""

from __future__ import annotations

from pathlib import Path

import orjson

ACCOUNTS_CSV = (
    "account_id,risk,verdict,cluster_id,campaign_id,exchanges,reasons\n"
    "acct-attack,0.93,attack,cl-1,cp-1,120,shared_payment\n"
    "acct-peer,0.91,attack,cl-1,cp-1,80,shared_payment\n"
    "acct-benign,0.02,benign,,,40,\n"
)
CAMPAIGNS = {
    "version": 1,
    "campaigns": [
        {
            "id": "cp-1",
            "accounts": ["acct-attack", "acct-peer"],
            "exchanges": 200,
            "confidence": 0.9,
        }
    ],
}


def write_watchlist(folder: Path) -> Path:
    """``accounts.csv`` and ``campaigns.json`` as a hunt writes them, in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "accounts.csv").write_text(ACCOUNTS_CSV, encoding="utf-8")
    (folder / "campaigns.json").write_bytes(orjson.dumps(CAMPAIGNS))
    return folder
