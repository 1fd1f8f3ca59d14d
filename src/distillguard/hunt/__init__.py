"""Hunt: find distillation campaigns in API traffic, with the evidence to act on them.

from distillguard.exchange import Store
from distillguard.hunt import HuntOptions, hunt
result = hunt(Store(Path("store")), Path("hunt"), HuntOptions())
"""

from .run import HuntOptions, HuntResult, hunt
from .scoring import OperatingPoint

__all__ = ["HuntOptions", "HuntResult", "OperatingPoint", "hunt"]
