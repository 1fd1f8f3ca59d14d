"""Conditions in rule files: one small language, two executions.

A condition is a Python-syntax boolean expression over named columns, e.g.
``logprobs == true or top_logprobs >= 1`` or ``n > 1 and max_tokens_field != "max_tokens"``.
It is parsed once with ``ast`` and only these nodes are allowed: ``and``/``or``/``not``,
comparisons (``== != < <= > >= in``) between a column and a literal (number, string,
``true``/``false``/``null``, or a list of literals for ``in``), and parentheses. Anything else
is a ``ConfigError``. ``evaluate`` runs it on one row (the guard, per request); ``to_sql``
renders it for DuckDB over a whole table (the hunt). Null compares as false, both ways.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from ..errors import ConfigError

_LITERALS: Final = {"true": True, "false": False, "null": None}
_OPS: Final = {
    ast.Eq: "=",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.In: "IN",
}


Test = Callable[[Mapping[str, Any]], bool]


@dataclass(frozen=True, slots=True)
class Condition:
    source: str
    tree: ast.expr
    columns: frozenset[str]
    test: Test = field(compare=False, repr=False, default=lambda row: False)
    """The condition compiled to nested closures, literals resolved once (``evaluate``)."""

    def evaluate(self, row: Mapping[str, Any]) -> bool:
        return self.test(row)

    def to_sql(self) -> str:
        return _sql(self.tree)

    def to_ibis(self, table: Any) -> Any:
        """The condition as an Ibis boolean column over ``table`` (any Ibis backend)."""
        return _ibis(self.tree, table)


def parse(source: str, *, columns: frozenset[str] | None = None, where: str = "") -> Condition:
    """Parse and check a condition; ``columns`` limits the names it may use."""
    try:
        tree = ast.parse(source.strip(), mode="eval").body
        used: set[str] = set()
        _check(tree, used, source, where)
        test = _compile(tree)
    except SyntaxError as exc:
        raise ConfigError(f"{where}condition {source!r} is not valid: {exc.msg}") from None
    except (RecursionError, MemoryError):
        raise ConfigError(f"{where}condition {source[:80]!r}... is nested too deeply") from None
    if columns is not None and not used <= columns:
        unknown = ", ".join(sorted(used - columns))
        raise ConfigError(f"{where}condition {source!r} uses unknown column(s): {unknown}")
    return Condition(source, tree, frozenset(used), test)


def _literal(node: ast.expr) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float | str):
        return node.value
    if isinstance(node, ast.Name) and node.id in _LITERALS:
        return _LITERALS[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        value = _literal(node.operand)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return -value
    if isinstance(node, ast.List | ast.Tuple):
        return [_literal(item) for item in node.elts]
    raise ValueError("not a literal")


def _is_literal(node: ast.expr) -> bool:
    try:
        _literal(node)
    except ValueError:
        return False
    return True


def _check(node: ast.expr, used: set[str], source: str, where: str) -> None:
    def bad(message: str) -> ConfigError:
        return ConfigError(f"{where}condition {source!r}: {message}")

    if isinstance(node, ast.BoolOp):
        for value in node.values:
            _check(value, used, source, where)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        _check(node.operand, used, source, where)
    elif isinstance(node, ast.Compare):
        if len(node.ops) != 1 or type(node.ops[0]) not in _OPS:
            raise bad("use one comparison (== != < <= > >= in) at a time")
        left, right = node.left, node.comparators[0]
        if not isinstance(left, ast.Name) or left.id in _LITERALS:
            raise bad("the left side of a comparison must be a column name")
        if not _is_literal(right):
            raise bad("the right side of a comparison must be a literal")
        if isinstance(node.ops[0], ast.In) != isinstance(right, ast.List | ast.Tuple):
            raise bad("'in' takes a list, and only 'in' does")
        used.add(left.id)
    elif isinstance(node, ast.Name) and node.id not in _LITERALS:
        used.add(node.id)  # a boolean column on its own
    else:
        raise bad(f"{ast.unparse(node)!r} is not allowed here")


def _compile(node: ast.expr) -> Test:
    """The condition as one Python function over a row (null compares as false), built once:
    the guard evaluates every policy and parameter condition per request, and walking a tree
    (or a tree of closures) each time cost more than the rest of ``decide``.

    The function's source is generated from the checked tree: column names are identifiers
    and literals are passed in as constants, never spliced in as text. An ordering
    comparison is made inline when both sides are built-in numbers and otherwise goes through
    a helper, since a string against a number raises ``TypeError`` in Python (false here, as
    in SQL after a cast); ``==``, ``!=`` and ``in`` cannot raise.
    """
    constants: dict[str, Any] = {"_order": _order, "_numbers": (int, float, bool)}
    body = _python(node, constants)
    namespace: dict[str, Any] = {}
    exec(f"def test(row):\n    get = row.get\n    return {body}", constants, namespace)
    test: Test = namespace["test"]
    return test


def _python(node: ast.expr, constants: dict[str, Any]) -> str:
    if isinstance(node, ast.BoolOp):
        joiner = " and " if isinstance(node.op, ast.And) else " or "
        return "(" + joiner.join(_python(v, constants) for v in node.values) + ")"
    if isinstance(node, ast.UnaryOp):
        return f"not {_python(node.operand, constants)}"  # binds looser than what it negates
    if isinstance(node, ast.Name):
        return f"get({node.id!r}) is True"
    assert isinstance(node, ast.Compare)  # parse() admits nothing else
    column = node.left.id  # type: ignore[attr-defined]
    literal = _literal(node.comparators[0])
    if literal is None:
        return "False"
    name = f"_c{len(constants)}"
    op = type(node.ops[0])
    if op is ast.In:
        constants[name] = tuple(literal)
        return f"((v := get({column!r})) is not None and v in {name})"
    constants[name] = literal
    if op is ast.Eq:
        return f"((v := get({column!r})) is not None and v == {name})"
    if op is ast.NotEq:
        return f"((v := get({column!r})) is not None and v != {name})"
    constants[f"{name}op"] = _ORDERING[op]
    if isinstance(literal, int | float):  # the common case, compared inline
        return (
            f"(v {_OPS[op]} {name} if type(v := get({column!r})) in _numbers"
            f" else _order(v, {name}op, {name}))"
        )
    return f"_order(get({column!r}), {name}op, {name})"


def _order(value: Any, compare: Callable[[Any, Any], Any], literal: Any) -> bool:
    if value is None:
        return False
    try:
        return bool(compare(value, literal))
    except TypeError:  # a string compared with a number: false, as in SQL after a cast
        return False


_ORDERING: Final[dict[type, Callable[[Any, Any], Any]]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}


def _sql_literal(value: Any) -> str:
    if value is True:
        return "TRUE"
    if value is False:
        return "FALSE"
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, list):
        return "(" + ", ".join(_sql_literal(v) for v in value) + ")"
    return repr(value)


def _sql(node: ast.expr) -> str:
    if isinstance(node, ast.BoolOp):
        joiner = " AND " if isinstance(node.op, ast.And) else " OR "
        return "(" + joiner.join(_sql(v) for v in node.values) + ")"
    if isinstance(node, ast.UnaryOp):
        return f"(NOT {_sql(node.operand)})"
    if isinstance(node, ast.Name):
        return f'coalesce("{node.id}" = TRUE, FALSE)'
    assert isinstance(node, ast.Compare)  # parse() admits nothing else
    column = node.left.id  # type: ignore[attr-defined]
    literal = _literal(node.comparators[0])
    if literal is None:
        return "FALSE"
    return f'coalesce("{column}" {_OPS[type(node.ops[0])]} {_sql_literal(literal)}, FALSE)'


def _ibis(node: ast.expr, table: Any) -> Any:
    import ibis

    if isinstance(node, ast.BoolOp):
        parts = [_ibis(v, table) for v in node.values]
        result = parts[0]
        for part in parts[1:]:
            result = (result & part) if isinstance(node.op, ast.And) else (result | part)
        return result
    if isinstance(node, ast.UnaryOp):
        return ~_ibis(node.operand, table)
    if isinstance(node, ast.Name):
        return table[node.id].fill_null(False)
    assert isinstance(node, ast.Compare)  # parse() admits nothing else
    column = table[node.left.id]  # type: ignore[attr-defined]
    literal = _literal(node.comparators[0])
    if literal is None:
        return ibis.literal(False)
    op = node.ops[0]
    if isinstance(op, ast.In):
        compared = column.isin(literal)
    elif isinstance(op, ast.Eq):
        compared = column == literal
    elif isinstance(op, ast.NotEq):
        compared = column != literal
    elif isinstance(op, ast.Lt):
        compared = column < literal
    elif isinstance(op, ast.LtE):
        compared = column <= literal
    elif isinstance(op, ast.Gt):
        compared = column > literal
    else:
        compared = column >= literal
    return compared.fill_null(False)
