"""Shared vocabulary of the marks package: scheme names and defaults."""

from __future__ import annotations

from typing import Final, Literal

Scheme = Literal["gumbel", "greenlist"]
SCHEMES: Final[tuple[Scheme, ...]] = ("gumbel", "greenlist")
"""``gumbel``: distortion-free keyed Gumbel-max sampling (Aaronson 2022); ``greenlist``:
keyed logit bias on a fraction ``gamma`` of the vocabulary (Kirchenbauer et al. 2023), for
greedy and low-temperature traffic, where sampling leaves no room for a distortion-free
mark."""

KEY_ARG: Final = "distillguard_watermark_key"
"""The request argument (vLLM's ``vllm_xargs``) that carries a watermark key id from the
guard to the model server's logits processor."""
CONTEXT_WIDTH: Final = 4
"""Previous token ids that seed the PRF. Wider contexts repeat less (more scored tokens per
text) but survive fewer edits; 4 is the width SynthID-Text uses."""
GAMMA: Final = 0.25
DELTA: Final = 2.0


def check_context_width(width: int) -> int:
    if not 1 <= width <= 64:
        raise ValueError(f"context_width must be 1 to 64 previous tokens, not {width}")
    return width
