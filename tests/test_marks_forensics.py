"""Forensics: a student trained on marked teacher text is caught, with the right key; a
student trained on clean teacher text is not."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from distillguard.marks import (
    Detector,
    Emitted,
    GumbelSampler,
    MarkError,
    MarkKeyError,
    Pairs,
    TokenError,
    investigate,
)
from distillguard.marks.forensics import Predict, hf_predict, investigate_predictions
from distillguard.marks.ngram import NGram
from distillguard.marks.pairs import _pair_keys
from distillguard.marks.prf import context_hashes
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


# -- open weights: the suspect's next-token predictions on our marked texts ----------------


@cache
def top1(marked: bool | None) -> tuple[np.ndarray, ...]:
    """The top-1 next token after each prefix of our marked texts, for a student of marked
    (True) or clean (False) teacher text or of the corpus only (None)."""
    ours, _ = teacher_outputs(True)
    student = NGram(VOCAB, 3, (0.75, 0.2, 0.05)).fit(answers()) if marked is None else None
    student = student or student_of(marked is True)
    return tuple(
        np.array([int(np.argmax(student.probs(ids[: j + 1]))) for j in range(len(ids))])
        for ids in ours
    )


def replay(predictions: tuple[np.ndarray, ...]) -> Predict:
    """A ``Predict`` that hands out precomputed predictions in order."""
    queue = iter(predictions)
    return lambda batch: [next(queue) for _ in batch]


def student_of(marked: bool) -> NGram:
    outputs, _ = teacher_outputs(marked)
    return NGram(VOCAB, 3, (0.75, 0.2, 0.05)).fit(list(answers()[:300]) + outputs)


def test_open_weights_of_a_student_of_marked_text_point_to_the_key() -> None:
    ours, emitted = teacher_outputs(True)
    finding = investigate_predictions(
        ours, replay(top1(True)), KEYS, emitted, vocab_size=VOCAB, context_width=WIDTH
    )
    report = finding.to_json()
    assert report["trained_on_marked_text"] and report["p_value"] < 1e-30
    assert report["points_to"]["scope"] == "cluster:c-1" and report["mode"] == "predictions"
    assert report["scored_per_key"][KEYS[0].key_id] == 0
    assert report["repeated_contexts_dropped"] > 0
    assert report["inputs"]["our_texts"]["texts"] == len(ours)
    assert any("top-1" in step for step in report["procedure"])


def test_open_weights_of_clean_students_are_not_guilty() -> None:
    ours, emitted = teacher_outputs(True)
    for student in (False, None):
        for record in (emitted, None):
            finding = investigate_predictions(
                ours, replay(top1(student)), KEYS, record, vocab_size=VOCAB, context_width=WIDTH
            )
            assert finding.detection.p_value > 1e-3, finding.to_json()["summary"]


def copier(batch: list[np.ndarray]) -> list[np.ndarray]:
    """A clean model that copies: after a context seen earlier in the text it predicts the
    token that followed it there (an induction head), else the byte 'e'."""
    out = []
    for ids in batch:
        seen: dict[tuple[int, ...], int] = {}
        predicted = np.full(len(ids), ord("e"))
        for j in range(len(ids)):
            context = tuple(ids[max(0, j - WIDTH + 1) : j + 1].tolist())
            if context in seen:
                predicted[j] = seen[context]
            if j + 1 < len(ids):
                seen.setdefault(context, int(ids[j + 1]))
        out.append(predicted)
    return out


def test_a_clean_copier_does_not_look_guilty() -> None:
    """Copying what our text did at a repeated context reproduces keyed choices; scoring
    only the first occurrence of each context keeps such a model innocent."""
    ours, emitted = teacher_outputs(True)
    finding = investigate_predictions(
        ours, copier, KEYS, emitted, vocab_size=VOCAB, context_width=WIDTH
    )
    assert finding.detection.p_value > 1e-3
    # Scored at every occurrence instead (each distinct pair once), copies look guilty.
    contexts, tokens = [], []
    for ids, predicted in zip(ours, copier(list(ours)), strict=True):
        windows = np.lib.stride_tricks.sliding_window_view(ids, WIDTH)
        contexts.append(context_hashes(windows))
        tokens.append(predicted[WIDTH - 1 :])
    ctx, tok = np.concatenate(contexts), np.concatenate(tokens)
    _, first = np.unique(_pair_keys(ctx, tok), return_index=True)
    everything = Pairs(ctx[first], tok[first], len(tok))
    naive = Detector([KEYS[1]], VOCAB, context_width=WIDTH).test_pairs(everything)
    assert naive.p_value < 1e-6


def test_predictions_must_fit_the_texts() -> None:
    ours, emitted = teacher_outputs(True)
    with pytest.raises(MarkError, match="positions"):
        investigate_predictions(
            ours[:2],
            lambda b: [ids[:-1] for ids in b],
            KEYS,
            emitted,
            vocab_size=VOCAB,
            context_width=WIDTH,
        )
    with pytest.raises(MarkError, match="results for"):
        investigate_predictions(
            ours[:2], lambda b: [], KEYS, emitted, vocab_size=VOCAB, context_width=WIDTH
        )
    with pytest.raises(TokenError, match="outside the vocabulary"):
        investigate_predictions(
            ours[:2],
            lambda b: [ids + VOCAB for ids in b],
            KEYS,
            emitted,
            vocab_size=VOCAB,
            context_width=WIDTH,
        )


def test_open_weights_p_values_of_a_clean_student_are_uniform() -> None:
    """Exactness: under 200 keys the suspect never saw, raw p-values are U(0, 1)."""
    ours, _ = teacher_outputs(True)
    keys = [RING.key(f"cluster:null-{i}", 0) for i in range(200)]
    finding = investigate_predictions(
        ours,
        replay(top1(False)),
        keys,
        None,
        vocab_size=VOCAB,
        context_width=WIDTH,
        schemes=("gumbel",),
    )
    raw = [e.p_value for e in finding.detection.evidence]
    assert stats.kstest(raw, "uniform").pvalue > 1e-3


@pytest.mark.slow
def test_open_weights_of_a_tiny_gpt2_trained_here() -> None:
    """A byte-level GPT-2 trained on the corpus plus marked teacher text reproduces the
    key's choices on our texts; the same model trained with clean teacher text does not
    (and its copying of earlier text is not counted: first occurrences only)."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    ours, emitted = teacher_outputs(True)
    corpus = np.concatenate(answers()[:300])

    def train(marked: bool) -> Any:
        torch.manual_seed(0)
        config = transformers.GPT2Config(
            vocab_size=VOCAB,
            n_positions=128,
            n_embd=64,
            n_layer=2,
            n_head=2,
            bos_token_id=0,
            eos_token_id=0,
        )
        student = transformers.GPT2LMHeadModel(config).train()
        teacher = [np.resize(np.asarray(t), 128) for t in teacher_outputs(marked)[0]]
        optimiser = torch.optim.AdamW(student.parameters(), lr=3e-3)
        rng = np.random.default_rng(0)
        for _ in range(200):
            rows = [
                teacher[rng.integers(len(teacher))]
                if rng.random() < 0.5
                else corpus[(s := int(rng.integers(len(corpus) - 128))) : s + 128]
                for _ in range(16)
            ]
            batch = torch.from_numpy(np.stack(rows).astype(np.int64))
            loss = student(batch, labels=batch).loss
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        return student.eval()

    found = []
    for marked in (True, False):
        finding = investigate_predictions(
            ours,
            hf_predict(train(marked)),
            KEYS,
            emitted,
            vocab_size=VOCAB,
            context_width=WIDTH,
            batch_size=16,
        )
        found.append(finding.to_json())
    assert found[0]["p_value"] < 1e-6 and found[0]["points_to"]["scope"] == "cluster:c-1"
    assert found[1]["p_value"] > 1e-3 and found[1]["points_to"] is None
