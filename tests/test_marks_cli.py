"""The ``marks`` commands: keygen, key-id, detect and forensics, and no secret in output."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from distillguard.marks import ByteTokenizer, Emitted, GumbelSampler, Keyring, MasterSecret
from distillguard.marks.cli import marks_app
from marks_world import model, prompts

runner = CliRunner()


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "mark.secret"
    result = runner.invoke(marks_app, ["keygen", str(path)])
    assert result.exit_code == 0, result.output
    return path


def test_keygen_writes_a_private_file_once(secret_file: Path) -> None:
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    secret = secret_file.read_bytes().strip()
    assert len(secret) == 64
    again = runner.invoke(marks_app, ["keygen", str(secret_file)])
    assert again.exit_code == 2 and "never overwritten" in again.output
    assert secret_file.read_bytes().strip() == secret


def test_key_id_matches_the_library(secret_file: Path) -> None:
    args = ["key-id", "cluster:c-1", "--secret-file", str(secret_file), "--at", "2026-05-01"]
    result = runner.invoke(marks_app, args)
    assert result.exit_code == 0, result.output
    ring = Keyring(MasterSecret.from_file(secret_file))
    assert result.output.strip() == ring.key_id("cluster:c-1", 685)
    assert secret_file.read_text().strip() not in result.output
    bad = runner.invoke(marks_app, ["key-id", "tenant:x", "--secret-file", str(secret_file)])
    assert bad.exit_code == 2 and "not cluster:<id>" in bad.output


def test_missing_secret_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISTILLGUARD_MARK_SECRET", raising=False)
    result = runner.invoke(marks_app, ["key-id", "cluster:c-1"])
    assert result.exit_code == 2 and "DISTILLGUARD_MARK_SECRET is not set" in result.output


def test_detect_and_forensics_commands(secret_file: Path, tmp_path: Path) -> None:
    ring = Keyring(MasterSecret.from_file(secret_file))
    key = ring.candidates(["cluster:c-9"])[-1]
    sampler = GumbelSampler(key, 256)
    rng = np.random.default_rng(2)
    texts = [
        model().generate_marked(list(p), 250, sampler.start(rng)).tolist()
        for p in prompts(2, 4, seed=2)
    ]
    tok = ByteTokenizer()
    lines = [json.dumps({"text": tok.decode(t)}) for t in texts]
    lines.append(json.dumps({"text": "a short clean text about nothing in particular"}))
    (tmp_path / "texts.jsonl").write_text("\n".join(lines) + "\n")
    common = ["--scope", "cluster:c-9", "--scope", "cluster:c-2", "--secret-file"]
    result = runner.invoke(
        marks_app, ["detect", str(tmp_path / "texts.jsonl"), *common, str(secret_file)]
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [r["marked"] for r in rows] == [True, True, False]
    assert rows[0]["best"]["scope"] == "cluster:c-9" and rows[0]["tests"] == 12
    assert secret_file.read_text().strip() not in result.output

    emitted = Emitted(256)
    emitted.add(key.key_id, [t for t in texts])
    emitted.save(tmp_path / "emitted.npz")
    args = [
        "forensics",
        str(tmp_path / "texts.jsonl"),
        *common,
        str(secret_file),
        "--emitted",
        str(tmp_path / "emitted.npz"),
    ]
    result = runner.invoke(marks_app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["points_to"]["scope"] == "cluster:c-9"

    bad = runner.invoke(
        marks_app, ["detect", str(tmp_path / "missing.jsonl"), *common, str(secret_file)]
    )
    assert bad.exit_code == 2 and "missing.jsonl" in bad.output


def test_forensics_writes_the_evidence_page(secret_file: Path, tmp_path: Path) -> None:
    (tmp_path / "suspect.txt").write_text("a suspect wrote this text, nothing more " * 20)
    page = tmp_path / "evidence.html"
    args = ["forensics", str(tmp_path / "suspect.txt"), "--scope", "cluster:c-9"]
    result = runner.invoke(
        marks_app, [*args, "--secret-file", str(secret_file), "--html", str(page)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    html = page.read_text()
    assert report["trained_on_marked_text"] is False and "no evidence of training" in html
    assert report["inputs"]["suspect_texts"]["sha256"] in html
    assert "a suspect wrote" not in html  # fingerprints, not texts
    assert secret_file.read_text().strip() not in html + result.output
    bad = runner.invoke(
        marks_app,
        [*args, "--secret-file", str(secret_file), "--html", str(tmp_path / "no" / "x.html")],
    )
    assert bad.exit_code == 2 and "x.html" in bad.output


def test_forensics_of_open_weights(secret_file: Path, tmp_path: Path) -> None:
    """--model reads a transformers model directory: a random tiny GPT-2 is not guilty."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=256,
        n_positions=64,
        n_embd=32,
        n_layer=1,
        n_head=2,
        bos_token_id=0,
        eos_token_id=0,
    )
    transformers.GPT2LMHeadModel(config).save_pretrained(tmp_path / "suspect")
    (tmp_path / "ours.txt").write_text("our marked answer, long enough to span chunks " * 4)
    args = ["forensics", str(tmp_path / "ours.txt"), "--scope", "cluster:c-9"]
    common = ["--secret-file", str(secret_file), "--model", str(tmp_path / "suspect")]
    result = runner.invoke(marks_app, [*args, *common])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)  # loading the model may report progress on stderr
    assert report["mode"] == "predictions" and report["suspect_tokens"] == 4 * 46
    assert report["trained_on_marked_text"] is False and report["pairs_distinct"] > 0
    missing = runner.invoke(
        marks_app, [*args, "--secret-file", str(secret_file), "--model", str(tmp_path / "no")]
    )
    assert missing.exit_code == 2 and "not a directory holding" in " ".join(missing.output.split())
    (tmp_path / "empty").mkdir()
    empty = runner.invoke(
        marks_app, [*args, "--secret-file", str(secret_file), "--model", str(tmp_path / "empty")]
    )
    assert empty.exit_code == 2 and "not a transformers causal LM" in " ".join(empty.output.split())
