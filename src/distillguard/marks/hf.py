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

import torch
from transformers import LogitsProcessor

from .keys import MarkKey
from .prf import VocabPRF
from .rows import RowWatermarker, gumbel_choice
from .types import CONTEXT_WIDTH, DELTA, GAMMA, Scheme

__all__ = ["WatermarkLogitsProcessor", "gumbel_choice"]


class WatermarkLogitsProcessor(LogitsProcessor):  # type: ignore[misc,unused-ignore]
    """Embeds one key's watermark in every row of a ``generate`` batch (a ``RowWatermarker``
    per row)."""

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
        def new_row() -> RowWatermarker:
            return RowWatermarker(
                key,
                scheme,
                temperature=temperature,
                context_width=context_width,
                gamma=gamma,
                delta=delta,
            )

        self._width = new_row().context_width  # checks the options now, not mid-generation
        self._new_row = new_row
        self._rows: dict[int, RowWatermarker] = {}
        self._prf: VocabPRF | None = None
        self.key_id = key.key_id
        self.scheme = scheme

    def __repr__(self) -> str:
        return f"WatermarkLogitsProcessor(key_id={self.key_id!r}, scheme={self.scheme!r})"

    @property
    def marked(self) -> int:
        """Steps that carried the watermark (over all rows)."""
        return sum(row.marked for row in self._rows.values())

    @property
    def plain(self) -> int:
        """Steps left alone: context too short or already keyed in that row."""
        return sum(row.plain for row in self._rows.values())

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> Any:
        vocab = int(scores.shape[-1])
        if self._prf is None or self._prf.vocab_size != vocab:
            self._prf = VocabPRF(vocab)
        out = scores.clone()
        # One copy to the host per step, and of the last ids only: a row is keyed by its
        # last ``context_width`` tokens, not by the whole generation so far.
        batch = scores.detach().to(torch.float64).cpu().numpy()
        for index, history in enumerate(input_ids[:, -self._width :].tolist()):
            row = self._rows.get(index)
            if row is None:
                row = self._rows[index] = self._new_row()
            keyed = row.step(history, batch[index], self._prf)
            if keyed is not None:
                out[index] = torch.from_numpy(keyed).to(device=out.device, dtype=out.dtype)
        return out
