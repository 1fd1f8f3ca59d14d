"""Watermarks inside vLLM: a custom logits processor, one key per request.

Targets ``vllm==0.33.0``, whose Model Runner V2 (the default runner) loads custom logits
processors that subclass ``vllm.v1.worker.gpu.sample.logits_processor.LogitsProcessor``::

    vllm serve MODEL --logits-processors distillguard.marks.vllm:WatermarkLogitsProcessor

The legacy runner (``VLLM_USE_V2_MODEL_RUNNER=0``) takes another interface
(``vllm.v1.sample.logits_processor.LogitsProcessor``); ``LegacyWatermarkLogitsProcessor``
implements that one. The V2 loader rejects a class of the legacy interface when it loads it.

A request is marked when its ``SamplingParams.extra_args`` (``vllm_xargs`` on the HTTP API)
carry ``distillguard_watermark_key``, the key id the guard sent in the
``x-distillguard-watermark-key`` header; ``distillguard_watermark_scheme`` (``gumbel`` or
``greenlist``) is optional and defaults to ``gumbel`` for sampled requests and
``greenlist`` for greedy ones, where Gumbel sampling has no randomness left to key. Other
requests are left alone. The master secret is read once, when vLLM builds the processor,
from ``$DISTILLGUARD_MARK_SECRET``: the model server needs only the secret and the key id
(``Keyring.for_id``), as the guard's design intends.

Each step is keyed exactly as ``marks.hf`` keys it (same PRF, same context hash over the
last ``context_width`` ids of prompt plus output, same ``gumbel_choice``), so ``Detector``
reads the output. The keyed Gumbel step turns the row into "this token only" (``0`` there,
``-inf`` elsewhere), which whatever vLLM does afterwards (temperature, min-p, top-k, top-p,
sampling) keeps; the distribution it samples from is the request's logits at its own
temperature, *without* top-k, top-p or min-p truncation. The green list adds ``delta`` to
the green tokens and leaves the choice to vLLM. A context already keyed in a request is
left alone, as in ``marks.gumbel``.

The per-request logic (``rows.RowWatermarker``, shared with ``hf``) is numpy, testable
without vLLM; the two processor classes only find each request's history and logits row in
vLLM's batch and write the result back. Rows go to the CPU for keyed requests only: a
device synchronisation per step that has any. The module imports torch, which comes with
vLLM, and vLLM itself only if it is installed: without it the classes have no vLLM
base and run on stand-ins (the tests), so ``--logits-processors`` works wherever vLLM does.

A request preempted and resumed is added again, which restarts its "already keyed" record:
a context keyed before the preemption may be keyed once more (the detector scores each
(context, token) pair once, so this costs nothing but a little non-distortion).

Speculative decoding is refused: a request would own several rows per step holding draft
tokens that may be rejected, and the "context already keyed" state would count contexts
that never reached the output.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeVar

import torch

from .keys import _KEY_ID, Keyring, MasterSecret
from .prf import VocabPRF
from .rows import GREEDY_BELOW, RowWatermarker
from .types import KEY_ARG, SCHEMES, Scheme

if TYPE_CHECKING:
    _MRV2Base = object
    _V1Base = object
else:
    try:
        from vllm.v1.worker.gpu.sample.logits_processor import LogitsProcessor as _MRV2Base
    except ImportError:  # vLLM is optional: without it the classes run on stand-ins
        _MRV2Base = object
    try:
        from vllm.v1.sample.logits_processor import LogitsProcessor as _V1Base
    except ImportError:
        _V1Base = object

VLLM_VERSION: Final = "0.33.0"
"""The vLLM release whose interfaces this module follows."""
SCHEME_ARG: Final = "distillguard_watermark_scheme"


@dataclass(frozen=True, slots=True)
class MarkRequest:
    """What one request asks for: a key id and the scheme to embed it with."""

    key_id: str
    scheme: Scheme
    temperature: float


def mark_request(extra_args: Mapping[str, Any] | None, temperature: float) -> MarkRequest | None:
    """The watermark a request's ``extra_args`` ask for, ``None`` if none.

    Raises ``ValueError`` (vLLM's rejection for bad per-request arguments) on a malformed
    key id, an unknown scheme, or ``gumbel`` asked for greedy decoding, so a request the
    guard meant to mark is refused rather than served unmarked.
    """
    args = extra_args or {}
    key_id = args.get(KEY_ARG)
    scheme = args.get(SCHEME_ARG)
    if key_id is None:
        if scheme is not None:
            raise ValueError(f"{SCHEME_ARG} is given without {KEY_ARG}")
        return None
    if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
        raise ValueError(f"{KEY_ARG} must be a key id of 16 lowercase hex characters")
    greedy = temperature < GREEDY_BELOW
    if scheme is None:
        scheme = "greenlist" if greedy else "gumbel"
    if scheme not in SCHEMES:
        raise ValueError(f"{SCHEME_ARG} must be one of {SCHEMES}, not {scheme!r}")
    if scheme == "gumbel" and greedy:
        raise ValueError(
            f"{SCHEME_ARG}=gumbel needs sampling (temperature > 0); use greenlist for greedy"
        )
    return MarkRequest(key_id, scheme, temperature)


class _Marks:
    """The keyed requests of one batch, by vLLM's index for them (slot or batch row)."""

    def __init__(self) -> None:
        # Read once: the model server needs the secret and the key id sent with a request.
        self.keyring = Keyring(MasterSecret.from_env())
        self.rows: dict[int, RowWatermarker] = {}
        self._prf: VocabPRF | None = None

    def start(self, index: int, sampling_params: Any) -> bool:
        """(Re)start ``index`` for a request entering the batch; ``True`` if it is keyed."""
        temperature = float(sampling_params.temperature)
        asked = mark_request(sampling_params.extra_args, temperature)
        if asked is None:
            self.rows.pop(index, None)
            return False
        key = self.keyring.for_id(asked.key_id)
        self.rows[index] = RowWatermarker(key, asked.scheme, temperature=temperature)
        return True

    def mark_row(self, logits: torch.Tensor, row: int, index: int, history: list[int]) -> None:
        """Embed request ``index``'s watermark in ``logits[row]``, in place."""
        marker = self.rows[index]
        vocab = int(logits.shape[-1])
        if self._prf is None or self._prf.vocab_size != vocab:
            self._prf = VocabPRF(vocab)
        values = logits[row].detach().to(torch.float64).cpu().numpy()
        new = marker.step(history, values, self._prf)
        if new is not None:
            logits[row] = torch.from_numpy(new).to(device=logits.device, dtype=logits.dtype)


def _refuse_speculative_decoding(vllm_config: Any) -> None:
    if getattr(vllm_config, "speculative_config", None) is not None:
        raise ValueError(
            "the distillguard watermark does not support speculative decoding: draft rows "
            "would key contexts that may never reach the output"
        )


class WatermarkLogitsProcessor(_MRV2Base):  # type: ignore[misc,unused-ignore]
    """The Model Runner V2 processor (the default runner of vLLM 0.33).

    State is per request slot (``add_request`` restarts a slot for each request, since
    slots are recycled without a removal hook). ``apply`` runs after vLLM's bias, penalty,
    bad-words and grammar stages and before temperature and truncation, so the keyed
    distribution includes penalties and grammar masks (masked tokens have probability 0).
    """

    def __init__(self, vllm_config: Any, req_states: Any) -> None:
        _refuse_speculative_decoding(vllm_config)
        self._req_states = req_states
        self._marks = _Marks()

    @classmethod
    def validate_params(cls, sampling_params: Any) -> None:
        mark_request(sampling_params.extra_args, float(sampling_params.temperature))

    def add_request(self, req_idx: int, sampling_params: Any) -> bool:
        return self._marks.start(req_idx, sampling_params)

    def apply_staged_writes(self) -> None:
        """Nothing to flush: the state lives on the host."""

    def apply(self, logits: torch.Tensor, ctx: Any) -> torch.Tensor:
        rows = self._marks.rows
        slots = [int(s) for s in ctx.idx_mapping_np]
        keyed = [(row, slot) for row, slot in enumerate(slots) if slot in rows]
        if not keyed:
            return logits
        # Without speculative decoding there is one logits row per request, in batch order.
        positions = ctx.pos.cpu().tolist()
        fed = ctx.input_ids.cpu().tolist()
        prefill_len = self._req_states.prefill_len.np
        tokens = self._req_states.all_token_ids.gpu
        for row, slot in keyed:
            pos = int(positions[row])
            if pos + 1 < int(prefill_len[slot]):
                continue  # a chunk of a prefill: vLLM samples nothing from this row
            # Committed ids before the fed one, then the fed one (``input_ids``), which is
            # the newest token even before vLLM commits it under asynchronous scheduling.
            start = max(0, pos + 1 - rows[slot].context_width)
            history = [*tokens[slot, start:pos].cpu().tolist(), int(fed[row])]
            self._marks.mark_row(logits, row, slot, history)
        return logits


class LegacyWatermarkLogitsProcessor(_V1Base):  # type: ignore[misc,unused-ignore]
    """The same watermark for the legacy V1 runner (``VLLM_USE_V2_MODEL_RUNNER=0``).

    State is per batch row, moved as ``BatchUpdate`` says (removed, then added, then
    moved). The history is the prompt ids plus the request's output list, which vLLM
    updates in place, so it is read afresh at each step. This runner applies processors
    that change the argmax before its penalties, so the keyed distribution here does not
    include repetition, frequency or presence penalties.
    """

    def __init__(self, vllm_config: Any, device: Any, is_pin_memory: bool) -> None:
        _refuse_speculative_decoding(vllm_config)
        self._marks = _Marks()
        self._histories: dict[int, tuple[list[int], list[int]]] = {}

    @classmethod
    def validate_params(cls, sampling_params: Any) -> None:
        mark_request(sampling_params.extra_args, float(sampling_params.temperature))

    def is_argmax_invariant(self) -> bool:
        """Both schemes change which token wins, greedy decoding included."""
        return False

    def update_state(self, batch_update: Any | None) -> None:
        if batch_update is None:
            return
        rows, histories = self._marks.rows, self._histories
        for index in batch_update.removed:
            rows.pop(index, None)
            histories.pop(index, None)
        for index, params, prompt_ids, output_ids in batch_update.added:
            if self._marks.start(index, params):
                histories[index] = (list(prompt_ids or ()), output_ids)
            else:
                histories.pop(index, None)
        for a, b, direction in batch_update.moved:
            swap = getattr(direction, "name", None) == "SWAP"
            _move(rows, a, b, swap)
            _move(histories, a, b, swap)

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        for row, (prompt, output) in self._histories.items():
            history = last_ids(prompt, output, self._marks.rows[row].context_width)
            self._marks.mark_row(logits, row, row, history)
        return logits


def last_ids(prompt: Sequence[int], output: Sequence[int], n: int) -> list[int]:
    """The last ``n`` ids of prompt + output (fewer if there are fewer), without copying
    the whole history at every step."""
    tail = list(output[max(0, len(output) - n) :])
    need = n - len(tail)
    if need <= 0:
        return tail
    return list(prompt[max(0, len(prompt) - need) :]) + tail


_V = TypeVar("_V")


def _move(table: dict[int, _V], a: int, b: int, swap: bool) -> None:
    """Apply one ``BatchUpdate`` move (``a -> b``, or ``a <-> b`` when ``swap``)."""
    moved_a = table.pop(a, None)
    moved_b = table.pop(b, None)
    if moved_a is not None:
        table[b] = moved_a
    if swap and moved_b is not None:
        table[a] = moved_b
