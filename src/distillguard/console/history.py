"""An account's history and example exchanges, read from the exchange store.

The console's store folder holds the exchange store in ``store/`` when the hunt ingested the
logs itself. Pages read it with one DuckDB query each, the account id passed as a parameter.
An example exchange shows what the store holds about a request: time, surface, model, sizes,
parameters and the rules that fired. Text appears only when the store kept it (``ingest
--keep-text``), and then with personal data redacted (``redact``) and cut short.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import duckdb

from ..exchange import Store
from ..exchange.store import EXCHANGES, STORE_MARKER

EXAMPLES: Final = 5
TEXT_CHARS: Final = 280
_REDACTIONS: Final = (
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "[email]"),
    (re.compile(r"\b(?:https?|ftp)://\S+", re.I), "[url]"),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b"), "[ip]"),
    (re.compile(r"\b[0-9a-f]{1,4}(?::[0-9a-f]{0,4}){2,7}\b", re.I), "[ip]"),
    (re.compile(r"\b(?:sk|pk|rk|key|tok)[-_][A-Za-z0-9_-]{8,}"), "[secret]"),
    (re.compile(r"\b[A-Za-z0-9+/_-]{32,}={0,2}"), "[token]"),
    (re.compile(r"\+?\d[\d ()./-]{7,}\d"), "[number]"),
)
"""E-mail addresses, URLs, IP addresses, key-shaped and token-shaped strings, and long
numbers (phone, card and account numbers), in that order. It errs on the side of hiding:
a clock time like 10:30:00 reads as an IPv6 address and goes too."""


def redact(text: str, limit: int = TEXT_CHARS) -> str:
    """``text`` with personal data replaced by placeholders, cut to ``limit`` characters."""
    for pattern, placeholder in _REDACTIONS:
        text = pattern.sub(placeholder, text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class Example:
    ts: str
    account_id: str
    surface: str
    model: str
    prompt_chars: int
    response_chars: int
    turns: int
    parameters: str
    rules: tuple[str, ...]
    text: str | None  # redacted; None when the store kept no text


def has_store(root: Path) -> bool:
    return (root / "store" / STORE_MARKER).is_file()


def _source(files: Sequence[str]) -> str:
    quoted = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    return f"read_parquet([{quoted}], hive_partitioning = false)"


def _query(root: Path, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    glob = Store(root / "store").exchanges_glob.replace("'", "''")
    source = f"read_parquet('{glob}', hive_partitioning = false)"
    with duckdb.connect() as con:
        return con.execute(sql.format(source=source), params).fetchall()


def _days_newest_first(root: Path) -> list[list[str]]:
    """The store's exchange files grouped by day partition (``day=YYYY-MM-DD``), newest
    day first; each partition holds the exchanges whose ``ts`` falls on that day."""
    folder = root / "store" / EXCHANGES
    days = sorted((d for d in folder.glob("day=*") if d.is_dir()), reverse=True)
    return [files for d in days if (files := sorted(str(f) for f in d.glob("*.parquet")))]


def activity(root: Path, account_id: str) -> list[tuple[str, int]]:
    """Exchanges per day of one account, oldest first (empty without a store)."""
    if not has_store(root):
        return []
    rows = _query(
        root,
        "SELECT CAST(ts AS DATE) AS day, count(*) FROM {source} "
        "WHERE account_id = ? GROUP BY day ORDER BY day",
        [account_id],
    )
    return [(f"{day.isoformat()}T00:00:00Z", int(n)) for day, n in rows]


def examples(root: Path, account_ids: Sequence[str], limit: int = EXAMPLES) -> list[Example]:
    """The latest ``limit`` exchanges of ``account_ids`` (empty without a store)."""
    if not has_store(root) or not account_ids:
        return []
    text = "prompt_text" if Store(root / "store").keep_text else "NULL"
    sql = (
        "SELECT ts, account_id, surface, model, prompt_chars, response_chars, n_user_turns, "
        f"param_keys, text_rules, {text} FROM {{source}} "
        "WHERE list_contains(?, account_id) ORDER BY ts DESC LIMIT ?"
    )
    # The latest exchanges are in the latest days: read one day, then two more, four more…
    # until enough are found, instead of scanning the whole store for every page.
    days, start, width = _days_newest_first(root), 0, 1
    rows: list[tuple[Any, ...]] = []
    with duckdb.connect() as con:
        while start < len(days) and len(rows) < limit:
            files = [f for day in days[start : start + width] for f in day]
            found = con.execute(sql.format(source=_source(files)), [list(account_ids), limit])
            rows += found.fetchall()[: limit - len(rows)]
            start, width = start + width, width * 2
    out = []
    for ts, account, surface, model, prompt, response, turns, params, fired, kept in rows:
        out.append(
            Example(
                ts=ts.isoformat(timespec="seconds") if ts is not None else "",
                account_id=str(account),
                surface=str(surface or ""),
                model=str(model or ""),
                prompt_chars=int(prompt or 0),
                response_chars=int(response or 0),
                turns=int(turns or 0),
                parameters=str(params or ""),
                rules=tuple(str(r) for r in fired or ()),
                text=redact(kept) if isinstance(kept, str) and kept else None,
            )
        )
    return out
