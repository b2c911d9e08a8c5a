"""Exact row numbers over big groups without sorting a whole group in one place (issue #20).

``row_number() OVER (PARTITION BY g ORDER BY v DESC NULLS LAST, entity_id)`` sorts every
row of a group in one sort: on Spark in one task, and a ranked cohort without a split is
one group (its split is a constant, which Spark folds away, warning "No Partition Defined
for Window operation"): at 100M customers one executor sorting tens of millions of rows.

The same numbers, computed in pieces. Each row gets a bucket, a function of v that never
orders two values the other way round (monotone), so equal values always share a bucket
and the rows before a row are every row of the better buckets of its group plus those
before it in its own bucket::

    rank = (rows of its group in better buckets) + row_number() OVER (PARTITION BY g, bucket ...)

The window is partitioned by (group, bucket): thousands of small sorts instead of one. The
numbers are the engine's own, bit for bit: the order within a bucket is the same ORDER BY,
and the cut between buckets never separates two rows that the ORDER BY could swap.

The bucket: v's signed fourth root, cut into ``BUCKETS`` equal widths between the group's
finite minimum and maximum. A square root is correctly rounded in DuckDB (C++) and on the
JVM alike (IEEE 754), and so is each subtraction, division and product after it, so the
bucket is monotone in v; the root spreads a heavy tail (spend, revenue) over many buckets
where equal widths of v itself would put nearly every row in the first few. The values
both engines sort apart from the numbers get buckets of their own: +inf and NaN (sorted
above every number, NaN first) at the top, -inf below every number, NULL at the bottom.

The rows in better buckets are counted from a table of (group, bucket) counts: within a
block of ``BLOCK`` buckets by a window per (group, block), across blocks by a self-join of
a group's (at most 65) blocks, so no window here runs over a whole group either. Those
per-group tables are tiny and are joined onto the rows: their names end in ``SMALL``, and
the Spark translation broadcasts them (``broadcast_small``), since a shuffle join on a
group key that is one constant would put every row in one task again.
"""

from __future__ import annotations

from sqlglot import exp

BLOCK = 64
BUCKETS = BLOCK * BLOCK  # a few thousand pieces; the count tables stay a few thousand rows
SMALL = "__small"  # the per-group tables a join may broadcast (names end with this)


def rank_ctes(name: str, source: str, groups: int, tie: str = "entity_id") -> str:
    """CTE definitions (for a WITH, comma-separated) ending in ``name``: the rows of the query
    ``source`` (columns ``_g0`` .. ``_g<groups-1>``, ``_o`` a DOUBLE, ``tie`` and any
    others), each with ``_rank`` = ``row_number() OVER (PARTITION BY _g0.. ORDER BY _o DESC
    NULLS LAST, tie)`` and ``_total`` = its group's row count."""
    g = [f"_g{k}" for k in range(groups)]
    cols = ", ".join(g)

    def same(a: str, b: str) -> str:  # the group keys equal, NULL equal to NULL
        return " AND ".join(f"{a}.{c} IS NOT DISTINCT FROM {b}.{c}" for c in g)

    def of(alias: str) -> str:
        return ", ".join(f"{alias}.{c}" for c in g)

    root = "CASE WHEN _o < 0 THEN -sqrt(sqrt(-_o)) ELSE sqrt(sqrt(_o)) END"
    finite = "_o - _o = 0"  # false for NaN and +-inf (their difference is NaN), both engines
    bucket = (f"CASE WHEN _o IS NULL THEN 0 WHEN NOT ({finite}) THEN "
              f"CASE WHEN _o > 0 THEN {BUCKETS + 2} ELSE 1 END "
              f"WHEN _hi > _lo THEN 2 + least({BUCKETS - 1}, "
              f"CAST(floor((_t - _lo) / (_hi - _lo) * {BUCKETS}) AS INTEGER)) ELSE 2 END")
    rows, ranked = f"{name}_x", f"{name}_b"  # the rows (big), then with their buckets
    # per group (small): the value range; rows per bucket, per block; rows above each
    span, per_bucket, per_block, above_block, above = (
        f"{name}_{p}{SMALL}" for p in ("l", "c", "k", "kb", "a"))
    return ", ".join([
        f"{rows} AS (SELECT *, {root} AS _t FROM ({source}))",
        f"{span} AS (SELECT {cols}, count(*) AS _total, "
        f"min(CASE WHEN {finite} THEN _t END) AS _lo, "
        f"max(CASE WHEN {finite} THEN _t END) AS _hi FROM {rows} GROUP BY {cols})",
        f"{ranked} AS (SELECT x.*, l._total, {bucket} AS _b FROM {rows} x "
        f"JOIN {span} l ON {same('x', 'l')})",
        f"{per_bucket} AS (SELECT {cols}, _b, count(*) AS _n FROM {ranked} "
        f"GROUP BY {cols}, _b)",
        f"{per_block} AS (SELECT {cols}, _b // {BLOCK} AS _k, CAST(sum(_n) AS BIGINT) AS _n "
        f"FROM {per_bucket} GROUP BY {cols}, _b // {BLOCK})",
        f"{above_block} AS (SELECT {of('y')}, y._k, "
        f"CAST(coalesce(sum(z._n), 0) AS BIGINT) AS _above FROM {per_block} y "
        f"LEFT JOIN {per_block} z ON {same('y', 'z')} AND z._k > y._k "
        f"GROUP BY {of('y')}, y._k)",
        f"{above} AS (SELECT {of('c')}, c._b, CAST(kb._above + sum(c._n) OVER (PARTITION BY "
        f"{of('c')}, c._b // {BLOCK} ORDER BY c._b DESC) - c._n AS BIGINT) AS _above "
        f"FROM {per_bucket} c JOIN {above_block} kb ON {same('c', 'kb')} "
        f"AND kb._k = c._b // {BLOCK})",
        f"{name} AS (SELECT b.*, CAST(a._above + row_number() OVER (PARTITION BY {of('b')}, "
        f"b._b ORDER BY b._o DESC NULLS LAST, b.{tie}) AS BIGINT) AS _rank FROM {ranked} b "
        f"JOIN {above} a ON {same('b', 'a')} AND a._b = b._b)",
    ])


def broadcast_small(select: exp.Expression) -> exp.Expression:
    """A SELECT that joins per-group tables (``SMALL``) with a Spark hint to broadcast
    them (module docstring); any other node unchanged."""
    if not isinstance(select, exp.Select):
        return select
    small = [j.this.alias_or_name for j in select.args.get("joins") or []
             if isinstance(j.this, exp.Table) and j.this.name.endswith(SMALL)]
    if small:
        select.set("hint", exp.Hint(expressions=[exp.Anonymous(
            this="BROADCAST", expressions=[exp.to_identifier(n) for n in small])]))
    return select
