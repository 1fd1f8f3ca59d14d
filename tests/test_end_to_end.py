"""Slow: every evasion level, from the simulator through ingest, hunt, report and evaluate.

The simulator's output must pass the reader with zero rejections and zero warnings at
every evasion level (it claims to write the contract exactly), and the hunt must still find
most of each level's campaigns without flagging benign customers. The bounds are loose: the
figures the project reports are measured over several seeds by bench-style runs, not here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from distillguard.exchange import IngestOptions, Store, ingest
from distillguard.hunt import hunt
from distillguard.hunt.evaluate import evaluate
from distillguard.hunt.report import render_report
from distillguard.signals import TextSignals
from distillguard.simulate import simulate

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("evasion", [0, 1, 2, 3])
def test_each_evasion_level_end_to_end(evasion: int, tmp_path: Path) -> None:
    traffic = tmp_path / "traffic"
    simulated = simulate(traffic, scale=0.003, days=7, seed=40 + evasion, evasion=evasion)
    summary = ingest(
        [traffic / "exchanges"],
        tmp_path / "store",
        accounts=traffic / "accounts.jsonl",
        models=traffic / "models.jsonl",
        options=IngestOptions(annotate=TextSignals()),
    )
    assert summary.rejected == 0, summary.rejected_by_reason
    assert summary.warnings_by_reason == {}
    assert summary.exchanges == simulated.exchanges

    out = tmp_path / "hunt"
    hunt(Store(tmp_path / "store"), out)
    render_report(out)
    assert (out / "report.html").stat().st_size > 10_000
    figures = evaluate(out, traffic / "labels.csv")
    assert figures.strict.precision is not None and figures.strict.precision >= 0.95
    assert figures.strict.recall is not None and figures.strict.recall >= 0.85
    for population in figures.false_positives:
        assert population.attack <= max(1, 0.03 * population.accounts), population
