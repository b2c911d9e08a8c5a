"""Segment composition in DuckDB over the full data (never sampled): cohort shares and the
mix of attributes and key features inside each cohort, current against reference.

Population stability index (PSI) over the same buckets on both sides is the measure of a
mix shift: it is symmetric enough for monitoring, additive over buckets, and has well-known
rules of thumb (0.1 small, 0.25 large). Numeric features are bucketed on the reference's
deciles, so a shift inside one cohort shows even when the overall distribution barely moves.
"""

from __future__ import annotations

import pandas as pd

EPS = 1e-4
ALL = "(all)"


def cohort_shares(con, side: str) -> str:
    """SQL: (cohort, n, share) of one side; unassigned/suppressed count as pseudo-cohorts."""
    return f"""
        WITH m AS (SELECT entity_id, CASE WHEN status IN ('assigned', 'holdout') THEN cohort
                                          ELSE '(' || status || ')' END AS cohort
                   FROM {side}_m),
             total AS (SELECT count(DISTINCT entity_id) AS n FROM m)
        SELECT cohort, count(DISTINCT entity_id) AS n, count(DISTINCT entity_id) / total.n AS share
        FROM m, total GROUP BY cohort, total.n"""


def share_shift(con) -> pd.DataFrame:
    """Cohort share on both sides and the absolute shift."""
    return con.execute(f"""
        SELECT coalesce(c.cohort, r.cohort) AS cohort, coalesce(r.n, 0) AS n_reference,
               coalesce(c.n, 0) AS n_current, coalesce(r.share, 0) AS share_reference,
               coalesce(c.share, 0) AS share_current,
               coalesce(c.share, 0) - coalesce(r.share, 0) AS share_shift
        FROM ({cohort_shares(con, 'cur')}) c FULL OUTER JOIN ({cohort_shares(con, 'ref')}) r
          ON c.cohort = r.cohort ORDER BY abs(share_shift) DESC, cohort""").df()


def _bucket_sql(con, column: str, numeric: bool) -> str:
    """A SQL expression that maps a value to its bucket label, the same on both sides."""
    if not numeric:
        return f"coalesce(CAST(f.{column} AS VARCHAR), '(null)')"
    edges = con.execute(
        f"SELECT quantile_cont(CAST({column} AS DOUBLE), [0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9])"
        f" FROM ref_f").fetchone()[0] or []
    edges = sorted({float(e) for e in edges if e is not None})
    literal = "[" + ",".join(repr(e) for e in edges) + "]::DOUBLE[]"
    return (f"CASE WHEN f.{column} IS NULL THEN '(null)' ELSE CAST(len(list_filter({literal}, "
            f"lambda e: e < CAST(f.{column} AS DOUBLE))) AS VARCHAR) END")


def _counts_sql(con, side: str, attributes: dict[str, bool]) -> str:
    """(cohort, attribute, bucket, n) in one scan per side via GROUPING SETS; the whole
    population (every entity, whatever its status) is the pseudo-cohort '(all)'."""
    names = list(attributes)
    buckets = ", ".join(f"{_bucket_sql(con, c, attributes[c])} AS a{i}"
                        for i, c in enumerate(names))
    which = " ".join(f"WHEN grouping(a{i}) = 0 THEN '{c}'" for i, c in enumerate(names))
    bucket = f"coalesce({', '.join(f'a{i}' for i in range(len(names)))})"

    def grouped(source: str, cohort: str) -> str:
        sets = ", ".join(f"({cohort}a{i})" for i in range(len(names)))
        return (f"SELECT {'cohort' if cohort else repr(ALL)} AS cohort, CASE {which} END AS "
                f"attribute, {bucket} AS bucket, count(*) AS n FROM ({source}) "
                f"GROUP BY GROUPING SETS ({sets})")

    members = (f"SELECT m.cohort, {buckets} FROM (SELECT DISTINCT entity_id, cohort "
               f"FROM {side}_m WHERE status IN ('assigned', 'holdout')) m "
               f"JOIN {side}_f f ON f.entity_id = m.entity_id")
    everyone = (f"SELECT {buckets} FROM {side}_f f WHERE f.entity_id IN "
                f"(SELECT entity_id FROM {side}_m)")
    return f"{grouped(members, 'cohort, ')} UNION ALL {grouped(everyone, '')}"


def mix_shift(con, attributes: dict[str, bool]) -> pd.DataFrame:
    """PSI of each attribute's mix inside each cohort (and overall), current vs reference.

    ``attributes`` maps column -> is_numeric; columns missing on either side are skipped by
    the caller. Returns cohort, attribute, psi, n_reference, n_current, top_bucket (the
    bucket whose share moved most), share_reference, share_current of that bucket.
    """
    if not attributes:
        return pd.DataFrame(columns=["cohort", "attribute", "psi", "n_reference", "n_current",
                                     "top_bucket", "share_reference", "share_current"])
    return con.execute(f"""
        WITH cur AS ({_counts_sql(con, 'cur', attributes)}),
             ref AS ({_counts_sql(con, 'ref', attributes)}),
             j AS (SELECT coalesce(c.cohort, r.cohort) AS cohort,
                          coalesce(c.attribute, r.attribute) AS attribute,
                          coalesce(c.bucket, r.bucket) AS bucket,
                          coalesce(c.n, 0) AS nc, coalesce(r.n, 0) AS nr
                   FROM cur c FULL OUTER JOIN ref r USING (cohort, attribute, bucket)),
             s AS (SELECT *, nc / sum(nc) OVER w AS pc, nr / sum(nr) OVER w AS pr,
                          sum(nc) OVER w AS n_current, sum(nr) OVER w AS n_reference
                   FROM j WINDOW w AS (PARTITION BY cohort, attribute))
        SELECT cohort, attribute,
               sum((greatest(coalesce(pc, 0), {EPS}) - greatest(coalesce(pr, 0), {EPS}))
                   * ln(greatest(coalesce(pc, 0), {EPS}) / greatest(coalesce(pr, 0), {EPS})))
                 AS psi,
               any_value(n_reference) AS n_reference, any_value(n_current) AS n_current,
               arg_max(bucket, abs(coalesce(pc, 0) - coalesce(pr, 0))) AS top_bucket,
               arg_max(coalesce(pr, 0), abs(coalesce(pc, 0) - coalesce(pr, 0)))
                 AS share_reference,
               arg_max(coalesce(pc, 0), abs(coalesce(pc, 0) - coalesce(pr, 0)))
                 AS share_current
        FROM s GROUP BY cohort, attribute ORDER BY psi DESC, cohort, attribute""").df()
