"""Reason codes: why an account or a campaign scored as it did.

Every code the hunt can emit is defined here once, with the sentence an analyst reads in
the report. Codes are stable identifiers: the guard's policies and saved cases refer to
them, so rename one only with a deprecation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Scope = Literal["account", "link", "campaign"]


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    scope: Scope
    meaning: str


_ALL: Final = (
    # What the account asks for (shares of its exchanges, from the rule files).
    Reason("INTENT_COT", "account", "asks for step-by-step reasoning far more often than usual"),
    Reason(
        "INTENT_RECONSTRUCT",
        "account",
        "asks the model to reconstruct the reasoning behind answers it supplies",
    ),
    Reason("INTENT_GRADING", "account", "asks for rubric scores or preference judgements"),
    Reason("INTENT_REWRITE", "account", "asks for rewrites that make sensitive text safe"),
    Reason("INTENT_SYNTHETIC", "account", "instructs the model to produce training data"),
    # How it asks (request parameters).
    Reason("PARAM_LOGPROBS", "account", "requests log-probabilities of the output tokens"),
    Reason("PARAM_MULTI_SAMPLE", "account", "requests several completions per prompt (n > 1)"),
    Reason("PARAM_MAX_OUTPUT", "account", "asks for the largest outputs the model allows"),
    Reason("PARAM_MAX_THINKING", "account", "asks for maximal thinking budgets or effort"),
    # The shape of its traffic.
    Reason(
        "TEMPLATE_CONCENTRATION",
        "account",
        "most prompts are one template with the content swapped",
    ),
    Reason(
        "COVERAGE_SYSTEMATIC",
        "account",
        "covers many capabilities in near-equal shares, like a curriculum",
    ),
    Reason("SINGLE_TURN", "account", "almost every exchange is a fresh one-turn conversation"),
    Reason("TIMING_REGULAR", "account", "gaps between requests are machine-regular"),
    Reason("ROUND_THE_CLOCK", "account", "active through every hour of the day"),
    Reason(
        "TIMEZONE_MISMATCH",
        "account",
        "active hours fit another time zone than the declared country",
    ),
    Reason("HOSTING_NETWORK", "account", "calls from hosting, VPN or proxy networks"),
    Reason(
        "NEW_MODEL_PIVOT", "account", "moved its traffic to a new model within hours of release"
    ),
    Reason("INFRA_DIVERSITY", "account", "calls from unusually many networks for its volume"),
    Reason("HIGH_VOLUME", "account", "volume far above accounts of its kind"),
    # What ties it to other accounts.
    Reason("SHARED_PAYMENT", "link", "shares a payment instrument with other accounts"),
    Reason("SHARED_SIGNUP_NETWORK", "link", "signed up from the same network as other accounts"),
    Reason("SIGNUP_BURST", "link", "signed up in a burst with other accounts of one program"),
    Reason("SHARED_EMAIL_PATTERN", "link", "e-mail addresses follow one generated pattern"),
    Reason("SHARED_IP_NETWORK", "link", "calls from the same rare networks as other accounts"),
    Reason("SHARED_CLIENT", "link", "same rare client (user agent and TLS fingerprint)"),
    Reason("SHARED_HARNESS", "link", "same request harness (parameters, tools, layout)"),
    Reason("SHARED_SYSTEM_PROMPT", "link", "same rare system prompt as other accounts"),
    Reason("SHARED_TEMPLATE", "link", "same rare prompt templates as other accounts"),
    Reason("DENSE_BLOCK", "link", "part of a dense block of accounts sharing rare artefacts"),
    Reason("LOCKSTEP", "link", "acts in lockstep with other accounts (same moments, same work)"),
    Reason("CLUSTER_RISK", "link", "quiet alone, but its cluster as a whole is a campaign"),
    Reason(
        "RIDES_WITH_CAMPAIGN",
        "link",
        "its own traffic extracts, and it comes through infrastructure (a client, network,"
        " card or e-mail pattern) that nearly only convicted accounts use",
    ),
    Reason("INTEL_MATCH", "link", "matches an indicator from a known-actor file"),
    Reason("UNVERIFIED", "link", "the linked accounts never passed verification"),
    # Why a risk was held down.
    Reason("TRUSTED", "account", "trusted account: never given the attack verdict"),
    Reason(
        "HELD",
        "account",
        "attack in the previous hunt and still suspicious: held until it falls to benign",
    ),
    # Campaign-level.
    Reason("CAMPAIGN_SIZE", "campaign", "many linked accounts acting as one"),
    Reason("CAMPAIGN_CAPABILITY_FOCUS", "campaign", "traffic concentrated on a few capabilities"),
)

REASONS: Final[dict[str, Reason]] = {reason.code: reason for reason in _ALL}

INTENT_CODES: Final[dict[str, str]] = {
    "cot_elicitation": "INTENT_COT",
    "reasoning_reconstruction": "INTENT_RECONSTRUCT",
    "rubric_grading": "INTENT_GRADING",
    "censorship_rewrite": "INTENT_REWRITE",
    "synthetic_data": "INTENT_SYNTHETIC",
}
"""The reason code of each intent set of the text rules (``sets`` in rules/intents.toml)."""


def meaning(code: str) -> str:
    """The analyst's sentence for ``code``; unknown codes (from a newer version) say so."""
    reason = REASONS.get(code)
    return reason.meaning if reason else f"unknown reason code {code}"
