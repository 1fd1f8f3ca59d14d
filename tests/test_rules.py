"""The rule corpus: every rule loads, ids are unique, fixtures pass in both engines, and the
per-request engine and the column engine agree on real prompts."""

from __future__ import annotations

import ast
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from distillguard.corpus import FILES, answer_texts, lines
from distillguard.errors import ConfigError
from distillguard.signals import OnlineMatcher, load, match_columns
from distillguard.signals.expr import parse
from distillguard.signals.rules import TextRule, load_file

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
    """Every text of the shipped corpus: prompts and answers (tool sets have none)."""
    texts = (record.get("text") for name in FILES for record in lines(name))
    return [text for text in texts if isinstance(text, str)]


def test_engines_agree_on_real_prompts() -> None:
    prompts = _corpus_prompts()
    assert len(prompts) > 1000  # the shipped corpus, read whole
    online = OnlineMatcher(RULES.text)
    column = pa.array(prompts)
    batch = match_columns(RULES.text, column, column).to_pylist()
    per_request = [online.match(p, p) for p in prompts]
    disagreements = [
        (p[:80], a, b) for p, a, b in zip(prompts, per_request, batch, strict=True) if a != b
    ]
    assert not disagreements, disagreements[:5]
    # Warming a matcher up (as the guard does at start) builds states, never changes results.
    warmed = OnlineMatcher(RULES.text)
    warmed.warm(answer_texts())
    assert [warmed.match(p, p) for p in prompts] == per_request
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


def _random_condition(rng: random.Random, wrong: list[str], depth: int = 0) -> str:
    """A random condition over a (number), b (string), c (boolean), with literals of the
    column's type or, now and then, of the wrong one (then noted in ``wrong``)."""
    if depth < 3 and rng.random() < 0.5:
        if rng.random() < 0.25:
            return f"not ({_random_condition(rng, wrong, depth + 1)})"
        joiner = rng.choice([" and ", " or "])
        parts = [_random_condition(rng, wrong, depth + 1) for _ in range(rng.randint(2, 3))]
        return "(" + joiner.join(parts) + ")"
    column = rng.choice(["a", "b", "c"])
    if column == "c" and rng.random() < 0.5:
        return "c"
    literals = {"a": ["0", "2", "-1", "2.5"], "b": ['"x"', '"y"', "'z'"], "c": ["true", "false"]}
    every = [x for v in literals.values() for x in v]
    literal = rng.choice(literals[column] if rng.random() < 0.85 else every)
    if literal not in literals[column]:
        wrong.append(literal)
    if rng.random() < 0.05:
        literal = "null"
    op = rng.choice(["==", "!=", "<", "<=", ">", ">=", "in"])
    if op == "in":
        literal = "[" + ", ".join(rng.sample(literals[column], 2)) + "]"
    return f"{column} {op} {literal}"


def _reference(node: ast.expr, row: dict[str, object]) -> bool:
    """The conditions' semantics, walked over the tree: null compares as false, and so does
    a comparison Python cannot make (a string with a number)."""
    if isinstance(node, ast.BoolOp):
        values = [_reference(v, row) for v in node.values]
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.UnaryOp):
        return not _reference(node.operand, row)
    if isinstance(node, ast.Name):
        return row.get(node.id) is True
    assert isinstance(node, ast.Compare) and isinstance(node.left, ast.Name)
    value = row.get(node.left.id)
    literal = ast.literal_eval(
        ast.unparse(node.comparators[0])
        .replace("true", "True")
        .replace("false", "False")
        .replace("null", "None")
    )
    if value is None or literal is None:
        return False
    try:  # Python's own comparison, compiled from the condition's operator
        return bool(
            eval(
                compile(_comparison(node.ops[0]), "<reference>", "eval"),
                {"value": value, "literal": literal},
            )
        )
    except TypeError:
        return False


def _comparison(op: ast.cmpop) -> ast.Expression:
    """``value OP literal`` as an expression Python compiles."""
    compare = ast.Compare(ast.Name("value", ast.Load()), [op], [ast.Name("literal", ast.Load())])
    return ast.fix_missing_locations(ast.Expression(compare))


def test_conditions_agree_with_the_reference_and_with_duckdb() -> None:
    """Random conditions on random rows: the compiled per-row function gives what a walk of
    the tree gives (wrongly typed values and nulls included), and on rows whose columns have
    one type each, what DuckDB gives for ``to_sql``."""
    import duckdb

    rng = random.Random(5)
    values: dict[str, list[Any]] = {
        "a": [0, 1, 2, 2.5, -3, None],
        "b": ["x", "y", "z", "", None],
        "c": [True, False],
    }
    rows = [{k: rng.choice(v) for k, v in values.items()} for _ in range(60)]
    typed = pa.table({k: [row[k] for row in rows] for k in values})
    mixed = [{**row, "a": rng.choice(["2", 1, None])} for row in rows[:20]]
    con = duckdb.connect()
    con.register("t", typed)
    checked = 0
    for _ in range(300):
        wrong: list[str] = []
        source = _random_condition(rng, wrong)
        condition = parse(source)
        for row in rows + mixed:
            assert condition.evaluate(row) is _reference(condition.tree, row), (source, row)
        if wrong:
            # Known difference: DuckDB casts a wrongly typed literal where it can ('y' to
            # true, '2' to 2) and Python does not. Rule files compare like with like.
            continue
        got = [r[0] for r in con.execute(f"SELECT {condition.to_sql()} FROM t").fetchall()]
        assert got == [condition.evaluate(row) for row in rows], source
        checked += 1
    assert checked > 100


def test_conditions_nested_too_deeply_are_config_errors() -> None:
    assert parse("not " * 500 + "x").evaluate({"x": True})
    for source in ("not " * 5000 + "x", "(" * 300 + "x" + ")" * 300, " and ".join(["x"] * 20000)):
        try:
            condition = parse(source)
        except ConfigError:
            continue
        assert condition.evaluate({"x": True})  # what Python compiles must still evaluate


def test_patterns_with_and_without_gaps_fire_alike_in_both_engines() -> None:
    """Patterns with bounded gaps run through RE2's filter, the others as one set: a rule
    whose patterns are split between the two, a rule of gap patterns without a literal atom
    (the filter must run them on every text), and one with none, agree with Arrow's RE2."""

    def rule(rule_id: str, *patterns: str) -> TextRule:
        return TextRule(
            rule_id, rule_id, "", "low", "cot_elicitation", "prompt", patterns, ("en",), (), ()
        )

    rules = [
        rule("T-1", r"rewrite[^.]{0,40}censor", r"step by step"),
        rule("T-2", r"\$[^$]{1,12}\$", r"[a-z]{0,3}q"),
        rule("T-3", r"plain words"),
    ]
    texts = [
        "please rewrite this so the censor lets it through",
        "rewrite this. the censor",  # the gap may not cross a full stop
        "go step by step",
        "cost $x+y$ here",
        "a $" + "x" * 20 + "$ too long",
        "aq",
        "plain words only",
        "nothing at all",
        "",
    ]
    online = OnlineMatcher(rules)
    column = pa.array(texts)
    batch = match_columns(rules, column, pa.array([""] * len(texts))).to_pylist()
    assert [online.match(t) for t in texts] == batch
    assert batch[:4] == [["T-1"], [], ["T-1"], ["T-2"]]
    assert batch[4:] == [[], ["T-2"], ["T-3"], [], []]
