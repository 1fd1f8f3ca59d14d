"""One generation's watermark, step by step, for the processors of generation frameworks.

``RowWatermarker`` keys each step of one sequence exactly as the numpy samplers do (same
PRF, context hash, per-scheme key word and Gumbel choice), on a row of logits: the
transformers processor (``hf``) and the vLLM processors (``vllm``) call it per row, so both
embed the same marks and ``Detector`` reads them. Numpy only: it runs without torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
from numpy.typing import NDArray

from .keys import MarkKey
from .prf import VocabPRF, context_hash, seed_of
from .types import CONTEXT_WIDTH, DELTA, GAMMA, SCHEMES, Scheme, check_context_width

GREEDY_BELOW: Final = 1e-5
"""Temperatures below this are greedy decoding: nothing to sample, so no Gumbel mark."""


class RowWatermarker:
    """One request's watermark: keys each step from the last ``context_width`` token ids.

    ``step(history, logits)`` returns the row to use instead of ``logits``, or ``None`` when
    the step is left alone (context too short or already keyed). ``history`` is the token
    ids before the one being chosen, prompt included; only its last ``context_width``
    matter.
    """

    __slots__ = (
        "_seen",
        "_word",
        "context_width",
        "delta",
        "gamma",
        "key_id",
        "marked",
        "plain",
        "scheme",
        "temperature",
    )

    def __init__(
        self,
        key: MarkKey,
        scheme: Scheme,
        *,
        temperature: float = 1.0,
        context_width: int = CONTEXT_WIDTH,
        gamma: float = GAMMA,
        delta: float = DELTA,
    ) -> None:
        if scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {SCHEMES}, not {scheme!r}")
        if scheme == "gumbel" and not temperature >= GREEDY_BELOW:
            raise ValueError("the gumbel scheme samples: temperature must be positive")
        if not 0.0 < gamma < 1.0 or not delta > 0.0:
            raise ValueError(f"need 0 < gamma < 1 and delta > 0, not {gamma}, {delta}")
        self.key_id = key.key_id
        self.scheme = scheme
        self.temperature = temperature
        self.context_width = check_context_width(context_width)
        self.gamma = gamma
        self.delta = delta
        self._word = key.word(scheme)
        self._seen: set[int] = set()
        self.marked = 0
        """Steps that carried the watermark."""
        self.plain = 0
        """Steps left alone: context too short or already keyed in this request."""

    def __repr__(self) -> str:
        return f"RowWatermarker(key_id={self.key_id!r}, scheme={self.scheme!r})"

    def step(
        self, history: Sequence[int], logits: NDArray[np.float64], prf: VocabPRF | None = None
    ) -> NDArray[np.float64] | None:
        width = self.context_width
        h = context_hash(history[len(history) - width :]) if len(history) >= width else None
        if h is None or h in self._seen:
            self.plain += 1
            return None
        self._seen.add(h)
        self.marked += 1
        if prf is None or prf.vocab_size != logits.shape[-1]:
            prf = VocabPRF(int(logits.shape[-1]))
        r = prf(seed_of(self._word, h))
        if self.scheme == "gumbel":
            token = gumbel_choice(r, _probabilities(logits, self.temperature))
            only = np.full(logits.shape, -np.inf)
            only[token] = 0.0
            return only
        biased: NDArray[np.float64] = logits + self.delta * (r < self.gamma)
        return biased


def gumbel_choice(r: NDArray[np.float64], probs: NDArray[np.float64]) -> int:
    """``argmax_v log(r_v) / p_v`` over the tokens with ``p_v > 0`` (any positive scale)."""
    allowed = np.flatnonzero(probs > 0.0)
    if allowed.size == 0:
        raise ValueError("the distribution has no positive entry")
    scores = np.log(r[allowed]) / probs[allowed]
    return int(allowed[int(np.argmax(scores))])


def _probabilities(logits: NDArray[np.float64], temperature: float) -> NDArray[np.float64]:
    """Unnormalised sampling probabilities of ``logits`` at ``temperature`` (``-inf`` is 0)."""
    scaled = logits / temperature
    top = np.max(scaled)
    if not np.isfinite(top):
        raise ValueError("the step's logits have no finite entry")
    probs: NDArray[np.float64] = np.exp(scaled - top)
    return probs
