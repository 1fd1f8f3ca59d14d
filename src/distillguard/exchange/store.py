"""The columnar store that later stages read.

Layout of a store folder::

    store.json              what the store is: schema version, text kept or not, key check
    exchanges/day=YYYY-MM-DD/*.parquet
                            one row per exchange (schema.EXCHANGE_SCHEMA), duplicates removed
    accounts.parquet        the account registry, customer values hashed (registry.py)
    models.parquet          model releases
    quarantine.jsonl        every rejected record with file, line and reason
    summary.json            the counts of the ingest that wrote the store

Rows are first appended to a staging file as they stream in; ``StoreWriter.finish`` then
removes duplicate ids (the first occurrence in input order wins) and partitions by day with
DuckDB, whose aggregation spills to disk, so memory stays bounded whatever the input size.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from ..errors import InputError
from ..hashing import Hasher
from .schema import EXCHANGE_SCHEMA, SCHEMA_VERSION

STORE_MARKER: Final = "store.json"
EXCHANGES: Final = "exchanges"
ACCOUNTS: Final = "accounts.parquet"
MODELS: Final = "models.parquet"
QUARANTINE: Final = "quarantine.jsonl"
SUMMARY: Final = "summary.json"
_STAGING: Final = "_staging"
_STAGING_SCHEMA: Final = EXCHANGE_SCHEMA.append(pa.field("_seq", pa.int64())).append(
    pa.field("day", pa.date32())
)


def key_check(hasher: Hasher) -> str:
    """A value that differs between hash keys without revealing the key."""
    return format(hasher("distillguard/key-check") & 0xFFFFFFFF, "08x")


@dataclass(frozen=True, slots=True)
class StoreStats:
    exchanges: int
    duplicates: int
    accounts: int
    days: int
    first_ts: datetime | None
    last_ts: datetime | None


def prepare(root: Path, *, overwrite: bool) -> None:
    """Make ``root`` an empty store folder; refuse to clobber anything that is not a store."""
    if root.exists():
        if not root.is_dir():
            raise InputError(f"{root} exists and is not a folder")
        if any(root.iterdir()):
            if not (root / STORE_MARKER).exists():
                raise InputError(f"{root} is not empty and is not a distillguard store")
            if not overwrite:
                raise InputError(f"{root} already holds a store (use overwrite to replace it)")
            shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)


class StoreWriter:
    """Stages exchange rows as they arrive, then de-duplicates and partitions them."""

    def __init__(self, root: Path, *, keep_text: bool, hasher: Hasher) -> None:
        self.root = root
        self._meta = {
            "format": "distillguard-store",
            "schema": SCHEMA_VERSION,
            "keep_text": keep_text,
            "key_check": key_check(hasher),
            "complete": False,
        }
        # Written first, so a store whose ingest died can be recognised and replaced.
        self._write_meta()
        staging = root / _STAGING
        staging.mkdir(parents=True, exist_ok=True)
        self._staging_file = staging / "rows.parquet"
        self._writer = pq.ParquetWriter(self._staging_file, _STAGING_SCHEMA, compression="lz4")
        self._seq = 0

    def _write_meta(self) -> None:
        marker = self.root / STORE_MARKER
        marker.write_bytes(orjson.dumps(self._meta, option=orjson.OPT_INDENT_2))

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        seq = pa.array(range(self._seq, self._seq + table.num_rows), type=pa.int64())
        self._seq += table.num_rows
        day = pc.cast(table.column("ts"), pa.date32())
        self._writer.write_table(table.append_column("_seq", seq).append_column("day", day))

    def finish(self, *, memory_limit: str = "1GB") -> StoreStats:
        self._writer.close()
        staged = self._seq
        out = self.root / EXCHANGES
        con = duckdb.connect()
        try:
            con.execute(f"SET memory_limit='{memory_limit}'")
            con.execute("SET preserve_insertion_order=false")
            con.execute(f"SET temp_directory='{_sql_path(self.root / _STAGING / 'tmp')}'")
            con.execute(
                "CREATE TEMP VIEW staged AS SELECT * FROM "
                f"read_parquet('{_sql_path(self._staging_file)}')"
            )
            # Only ids seen more than once need a decision; that set is small.
            con.execute(
                """CREATE TEMP TABLE dropped AS
                   SELECT s._seq FROM staged s
                   JOIN (SELECT id, min(_seq) AS keep FROM staged GROUP BY id
                         HAVING count(*) > 1) d USING (id)
                   WHERE s._seq <> d.keep"""
            )
            duplicates = _scalar(con, "SELECT count(*) FROM dropped")
            if staged:
                con.execute(
                    f"""COPY (SELECT * EXCLUDE (_seq) FROM staged
                              WHERE _seq NOT IN (SELECT _seq FROM dropped))
                        TO '{_sql_path(out)}'
                        (FORMAT PARQUET, PARTITION_BY (day), COMPRESSION zstd,
                         ROW_GROUP_SIZE 122880)"""
                )
            else:
                out.mkdir(parents=True, exist_ok=True)
            row = con.execute(
                """SELECT count(DISTINCT account_id), count(DISTINCT day), min(ts), max(ts)
                   FROM staged WHERE _seq NOT IN (SELECT _seq FROM dropped)"""
            ).fetchone()
        finally:
            con.close()
        shutil.rmtree(self.root / _STAGING, ignore_errors=True)
        if row is None:
            raise RuntimeError("DuckDB returned no row for an aggregate")
        self._meta["complete"] = True
        self._write_meta()
        return StoreStats(
            exchanges=staged - duplicates,
            duplicates=duplicates,
            accounts=int(row[0]),
            days=int(row[1]),
            first_ts=_utc(row[2]),
            last_ts=_utc(row[3]),
        )


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return 0 if row is None else int(row[0])


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    moment: datetime = value
    return moment.astimezone(UTC)


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


# -- reading -----------------------------------------------------------------------------


class Store:
    """An ingested store, opened for reading."""

    def __init__(self, root: Path) -> None:
        marker = root / STORE_MARKER
        if not marker.is_file():
            raise InputError(f"{root} is not a distillguard store (no {STORE_MARKER})")
        meta = orjson.loads(marker.read_bytes())
        if not meta.get("complete"):
            raise InputError(f"{root} is an incomplete store (its ingest did not finish)")
        if meta.get("schema") != SCHEMA_VERSION:
            raise InputError(
                f"{root} has store schema {meta.get('schema')}, this version reads "
                f"{SCHEMA_VERSION}: ingest the logs again"
            )
        self.root = root
        self.keep_text: bool = bool(meta.get("keep_text"))
        self.key_check: str = str(meta.get("key_check"))

    @property
    def exchanges_glob(self) -> str:
        return str(self.root / EXCHANGES / "**" / "*.parquet")

    def exchanges(self) -> ds.Dataset:
        """The exchanges as a dataset with the store schema plus the ``day`` partition."""
        return ds.dataset(
            self.root / EXCHANGES,
            format="parquet",
            partitioning=ds.partitioning(pa.schema([("day", pa.date32())]), flavor="hive"),
            schema=EXCHANGE_SCHEMA.append(pa.field("day", pa.date32())),
        )

    def path(self, name: str) -> Path:
        return self.root / name
