"""Watermarks inside Hugging Face ``transformers``' ``generate``: a ``LogitsProcessor``.

Optional (``pip install 'distillguard[marks-hf]'``, which pins ``torch`` and
``transformers``). The processor keys each step exactly as the numpy core does (same PRF,
same context hash, same per-scheme key word), so ``Detector`` reads its output, and a test
checks that it picks the same tokens as ``GumbelGeneration`` on the same distribution.

- ``gumbel``: the processor samples itself. It turns the step's logits into the sampling
  distribution (``temperature``, given to the processor), picks ``argmax log(r_v) / p_v``
  and returns logits that allow that token only, so whatever ``generate`` does after it
  (its own temperature, top-k, top-p, sampling) keeps the choice. Put it last and apply any
  truncation (top-k, top-p) before it, or not at all. Greedy decoding leaves no randomness to
  key: use ``greenlist`` there.
- ``greenlist``: adds ``delta`` to the logits of the step's green tokens and leaves the
  choice to ``generate`` (greedy or sampled).

A context already keyed in a generation is left alone (``generate`` samples it plainly), so
repeated contexts do not bias the output; use a fresh processor for each ``generate`` call.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from transformers import LogitsProcessor

from .keys import MarkKey
from .prf import VocabPRF, context_hash, seed_of
from .types import CONTEXT_WIDTH, DELTA, GAMMA, SCHEMES, Scheme, check_context_width


class WatermarkLogitsProcessor(LogitsProcessor):  # type: ignore[misc,unused-ignore]
    """Embeds one key's watermark in every row of a ``generate`` batch."""

    def __init__(
        self,
        key: MarkKey,
        *,
        scheme: Scheme = "gumbel",
        temperature: float = 1.0,
        context_width: int = CONTEXT_WIDTH,
        gamma: float = GAMMA,
        delta: float = DELTA,
    ) -> None:
        if scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {SCHEMES}, not {scheme!r}")
        if scheme == "gumbel" and not temperature > 0.0:
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
        self._prf: VocabPRF | None = None
        self._seen: dict[int, set[int]] = {}
        self.marked = 0
        """Steps that carried the watermark (over all rows)."""
        self.plain = 0
        """Steps left alone: context too short or already keyed in that row."""

    def __repr__(self) -> str:
        return (
            f"WatermarkLogitsProcessor(key_id={self.key_id!r}, scheme={self.scheme!r}, "
            f"context_width={self.context_width})"
        )

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> Any:
        vocab = int(scores.shape[-1])
        if self._prf is None or self._prf.vocab_size != vocab:
            self._prf = VocabPRF(vocab)
        width = self.context_width
        out = scores.clone()
        for row, history in enumerate(input_ids.tolist()):
            seen = self._seen.setdefault(row, set())
            h = context_hash(history[-width:]) if len(history) >= width else None
            if h is None or h in seen:
                self.plain += 1
                continue
            seen.add(h)
            self.marked += 1
            r = self._prf(seed_of(self._word, h))
            if self.scheme == "gumbel":
                logits = scores[row].detach().to(torch.float64).cpu().numpy()
                token = gumbel_choice(r, _probabilities(logits, self.temperature))
                out[row].fill_(float("-inf"))
                out[row, token] = 0.0
            else:
                green = torch.from_numpy(r < self.gamma).to(out.device)
                out[row] = out[row] + self.delta * green.to(out.dtype)
        return out


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
