"""The clauses of each cohort's rule, read through scoring's template parser.

Movement reasons and boundary review both need the rule split into its top-level AND
clauses, with, for a simple comparison (``column >= $param``), the column, the operator and
the threshold value. Parsing and checking belong to ``scoring``; this module only reads the
parsed tree; ``segflow.governance.reasons`` evaluates the clauses of every cohort.
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
    column: str | None = None  # set for "column <op> threshold" and BETWEEN clauses
    op: str | None = None
    threshold: float | None = None
    bands: tuple[tuple[str, float], ...] = ()  # (op, threshold) pairs boundary review bands


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
        try:
            band_column, bands = band_points(node, values)
        except NotBandable:  # templates check says so; the clause is not banded
            band_column, bands = None, ()
        clauses.append(Clause(id=f"c{i}", text=display_sql(node, values),
                              sql=compile_sql(node, prefix), columns=tuple(columns_used(node)),
                              column=column or band_column, op=op, threshold=threshold,
                              bands=bands))
    return CohortRule(spec=bound.spec, title=bound.template.title,
                      owners=tuple(bound.template.owners), clauses=tuple(clauses),
                      params={f"{prefix}{k}": v for k, v in values.items()})


ORDERING = (">", ">=", "<", "<=")  # the comparisons a boundary band applies to
ARITHMETIC = {"Add": float.__add__, "Sub": float.__sub__, "Mul": float.__mul__,
              "Div": float.__truediv__}


class NotBandable(ValueError):
    """Why a clause's threshold is not one number boundary review can put a band around."""


def _comparison(node, values: dict) -> tuple[str | None, str | None, float | None]:
    """(column, op, number) when the clause is ``column op threshold`` in either order, the
    threshold being a number, a param or arithmetic of them (``$min_spend * $fx``)."""
    try:
        return band_target(node, values)
    except NotBandable:
        return None, None, None


def _shown(node, values: dict) -> str:
    from segflow.scoring.predicate import display_sql

    return display_sql(node, values)


def band_target(node, values: dict) -> tuple[str | None, str | None, float | None]:
    """(column, op, threshold) of a comparison clause; (None, None, None) for a clause that
    is no comparison (``IN``, ``AND``, ``BETWEEN``, a function); ``NotBandable`` saying why
    for an ordering comparison (``>``, ``<=``) whose threshold is not one number."""
    from sqlglot import exp

    node = _bare(node)
    op = OPS.get(type(node).__name__.upper())
    if op is None:
        return None, None, None
    left, right = node.this, node.expression
    if _reads_column(right) and not _reads_column(left):
        left, right, op = right, left, FLIP[op]
    if not _reads_column(left):
        return None, None, None
    if not isinstance(_bare(left), exp.Column):
        if op not in ORDERING:
            return None, None, None
        raise NotBandable(f"its measured side `{_shown(left, values)}` is not a plain "
                          "column: compute it as a feature to band it")
    if _reads_column(right):
        if op not in ORDERING:
            return None, None, None
        raise NotBandable(f"it compares two columns ({_bare(left).name} against "
                          f"`{_shown(right, values)}`): the threshold differs for every entity")
    try:
        return _bare(left).name, op, threshold_value(right, values)
    except NotBandable:
        if op not in ORDERING:
            return None, None, None
        raise


def band_points(node, values: dict) -> tuple[str | None, tuple[tuple[str, float], ...]]:
    """The column and the (op, threshold) pairs boundary review bands: one for an ordering
    comparison, both ends of a ``BETWEEN``; (None, ()) for a clause without a threshold;
    ``NotBandable`` saying why for an ordering clause that has one it cannot evaluate."""
    from sqlglot import exp

    node = _bare(node)
    if isinstance(node, exp.Between):
        measured, ends = node.this, (node.args["low"], node.args["high"])
        if not _reads_column(measured):
            return None, ()
        if not isinstance(_bare(measured), exp.Column):
            raise NotBandable(f"its measured side `{_shown(measured, values)}` is not a "
                              "plain column: compute it as a feature to band it")
        if any(_reads_column(end) for end in ends):
            raise NotBandable("its range reads columns: the thresholds differ for every "
                              "entity")
        low, high = (threshold_value(end, values) for end in ends)
        return _bare(measured).name, ((">=", low), ("<=", high))
    column, op, threshold = band_target(node, values)
    return (column, ((op, threshold),)) if op in ORDERING else (None, ())


def _bare(node):
    from sqlglot import exp

    while isinstance(node, exp.Paren):
        node = node.this
    return node


def _reads_column(node) -> bool:
    from sqlglot import exp

    return node.find(exp.Column) is not None


def threshold_value(node, values: dict) -> float:
    """The number a threshold expression of params and literals evaluates to, with the
    campaign's param values: ``$min_spend * $fx`` is 5000 * 83.2."""
    from sqlglot import exp

    node = _bare(node)
    if isinstance(node, exp.Placeholder):
        value = values.get(node.name)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise NotBandable(f"${node.name} is {value}, not a number: a band is a share of "
                              "a numeric threshold")
        return float(value)
    if isinstance(node, exp.Literal) and not node.is_string:
        return float(node.this)
    if isinstance(node, exp.Neg):
        return -threshold_value(node.this, values)
    operation = ARITHMETIC.get(type(node).__name__)
    if operation is None:
        raise NotBandable(f"its threshold `{_shown(node, values)}` is not arithmetic "
                          "(+ - * /) of params and numbers")
    left, right = threshold_value(node.this, values), threshold_value(node.expression, values)
    if operation is float.__truediv__ and right == 0:
        raise NotBandable(f"its threshold `{_shown(node, values)}` divides by zero")
    return operation(left, right)


def unbandable(tree, values: dict) -> list[tuple[str, str]]:
    """(clause as written, why) for every top-level clause boundary review cannot band."""
    from segflow.scoring.predicate import split_clauses

    found = []
    for node in split_clauses(tree):
        try:
            band_points(node, values)
        except NotBandable as why:
            found.append((_shown(node, values), str(why)))
    return found


def truth_sql(rule: CohortRule, view: str) -> str:
    """SELECT entity_id, c1..cn (NULL counts as false) over ``view``; params stay bound."""
    cols = ", ".join(f"coalesce(({c.sql}), false) AS {c.id}" for c in rule.clauses)
    return f"SELECT entity_id, {cols} FROM {view}"


def bind(con, sql: str, params: dict):
    """Execute with only the params the SQL uses (DuckDB refuses unused named params)."""
    used = {k: v for k, v in params.items() if re.search(rf"\${re.escape(k)}\b", sql)}
    return con.execute(sql, used) if used else con.execute(sql)
