"""Forensics: a student trained on marked teacher text is caught, with the right key; a
student trained on clean teacher text is not."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest

from distillguard.marks import Emitted, GumbelSampler, MarkError, MarkKeyError, investigate
from distillguard.marks.ngram import NGram
from marks_world import RING, VOCAB, answers, model, prompts

WIDTH = 2
KEYS = [RING.key(f"cluster:c-{i}", 3) for i in range(3)]


@cache
def teacher_outputs(marked: bool) -> tuple[list[np.ndarray], Emitted]:
    rng = np.random.default_rng(11)
    sampler = GumbelSampler(KEYS[1], VOCAB, context_width=WIDTH)
    starts = prompts(150, 8, seed=11)
    if marked:
        texts = [model().generate_marked(list(p), 200, sampler.start(rng)) for p in starts]
    else:
        texts = list(model().generate(starts, 200, rng))
    emitted = Emitted(VOCAB, WIDTH)
    emitted.add(KEYS[1].key_id, texts)
    return texts, emitted


def suspect_of(marked: bool) -> tuple[list[np.ndarray], np.ndarray]:
    outputs, _ = teacher_outputs(marked)
    student = NGram(VOCAB, 3, (0.75, 0.2, 0.05)).fit(list(answers()[:300]) + outputs)
    asked = prompts(300, 8, seed=12)
    return list(student.generate(asked, 100, np.random.default_rng(13))), asked


def test_a_student_of_marked_text_is_caught_with_the_right_key() -> None:
    suspect, asked = suspect_of(marked=True)
    _, emitted = teacher_outputs(True)
    finding = investigate(
        suspect, KEYS, emitted, vocab_size=VOCAB, context_width=WIDTH, prompts=list(asked)
    )
    assert finding.detection.marked(1e-6)
    report = finding.to_json()
    assert report["trained_on_marked_text"] is True
    assert report["points_to"]["key_id"] == KEYS[1].key_id
    assert report["points_to"]["scope"] == "cluster:c-1"
    assert report["scored_per_key"][KEYS[0].key_id] == 0  # nothing emitted under c-0
    assert report["tests"] == 6 and report["suspect_tokens"] == 300 * 100


def test_a_student_of_clean_text_is_not() -> None:
    suspect, asked = suspect_of(marked=False)
    _, emitted = teacher_outputs(True)
    finding = investigate(
        suspect, KEYS, emitted, vocab_size=VOCAB, context_width=WIDTH, prompts=list(asked)
    )
    assert not finding.detection.marked(1e-6) and finding.detection.p_value > 1e-3
    assert finding.to_json()["points_to"] is None


def test_emitted_contexts_round_trip(tmp_path: Path) -> None:
    _, emitted = teacher_outputs(True)
    emitted.save(tmp_path / "emitted.npz")
    again = Emitted.load(tmp_path / "emitted.npz")
    assert again.key_ids == (KEYS[1].key_id,)
    assert np.array_equal(again.contexts(KEYS[1].key_id), emitted.contexts(KEYS[1].key_id))
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(MarkError, match="not an emitted-contexts file"):
        Emitted.load(tmp_path / "bad.npz")


def test_forensics_refuses_mismatched_inputs() -> None:
    _, emitted = teacher_outputs(True)
    with pytest.raises(MarkKeyError):
        investigate([[1, 2, 3]], [], emitted, vocab_size=VOCAB, context_width=WIDTH)
    with pytest.raises(MarkError, match="width"):
        investigate([[1, 2, 3]], KEYS, emitted, vocab_size=VOCAB, context_width=4)
