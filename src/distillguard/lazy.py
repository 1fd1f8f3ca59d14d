"""Names a package exports but imports only when first asked for (PEP 562).

``__getattr__ = lazy_exports(__name__, {".module": ("name", ...), ...})`` in a package's
``__init__`` makes ``package.name`` import ``package.module`` on first use, so that importing
the package (as every ``distillguard`` command does for its own commands) does not pay for
libraries only some of its parts need. Import the same names under ``TYPE_CHECKING`` for type
checkers, and set ``__getattr__`` under ``if not TYPE_CHECKING``: a checker that sees a module
``__getattr__`` accepts any name from the package, typos included.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_exports(package: str, modules: Mapping[str, Iterable[str]]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports each name from the submodule listing it."""
    where = {name: module for module, names in modules.items() for name in names}

    def attribute(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module, package), name)

    return attribute
