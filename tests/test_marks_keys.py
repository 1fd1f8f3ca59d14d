"""Keys: derivation is stable and scoped, ids reveal nothing, secrets never leak."""

from __future__ import annotations

import logging
import pickle
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from distillguard.errors import DistillguardError
from distillguard.marks import (
    Detector,
    Keyring,
    MarkKeyError,
    MasterSecret,
    epoch_of,
    scope_for,
)

SECRET = b"0123456789abcdef0123456789abcdef-test-secret"
WHEN = datetime(2026, 5, 1, 12, tzinfo=UTC)


@pytest.fixture
def ring() -> Keyring:
    return Keyring(MasterSecret(SECRET), epoch_days=30, active_epochs=3)


def test_key_ids_are_pinned_and_scoped(ring: Keyring) -> None:
    epoch = ring.epoch(WHEN)
    assert epoch == 685
    a = ring.key_id("cluster:c-1", epoch)
    assert a == "3b9c5305378db5eb"  # the derivation is a format: other processes depend on it
    assert ring.key("cluster:c-1", epoch).word("gumbel") == 0xB8C9DEBBD81DED80
    others = {
        ring.key_id("cluster:c-2", epoch),
        ring.key_id("account:c-1", epoch),
        ring.key_id("cluster:c-1", epoch + 1),
        Keyring(MasterSecret(SECRET + b"x")).key_id("cluster:c-1", epoch),
    }
    assert a not in others and len(others) == 4


def test_model_server_resolves_the_same_key_from_the_id(ring: Keyring) -> None:
    key = ring.key("cluster:c-1", 684)
    resolved = ring.for_id(key.key_id)
    assert resolved == key
    assert resolved.word("gumbel") == key.word("gumbel")
    assert key.word("gumbel") != key.word("greenlist")
    assert resolved.scope is None and key.scope == "cluster:c-1"


def test_key_id_is_not_a_function_of_the_scope_alone(ring: Keyring) -> None:
    """Without the master secret nobody can map an id to a cluster (the old derivation,
    an HMAC under a public label, could be recomputed by anyone)."""
    import hmac

    public = hmac.new(b"distillguard/watermark-key-id", b"cluster:c-1", "sha256").hexdigest()
    assert ring.current_id("cluster:c-1", WHEN) != public[:16]


def test_keys_rotate_by_epoch_and_detection_covers_the_active_ones(ring: Keyring) -> None:
    now = ring.current_id("cluster:c-1", WHEN)
    later = ring.current_id("cluster:c-1", WHEN + timedelta(days=30))
    assert now != later
    keys = ring.candidates(["cluster:c-1", "cluster:c-2", "cluster:c-1"], WHEN)
    assert len(keys) == 6
    assert {k.epoch for k in keys} == {683, 684, 685}
    assert now in {k.key_id for k in keys}
    assert later not in {k.key_id for k in keys}


def test_scope_and_epoch_rules() -> None:
    assert scope_for(cluster_id="c-9", account_id="a-1") == "cluster:c-9"
    assert scope_for(cluster_id=None, account_id="a-1") == "account:a-1"
    with pytest.raises(MarkKeyError):
        scope_for()
    with pytest.raises(MarkKeyError, match="aware"):
        epoch_of(datetime(2026, 5, 1))
    assert epoch_of(datetime(1970, 1, 31, tzinfo=UTC), 30) == 1


@pytest.mark.parametrize("bad", ["cluster:", "tenant:x", "cluster: x"])
def test_bad_scopes_are_refused(ring: Keyring, bad: str) -> None:
    with pytest.raises(MarkKeyError, match="scope"):
        ring.key_id(bad, 1)


@pytest.mark.parametrize("bad", ["", "ABCDEF0123456789", "abc", "0123456789abcdefg"])
def test_malformed_key_ids_are_refused(ring: Keyring, bad: str) -> None:
    with pytest.raises(MarkKeyError, match="16 lowercase hex"):
        ring.for_id(bad)


def test_secret_loading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "secret"
    path.write_bytes(SECRET + b"\n")
    assert MasterSecret.from_file(path) == MasterSecret(SECRET)
    monkeypatch.setenv("DISTILLGUARD_MARK_SECRET", SECRET.decode())
    assert MasterSecret.from_env() == MasterSecret(SECRET)
    monkeypatch.delenv("DISTILLGUARD_MARK_SECRET")
    with pytest.raises(MarkKeyError, match="DISTILLGUARD_MARK_SECRET is not set"):
        MasterSecret.from_env()
    with pytest.raises(MarkKeyError, match="cannot read"):
        MasterSecret.from_file(tmp_path / "missing")
    assert MasterSecret.generate() != MasterSecret.generate()


def test_short_secret_is_refused_without_showing_it(tmp_path: Path) -> None:
    short = b"hunter2-short-secret"
    (tmp_path / "s").write_bytes(short)
    with pytest.raises(MarkKeyError) as caught:
        MasterSecret.from_file(tmp_path / "s")
    assert isinstance(caught.value, DistillguardError)
    assert "20 bytes" in str(caught.value) and "hunter2" not in str(caught.value)


def test_secrets_and_keys_never_show(ring: Keyring, caplog: pytest.LogCaptureFixture) -> None:
    master = MasterSecret(SECRET)
    key = ring.key("cluster:c-1", 684)
    material = key._material
    shown = [repr(master), str(master), repr(ring), repr(key), str(key)]
    detector = Detector([key], 256)
    shown.append(repr(detector))
    shown.append(str(detector.test([list(b"some text that is not marked at all")]).to_json()))
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("distillguard").info("keys %s %s %r", master, key, ring)
    shown.append(caplog.text)
    for text in shown:
        assert SECRET.decode() not in text
        assert material.hex() not in text and repr(material) not in text
    assert key.key_id in repr(key)
    for value in (master, key):
        with pytest.raises(TypeError, match="not pickled"):
            pickle.dumps(value)


def test_public_surface() -> None:
    """Changing what the marks package exports is a decision: this pins it."""
    import distillguard.marks as marks

    assert marks.__all__ == sorted(marks.__all__, key=lambda n: (not n.isupper(), n))
    assert set(marks.__all__) == {
        "ALPHA", "CONTEXT_WIDTH", "SCHEMES", "SECRET_ENV", "ByteTokenizer", "Detection",
        "Detector", "Emitted", "Finding", "GreenListGeneration", "GreenListSampler",
        "GumbelGeneration", "GumbelSampler", "HFTokenizer", "KeyEvidence", "Keyring",
        "MarkError", "MarkKey", "MarkKeyError", "MasterSecret", "NGram", "Pairs", "Scheme",
        "TokenError", "Tokenizer", "VocabPRF", "context_hash", "epoch_of", "greenlist_p",
        "gumbel_p", "investigate", "plain_sample", "scope_for", "splitmix", "PROBES",
        "CanaryFinding", "CanarySet", "Probe", "Reply", "at_least", "probe", "fingerprint",
        "render_evidence", "Predict", "hf_predict", "investigate_predictions", "TiktokenTokenizer",
    }  # fmt: skip
    for name in marks.__all__:
        assert hasattr(marks, name), name
