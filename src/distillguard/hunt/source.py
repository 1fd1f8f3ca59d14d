"""Where a hunt reads from: an ingested store, opened as Ibis tables.

The batch pipeline is written once on Ibis; this module is the only place that knows which
backend runs it. DuckDB is the default; any Ibis backend that can read Parquet (PySpark
among them) gets the same tables from ``tables(backend, store)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir

from ..exchange import Store
from ..exchange.schema import EXCHANGE_SCHEMA


@dataclass(frozen=True)
class Tables:
    exchanges: ir.Table
    accounts: ir.Table | None  # the registry, when one was ingested
    models: ir.Table | None  # model releases, when given


def duckdb_backend(*, threads: int | None = None, memory_limit: str = "3GB") -> Any:
    """A fresh in-process DuckDB backend with bounded memory."""
    con = ibis.duckdb.connect()
    con.raw_sql(f"SET memory_limit = '{memory_limit}'")
    if threads:
        con.raw_sql(f"SET threads = {int(threads)}")
    return con


def tables(backend: Any, store: Store) -> Tables:
    """The store's exchanges, registry and model releases on ``backend``."""
    folder = store.root / "exchanges"
    if any(folder.glob("**/*.parquet")):
        exchanges = backend.read_parquet(str(folder / "**" / "*.parquet"))
    else:  # an empty log gives an empty store: hunt it like any other
        exchanges = ibis.memtable(EXCHANGE_SCHEMA.empty_table())
    accounts_path = store.path("accounts.parquet")
    models_path = store.path("models.parquet")
    accounts = backend.read_parquet(str(accounts_path)) if accounts_path.is_file() else None
    models = backend.read_parquet(str(models_path)) if models_path.is_file() else None
    return Tables(exchanges, accounts, models)
