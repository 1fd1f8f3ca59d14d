"""Generated documentation and the pinned public surface stay in step with the code."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import distillguard
import distillguard.exchange

ROOT = Path(__file__).resolve().parent.parent


def _load_script(name: str) -> object:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_store_doc_is_generated_from_the_schema() -> None:
    generator = _load_script("gen_store_doc")
    expected = generator.render()  # type: ignore[attr-defined]
    actual = (ROOT / "docs" / "store.md").read_text(encoding="utf-8")
    assert actual == expected, "docs/store.md is stale: run python scripts/gen_store_doc.py"


def test_every_store_column_is_documented() -> None:
    for field in distillguard.exchange.EXCHANGE_SCHEMA:
        assert field.metadata and field.metadata.get(b"doc"), field.name


def test_public_surface() -> None:
    """Changing what the package exports is a decision: this pins it."""
    assert set(distillguard.__all__) == {
        "ConfigError",
        "DistillguardError",
        "InputError",
        "Location",
        "RecordError",
        "__version__",
    }
    assert set(distillguard.exchange.__all__) == {
        "EXCHANGE_SCHEMA",
        "SCHEMA_VERSION",
        "IngestOptions",
        "IngestSummary",
        "Quarantine",
        "Rejected",
        "RowBuffer",
        "Store",
        "ingest",
        "parse_ts",
    }
    for module in (distillguard, distillguard.exchange):
        assert len(set(module.__all__)) == len(module.__all__)
        for name in module.__all__:
            assert hasattr(module, name), name


def test_readme_starts_with_the_two_commands() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    commands = [line for line in lines[:12] if line.startswith("python3 -m venv")]
    assert len(commands) == 2
    assert commands[0].endswith("distillguard demo")
    assert commands[1].endswith("python -m pytest")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert commands[1] in ci, ".ci/run must run the README's test command"
