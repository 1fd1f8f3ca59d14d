"""The data contract: read exchange logs, validate, normalise, quarantine, store."""

from .ingest import IngestOptions, IngestSummary, ingest
from .normalise import RowBuffer, parse_ts
from .quarantine import Quarantine, Rejected
from .schema import EXCHANGE_SCHEMA, SCHEMA_VERSION
from .store import Store

__all__ = [
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
]
