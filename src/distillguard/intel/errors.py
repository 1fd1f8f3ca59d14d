"""Errors of intel sharing, under the package's root error::

    DistillguardError
    └── IntelError           sharing went wrong: a key, a store, a server
        └── BundleError      a bundle is rejected whole; ``where`` names the object and field

A rejected bundle leaves the store as it was: nothing is imported half-way.
"""

from __future__ import annotations

from ..errors import DistillguardError


class IntelError(DistillguardError):
    """Sharing indicators failed: no key, an unreadable store, an unreachable server."""


class BundleError(IntelError):
    """A STIX bundle is rejected.

    ``source`` is the file or collection it came from; ``where`` the place inside it, such as
    ``objects[12] (indicator--…) field pattern``, when the problem has one.
    """

    def __init__(self, message: str, *, source: str | None = None, where: str | None = None):
        self.source = source
        self.where = where
        prefix = "" if source is None else f"{source}: "
        at = "" if where is None else f"{where}: "
        super().__init__(f"{prefix}{at}{message}")
