"""One pipeline, two engines: the hunt on PySpark (local mode) gives DuckDB's accounts.csv.

The batch pipeline is written once on Ibis. This runs it on both backends over the same
store and compares the output byte for byte. Spark is an optional extra
(``pip install -e '.[spark]'``, which ``.ci/run`` installs); without it the test is skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from distillguard.exchange import IngestOptions, Store, ingest
from distillguard.hunt import hunt
from distillguard.signals import TextSignals
from distillguard.simulate import simulate

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spark_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    pytest.importorskip("pyspark")
    import ibis
    from pyspark.sql import SparkSession

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    warehouse = tmp_path_factory.mktemp("spark-warehouse")
    session = (
        SparkSession.builder.master("local[1]")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.warehouse.dir", str(warehouse))
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield ibis.pyspark.connect(session)
    session.stop()


def test_spark_and_duckdb_write_the_same_accounts(spark_backend: object, tmp_path: Path) -> None:
    traffic = tmp_path / "traffic"
    simulate(traffic, scale=0.002, days=4, seed=21, evasion=1, workers=1)
    ingest(
        [traffic / "exchanges"],
        tmp_path / "store",
        accounts=traffic / "accounts.jsonl",
        models=traffic / "models.jsonl",
        options=IngestOptions(workers=1, annotate=TextSignals()),
    )
    store = Store(tmp_path / "store")
    hunt(store, tmp_path / "duckdb")
    hunt(store, tmp_path / "spark", backend=spark_backend)
    duck = (tmp_path / "duckdb" / "accounts.csv").read_text(encoding="utf-8")
    spark = (tmp_path / "spark" / "accounts.csv").read_text(encoding="utf-8")
    assert duck.count("\n") > 50
    assert "attack" in duck
    assert spark == duck
