"""The analyst's console: a small web application over one hunt's output.

Analysts log in, triage campaigns ranked by risk, read the evidence, and decide each case;
a decision is written to the guard's watchlist and remembered, with the evidence as it
stood, in an append-only history. ``create_app(store)`` builds the application;
``add_user`` adds someone who may log in; ``backtest`` reruns the hunt over stored history
with a candidate operating point or rule change and says whose verdict would change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports
from .errors import BacktestError, CaseError, ConsoleError, ExportError, StoreError, UserError
from .types import CASE_STATES, ENFORCE_ACTIONS, ROLES, CaseState, EnforceAction, Role

if TYPE_CHECKING:
    from .app import create_app
    from .backtest import BacktestOptions, BacktestResult, backtest
    from .users import User, add_user

# The web application, the backtest and the user store are loaded when first named: every
# ``distillguard`` command imports this package for its own commands (``serve``,
# ``user-add``), and the application's imports cost most of a second.
if not TYPE_CHECKING:  # type checkers read the imports above; an unknown name stays an error
    __getattr__ = lazy_exports(
        __name__,
        {
            ".app": ("create_app",),
            ".backtest": ("BacktestOptions", "BacktestResult", "backtest"),
            ".users": ("User", "add_user"),
        },
    )


__all__ = [
    "CASE_STATES",
    "ENFORCE_ACTIONS",
    "ROLES",
    "BacktestError",
    "BacktestOptions",
    "BacktestResult",
    "CaseError",
    "CaseState",
    "ConsoleError",
    "EnforceAction",
    "ExportError",
    "Role",
    "StoreError",
    "User",
    "UserError",
    "add_user",
    "backtest",
    "create_app",
]
