"""The clauses of each cohort's rule, read through scoring's template parser.

Movement reasons and boundary review both need the rule split into its top-level AND
clauses, with, for a simple comparison (``column >= $param``), the column, the operator and
the threshold value. Parsing and checking belong to ``scoring``; this module only reads the
parsed tree and evaluates every clause of every cohort in one DuckDB query per cohort.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from segflow.settings import Settings

OPS = {"GT": ">", "GTE": ">=", "LT": "<", "LTE": "<=", "EQ": "=", "NEQ": "<>"}
FLIP = {">": "<", ">=": "<=", "<": ">", "<=": ">=", "=": "=", "<>": "<>"}


@dataclass(frozen=True)
class Clause:
    id: str  # c1..cn in rule order
    text: str  # the clause with its param values shown, e.g. "recency_days >= 90"
    sql: str  # DuckDB SQL with params as $<prefix><name> placeholders
    columns: tuple[str, ...] = ()  # every column the clause reads
    column: str | None = None  # set for "column <op> threshold" clauses
    op: str | None = None
    threshold: float | None = None


@dataclass(frozen=True)
class CohortRule:
    spec: object  # segflow.scoring.campaigns.CohortSpec (name, template, priority, split_by, ...)
    title: str
    owners: tuple[str, ...]
    clauses: tuple[Clause, ...]
    params: dict  # bound values, keys carry the prefix used in Clause.sql


def load_rules(settings: Settings, campaign: str, columns: dict[str, str],
               overrides: dict | None = None) -> dict[str, CohortRule]:
    """Rule of every cohort of the campaign (scoring resolves params), keyed by cohort name.

    ``columns`` are the run's feature-frame columns: the rules are checked against what the
    run actually had, not against today's feature catalogue.
    """
    from segflow.scoring.resolve import resolve_campaign

    resolved = resolve_campaign(settings, campaign, overrides, columns=lambda _e: columns)
    return {b.key: _rule(b, f"p{i}_") for i, b in enumerate(resolved.cohorts)}


def _rule(bound, prefix: str) -> CohortRule:
    from segflow.scoring.predicate import columns_used, compile_sql, display_sql, split_clauses

    values = bound.params
    clauses = []
    for i, node in enumerate(split_clauses(bound.tree), start=1):
        column, op, threshold = _comparison(node, values)
        clauses.append(Clause(id=f"c{i}", text=display_sql(node, values),
                              sql=compile_sql(node, prefix), columns=tuple(columns_used(node)),
                              column=column, op=op, threshold=threshold))
    return CohortRule(spec=bound.spec, title=bound.template.title,
                      owners=tuple(bound.template.owners), clauses=tuple(clauses),
                      params={f"{prefix}{k}": v for k, v in values.items()})


def _comparison(node, values: dict) -> tuple[str | None, str | None, float | None]:
    """(column, op, number) when the clause is ``column op number`` in either order."""
    from sqlglot import exp

    while isinstance(node, exp.Paren):
        node = node.this
    op = OPS.get(type(node).__name__.upper())
    if op is None:
        return None, None, None
    left, right = node.this, node.expression
    if isinstance(right, exp.Column) and not isinstance(left, exp.Column):
        left, right, op = right, left, FLIP[op]
    if not isinstance(left, exp.Column):
        return None, None, None
    number = _number(right, values)
    return (left.name, op, number) if number is not None else (None, None, None)


def _number(node, values: dict) -> float | None:
    from sqlglot import exp

    if isinstance(node, exp.Placeholder):
        value = values.get(node.name)
    elif isinstance(node, exp.Literal) and not node.is_string:
        value = float(node.this)
    elif isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal):
        value = -float(node.this.this)
    else:
        return None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None


def truth_sql(rule: CohortRule, view: str) -> str:
    """SELECT entity_id, c1..cn (NULL counts as false) over ``view``; params stay bound."""
    cols = ", ".join(f"coalesce(({c.sql}), false) AS {c.id}" for c in rule.clauses)
    return f"SELECT entity_id, {cols} FROM {view}"


def bind(con, sql: str, params: dict):
    """Execute with only the params the SQL uses (DuckDB refuses unused named params)."""
    used = {k: v for k, v in params.items() if re.search(rf"\${re.escape(k)}\b", sql)}
    return con.execute(sql, used) if used else con.execute(sql)
