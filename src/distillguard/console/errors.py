"""Errors raised by the console, all under the package's root error::

DistillguardError
└── ConsoleError       the console cannot do what was asked
    ├── StoreError     the store folder or its database cannot be opened or read
    ├── UserError      a user name, password or role is not acceptable
    ├── CaseError      a case change that is not allowed (unknown campaign, state, action)
    ├── BacktestError  a candidate operating point or rule change that cannot be run
    └── ExportError    a campaign that cannot be shared (no sharing key, no exchange store)
"""

from __future__ import annotations

from ..errors import DistillguardError


class ConsoleError(DistillguardError):
    """Root of the console's errors."""


class StoreError(ConsoleError):
    """The store folder or its database cannot be opened or read."""


class UserError(ConsoleError):
    """A user name, password or role is not acceptable."""


class CaseError(ConsoleError):
    """A case change that is not allowed."""


class BacktestError(ConsoleError):
    """A backtest whose candidate settings or inputs are not usable."""


class ExportError(ConsoleError):
    """A campaign that cannot be exported as intel."""
