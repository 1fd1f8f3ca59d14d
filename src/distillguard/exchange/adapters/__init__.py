"""Adapters: log formats of other tools → contract exchange records (exchange-log spec §1).

Each adapter module has ``NAME``, ``sniff(record) -> bool`` (a cheap check that a parsed
top-level JSON object is in its format) and ``to_exchanges(record)``, which yields contract
records (plain dicts) and raises ``RecordError`` for input it cannot turn into exchanges.

- ``otel``: OpenTelemetry GenAI spans as OTLP/JSON or console-exporter JSON;
- ``litellm``: LiteLLM proxy spend logs (``LiteLLM_SpendLogs`` rows, JSON or CSV);
- ``helicone``: Helicone's request export (JSON Lines).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any, Final

from . import helicone, litellm, otel

# Sniffing order: the most specific check first. Each sniffer keys on fields the others'
# formats do not have (call_type; request_created_at; resourceSpans / span ids).
ADAPTERS: Final[dict[str, ModuleType]] = {
    litellm.NAME: litellm,
    helicone.NAME: helicone,
    otel.NAME: otel,
}


def sniff_format(record: Mapping[str, Any]) -> str | None:
    """The name of the adapter whose format ``record`` is in, or None."""
    for name, adapter in ADAPTERS.items():
        if adapter.sniff(record):
            return name
    return None


__all__ = ["ADAPTERS", "sniff_format"]
