"""The point of sharing, measured (slow: about three minutes): provider 2 catches an actor
that provider 1 shared no later, and at least once sooner, and names the right actor."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

from intel_world import scratch

ROOT = Path(__file__).resolve().parent.parent


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location("bench_intel", ROOT / "bench" / "intel.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_intel"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_shared_intel_detects_earlier_and_attributes() -> None:
    result = _bench().measure(scratch("bench"), scale=0.002, days=7, evasion=1, seeds=(1, 2))
    rows = result["campaigns"]
    assert len(rows) == 4
    earlier = 0
    for row in rows:
        alone, shared = row["without"], row["with"]
        if alone is None:
            continue
        assert shared is not None, row
        assert shared["exchanges"] <= alone["exchanges"], row
        earlier += shared["exchanges"] < alone["exchanges"]
    assert earlier >= 1
    assert sum(row["attributed"] for row in rows) >= 3
    assert result["false_positives"]["with"] <= result["false_positives"]["without"]
