"""distillguard: protect an LLM API from distillation attacks.

The library works without the command line: ``distillguard.exchange.ingest`` reads logs
into a store and ``distillguard.simulate.simulate`` writes labelled traffic.
"""

from .errors import ConfigError, DistillguardError, InputError, Location, RecordError

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DistillguardError",
    "InputError",
    "Location",
    "RecordError",
    "__version__",
]
