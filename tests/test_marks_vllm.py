"""The vLLM logits processors (``marks.vllm``), driven through vLLM 0.33's interfaces.

vLLM itself cannot run here: it pins a CUDA build of torch that conflicts with this
environment. So the engine side is a stand-in written from the documented 0.33 shapes, field
by field: ``LogitsProcRequestState`` and ``LogitsContext`` (Model Runner V2,
``vllm/v1/worker/gpu/sample/logits_processor/interface.py``), ``BatchUpdate``,
``AddedRequest`` and ``MoveDirectionality`` (legacy runner,
``vllm/v1/sample/logits_processor/interface.py``) and the two ``SamplingParams`` fields the
processors read. The stand-in engines keep vLLM's contracts that matter here: Model Runner
V2 recycles request slots without a removal hook, reorders rows every step and keeps the
committed ids on the device; the legacy runner applies removals, then additions, then moves,
and hands over a live reference to each request's output list. The model is the trigram
model of real answers from ``marks_world``.
"""

from __future__ import annotations

import enum
import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from distillguard.marks import SECRET_ENV, Detector, MarkKeyError  # noqa: E402
from distillguard.marks.gumbel import GumbelSampler  # noqa: E402
from distillguard.marks.hf import WatermarkLogitsProcessor as HFProcessor  # noqa: E402
from distillguard.marks.rows import RowWatermarker  # noqa: E402
from distillguard.marks.types import KEY_ARG  # noqa: E402
from distillguard.marks.vllm import (  # noqa: E402
    SCHEME_ARG,
    LegacyWatermarkLogitsProcessor,
    WatermarkLogitsProcessor,
    last_ids,
    mark_request,
)
from marks_world import RING, VOCAB, model, prompts  # noqa: E402

SECRET = "marks-tests-secret-not-for-deployment-0123"  # the secret behind marks_world.RING
KEY_A = RING.key("cluster:vllm-a", 0)
KEY_B = RING.key("cluster:vllm-b", 0)


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)


# --- stand-ins for vLLM 0.33 ----------------------------------------------------------------


@dataclass
class SamplingParams:
    """The fields of ``vllm.SamplingParams`` the processors read (and a few neighbours)."""

    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int | None = None
    extra_args: dict[str, Any] | None = None


