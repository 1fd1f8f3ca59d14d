"""A release pivot is measured on the traffic of the day after a release.

An account's pivot is the share of its exchanges in the ``PIVOT_HOURS`` after a release that
went to the new model; a cluster's is the share of its accounts' traffic in that day, so
accounts with none then (a campaign's accounts take turns) neither dilute it nor count as
accounts that did not move.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from conftest import Logs
from distillguard.exchange import Store
from distillguard.hunt.profiles import profiles
from distillguard.hunt.scoring import OperatingPoint, Registry, score
from distillguard.hunt.signals import exchange_signals
from distillguard.hunt.source import duckdb_backend, tables
from distillguard.signals import TextSignals
from distillguard.signals.rules import load
from test_hunt_groups import _cluster, _profiles, _ring

RELEASE = "2025-03-03T00:00:00Z"


def _record(logs: Logs, n: int, account: str, ts: str, model: str) -> dict[str, Any]:
    record = logs.record(n, account_id=account, ts=ts)
    record["request"]["model"] = model
    return record


def test_profiles_count_the_days_traffic_that_the_pivot_is_a_share_of(logs: Logs) -> None:
    records = [
        # mover: two exchanges in the day after the release, one on the new model
        _record(logs, 1, "mover", "2025-03-03T02:00:00Z", "new-model"),
        _record(logs, 2, "mover", "2025-03-03T05:00:00Z", "old-model"),
        _record(logs, 3, "mover", "2025-03-01T05:00:00Z", "old-model"),
        _record(logs, 4, "mover", "2025-03-05T05:00:00Z", "new-model"),  # after the day
        # quiet: traffic before and after the day, none in it
        _record(logs, 5, "quiet", "2025-03-01T05:00:00Z", "old-model"),
        _record(logs, 6, "quiet", "2025-03-05T05:00:00Z", "new-model"),
    ]
    models = logs.jsonl(
        "models.jsonl",
        [
            {"model": "old-model", "released_at": "2024-01-01T00:00:00Z"},
            {"model": "new-model", "released_at": RELEASE},
        ],
    )
    result = logs.ingest(logs.jsonl("log.jsonl", records), annotate=TextSignals(), models=models)
    source = tables(duckdb_backend(), Store(result.store))
    table = profiles(exchange_signals(source.exchanges, load()), source.accounts, source.models)
    rows = {row["account_id"]: row for row in table.to_pylist()}
    assert rows["mover"]["pivot_share"] == pytest.approx(0.5)
    assert rows["mover"]["pivot_exchanges"] == 2
    assert rows["mover"]["pivot_hours"] == pytest.approx(2.0)
    assert rows["quiet"]["pivot_share"] is None
    assert rows["quiet"]["pivot_exchanges"] is None


def _turn_takers(active: int, n: int = 12) -> pa.Table:
    """``n`` fresh accounts that return reasoning in a third of their traffic; the first
    ``active`` of them sent traffic in the day after a release, all of it to the new model."""
    table = _profiles(n, np.zeros(n, dtype=bool))
    moved = np.arange(n) < active
    table = table.set_column(
        table.schema.get_field_index("reasoning_returned"),
        "reasoning_returned",
        pa.array(np.full(n, 1 / 3)),
    )
    for name, value in (("pivot_share", 1.0), ("pivot_exchanges", 40.0)):
        table = table.set_column(
            table.schema.get_field_index(name), name, pa.array(np.where(moved, value, 0.0))
        )
    return table


@pytest.mark.parametrize("active", [3, 12])
def test_accounts_quiet_on_release_day_do_not_dilute_a_clusters_pivot(active: int) -> None:
    # Twelve linked, fresh, unverified accounts whose traffic shows little but the move to a
    # new model on its first day. Whether three of them or all twelve were active that
    # day, all of that day's traffic went to the new model: the same pivot.
    n = 12
    registry = Registry.unknown(n)
    registry.created[:] = 1.7e9 - 86400.0
    links = _cluster(_ring(n, 3), [{"payment": 1.0, "harness": 0.6}] * n)
    scores = score(_turn_takers(active, n), links, registry=registry, point=OperatingPoint())
    assert scores.cluster_attack.tolist() == [True]
    assert scores.cluster_risk[0] >= OperatingPoint().attack_score
    # The active accounts moved; the quiet ones did not show the cluster's work themselves.
    verdict = np.asarray(scores.verdict)
    assert (verdict[:active] == "attack").all()


def test_without_the_move_the_same_cluster_is_not_a_campaign() -> None:
    n = 12
    registry = Registry.unknown(n)
    registry.created[:] = 1.7e9 - 86400.0
    links = _cluster(_ring(n, 3), [{"payment": 1.0, "harness": 0.6}] * n)
    scores = score(_turn_takers(0, n), links, registry=registry, point=OperatingPoint())
    assert scores.cluster_attack.tolist() == [False]
    assert "attack" not in scores.verdict
