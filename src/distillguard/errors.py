"""Errors raised by distillguard.

Every error names where it came from (file, line, field) when that is known::

    DistillguardError
    ├── ConfigError          a configuration or rule file is wrong
    ├── InputError           an input file cannot be read at all (missing, wrong kind)
    └── RecordError          one record is rejected; the run goes on and quarantines it
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Location:
    """Where a record came from: a file and a 1-based line (or row) number."""

    file: str
    line: int | None = None

    def __str__(self) -> str:
        return self.file if self.line is None else f"{self.file}:{self.line}"


class DistillguardError(Exception):
    """Root of every error this package raises on purpose."""


class ConfigError(DistillguardError):
    """A configuration, policy or rule file is invalid."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None):
        self.file = file
        self.line = line
        where = "" if file is None else f"{Location(file, line)}: "
        super().__init__(f"{where}{message}")


class InputError(DistillguardError):
    """An input file cannot be read at all."""


class RecordError(DistillguardError):
    """One record is rejected.

    ``reason`` is a short stable code (``invalid_json``, ``missing_field``, ...) counted in
    summaries; ``field`` is the dotted path of the offending field, when there is one.
    """

    def __init__(self, reason: str, message: str, *, field: str | None = None):
        self.reason = reason
        self.field = field
        self.message = message
        at = "" if field is None else f" (field {field})"
        super().__init__(f"{reason}: {message}{at}")
