"""Radioactivity: was a suspect model trained on text we watermarked?

Following Sander et al. 2024 ("Watermarking makes language models radioactive"), from text
the suspect generated (a closed model is enough):

1. keep only the (context, token) pairs whose context we emitted under the key being tested
   (``Emitted`` records them as key-independent context hashes when we serve): a student
   learns the key's bias only in contexts it saw in our outputs;
2. score each pair once and drop pairs that occur in the prompts given to the suspect,
   which it may just copy;
3. test every candidate key (the scopes are clusters), Bonferroni over all tests, and name
   the key, hence the cluster, the evidence points to.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .detect import ALPHA, Detection, Detector, KeyEvidence
from .errors import MarkError, MarkKeyError
from .keys import MarkKey
from .pairs import Pairs
from .prf import U64, context_hashes
from .tokens import as_ids
from .types import CONTEXT_WIDTH, SCHEMES, Scheme, check_context_width

TokenTexts = Iterable[Sequence[int] | NDArray[np.integer[Any]]]


class Emitted:
    """The contexts of the text served under each key id (hashes only, no text)."""

    __slots__ = ("_parts", "context_width", "vocab_size")

    def __init__(self, vocab_size: int, context_width: int = CONTEXT_WIDTH) -> None:
        self.vocab_size = vocab_size
        self.context_width = check_context_width(context_width)
        self._parts: dict[str, list[U64]] = {}

    def add(self, key_id: str, texts: TokenTexts) -> None:
        """Record the contexts of ``texts`` served with ``key_id``."""
        width = self.context_width
        parts = self._parts.setdefault(key_id, [])
        for i, text in enumerate(texts):
            ids = as_ids(text, self.vocab_size, f"emitted text {i}")
            if len(ids) > width:
                windows = np.lib.stride_tricks.sliding_window_view(ids[:-1], width)
                parts.append(np.unique(context_hashes(windows)))
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


@dataclass(frozen=True, slots=True)
class Finding:
    """The forensic result: the corrected test and what each key's test saw."""

    detection: Detection
    suspect_tokens: int
    scored: Mapping[str, int]
    """Per key id: distinct pairs in contexts emitted under that key (what it scored)."""
    prompt_pairs_dropped: int

    def to_json(self, alpha: float = ALPHA) -> dict[str, Any]:
        best = self.detection.best
        return {
            "trained_on_marked_text": self.detection.marked(alpha),
            "alpha": alpha,
            "p_value": self.detection.p_value,
            "correction": self.detection.correction,
            "tests": self.detection.tests,
            "points_to": None
            if best is None or not self.detection.marked(alpha)
            else {
                "key_id": best.key_id,
                "scope": best.scope,
                "epoch": best.epoch,
                "scheme": best.scheme,
            },
            "suspect_tokens": self.suspect_tokens,
            "prompt_pairs_dropped": self.prompt_pairs_dropped,
            "scored_per_key": dict(self.scored),
            "evidence": [e.to_json() for e in self.detection.evidence],
            "summary": self.detection.describe(alpha),
        }


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
    if not keys:
        raise MarkKeyError("no watermark key to test: give the scopes (clusters) to check")
    if emitted is not None and (
        emitted.vocab_size != vocab_size or emitted.context_width != context_width
    ):
        raise MarkError(
            f"the emitted contexts were recorded with vocab {emitted.vocab_size} and width "
            f"{emitted.context_width}, not {vocab_size} and {context_width}"
        )
    pairs = Pairs.of(suspect, vocab_size, context_width, exclude=prompts)
    evidence: list[KeyEvidence] = []
    scored: dict[str, int] = {}
    for key in keys:
        mine = pairs if emitted is None else pairs.within(emitted.contexts(key.key_id))
        scored[key.key_id] = len(mine)
        detector = Detector([key], vocab_size, context_width=context_width, schemes=schemes)
        evidence.extend(detector.test_pairs(mine).evidence)
    best = min(evidence, key=lambda e: e.p_value)
    tests = len(evidence)
    n = max(scored.values())
    detection = Detection(
        p_value=min(1.0, tests * best.p_value),
        tests=tests,
        n_tokens=pairs.length,
        n_scored=n,
        best=best if best.n else None,
        evidence=tuple(evidence),
    )
    return Finding(detection, pairs.length, scored, pairs.excluded)
