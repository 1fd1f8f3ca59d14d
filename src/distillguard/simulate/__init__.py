"""Labelled traffic: benign API customers and distillation campaigns, in the exchange-log
format (contract sections 1, 2, 3 and 5).

    from distillguard.simulate import simulate
    summary = simulate(Path("traffic"), scale=0.01, days=14, seed=1, evasion=0)

Prompts and answers are real (a derived corpus shipped in ``data/corpus/``, see its
LICENSES.md); request and response bodies have the exact shapes of OpenAI Chat
Completions, OpenAI Responses and Anthropic Messages. Labels are only in ``labels.csv``.
"""

from .run import SimulationSummary, simulate

__all__ = ["SimulationSummary", "simulate"]
