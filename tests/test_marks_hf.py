"""The transformers ``LogitsProcessor``: a tiny GPT-2 generates through ``generate`` with
the processor, and the numpy detector finds the key.

Needs the optional extra ``marks-hf`` (torch, transformers); skipped without it (CI installs
it). The mechanics run on a randomly initialised model (seconds); the slow test trains a
tiny byte-level GPT-2 here on real model answers shipped with the simulator and checks
detection on what the trained model writes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from distillguard.marks import Detector  # noqa: E402
from distillguard.marks.gumbel import GumbelSampler  # noqa: E402
from distillguard.marks.hf import WatermarkLogitsProcessor, gumbel_choice  # noqa: E402
from marks_world import RING, VOCAB, answers  # noqa: E402

KEY = RING.key("cluster:hf-test", 0)
OTHER = RING.key("cluster:someone-else", 0)


def tiny_model(seed: int = 0) -> Any:
    torch.manual_seed(seed)
    config = transformers.GPT2Config(
        vocab_size=VOCAB, n_positions=512, n_embd=64, n_layer=2, n_head=2, bos_token_id=0
    )
    return transformers.GPT2LMHeadModel(config).eval()


def generate(model: Any, processor: Any | None, *, sample: bool = True, seed: int = 1) -> Any:
    torch.manual_seed(seed)
    prompts = torch.tensor([list(b"The answer is ")] * 4)
    processors = transformers.LogitsProcessorList([processor] if processor else [])
    with torch.no_grad():
        out = model.generate(
            prompts,
            attention_mask=torch.ones_like(prompts),
            max_new_tokens=100,
            do_sample=sample,
            top_k=0,
            logits_processor=processors,
            pad_token_id=0,
        )
    return [row[prompts.shape[1] :].tolist() for row in out]


def test_the_processor_chooses_as_the_numpy_sampler_does() -> None:
    rng = np.random.default_rng(3)
    numpy_side = GumbelSampler(KEY, VOCAB).start(np.random.default_rng(0))
    processor = WatermarkLogitsProcessor(KEY)
    for step in range(50):
        history = rng.integers(0, VOCAB, 10 + step).tolist()
        logits = rng.normal(0.0, 2.0, VOCAB)
        chosen = processor(torch.tensor([history]), torch.tensor(logits[None], dtype=torch.float32))
        allowed = torch.isfinite(chosen[0]).nonzero().flatten().tolist()
        probs = np.exp(np.float32(logits).astype(np.float64) - np.float32(logits).max())
        assert allowed == [numpy_side.sample(probs, history)]
    r = np.array([0.5, 0.99, 0.2])
    assert gumbel_choice(r, np.array([0.5, 0.0, 0.5])) == 0  # a token with p = 0 never wins


def test_generate_with_the_processor_is_detected_and_names_the_key() -> None:
    model = tiny_model()
    processor = WatermarkLogitsProcessor(KEY)
    marked = generate(model, processor)
    assert processor.marked > 300
    detector = Detector([OTHER, KEY], VOCAB, schemes=("gumbel",))
    found = detector.test(marked)
    assert found.p_value < 1e-6 and found.best is not None and found.best.key_id == KEY.key_id
    clean = detector.test(generate(model, None))
    assert clean.p_value > 1e-3  # the same model without the processor is not marked


def test_the_green_list_works_with_greedy_decoding() -> None:
    model = tiny_model(seed=2)
    processor = WatermarkLogitsProcessor(KEY, scheme="greenlist", delta=4.0)
    marked = generate(model, processor, sample=False)
    found = Detector([KEY], VOCAB, schemes=("greenlist",)).test(marked)
    # Greedy decoding of a random model loops: few distinct (context, token) pairs remain,
    # each scored once, so the bar is lower than for sampled text.
    assert found.n_scored >= 20 and found.p_value < 1e-4
    with pytest.raises(ValueError, match="temperature"):
        WatermarkLogitsProcessor(KEY, temperature=0.0)


@pytest.mark.slow
def test_a_tiny_model_trained_here_writes_detectably() -> None:
    """Train a byte-level GPT-2 on real answers for a few hundred steps, then generate."""
    model = tiny_model(seed=5).train()
    data = np.concatenate([a for a in answers() if len(a) > 64])[:400_000]
    tokens = torch.from_numpy(data.astype(np.int64))
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(300):
        starts = torch.randint(0, tokens.numel() - 129, (16,), generator=generator)
        batch = torch.stack([tokens[s : s + 128] for s in starts.tolist()])
        loss = model(batch, labels=batch).loss
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    # It learned something: uniform bytes cost ln 256 = 5.5 nats each.
    assert float(np.mean(losses[-20:])) < min(3.2, 0.8 * float(np.mean(losses[:20])))
    model.eval()
    marked = generate(model, WatermarkLogitsProcessor(KEY))
    found = Detector([OTHER, KEY], VOCAB).test(marked)
    assert found.p_value < 1e-6 and found.best is not None and found.best.key_id == KEY.key_id
    assert Detector([KEY], VOCAB).test(generate(model, None)).p_value > 1e-3
