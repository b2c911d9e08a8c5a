"""The ``where`` predicate: parsed with sqlglot (DuckDB dialect), checked, split, compiled.

A predicate is data a campaign analyst writes, so it is treated as untrusted: exactly one
boolean expression, known columns only, an allow-list of scalar functions, no sub-queries
and no table functions or file readers. Params stay placeholders all the way to DuckDB,
where they are bound; compiling only renames them so several templates share one query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from segflow.suggest import nearest

# Scalar functions a predicate may call (sqlglot expression keys and plain names).
ALLOWED_FUNCTIONS = frozenset({
    "coalesce", "abs", "least", "greatest", "lower", "upper", "length", "trim", "round",
    "floor", "ceil", "sqrt", "ln", "log", "exp", "pow", "power", "sign", "nullif", "if",
    "case", "cast", "trycast", "datediff", "dateadd", "datesub", "date_diff", "date_add",
    "date_sub", "datetrunc", "date_trunc", "timestamptrunc", "extract", "year", "month", "day",
    "dayofweek", "currentdate", "currenttimestamp", "todays", "todate", "strtodate",
    "startswith", "starts_with", "endswith", "ends_with", "contains", "arraycontains",
    "list_contains", "arraysize", "len", "concat", "substring", "regexplike",
    "regexp_matches", "interval", "mod", "greatest_common", "isnan", "isinf",
    # DuckDB's own: fine on engine: duckdb; `templates check` says they do not translate to
    # Spark SQL (segflow.dialects) for a project on engine: spark
    "strftime", "timetostr", "regexp_full_match", "regexpfullmatch", "list_aggregate",
})
# Operators and leaves a predicate may contain; functions are checked by name against
# ALLOWED_FUNCTIONS; anything else (Select, Subquery, Table, Exists, Window, ...) is refused.
STRUCTURAL = (
    exp.Identifier, exp.Literal, exp.Boolean, exp.Null, exp.And, exp.Or, exp.Not, exp.Paren,
    exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ,
    exp.Add, exp.Sub, exp.Mul, exp.Div, exp.IntDiv, exp.Mod, exp.DPipe, exp.Like, exp.ILike,
    exp.In, exp.Between, exp.Is, exp.Var, exp.DataType, exp.Tuple, exp.Neg, exp.Array,
    exp.Interval, exp.Any, exp.Case, exp.If, exp.Cast, exp.TryCast,
)
TABLE_FUNCTION_HINT = re.compile(r"^(read_|scan|glob|query|sql|from|copy|attach|install|load)",
                                 re.I)


@dataclass(frozen=True)
class Issue:
    """A problem in a predicate at a 1-based line of the predicate text (None if unknown)."""

    line: int | None
    problem: str


def parse(sql: str) -> tuple[exp.Expression | None, list[Issue]]:
    """One expression or the issues that prevent it (syntax, a second statement)."""
    try:
        statements = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    except sqlglot.errors.ParseError as err:
        first = err.errors[0] if err.errors else {}
        return None, [Issue(first.get("line"), f"cannot parse predicate: "
                            f"{first.get('description', err)}")]
    if len(statements) != 1:
        line = sql[: sql.find(";")].count("\n") + 1 if ";" in sql else None
        return None, [Issue(line, f"predicate must be one boolean expression, found "
                           f"{len(statements)} statements (remove the ';' and what follows)")]
    return statements[0], []


def check(tree: exp.Expression, sql: str, columns: dict[str, str],
          params: dict[str, object]) -> list[Issue]:
    """Every problem of a parsed predicate against known columns and declared params."""
    if isinstance(tree, exp.Query) or not isinstance(tree, exp.Condition):
        return [Issue(1, "predicate must be a boolean expression, not a statement")]
    issues: list[Issue] = []
    refused: set[int] = set()

    def prune(node) -> bool:
        return id(node) in refused

    for node in tree.walk(prune=prune):
        found = _check_node(node, sql, columns, params)
        if found:
            refused.add(id(node))  # one message per refused node, not one per child
            issues.extend(found)
    return issues


def _check_node(node, sql, columns, params) -> list[Issue]:
    line = _line(node, sql)
    if isinstance(node, exp.Subquery | exp.Select | exp.Exists | exp.Query):
        return [Issue(line, "sub-queries are not allowed in a predicate")]
    if isinstance(node, exp.Column):
        if node.table:
            return [Issue(line, f"qualified column '{node.sql('duckdb')}' is not allowed; "
                                "use the bare feature name")]
        if node.name not in columns:
            return [Issue(line, f"unknown column '{node.name}'{nearest(node.name, columns)}")]
        return []
    if isinstance(node, exp.Placeholder):
        if not node.name or node.name.isdigit():
            return [Issue(line, "positional parameters are not allowed; use $name")]
        if node.name not in params:
            return [Issue(line, f"param ${node.name} is not declared under params"
                                f"{nearest(node.name, params)}")]
        return []
    if isinstance(node, STRUCTURAL):
        return []
    if isinstance(node, exp.Func):
        return _check_function(node, line)
    return [Issue(line, f"'{node.sql('duckdb')[:60]}' ({type(node).__name__}) is not "
                        "allowed in a predicate")]


def _check_function(node: exp.Func, line: int | None) -> list[Issue]:
    name = node.name.lower() if isinstance(node, exp.Anonymous) else node.key.lower()
    shown = node.name if isinstance(node, exp.Anonymous) else node.sql_name().lower()
    if name in ALLOWED_FUNCTIONS or shown in ALLOWED_FUNCTIONS:
        return []
    if TABLE_FUNCTION_HINT.match(shown) or TABLE_FUNCTION_HINT.match(name):
        return [Issue(line, f"function '{shown}' reads data outside the feature frame and is "
                            "not allowed (no table functions or file readers)")]
    return [Issue(line, f"function '{shown}' is not allowed or unknown"
                        f"{nearest(shown.lower(), ALLOWED_FUNCTIONS)}")]


def _line(node: exp.Expression, sql: str) -> int | None:
    """The predicate line of a node: from sqlglot's token meta, else by finding its text."""
    for candidate in (node, *node.find_all(exp.Identifier, exp.Literal)):
        start = getattr(candidate, "meta", {}).get("start")
        if start is not None:  # sqlglot's own line count can be one off after a newline
            return sql[:start].count("\n") + 1
    needle = f"${node.name}" if isinstance(node, exp.Placeholder) else None
    if needle and needle in sql:
        return sql[: sql.find(needle)].count("\n") + 1
    return None


