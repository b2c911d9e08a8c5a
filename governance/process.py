"""The process, measured: how long a campaign's cycle takes from refresh to approval and to
publication, how many review items each reviewer decided, how long a decision took and
what share were overrides; per campaign and per cycle (a run).

Everything is derived from two records nobody edits by hand: the run store (when each run
was made) and the audit log (when it was governed, each review decision, the approval, the
publication). ``measure`` is pure: two relations in, Arrow tables out, in DuckDB (a queue
of 300,000 decisions is a group-by, not a Python loop). ``process_tables`` reads the
workspace and calls it; the refresh report, ``segflow process`` and the workspace home
page call that.

Definitions (docs/governance.md, "The process, measured"):

- *to approval* / *to publication*: from the run's creation (the refresh) to its first
  ``approve`` / ``publish`` entry; empty while it has none.
- *decisions*: audit entries whose action starts with ``review_``; an entry whose payload
  has ``items`` (a bulk decision) counts that many. *overrides*: those whose status is
  ``overridden``.
- *time per decision*: a reviewer's review span in a run (from the run's governance, or
  their first decision, to their last decision) divided by their decisions; the cycle's
  figure is the median over its reviewers.
"""

from __future__ import annotations

from segflow.settings import Settings

CYCLE_COLUMNS = ("campaign", "run_id", "refreshed_at", "governed_at", "approved_at",
                 "published_at", "hours_to_approval", "hours_to_publication", "decisions",
                 "overrides", "override_share", "reviewers", "seconds_per_decision")
REVIEWER_COLUMNS = ("campaign", "run_id", "reviewer", "decisions", "overrides",
                    "seconds_per_decision")
CAMPAIGN_COLUMNS = ("campaign", "cycles", "published", "median_hours_to_approval",
                    "median_hours_to_publication", "decisions", "override_share",
                    "median_seconds_per_decision")


def measure(con):
    """Cycles, reviewers and campaigns (three Arrow tables) from relations ``entries``
    (ts TIMESTAMPTZ, actor, action, run_id, status, items) and ``runs`` (run_id, campaign,
    created_at TIMESTAMPTZ) registered on ``con``."""
    con.execute("""CREATE OR REPLACE TEMP TABLE p_decisions AS
        SELECT run_id, actor AS reviewer, ts, coalesce(items, 1) AS n,
               CASE WHEN status = 'overridden' THEN coalesce(items, 1) ELSE 0 END AS o
        FROM entries WHERE action LIKE 'review\\_%' ESCAPE '\\' AND run_id IS NOT NULL""")
    con.execute("""CREATE OR REPLACE TEMP TABLE p_steps AS
        SELECT run_id,
               min(ts) FILTER (WHERE action = 'govern') AS governed_at,
               min(ts) FILTER (WHERE action = 'approve') AS approved_at,
               min(ts) FILTER (WHERE action = 'publish') AS published_at
        FROM entries WHERE run_id IS NOT NULL GROUP BY run_id""")
    con.execute("""CREATE OR REPLACE TEMP TABLE p_reviewers AS
        SELECT r.campaign, d.run_id, d.reviewer, sum(d.n)::BIGINT AS decisions,
               sum(d.o)::BIGINT AS overrides,
               epoch(max(d.ts) - least(min(d.ts), coalesce(any_value(s.governed_at),
                                                            min(d.ts)))) / sum(d.n)
                 AS seconds_per_decision
        FROM p_decisions d JOIN runs r USING (run_id) LEFT JOIN p_steps s USING (run_id)
        GROUP BY ALL ORDER BY r.campaign, d.run_id, d.reviewer""")
    con.execute("""CREATE OR REPLACE TEMP TABLE p_cycles AS
        SELECT r.campaign, r.run_id, r.created_at AS refreshed_at, s.governed_at,
               s.approved_at, s.published_at,
               epoch(s.approved_at - r.created_at) / 3600 AS hours_to_approval,
               epoch(s.published_at - r.created_at) / 3600 AS hours_to_publication,
               coalesce(v.decisions, 0)::BIGINT AS decisions,
               coalesce(v.overrides, 0)::BIGINT AS overrides,
               v.overrides / nullif(v.decisions, 0) AS override_share,
               coalesce(v.reviewers, 0)::BIGINT AS reviewers, v.seconds_per_decision
        FROM runs r LEFT JOIN p_steps s USING (run_id)
        LEFT JOIN (SELECT run_id, sum(decisions) AS decisions, sum(overrides) AS overrides,
                          count(*) AS reviewers,
                          median(seconds_per_decision) AS seconds_per_decision
                   FROM p_reviewers GROUP BY run_id) v USING (run_id)
        ORDER BY r.campaign, r.created_at, r.run_id""")
    campaigns = con.sql("""
        SELECT campaign, count(*)::BIGINT AS cycles,
               count(published_at)::BIGINT AS published,
               median(hours_to_approval) AS median_hours_to_approval,
               median(hours_to_publication) AS median_hours_to_publication,
               sum(decisions)::BIGINT AS decisions,
               sum(overrides) / nullif(sum(decisions), 0) AS override_share,
               median(seconds_per_decision) AS median_seconds_per_decision
        FROM p_cycles GROUP BY campaign ORDER BY campaign""")
    return (con.sql("SELECT * FROM p_cycles").to_arrow_table(),
            con.sql("SELECT * FROM p_reviewers").to_arrow_table(),
            campaigns.to_arrow_table())


