"""Guard: enforce policy inline, in front of the model server.

``decide(policy, context)`` is the judgement (pure); ``Guard`` gathers the context for one
request and records what happened; ``proxy.build_app`` puts it in front of an OpenAI- or
Anthropic-compatible server.
"""

from .context import Account, Context, Signals, Windows
from .decide import Decision, decide
from .engine import Assessment, Guard
from .policy import Policy, load, loads

__all__ = [
    "Account",
    "Assessment",
    "Context",
    "Decision",
    "Guard",
    "Policy",
    "Signals",
    "Windows",
    "decide",
    "load",
    "loads",
]