def columns_used(tree: exp.Expression) -> list[str]:
    return sorted({c.name for c in tree.find_all(exp.Column)})


def params_used(tree: exp.Expression) -> list[str]:
    return sorted({p.name for p in tree.find_all(exp.Placeholder)})


def split_clauses(tree: exp.Expression) -> list[exp.Expression]:
    """Top-level AND operands, left to right (parentheses around the whole are dropped)."""
    while isinstance(tree, exp.Paren):
        tree = tree.this
    return list(tree.flatten()) if isinstance(tree, exp.And) else [tree]


def compile_sql(tree: exp.Expression, prefix: str) -> str:
    """DuckDB SQL of a checked predicate with every ``$p`` renamed ``$<prefix>p``."""
    def rename(node):
        if isinstance(node, exp.Placeholder):
            return exp.Placeholder(this=f"{prefix}{node.name}")
        return node
    return tree.copy().transform(rename).sql("duckdb")


def display_sql(tree: exp.Expression, values: dict[str, object]) -> str:
    """The predicate as a reader sees it, params shown as their values (never executed)."""
    from segflow.scoring.params import render

    def show(node):
        if isinstance(node, exp.Placeholder) and node.name in values:
            return exp.var(render(values[node.name]))
        return node
    return tree.copy().transform(show).sql("duckdb")
