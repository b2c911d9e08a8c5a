"""Overrides decided in review, applied to the memberships of later refreshes.

``apply_overrides`` is pure (Arrow in, Arrow out, DuckDB in between) so refresh can call it
right after evaluation: an active override moves the entity to the chosen cohort (or to
``unassigned``) and records ``override_id``; suppression still wins over an override.
"""

from __future__ import annotations

from datetime import datetime

from segflow.settings import Settings


def active_overrides(settings: Settings, campaign: str, as_of: datetime):
    """Overrides of the campaign not expired at ``as_of`` (latest per entity), as Arrow."""
    from segflow.db import connect
    from segflow.governance.store import ensure_schema

    with connect(settings) as con:
        ensure_schema(con)
        return con.sql("""SELECT * FROM overrides WHERE campaign = ?
            AND (expires IS NULL OR expires > ?)
            QUALIFY row_number() OVER (PARTITION BY entity_id ORDER BY created_at DESC) = 1""",
                       params=[campaign, as_of]).to_arrow_table()


def apply_overrides(memberships, overrides, as_of: datetime):
    """Memberships with active overrides applied (exclusive campaigns: one row per entity).

    The target cohort's template, priority and channels are taken from the rows already in
    that cohort, so an override never invents a cohort the run does not have.
    """
    import duckdb

    from segflow.scoring.sqlparts import to_arrow

    memberships = to_arrow(memberships)
    con = duckdb.connect()
    try:
        con.register("m", memberships)
        con.register("o", overrides)
        has_id = "override_id" in memberships.column_names
        base = "m.* EXCLUDE (override_id)" if has_id else "m.*"
        curated = (",\n              CASE WHEN to_cohort IS NULL THEN x.curated_id END AS "
                   "curated_id" if "curated_id" in memberships.column_names else "")
        return con.sql(f"""
          WITH live AS (SELECT entity_id, to_cohort, override_id FROM o
                        WHERE expires IS NULL OR expires > ?
                        QUALIFY row_number() OVER (PARTITION BY entity_id
                                                   ORDER BY created_at DESC) = 1),
               cohorts AS (SELECT cohort, any_value(template) AS template,
                                  any_value(split_value) AS split_value,
                                  any_value(priority) AS priority,
                                  any_value(channels) AS channels
                           FROM m WHERE cohort IS NOT NULL GROUP BY cohort),
               x AS (SELECT {base}, l.to_cohort, l.override_id AS live_id FROM m
                     LEFT JOIN live l ON l.entity_id = m.entity_id
                       AND m.status <> 'suppressed')
          SELECT x.* EXCLUDE (to_cohort, live_id) REPLACE (
              CASE WHEN to_cohort IS NULL THEN x.cohort WHEN to_cohort = 'unassigned'
                   THEN NULL ELSE to_cohort END AS cohort,
              CASE WHEN to_cohort IS NULL THEN x.template ELSE c.template END AS template,
              CASE WHEN to_cohort IS NULL THEN x.split_value ELSE c.split_value END
                AS split_value,
              CASE WHEN to_cohort IS NULL THEN x.status WHEN to_cohort = 'unassigned'
                   THEN 'unassigned' WHEN x.status = 'holdout' THEN 'holdout'
                   ELSE 'assigned' END AS status,
              CASE WHEN to_cohort IS NULL THEN x.priority ELSE c.priority END AS priority,
              CASE WHEN to_cohort IS NULL THEN x.rank END AS rank,
              CASE WHEN to_cohort IS NULL THEN x.arm WHEN to_cohort = 'unassigned' THEN NULL
                   WHEN x.status = 'holdout' THEN 'holdout' ELSE 'treatment' END AS arm,
              CASE WHEN to_cohort IS NULL THEN x.channels ELSE coalesce(c.channels, '') END
                AS channels{curated}),
            {'coalesce(live_id, x.override_id)' if has_id else 'live_id'} AS override_id
          FROM x LEFT JOIN cohorts c ON c.cohort = x.to_cohort
          ORDER BY x.entity_id""", params=[as_of]).to_arrow_table()
    finally:
        con.close()
