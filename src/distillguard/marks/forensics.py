"""Radioactivity: was a suspect model trained on text we watermarked?

Following Sander et al. 2024 ("Watermarking makes language models radioactive"), from text
the suspect generated (``investigate``; a closed model is enough):

1. keep only the (context, token) pairs whose context we emitted under the key being tested
   (``Emitted`` records them as key-independent context hashes when we serve): a student
   learns the key's bias only in contexts it saw in our outputs;
2. score each pair once and drop pairs that occur in the prompts given to the suspect,
   which it may just copy;
3. test every candidate key (the scopes are clusters), Bonferroni over all tests, and name
   the key, hence the cluster, the evidence points to.

With open weights (``investigate_predictions``), the suspect reads our marked texts and its
top-1 prediction at each position is the token scored, in that position's context: a
student reproduces the key's preferred tokens in contexts it was trained on. Only the first
occurrence of a context in each text is scored: there the key's ``r`` has not shaped what
the suspect read, so a clean model's prediction is independent of it (a later occurrence
follows our keyed choice, which a clean model may simply copy).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .detect import Detection, Detector, KeyEvidence
from .errors import MarkError, MarkKeyError
from .evidence import Finding, fingerprint
from .keys import MarkKey
from .pairs import Pairs, _first_occurrences, _pair_keys, _windows
from .prf import U64, context_hashes
from .tokens import as_ids
from .types import CONTEXT_WIDTH, SCHEMES, Scheme, check_context_width

__all__ = ["Emitted", "Finding", "Predict", "hf_predict", "investigate", "investigate_predictions"]

TokenTexts = Iterable[Sequence[int] | NDArray[np.integer[Any]]]
Predict = Callable[[list[NDArray[np.int64]]], Sequence[Sequence[int] | NDArray[np.integer[Any]]]]
"""A batch of token id arrays in, for each one the suspect's next-token id at every position
out: ``out[i][j]`` follows ``batch[i][: j + 1]``. A per-text function ``f`` becomes one with
``lambda batch: [f(ids) for ids in batch]``; ``hf_predict`` wraps a transformers model."""


class Emitted:
    """The contexts of the text served under each key id (hashes only, no text)."""

    __slots__ = ("_parts", "context_width", "vocab_size")

    def __init__(self, vocab_size: int, context_width: int = CONTEXT_WIDTH) -> None:
        self.vocab_size = vocab_size
        self.context_width = check_context_width(context_width)
        self._parts: dict[str, list[U64]] = {}

    def add(self, key_id: str, texts: TokenTexts) -> None:
        """Record the contexts of ``texts`` served with ``key_id``."""
        parts = self._parts.setdefault(key_id, [])
        contexts, _, _ = _windows(list(texts), self.vocab_size, self.context_width, "emitted text")
        if contexts.size:
            parts.append(np.unique(contexts))
        if len(parts) > 64:
            self._parts[key_id] = [np.unique(np.concatenate(parts))]

    def contexts(self, key_id: str) -> U64:
        parts = self._parts.get(key_id)
        if not parts:
            return np.empty(0, np.uint64)
        merged = np.unique(np.concatenate(parts))
        self._parts[key_id] = [merged]
        return merged

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(sorted(self._parts))

    def fingerprint(self) -> dict[str, Any]:
        """Counts and a SHA-256 of the recorded context hashes (key-independent, no text)."""
        digest = hashlib.sha256(f"{self.vocab_size}/{self.context_width}".encode())
        total = 0
        for key_id in self.key_ids:
            contexts = self.contexts(key_id)
            total += len(contexts)
            digest.update(key_id.encode() + contexts.astype("<u8").tobytes())
        return {"key_ids": len(self.key_ids), "contexts": total, "sha256": digest.hexdigest()}

    def save(self, path: Path) -> None:
        arrays = {key_id: self.contexts(key_id) for key_id in self.key_ids}
        meta = np.array([self.vocab_size, self.context_width], dtype=np.int64)
        savez: Any = np.savez_compressed  # its stub types ``**kwds`` too narrowly
        with path.open("wb") as file:
            savez(file, __meta__=meta, **arrays)

    @classmethod
    def load(cls, path: Path) -> Emitted:
        try:
            with np.load(path) as data:
                vocab_size, width = (int(x) for x in data["__meta__"])
                emitted = cls(vocab_size, width)
                for name in data.files:
                    if name != "__meta__":
                        emitted._parts[name] = [data[name].astype(np.uint64)]
        except (OSError, KeyError, ValueError) as error:
            raise MarkError(f"{path}: not an emitted-contexts file ({error})") from None
        return emitted


def _check(keys: Sequence[MarkKey], emitted: Emitted | None, vocab: int, width: int) -> None:
    if not keys:
        raise MarkKeyError("no watermark key to test: give the scopes (clusters) to check")
    if emitted is not None and (emitted.vocab_size != vocab or emitted.context_width != width):
        raise MarkError(
            f"the emitted contexts were recorded with vocab {emitted.vocab_size} and width "
            f"{emitted.context_width}, not {vocab} and {width}"
        )


def _test(
    pairs: Pairs,
    keys: Sequence[MarkKey],
    emitted: Emitted | None,
    schemes: Sequence[Scheme],
    vocab: int,
    width: int,
) -> tuple[Detection, dict[str, int]]:
    """Every key on the pairs in contexts emitted under it; Bonferroni over all tests."""
    evidence: list[KeyEvidence] = []
    scored: dict[str, int] = {}
    for key in keys:
        mine = pairs if emitted is None else pairs.within(emitted.contexts(key.key_id))
        scored[key.key_id] = len(mine)
        detector = Detector([key], vocab, context_width=width, schemes=schemes)
        evidence.extend(detector.test_pairs(mine).evidence)
    best = min(evidence, key=lambda e: e.p_value)
    tests = len(evidence)
    detection = Detection(
        p_value=min(1.0, tests * best.p_value),
        tests=tests,
        n_tokens=pairs.length,
        n_scored=max(scored.values()),
        best=best if best.n else None,
        evidence=tuple(evidence),
    )
    return detection, scored


def investigate(
    suspect: TokenTexts,
    keys: Sequence[MarkKey],
    emitted: Emitted | None,
    *,
    vocab_size: int,
    context_width: int = CONTEXT_WIDTH,
    prompts: TokenTexts = (),
    schemes: Sequence[Scheme] = SCHEMES,
) -> Finding:
    """Test text a suspect model generated for every key in ``keys``.

    Without ``emitted`` every pair is scored (weaker: contexts the student never learned
    from dilute the evidence).
    """
    _check(keys, emitted, vocab_size, context_width)
    suspect, prompts = list(suspect), list(prompts)
    pairs = Pairs.of(suspect, vocab_size, context_width, exclude=prompts)
    detection, scored = _test(pairs, keys, emitted, schemes, vocab_size, context_width)
    return Finding(
        detection,
        pairs.length,
        scored,
        pairs.excluded,
        context_width=context_width,
        pairs=len(pairs),
        emitted_filter=emitted is not None,
        inputs=_inputs(suspect_texts=suspect, prompts=prompts, emitted=emitted),
    )


def investigate_predictions(
    ours: TokenTexts,
    predict: Predict,
    keys: Sequence[MarkKey],
    emitted: Emitted | None,
    *,
    vocab_size: int,
    context_width: int = CONTEXT_WIDTH,
    prompts: TokenTexts = (),
    schemes: Sequence[Scheme] = SCHEMES,
    batch_size: int = 8,
) -> Finding:
    """Open weights: test the suspect's top-1 next-token predictions on ``ours`` (our
    marked texts) for every key, with the same filters and exact tests as ``investigate``.

    ``predict`` must be causal: the prediction at position ``j`` may depend on the first
    ``j + 1`` tokens only, or it would see the keyed token it is scored on.
    """
    _check(keys, emitted, vocab_size, context_width)
    texts = [as_ids(t, vocab_size, f"our text {i}") for i, t in enumerate(ours)]
    width = context_width
    contexts: list[U64] = []
    tokens: list[NDArray[np.int64]] = []
    length = repeats = 0
    for start in range(0, len(texts), max(1, batch_size)):
        batch = texts[start : start + max(1, batch_size)]
        answers = predict(batch)
        if len(answers) != len(batch):
            raise MarkError(f"predict returned {len(answers)} results for {len(batch)} texts")
        for i, (ids, answer) in enumerate(zip(batch, answers, strict=True), start=start):
            where = f"predictions for our text {i}"
            predicted = as_ids(answer, vocab_size, where)
            if predicted.shape != ids.shape:
                raise MarkError(f"{where}: {predicted.size} ids for {ids.size} positions")
            length += ids.size
            if ids.size < width:
                continue
            hashes = context_hashes(np.lib.stride_tricks.sliding_window_view(ids, width))
            _, first = np.unique(hashes, return_index=True)
            first.sort()
            repeats += len(hashes) - len(first)
            contexts.append(hashes[first])
            tokens.append(predicted[first + width - 1])
    ctx = np.concatenate(contexts) if contexts else np.empty(0, np.uint64)
    tok = np.concatenate(tokens) if tokens else np.empty(0, np.int64)
    keys_ = _pair_keys(ctx, tok)
    keep = _first_occurrences(keys_)
    prompts = list(prompts)
    excluded = 0
    if prompts:
        ex_ctx, ex_tok, _ = _windows(prompts, vocab_size, width, "prompt")
        drop = np.isin(keys_[keep], _pair_keys(ex_ctx, ex_tok))
        excluded = int(np.count_nonzero(drop))
        keep = keep[~drop]
    pairs = Pairs(ctx[keep], tok[keep], len(tok), length, excluded)
    detection, scored = _test(pairs, keys, emitted, schemes, vocab_size, width)
    return Finding(
        detection,
        length,
        scored,
        excluded,
        mode="predictions",
        context_width=width,
        pairs=len(pairs),
        repeats_dropped=repeats,
        emitted_filter=emitted is not None,
        inputs=_inputs(our_texts=texts, prompts=prompts, emitted=emitted),
    )


def _inputs(emitted: Emitted | None, **texts: list[Any]) -> dict[str, dict[str, Any]]:
    found = {name: fingerprint(value) for name, value in texts.items()}
    if emitted is not None:
        found["emitted"] = emitted.fingerprint()
    return found


def hf_predict(model: Any, *, max_length: int | None = None) -> Predict:
    """``Predict`` for a transformers causal LM: the argmax of its logits at each position.

    Batches are right-padded (a causal model's earlier positions never see the padding);
    texts longer than ``max_length`` (default: the model's positions) are read in chunks,
    each starting without context. Needs the ``marks-hf`` extra.
    """
    import torch

    limit = max_length or int(getattr(model.config, "max_position_embeddings", 1024))

    def predict(batch: list[NDArray[np.int64]]) -> list[NDArray[np.int64]]:
        chunks = [(i, s) for i, ids in enumerate(batch) for s in range(0, len(ids), limit)]
        out = [np.empty(len(ids), np.int64) for ids in batch]
        if not chunks:
            return out
        longest = max(min(limit, len(batch[i]) - s) for i, s in chunks)
        ids = torch.zeros((len(chunks), longest), dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, (i, s) in enumerate(chunks):
            piece = torch.from_numpy(batch[i][s : s + limit])
            ids[row, : len(piece)] = piece
            mask[row, : len(piece)] = 1
        device = next(model.parameters()).device
        with torch.no_grad():
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
        best = logits.argmax(dim=-1).cpu().numpy()
        for row, (i, s) in enumerate(chunks):
            n = min(limit, len(batch[i]) - s)
            out[i][s : s + n] = best[row, :n]
        return out

    return predict
