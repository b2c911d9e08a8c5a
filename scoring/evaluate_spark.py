"""Segment evaluation on Spark: the evaluation query of ``segflow.scoring.evaluate``,
translated, run by the executors and written as Parquet.

The query is built once (``memberships_sql``) and translated whole with SQLGlot from
DuckDB's dialect to Spark's, with two pieces written by markers and replaced in the parsed
tree:

- each template's ``where`` predicate, translated by ``segflow.dialects`` (its allow-list
  and tested equivalents: the same checks ``templates check`` runs), never by SQLGlot's
  unchecked transpilation;
- the stable draw of the holdout and of experiment offers: 15 hex digits of
  ``md5(id || ':' || salt)`` read as an integer and divided by 16^15. DuckDB reads the hex
  with a ``'0x'`` cast, Spark with ``conv(..., 16, 10)``; both divide the same 60-bit
  integer by the same power of two, so every customer draws the same number on both
  engines and the holdout holds the same customers.

A CTE the DuckDB query marks ``MATERIALIZED`` (the one pass over the scored frame that
every ranked cohort reads) is run first on Spark and kept as a temporary view of a
locally checkpointed frame (``SparkQuery``): Spark inlines a CTE at each of its uses, and
a ranked cohort's numbering (``segflow.scoring.ranking``) uses its source eight times, so
the one query planned the frame's pass and every template predicate eight times per
ranked cohort (docs/scale-out.md measures what it cost). Checkpointed, each
use is a scan of rows already computed once. A local checkpoint lives in the executors'
storage: an executor lost during the run fails the job (as a lost shuffle output can),
it never changes a result.

What the rest of the query uses translates with the meaning DuckDB gives it (structs,
``list_filter`` as ``filter``, ``unnest`` as ``explode``, 1-based list indexing shifted to
Spark's 0-based); the equality test (tests/scoring/test_scoring_spark.py) runs both engines
on the same scored frame and compares every membership.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp

from segflow.errors import SegflowError
from segflow.scoring.evaluate import (
    MEMBERSHIP_COLUMNS,
    Parts,
    matches_sql,
    memberships_sql,
    specs_table,
)
from segflow.scoring.predicate import compile_sql, params_used
from segflow.scoring.ranking import broadcast_small
from segflow.scoring.resolve import Resolved
from segflow.scoring.sqlparts import HASH_SCALE

PREDICATE, HASH = "__segflow_predicate", "__segflow_unit_hash"
SPARK_HASH = (f"CAST(CONV(SUBSTRING(MD5(CAST(__key AS STRING) || ':' || __salt), 1, 15), 16, "
              f"10) AS BIGINT) / {HASH_SCALE!r}")
MEMBERSHIP_TYPES = {"priority": "INT", "rank": "BIGINT", "score": "DOUBLE"}


class _Markers:
    """``Parts`` that write markers, remembering each predicate's tree (params renamed)."""

    def __init__(self, resolved: Resolved):
        self.trees: list[tuple[exp.Expression, str]] = []
        self.names = {id(b.tree): b.key for b in (*resolved.cohorts, *resolved.suppressions)}

    def predicate(self, tree: exp.Expression, values: dict[str, Any], prefix: str,
                  out: dict[str, Any]) -> str:
        for name in params_used(tree):
            out[f"{prefix}{name}"] = values[name]
        self.trees.append((tree, prefix))
        return f"coalesce({PREDICATE}({len(self.trees) - 1}), false)"

    def unit_hash(self, key_sql: str, salt_param: str = "salt") -> str:
        return f"{HASH}({key_sql}, ${salt_param})"

    def parts(self) -> Parts:
        return Parts(self.predicate, self.unit_hash)


def _predicate(markers: _Markers, index: int) -> exp.Expression:
    """A template predicate as Spark nodes (``segflow.dialects``), or one line naming the
    template and the construct Spark cannot run."""
    from segflow.dialects import Untranslatable, parse, rewrite

    tree, prefix = markers.trees[index]
    sql = compile_sql(tree, prefix)
    try:
        return exp.Paren(this=rewrite(parse(sql)[0]))
    except Untranslatable as err:
        name = markers.names.get(id(tree), "a template")
        raise SegflowError(f"{name}: its rule cannot run on Spark: {err.problems[0]} "
                           "(`segflow templates check --dialect spark` lists every "
                           "problem)") from None


def _hash(key: exp.Expression, salt: exp.Expression) -> exp.Expression:
    template = sqlglot.parse_one(SPARK_HASH, read="spark")
    return exp.Paren(this=template.transform(
        lambda n: key.copy() if isinstance(n, exp.Column) and n.name == "__key"
        else salt.copy() if isinstance(n, exp.Column) and n.name == "__salt" else n))


