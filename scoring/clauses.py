"""Clauses: a template's predicate split at its top-level ANDs, each with an id and a
plain rendering, and evaluated per entity.

Governance calls ``evaluate_clauses`` on the feature frames of two runs to say which
clauses' truth changed for an entity that moved; preview uses the same clauses for its
funnels and explain for its pass/fail lines, so all three agree on what a clause is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from segflow.scoring import predicate
from segflow.scoring.params import check_value
from segflow.scoring.sqlparts import bind_predicate, duck, quote, to_arrow
from segflow.scoring.templates import Template


@dataclass(frozen=True)
class Clause:
    id: str  # <template>.c<n>
    column: str  # c<n>, the column name in evaluate_clauses' output
    sql: str  # as written, with $params
    text: str  # with the params' values, for people
    columns: tuple[str, ...]  # feature / score columns it reads
    params: tuple[str, ...]  # params it uses


def template_tree(template: Template):
    tree, issues = predicate.parse(template.where)
    if tree is None:
        raise ValueError(f"{template.path}: {issues[0].problem}")
    return tree


def bind_params(template: Template, params: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults overlaid with ``params``, each checked against its declared type."""
    values = {**template.defaults(), **(params or {})}
    return {k: check_value(template.params[k], v) if k in template.params else v
            for k, v in values.items()}


def clauses(template: Template, params: dict[str, Any] | None = None) -> list[Clause]:
    """The template's top-level AND clauses, in the order written."""
    values = bind_params(template, params)
    parts = predicate.split_clauses(template_tree(template))
    return [Clause(id=f"{template.name}.c{n}", column=f"c{n}", sql=part.sql("duckdb"),
                   text=predicate.display_sql(part, values),
                   columns=tuple(predicate.columns_used(part)),
                   params=tuple(predicate.params_used(part)))
            for n, part in enumerate(parts, start=1)]


def clause_sql(template: Template, params: dict[str, Any] | None, out: dict[str, Any],
               prefix: str = "") -> list[str]:
    """One boolean SQL expression per clause (NULL counts as false), params added to out."""
    values = bind_params(template, params)
    parts = predicate.split_clauses(template_tree(template))
    return [bind_predicate(part, values, f"{prefix}k{n}_", out)
            for n, part in enumerate(parts, start=1)]


def evaluate_clauses(table_or_relation, template: Template, params: dict[str, Any] | None = None):
    """pyarrow.Table(entity_id, c1..cn bool): each clause's truth for each entity.

    ``table_or_relation`` is an Arrow table, DuckDB relation or pandas frame holding
    ``<entity>_id`` and the columns the template reads (e.g. a run's features.parquet).
    """
    frame = to_arrow(table_or_relation)
    bound: dict[str, Any] = {}
    exprs = clause_sql(template, params, bound)
    key = quote(f"{template.entity}_id")
    select = ", ".join(f"{e} AS c{n}" for n, e in enumerate(exprs, start=1))
    with duck() as con:
        con.register("frame", frame)
        return con.sql(f"SELECT CAST({key} AS VARCHAR) AS entity_id, {select} FROM frame",
                       params=bound).to_arrow_table()
