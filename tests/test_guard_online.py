"""One definition, two engines: the guard's per-request signals equal the hunt's columns.

Simulated traffic (all three surfaces, every population and campaign) is ingested into a
store; the hunt's ``exchange_signals`` computes the signals over the whole table (DuckDB),
and the guard's ``OnlineSignals`` computes them again from each raw record. Every exchange
must get the same intents, parameter groups, capability flags and label, harness and
template fingerprint.
"""

from __future__ import annotations

import gzip
from typing import Any

import orjson
import pytest

from distillguard.exchange import IngestOptions, Store, ingest
from distillguard.guard.online import OnlineSignals
from distillguard.hunt.signals import exchange_signals
from distillguard.hunt.source import duckdb_backend, tables
from distillguard.signals import TextSignals, load
from distillguard.signals.groups import PARAM_GROUPS
from distillguard.signals.rules import INTENTS
from distillguard.simulate import simulate
from distillguard.types import CAPABILITIES


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    root = tmp_path_factory.mktemp("online")
    simulate(root / "traffic", scale=0.0015, days=2, seed=21, evasion=2, workers=1)
    ingest(
        [root / "traffic" / "exchanges"],
        root / "store",
        options=IngestOptions(workers=1, annotate=TextSignals()),
    )
    rules = load()
    t = exchange_signals(tables(duckdb_backend(), Store(root / "store")).exchanges, rules)
    columns = ["id", "capability", "template_fp", "harness"]
    columns += [f"intent_{n}" for n in INTENTS] + [f"param_{g}" for g in PARAM_GROUPS]
    columns += [f"cap_{c}" for c in CAPABILITIES]
    hunt = {row["id"]: row for row in t.select(columns).to_pyarrow().to_pylist()}
    records: list[dict[str, Any]] = []
    for path in sorted((root / "traffic" / "exchanges").glob("*.jsonl.gz")):
        with gzip.open(path, "rb") as f:
            records.extend(orjson.loads(line) for line in f)
    return hunt, records


def test_both_engines_find_the_same_signals(
    both: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    hunt, records = both
    online = OnlineSignals()
    assert len(records) > 1000
    surfaces = set()
    differences = []
    for record in records:
        signals = online.of(record).signals
        want = hunt[record["id"]]
        surfaces.add(record["surface"])
        got = {
            "capability": signals.capability,
            "template_fp": signals.template_fp,
            "harness": signals.harness,
            **{f"intent_{n}": n in signals.intents for n in INTENTS},
            **{f"param_{g}": g in signals.params for g in PARAM_GROUPS},
            **{f"cap_{c}": c in signals.capabilities for c in CAPABILITIES},
        }
        for name, value in got.items():
            if want[name] != value:
                differences.append((record["id"], name, want[name], value))
    assert surfaces == {"openai.chat", "openai.responses", "anthropic.messages"}
    assert differences == []


def test_the_signals_are_not_trivially_equal(
    both: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    """The comparison above means something only if the signals vary across the traffic."""
    hunt, _ = both
    rows = list(hunt.values())
    assert len({row["capability"] for row in rows}) >= 5
    for name in ("intent_cot_elicitation", "intent_rubric_grading", "param_logprobs"):
        fired = sum(bool(row[name]) for row in rows)
        assert 0 < fired < len(rows), name
