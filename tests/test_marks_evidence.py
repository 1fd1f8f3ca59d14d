"""The evidence page: made from the JSON report alone, escaped, self-contained, secret-free."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np

from distillguard.marks import Emitted, GumbelSampler
from distillguard.marks.evidence import fingerprint, render
from distillguard.marks.forensics import investigate
from marks_world import RING, VOCAB, model, prompts

HOSTILE = RING.key("cluster:<script>alert(1)</script>", 3)
KEYS = [RING.key("cluster:c-1", 3), HOSTILE]


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.links += [v or "" for k, v in attrs if k in ("src", "href")]


def page() -> tuple[dict[str, object], str]:
    sampler = GumbelSampler(HOSTILE, VOCAB, context_width=2)
    rng = np.random.default_rng(4)
    texts = [model().generate_marked(list(p), 150, sampler.start(rng)) for p in prompts(6, 6, 4)]
    emitted = Emitted(VOCAB, 2)
    emitted.add(HOSTILE.key_id, texts)
    report = investigate(texts, KEYS, emitted, vocab_size=VOCAB, context_width=2).to_json()
    return report, render(report)


def test_the_page_shows_the_finding_keys_counts_procedure_and_inputs() -> None:
    report, html = page()
    assert report["trained_on_marked_text"]
    assert "trained on our watermarked text" in html
    assert "Bonferroni over 4 tests" in html
    for key in KEYS:
        assert key.key_id in html
    for name, value in report["inputs"].items():  # type: ignore[attr-defined]
        assert name in html and value["sha256"] in html
    assert html.count("<li>") == len(report["procedure"])  # type: ignore[arg-type]
    assert f"{report['pairs_distinct']:,}" in html
    corrected = min(1.0, 4 * min(e["p_value"] for e in report["evidence"]))  # type: ignore[attr-defined]
    assert f"{corrected:.3g}" in html


def test_the_page_is_escaped_self_contained_and_secret_free() -> None:
    _, html = page()
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    parser = Tags()
    parser.feed(html)
    assert "script" not in parser.tags and parser.links == []
    assert not re.search(r"https?://", html)
    assert "default-src 'none'" in html
    for key in KEYS:  # neither the master secret nor any key word appears
        for scheme in ("gumbel", "greenlist"):
            word = key.word(scheme)
            assert str(word) not in html and f"{word:016x}" not in html
    assert "marks-tests-secret" not in html


def test_fingerprints_identify_inputs_without_showing_them() -> None:
    a = fingerprint([[1, 2, 3], [4]])
    assert a == fingerprint([np.array([1, 2, 3]), np.array([4])])
    assert a["texts"] == 2 and a["tokens"] == 4
    assert a["sha256"] != fingerprint([[1, 2], [3, 4]])["sha256"]  # boundaries count
