"""The shared vocabulary of the data contract (exchange-log spec, version 1)."""

from __future__ import annotations

from typing import Final, Literal, get_args

Surface = Literal["openai.chat", "openai.responses", "anthropic.messages"]
SURFACES: Final[tuple[Surface, ...]] = get_args(Surface)

Verdict = Literal["attack", "suspicious", "benign"]
VERDICTS: Final[tuple[Verdict, ...]] = get_args(Verdict)

Label = Literal["attack", "benign"]

Capability = Literal[
    "reasoning",
    "math",
    "coding",
    "agentic",
    "computer_use",
    "vision",
    "grading",
    "rewriting",
    "knowledge",
    "creative",
    "conversation",
    "other",
]
CAPABILITIES: Final[tuple[Capability, ...]] = get_args(Capability)

Program = Literal["standard", "education", "startup", "research", "enterprise"]
PROGRAMS: Final[tuple[Program, ...]] = get_args(Program)

BenignPopulation = Literal[
    "chat_app",
    "developer",
    "coding_agent",
    "batch_pipeline",
    "eval_runner",
    "classroom",
]
BENIGN_POPULATIONS: Final[tuple[BenignPopulation, ...]] = get_args(BenignPopulation)
CAMPAIGN_POPULATION: Final = "campaign"

ACCOUNTS_CSV_COLUMNS: Final = (
    "account_id",
    "risk",
    "verdict",
    "cluster_id",
    "campaign_id",
    "exchanges",
    "reasons",
)
"""The columns of a hunt's ``accounts.csv`` (contract section 4), in order."""