class StagedWriteTensor:
    """``vllm.v1.worker.gpu.buffer_utils.StagedWriteTensor``: its ``.gpu`` tensor."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.gpu = torch.zeros(shape, dtype=torch.int32)


class UvaBackedTensor:
    """``UvaBackedTensor``: a host array ``.np`` and its device view ``.gpu``."""

    def __init__(self, size: int) -> None:
        self.np = np.zeros(size, dtype=np.int32)
        self.gpu = torch.from_numpy(self.np)


@dataclass(frozen=True)
class LogitsProcRequestState:
    device: Any
    max_num_reqs: int
    vocab_size: int
    all_token_ids: StagedWriteTensor
    prompt_len: UvaBackedTensor
    prefill_len: UvaBackedTensor
    total_len: StagedWriteTensor


@dataclass(frozen=True)
class LogitsContext:
    expanded_idx_mapping: Any
    idx_mapping: Any
    idx_mapping_np: np.ndarray[Any, Any]
    expanded_local_pos: Any
    input_ids: Any
    pos: Any
    seq_lens_upper_bound_np: np.ndarray[Any, Any]


@dataclass
class VllmConfig:
    speculative_config: Any = None


class MoveDirectionality(enum.Enum):
    UNIDIRECTIONAL = enum.auto()
    SWAP = enum.auto()


@dataclass(frozen=True)
class BatchUpdate:
    batch_size: int
    removed: Sequence[int]
    added: Sequence[tuple[int, SamplingParams, list[int] | None, list[int]]]
    moved: Sequence[tuple[int, int, MoveDirectionality]]


@dataclass
class Request:
    prompt: list[int]
    params: SamplingParams
    length: int
    chunk: int | None = None
    """Prefill in chunks of this many tokens (Model Runner V2 engine only)."""
    output: list[int] = field(default_factory=list)
    computed: int = 0

    @property
    def done(self) -> bool:
        return len(self.output) >= self.length


def logits_of(history: Sequence[int]) -> Any:
    """The trigram model's next-token logits, float32 as a model's would be."""
    with np.errstate(divide="ignore"):
        return torch.from_numpy(np.log(model().probs(history)).astype(np.float32))


def sample_row(row: Any, params: SamplingParams, rng: np.random.Generator) -> int:
    """What vLLM's sampler does after the processors: greedy argmax, else sample at the
    request's temperature."""
    values = row.to(torch.float64).numpy()
    if params.temperature < 1e-5:
        return int(np.argmax(values))
    scaled = values / params.temperature
    probs = np.exp(scaled - scaled.max())
    cdf = np.cumsum(probs)
    return min(int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right")), VOCAB - 1)


class MRV2Engine:
    """Model Runner V2 around one processor: slots, reordered rows, chunked prefill."""

    def __init__(self, processor_cls: type, max_num_reqs: int = 4, max_len: int = 1024) -> None:
        self.state = LogitsProcRequestState(
            device=torch.device("cpu"),
            max_num_reqs=max_num_reqs,
            vocab_size=VOCAB,
            all_token_ids=StagedWriteTensor((max_num_reqs, max_len)),
            prompt_len=UvaBackedTensor(max_num_reqs),
            prefill_len=UvaBackedTensor(max_num_reqs),
            total_len=StagedWriteTensor((max_num_reqs,)),
        )
        self.processor = processor_cls(VllmConfig(), self.state)
        self.free = list(range(max_num_reqs))
        self.slots: dict[int, Request] = {}
        self.untouched_chunks = 0

    def admit(self, request: Request) -> None:
        slot = self.free.pop(0)  # a recycled slot still holds its last occupant's ids
        n = len(request.prompt)
        self.state.all_token_ids.gpu[slot, :n] = torch.tensor(request.prompt)
        self.state.prompt_len.np[slot] = n
        self.state.prefill_len.np[slot] = n
        self.state.total_len.gpu[slot] = n
        self.slots[slot] = request
        self.processor.add_request(slot, request.params)

    def step(self, rng: np.random.Generator) -> None:
        order = [int(s) for s in rng.permutation(sorted(self.slots))]
        tokens = self.state.all_token_ids.gpu
        positions, fed, rows = [], [], []
        for slot in order:
            request = self.slots[slot]
            total = int(self.state.total_len.gpu[slot])
            if request.chunk is not None and request.computed < len(request.prompt):
                request.computed = min(len(request.prompt), request.computed + request.chunk)
                pos = request.computed - 1
            else:
                pos = total - 1
            positions.append(pos)
            fed.append(int(tokens[slot, pos]))
            rows.append(logits_of(tokens[slot, : pos + 1].tolist()))
        logits = torch.stack(rows)
        before = logits.clone()
        mapping = torch.tensor(order, dtype=torch.int32)
        ctx = LogitsContext(
            expanded_idx_mapping=mapping,
            idx_mapping=mapping,
            idx_mapping_np=np.asarray(order, dtype=np.int32),
            expanded_local_pos=torch.zeros(len(order), dtype=torch.int32),
            input_ids=torch.tensor(fed, dtype=torch.int32),
            pos=torch.tensor(positions, dtype=torch.int64),
            seq_lens_upper_bound_np=np.asarray(positions, dtype=np.int32) + 1,
        )
        out = self.processor.apply(logits, ctx)
        for row, slot in enumerate(order):
            request = self.slots[slot]
            if positions[row] + 1 < int(self.state.prefill_len.np[slot]):
                assert torch.equal(out[row], before[row])  # nothing is sampled from a chunk
                self.untouched_chunks += 1
                continue
            token = sample_row(out[row], request.params, rng)
            total = int(self.state.total_len.gpu[slot])
            tokens[slot, total] = token
            self.state.total_len.gpu[slot] = total + 1
            request.output.append(token)
            if request.done:
                del self.slots[slot]
                self.free.append(slot)  # no removal hook: the slot is simply reused


class LegacyEngine:
    """The legacy runner's persistent batch: removals, additions, then condensing moves."""

    def __init__(self, capacity: int = 4) -> None:
        self.processor = LegacyWatermarkLogitsProcessor(VllmConfig(), torch.device("cpu"), False)
        self.capacity = capacity
        self.rows: list[Request | None] = []
        self.steps = 0

    def step(self, waiting: list[Request], rng: np.random.Generator) -> None:
        removed = [i for i, r in enumerate(self.rows) if r is not None and r.done]
        for i in removed:
            self.rows[i] = None
        added = []
        while waiting and sum(r is not None for r in self.rows) < self.capacity:
            request = waiting.pop(0)
            index = self.rows.index(None) if None in self.rows else len(self.rows)
            if index == len(self.rows):
                self.rows.append(None)
            self.rows[index] = request
            added.append((index, request.params, list(request.prompt), request.output))
        moved = []
        while None in self.rows:  # condense: the last request fills the first hole
            hole = self.rows.index(None)
            filled = [i for i, r in enumerate(self.rows) if r is not None]
            if not filled or filled[-1] < hole:
                del self.rows[hole:]
                break
            last = filled[-1]
            self.rows[hole], self.rows[last] = self.rows[last], None
            moved.append((last, hole, MoveDirectionality.UNIDIRECTIONAL))
        self.steps += 1
        if self.steps % 3 == 0 and len(self.rows) >= 2:  # a reordering swap
            self.rows[0], self.rows[1] = self.rows[1], self.rows[0]
            moved.append((0, 1, MoveDirectionality.SWAP))
        changed = bool(removed or added or moved)
        update = BatchUpdate(len(self.rows), removed, added, moved) if changed else None
        self.processor.update_state(update)
        if not self.rows:
            return
        batch = [r for r in self.rows if r is not None]
        logits = torch.stack([logits_of(r.prompt + r.output) for r in batch])
        out = self.processor.apply(logits)
        for row, request in enumerate(batch):
            request.output.append(sample_row(out[row], request.params, rng))


def keyed(key_id: str | None, temperature: float = 1.0, scheme: str | None = None) -> Any:
    extra: dict[str, Any] = {}
    if key_id is not None:
        extra[KEY_ARG] = key_id
    if scheme is not None:
        extra[SCHEME_ARG] = scheme
    return SamplingParams(temperature=temperature, extra_args=extra or None)


def requests(length: int, seed: int) -> list[Request]:
    """Seven requests, only some keyed: two clusters, both schemes, a greedy one."""
    params = [
        keyed(KEY_A.key_id),
        keyed(None),
        keyed(KEY_B.key_id),
        keyed(KEY_A.key_id, scheme="greenlist"),
        keyed(None, temperature=0.7),
        keyed(KEY_B.key_id, temperature=0.0),  # greedy: the green list by default
        keyed(KEY_B.key_id, temperature=0.7),
    ]
    windows = prompts(len(params), 24, seed)
    return [
        Request([int(t) for t in w], p, length, chunk=10 if i == 2 else None)
        for i, (w, p) in enumerate(zip(windows, params, strict=True))
    ]


def check_replay(request: Request) -> None:
    """Every keyed Gumbel step of ``request`` chose what ``GumbelGeneration`` chooses for the
    same key and history (prompt included); plain steps were vLLM's own sampling."""
    extra = request.params.extra_args or {}
    key = {KEY_A.key_id: KEY_A, KEY_B.key_id: KEY_B}[extra[KEY_ARG]]
    generation = GumbelSampler(key, VOCAB).start(np.random.default_rng(0))
    history = list(request.prompt)
    for token in request.output:
        scaled = logits_of(history).to(torch.float64).numpy() / request.params.temperature
        marked = generation.marked
        choice = generation.sample(np.exp(scaled - scaled.max()), history)
        if generation.marked > marked:
            assert choice == token
        history.append(token)
    assert generation.marked > 0.8 * request.length


def check_detection(done: list[Request]) -> None:
    detector = Detector([KEY_A, KEY_B], VOCAB)
    for request in done:
        assert len(request.output) == request.length
        found = detector.test([request.output])
        extra = request.params.extra_args or {}
        key_id = extra.get(KEY_ARG)
        if key_id is None:
            assert found.p_value > 1e-3, found.describe()
            continue
        greedy = request.params.temperature == 0.0
        # Greedy trigram text loops: few distinct (context, token) pairs remain to score.
        assert found.p_value < (1e-3 if greedy else 1e-6), found.describe()
        assert found.best is not None and found.best.key_id == key_id
        assert found.best.scheme == ("greenlist" if greedy else extra.get(SCHEME_ARG, "gumbel"))
        if found.best.scheme == "gumbel":
            check_replay(request)


# --- the per-request logic -----------------------------------------------------------------


def test_a_row_is_keyed_exactly_as_the_hf_processor_and_the_numpy_sampler_key_it() -> None:
    rng = np.random.default_rng(7)
    numpy_side = GumbelSampler(KEY_A, VOCAB).start(np.random.default_rng(0))
    for scheme in ("gumbel", "greenlist"):
        hf = HFProcessor(KEY_A, scheme=scheme, temperature=0.8)
        row = RowWatermarker(RING.for_id(KEY_A.key_id), scheme, temperature=0.8)
        for step in range(60):
            history = rng.integers(0, VOCAB, 6 + step).tolist()
            logits32 = rng.normal(0.0, 2.0, VOCAB).astype(np.float32)
            expected = hf(torch.tensor([history]), torch.from_numpy(logits32[None]))[0]
            got = row.step(history, logits32.astype(np.float64))
            assert got is not None
            if scheme == "gumbel":
                allowed = np.flatnonzero(np.isfinite(got)).tolist()
                assert allowed == torch.isfinite(expected).nonzero().flatten().tolist()
                scaled = logits32.astype(np.float64) / 0.8
                probs = np.exp(scaled - scaled.max())
                assert allowed == [numpy_side.sample(probs, history)]
            else:
                np.testing.assert_allclose(got.astype(np.float32), expected.numpy(), rtol=1e-6)
        assert row.marked == 60 and row.plain == 0


def test_short_and_repeated_contexts_are_left_alone() -> None:
    row = RowWatermarker(KEY_A, "gumbel")
    logits = np.zeros(VOCAB)
    assert row.step([1, 2, 3], logits) is None  # fewer than context_width ids
    assert row.step([9, 1, 2, 3, 4], logits) is not None
    assert row.step([7, 1, 2, 3, 4], logits) is None  # same last four ids: already keyed
    assert (row.marked, row.plain) == (1, 2)
    assert last_ids([1, 2, 3], [4, 5], 4) == [2, 3, 4, 5]
    assert last_ids([1, 2], [], 4) == [1, 2]
    assert last_ids([1], [2, 3, 4, 5, 6], 4) == [3, 4, 5, 6]


# --- the processors through the engine interfaces -------------------------------------------


def test_model_runner_v2_marks_only_the_keyed_requests_and_detection_names_their_keys() -> None:
    rng = np.random.default_rng(11)
    engine = MRV2Engine(WatermarkLogitsProcessor)
    waiting = requests(length=160, seed=3)
    done: list[Request] = []
    while waiting or engine.slots:
        while waiting and engine.free:
            engine.admit(waiting.pop(0))
        before = list(engine.slots.values())
        engine.step(rng)
        done.extend(r for r in before if r.done and r not in done)
    assert len(done) == 7
    assert engine.untouched_chunks == 2  # the 24-id prompt in chunks of 10: two partial rows
    check_detection(done)


def test_the_legacy_runner_follows_added_removed_and_moved_requests() -> None:
    rng = np.random.default_rng(12)
    engine = LegacyEngine()
    waiting = requests(length=160, seed=4)
    everything = list(waiting)
    while waiting or any(r is not None and not r.done for r in engine.rows):
        engine.step(waiting, rng)
    assert engine.processor.is_argmax_invariant() is False
    check_detection(everything)


# --- bad input ------------------------------------------------------------------------------


def test_bad_per_request_arguments_are_rejected_by_validate_params() -> None:
    for cls in (WatermarkLogitsProcessor, LegacyWatermarkLogitsProcessor):
        cls.validate_params(keyed(KEY_A.key_id))
        cls.validate_params(keyed(None))
        with pytest.raises(ValueError, match=f"{KEY_ARG} must be a key id of 16 lowercase hex"):
            cls.validate_params(keyed("not-a-key-id"))
        with pytest.raises(ValueError, match=KEY_ARG):
            cls.validate_params(keyed(KEY_A.key_id.upper()))
        with pytest.raises(ValueError, match=KEY_ARG):
            cls.validate_params(SamplingParams(extra_args={KEY_ARG: 12345}))
        with pytest.raises(ValueError, match=f"{SCHEME_ARG} must be one of"):
            cls.validate_params(keyed(KEY_A.key_id, scheme="kgw"))
        with pytest.raises(ValueError, match="greenlist for greedy"):
            cls.validate_params(keyed(KEY_A.key_id, temperature=0.0, scheme="gumbel"))
        with pytest.raises(ValueError, match=f"without {KEY_ARG}"):
            cls.validate_params(keyed(None, scheme="gumbel"))
    assert mark_request(None, 1.0) is None
    assert mark_request({KEY_ARG: KEY_A.key_id}, 0.0) is not None


def test_a_missing_secret_is_a_clear_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(SECRET_ENV)
    with pytest.raises(MarkKeyError, match=f"\\${SECRET_ENV} is not set"):
        MRV2Engine(WatermarkLogitsProcessor)
    with pytest.raises(MarkKeyError, match=SECRET_ENV):
        LegacyEngine()


def test_speculative_decoding_is_refused() -> None:
    with pytest.raises(ValueError, match="speculative decoding"):
        WatermarkLogitsProcessor(VllmConfig(speculative_config=object()), None)


def test_the_module_imports_without_vllm() -> None:
    """The point of the optional base: without vLLM the classes are plain ones."""
    if importlib.util.find_spec("vllm") is not None:  # pragma: no cover - never here
        pytest.skip("vLLM is installed")
    assert WatermarkLogitsProcessor.__mro__[1] is object
    assert LegacyWatermarkLogitsProcessor.__mro__[1] is object