def process_tables(settings: Settings, campaign: str | None = None, con=None) -> dict:
    """``{"campaigns", "cycles", "reviewers"}`` (Arrow tables) of the workspace, or of one
    campaign: the function the report, ``segflow process`` and the home page call."""
    import duckdb
    import pyarrow as pa

    from segflow.runstore import list_runs

    runs = [r for r in list_runs(settings, campaign) if r.status != "failed"]
    run_table = pa.table({
        "run_id": pa.array([r.run_id for r in runs], pa.string()),
        "campaign": pa.array([r.campaign for r in runs], pa.string()),
        "created_at": pa.array([r.created_at for r in runs], pa.string())})
    work = duckdb.connect()
    try:
        work.execute("SET TimeZone = 'UTC'")
        work.register("run_rows", run_table)
        work.execute("CREATE TEMP VIEW runs AS SELECT run_id, campaign, "
                     "CAST(created_at AS TIMESTAMPTZ) AS created_at FROM run_rows")
        _entries(settings, work, con)
        cycles, reviewers, campaigns = measure(work)
    finally:
        work.close()
    return {"campaigns": campaigns, "cycles": cycles, "reviewers": reviewers}


def _entries(settings: Settings, work, con=None) -> None:
    """Temp table ``entries`` from the audit log's database copy (the authoritative one),
    fields read by DuckDB's JSON functions."""
    import pyarrow as pa

    from segflow.db import has_schema

    def lines(c):
        if not has_schema(c, "audit_entries", "line"):
            return pa.table({"line": pa.array([], pa.string())})
        return c.sql("SELECT line FROM audit_entries ORDER BY seq").to_arrow_table()

    if con is not None:
        table = lines(con)
    elif settings.database_path.exists():
        from segflow.db import connect

        with connect(settings) as own:
            table = lines(own)
    else:
        table = pa.table({"line": pa.array([], pa.string())})
    work.register("audit_lines", table)
    work.execute("""CREATE OR REPLACE TEMP TABLE entries AS SELECT
        CAST(json_extract_string(line, '$.ts') AS TIMESTAMPTZ) AS ts,
        json_extract_string(line, '$.actor') AS actor,
        json_extract_string(line, '$.action') AS action,
        json_extract_string(line, '$.run_id') AS run_id,
        json_extract_string(line, '$.payload.status') AS status,
        TRY_CAST(json_extract(line, '$.payload.items') AS BIGINT) AS items
        FROM audit_lines""")


def duration(hours: float | None) -> str:
    """'3.5 h', '42 min' or '' (none yet): a reader's unit for a cycle's wait."""
    if hours is None:
        return ""
    return f"{hours:.1f} h" if hours >= 1 else f"{hours * 60:.0f} min"


def summary_lines(tables: dict) -> list[str]:
    """One sentence per campaign, in a reader's words."""
    out = []
    for row in tables["campaigns"].to_pylist():
        parts = [f"{row['cycles']} cycle(s), {row['published']} published"]
        if row["median_hours_to_approval"] is not None:
            parts.append(f"median {duration(row['median_hours_to_approval'])} from refresh "
                         "to approval")
        if row["median_hours_to_publication"] is not None:
            parts.append(f"{duration(row['median_hours_to_publication'])} to publication")
        if row["decisions"]:
            parts.append(f"{row['decisions']:,} review decision(s), "
                         f"{row['override_share']:.0%} overrides")
        if row["median_seconds_per_decision"] is not None:
            parts.append(f"{row['median_seconds_per_decision']:.0f} s per decision")
        out.append(f"{row['campaign']}: " + ", ".join(parts))
    return out
