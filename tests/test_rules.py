"""The rule corpus: every rule loads, ids are unique, fixtures pass in both engines, and the
per-request engine and the column engine agree on real prompts."""

from __future__ import annotations

import gzip
from importlib import resources
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from distillguard.errors import ConfigError
from distillguard.signals import OnlineMatcher, load, match_columns
from distillguard.signals.expr import parse
from distillguard.signals.rules import load_file

RULES = load()


def test_the_corpus_has_every_kind_of_rule() -> None:
    intents = {r.sets for r in RULES.text if not r.sets.startswith("cap:")}
    assert intents == {
        "cot_elicitation",
        "reasoning_reconstruction",
        "rubric_grading",
        "censorship_rewrite",
        "synthetic_data",
    }
    assert len({lang for r in RULES.text for lang in r.languages}) >= 5
    assert {r.name for r in RULES.param} >= {
        "logprobs_requested",
        "multiple_completions",
        "saturated_max_tokens",
        "maximal_thinking_budget",
    }
    assert RULES.correlation
    ids = [rule.id for rule in RULES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("rule", RULES.text, ids=lambda r: r.id)
def test_text_rule_fixtures_in_both_engines(rule: object) -> None:
    from distillguard.signals.rules import TextRule

    assert isinstance(rule, TextRule)
    online = OnlineMatcher([rule])
    texts = list(rule.fire) + list(rule.silent)
    expected = [True] * len(rule.fire) + [False] * len(rule.silent)
    column = pa.array(texts)
    empty = pa.array([""] * len(texts))
    prompt, system = (column, empty) if rule.target == "prompt" else (empty, column)
    batch = [bool(ids) for ids in match_columns([rule], prompt, system).to_pylist()]
    per_request = [
        bool(online.match(t, "") if rule.target == "prompt" else online.match("", t)) for t in texts
    ]
    for text, want, got_batch, got_online in zip(texts, expected, batch, per_request, strict=True):
        assert got_online == want, f"{rule.id} per request on {text!r}"
        assert got_batch == want, f"{rule.id} on columns on {text!r}"


@pytest.mark.parametrize("rule", RULES.param + RULES.correlation, ids=lambda r: r.id)
def test_condition_fixtures_in_both_engines(rule: object) -> None:
    import duckdb

    fire = rule.fire  # type: ignore[attr-defined]
    silent = rule.silent  # type: ignore[attr-defined]
    condition = rule.condition  # type: ignore[attr-defined]
    for row in fire:
        assert condition.evaluate(row), (rule, row)
    for row in silent:
        assert not condition.evaluate(row), (rule, row)
    # The same rows through DuckDB: one table holding every column the condition uses.
    rows = list(fire) + list(silent)
    columns = sorted(condition.columns | {k for row in rows for k in row})
    table = pa.table({c: [row.get(c) for row in rows] for c in columns})
    con = duckdb.connect()
    con.register("t", table)
    got = [r[0] for r in con.execute(f"SELECT {condition.to_sql()} FROM t").fetchall()]
    assert got == [True] * len(fire) + [False] * len(silent)


def _corpus_prompts() -> list[str]:
    folder = resources.files("distillguard") / "simulate" / "corpus"
    prompts: list[str] = []
    for entry in folder.iterdir():
        if entry.name.endswith(".jsonl.gz"):
            with gzip.open(entry.open("rb")) as stream:
                for line in stream.read().split(b"\n"):
                    if line.strip():
                        record = orjson.loads(line)
                        text = record.get("text") if isinstance(record, dict) else None
                        if isinstance(text, str):
                            prompts.append(text)
    return prompts


def test_engines_agree_on_real_prompts() -> None:
    prompts = _corpus_prompts()
    if not prompts:
        pytest.skip("the derived corpus is not built")
    online = OnlineMatcher(RULES.text)
    column = pa.array(prompts)
    batch = match_columns(RULES.text, column, column).to_pylist()
    per_request = [online.match(p, p) for p in prompts]
    disagreements = [
        (p[:80], a, b) for p, a, b in zip(prompts, per_request, batch, strict=True) if a != b
    ]
    assert not disagreements, disagreements[:5]
    fired = sum(bool(ids) for ids in batch)
    assert 0 < fired < len(prompts)


def test_rule_errors_name_file_line_and_field(tmp_path: Path) -> None:
    source = """
[[rule]]
id = "DG-INT-9001"
name = "bad_pattern"
kind = "text"
sets = "cot_elicitation"
target = "prompt"
severity = "low"
languages = ["en"]
description = "uses a word boundary"
patterns = ["\\\\bstep\\\\b"]
fire = ["step"]
silent = ["x"]
"""
    with pytest.raises(ConfigError) as info:
        load_file(tmp_path / "bad.toml", source)
    assert info.value.file is not None and info.value.file.endswith("bad.toml")
    assert info.value.line == 3
    assert "engines read differently" in str(info.value)
    with pytest.raises(ConfigError, match="sets"):
        fixed = source.replace("\\\\bstep\\\\b", "step")
        load_file("x.toml", fixed.replace('sets = "cot_elicitation"', 'sets = "mind_reading"'))
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_file("x.toml", "[[rule]\nid=")


def test_conditions_reject_anything_but_comparisons() -> None:
    for bad in ("__import__('os')", "n + 1 > 2", "n > m", "f(n)", "n > 1 > 0", "n in 3"):
        with pytest.raises(ConfigError):
            parse(bad)
    with pytest.raises(ConfigError, match="unknown column"):
        parse("nope > 1", columns=frozenset({"n"}))
    condition = parse("not (n > 1) and model in ['a', 'b']")
    assert condition.evaluate({"n": 1, "model": "a"})
    assert not condition.evaluate({"n": 2, "model": "a"})
    assert not condition.evaluate({"n": None, "model": "c"})
    assert pc is not None


def test_every_rule_still_fires_after_hostile_texts() -> None:
    """A rule set's DFA reports "no match" when its cache thrashes: after thousands of long,
    distinct, random texts (which fill and reset the cache), every rule's fixtures still fire,
    also when they sit behind a megabyte of noise."""
    import random

    online = OnlineMatcher(RULES.text)
    noise = random.Random(7)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789 \n.,;:!?ßçøπ字词"
    for _ in range(2000):
        text = "".join(noise.choices(alphabet, k=3000))
        online.match(text, text[::-1])
    padding = "".join(noise.choices(alphabet, k=1 << 20))
    for rule in RULES.text:
        for text in rule.fire:
            hostile = text + padding if len(text) < 2000 else text
            got = online.match(hostile, "") if rule.target == "prompt" else online.match("", text)
            assert rule.id in got, (rule.id, text[:80])