@dataclass(frozen=True)
class SparkQuery:
    """A translated query and the CTEs it reads that are computed first (module
    docstring): (view name, Spark SQL) in order, each reading only the views already
    registered (``frame``) and the query's parameters."""

    sql: str
    staged: tuple[tuple[str, str], ...] = ()


def run_on_spark(spark, query: SparkQuery, params: dict[str, Any]):
    """The lazy DataFrame of ``query``, its staged CTEs computed once by the executors
    (one job each) and registered as temporary views first."""
    from segflow import spark as sp

    for name, sql in query.staged:
        sp.sql(spark, sql, params).localCheckpoint(eager=True).createOrReplaceTempView(name)
    return sp.sql(spark, query.sql, params)


def spark_memberships_sql(resolved: Resolved, params: dict[str, Any],
                          prior: bool = False) -> SparkQuery:
    """``memberships_sql`` in Spark SQL (named parameters ``:name``)."""
    return _on_spark(resolved, lambda parts: memberships_sql(resolved, params, prior, parts))


def spark_matches_sql(resolved: Resolved, params: dict[str, Any]) -> SparkQuery:
    """``matches_sql`` (each cohort rule's matches before exclusivity: what preview counts)
    in Spark SQL."""
    return _on_spark(resolved, lambda parts: matches_sql(resolved, params, parts))


def _on_spark(resolved: Resolved, build) -> SparkQuery:
    """The DuckDB query ``build(parts)`` writes, translated whole to Spark SQL with the
    template predicates and the stable draw written by markers, its MATERIALIZED CTEs
    staged (module docstring)."""
    from segflow.dialects import render

    markers = _Markers(resolved)
    tree = sqlglot.parse_one(build(markers.parts()), read="duckdb")

    def replace(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Anonymous) and node.name.lower() == PREDICATE:
            return _predicate(markers, int(node.expressions[0].name))
        if isinstance(node, exp.Anonymous) and node.name.lower() == HASH:
            return _hash(*node.expressions)
        return broadcast_small(node)  # a ranking's per-group tables (segflow.scoring.ranking)

    tree = tree.transform(replace)
    staged = tuple(_staged(tree))  # first: render drops every CTE's MATERIALIZED
    return SparkQuery(render(tree), staged)


def _staged(tree: exp.Expression) -> list[tuple[str, str]]:
    """(name, Spark SQL) of each MATERIALIZED CTE that reads no other CTE, removed from
    ``tree``: the query then reads it as a view. One that reads another CTE stays inline."""
    from segflow.dialects import render

    ctes = list(tree.find_all(exp.CTE))
    names = {c.alias_or_name.lower() for c in ctes}
    staged = []
    for cte in ctes:
        reads = {t.name.lower() for t in cte.this.find_all(exp.Table)}
        if not cte.args.get("materialized") or reads & names:
            continue
        staged.append((cte.alias_or_name, render(cte.this)))
        outer = cte.parent
        cte.pop()
        if isinstance(outer, exp.With) and not outer.expressions:
            outer.pop()
    return staged


def evaluate_on_spark(spark, frame, resolved: Resolved, run_id: str, prior=None):
    """Memberships of the scored DataFrame ``frame`` (a lazy DataFrame, columns as in
    docs/architecture.md); ``prior``: the path of the run before's memberships Parquet
    (file or folder), whose experiment offers customers keep."""

    params: dict[str, Any] = {"run_id": run_id}
    use_prior = prior is not None and bool(resolved.offers)
    query = spark_memberships_sql(resolved, params, use_prior)
    frame.createOrReplaceTempView("frame")
    _register_specs(spark, specs_table(resolved))
    if use_prior:
        from segflow.scoring.runfiles import spark_frame

        spark_frame(spark, prior).where("status = 'assigned'") \
            .select("entity_id", "cohort", "arm").createOrReplaceTempView("prior")
    out = run_on_spark(spark, query, params)
    return out.selectExpr(*[f"CAST({c} AS {MEMBERSHIP_TYPES.get(c, 'STRING')}) AS {c}"
                            for c in MEMBERSHIP_COLUMNS])


def _register_specs(spark, table) -> None:
    """The cohorts' metadata (a row per cohort: configuration, never customers) as the
    temporary view ``specs``, with its list columns typed."""
    schema = ("i INT, cohort STRING, template STRING, priority INT, channels ARRAY<STRING>, "
              "offer_names ARRAY<STRING>, offer_cuts ARRAY<DOUBLE>")
    rows = [tuple(r[c] for c in table.column_names) for r in table.to_pylist()]
    spark.createDataFrame(rows, schema).createOrReplaceTempView("specs")
