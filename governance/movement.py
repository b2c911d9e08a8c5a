"""Movement of a run against the campaign's last published run: entered, exited, moved,
stayed, each mover with its reasons, and a deterministic plain-English summary per cohort.

Exclusive campaigns (at most one cohort per entity) report moves between cohorts; in an
overlapping campaign an entity is compared cohort by cohort (entered / exited / stayed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from segflow.governance.clauses import CohortRule
from segflow.governance.notes import add_note_reasons
from segflow.governance.reasons import collect_changes, lit
from segflow.governance.store import features_view, has_column, memberships_view
from segflow.runstore import run_dir
from segflow.settings import Settings

IN_COHORT = "status IN ('assigned', 'holdout') AND cohort IS NOT NULL"
# a rule's clause (c1, c2, ...), else NULL: aggregated DISTINCT without a FILTER, which
# Spark 4 cannot combine with listagg's DISTINCT (a ClassCastException in its planner)
CLAUSE_ID = "CASE WHEN clause_id LIKE 'c%' THEN clause_id END"
# the order of movement's rows (its files'), kept by whatever rebuilds the table
ORDER = ("movement", "cohort_before", "cohort_after", "entity_id")


@dataclass
class Movement:
    run_id: str
    previous_run_id: str | None
    counts: dict = field(default_factory=dict)  # entered, exited, moved, stayed
    summary: list[str] = field(default_factory=list)  # one sentence per cohort
    files: dict = field(default_factory=dict)
    model_reasons: dict = field(default_factory=dict)  # per model: score movers, explained


def _sides(con, view: str) -> str:
    """Per-entity rows of one run: the in-cohort row, else the status row."""
    return (f"SELECT entity_id, cohort, status, suppressed_by, score, "
            f"{'override_id' if has_column(con, view, 'override_id') else 'CAST(NULL AS VARCHAR)'}"
            " AS override_id "
            f"FROM {view}")


def build_movers(con, exclusive: bool) -> None:
    """Temp table ``movers`` from views ``m_prev`` and ``m_cur`` (one row per change unit)."""
    key = "entity_id" if exclusive else "entity_id, cohort"
    con.execute(f"""CREATE OR REPLACE TEMP TABLE movers AS
      WITH p AS (SELECT * FROM ({_sides(con, 'm_prev')}) WHERE {IN_COHORT}),
           c AS (SELECT * FROM ({_sides(con, 'm_cur')}) WHERE {IN_COHORT}),
           pa AS (SELECT entity_id, any_value(status) AS status,
                         any_value(suppressed_by) AS suppressed_by
                  FROM m_prev GROUP BY entity_id),
           ca AS (SELECT entity_id, any_value(status) AS status,
                         any_value(suppressed_by) AS suppressed_by,
                         any_value(override_id) AS override_id
                  FROM ({_sides(con, 'm_cur')}) GROUP BY entity_id),
           j AS (SELECT coalesce(p.entity_id, c.entity_id) AS entity_id,
                        p.cohort AS cohort_before, c.cohort AS cohort_after,
                        p.score AS score_before, c.score AS score_after
                 FROM p FULL OUTER JOIN c ON {' AND '.join(f'p.{k} = c.{k}' for k in
                                                          key.split(', '))})
      SELECT j.*, CASE WHEN cohort_before IS NULL THEN 'entered'
                       WHEN cohort_after IS NULL THEN 'exited'
                       WHEN cohort_before <> cohort_after THEN 'moved' ELSE 'stayed' END
                  AS movement,
             split_part(cohort_before, '__', 1) AS base_before,
             split_part(cohort_after, '__', 1) AS base_after,
             pa.status AS status_before, pa.suppressed_by AS suppressed_by_before,
             ca.status AS status_after, ca.suppressed_by AS suppressed_by_after,
             ca.override_id
      FROM j LEFT JOIN pa USING (entity_id) LEFT JOIN ca USING (entity_id)""")


def is_exclusive(con) -> bool:
    """Exclusive when no entity has more than one in-cohort row in either run."""
    return con.execute(f"""SELECT count(*) FROM (
        SELECT entity_id FROM m_cur WHERE {IN_COHORT} GROUP BY entity_id HAVING count(*) > 1
        UNION ALL SELECT entity_id FROM m_prev WHERE {IN_COHORT} GROUP BY entity_id
        HAVING count(*) > 1)""").fetchone()[0] == 0


def movement_table(con, rules: dict[str, CohortRule], run_id: str, prev_id: str | None):
    """Temp table ``movement``: every unit with its movement, reasons and values."""
    build_movers(con, is_exclusive(con))
    collect_changes(con, rules, "movers", "f_prev", "f_cur")
    add_note_reasons(con, "movers")  # where compute_movement registered note topics
    con.execute(f"""CREATE OR REPLACE TEMP TABLE movement AS
      WITH r AS (SELECT entity_id,
          arg_min(reason, clause_order) FILTER (WHERE side = 'leave') AS leave_reason,
          arg_min(reason, clause_order) FILTER (WHERE side = 'join') AS join_reason,
          string_agg(reason || CASE WHEN value_before IS NULL AND value_after IS NULL THEN ''
                     ELSE ' (' || coalesce(value_before, 'null') || ' -> '
                     || coalesce(value_after, 'null') || ')' END, '; '
                     ORDER BY side DESC, rule, clause_order, clause_id) AS reasons,
          string_agg(DISTINCT {CLAUSE_ID}, ',' ORDER BY {CLAUSE_ID}) AS clauses_changed
        FROM clause_changes GROUP BY entity_id)
      SELECT {lit(run_id)} AS run_id,
             {lit(prev_id) if prev_id else 'CAST(NULL AS VARCHAR)'} AS previous_run_id,
             m.entity_id, m.movement, m.cohort_before, m.cohort_after,
             m.status_before, m.status_after, coalesce(r.leave_reason, r.join_reason)
               AS reason, r.leave_reason, r.join_reason, r.reasons, r.clauses_changed,
             m.score_before, m.score_after, m.override_id,
             CAST(NULL AS VARCHAR) AS model_reasons
      FROM movers m LEFT JOIN r USING (entity_id)
      ORDER BY {', '.join(f'm.{c}' for c in ORDER)}""")


def register_views(settings: Settings, con, run_id: str, prev_id: str | None) -> None:
    """Views m_cur/f_cur and m_prev/f_prev (empty when there is no previous run)."""
    memberships_view(con, settings, run_id, "m_cur")
    features_view(con, settings, run_id, "f_cur")
    if prev_id:
        memberships_view(con, settings, prev_id, "m_prev")
        features_view(con, settings, prev_id, "f_prev")
    else:
        con.execute("CREATE OR REPLACE TEMP VIEW m_prev AS SELECT * FROM m_cur LIMIT 0")
        con.execute("CREATE OR REPLACE TEMP VIEW f_prev AS SELECT * FROM f_cur LIMIT 0")


def compute_movement(settings: Settings, con, rules: dict[str, CohortRule], run_id: str,
                     prev_id: str | None, titles: dict[str, str],
                     reasons_limit: int | None = None) -> Movement:
    """Movement of ``run_id`` against ``prev_id`` over views made by ``register_views``;
    model reasons for at most ``reasons_limit`` score movers per model; the topic of each
    mover's latest note among its reasons where the campaign reads note topics."""
    from segflow.governance.context import RunContext
    from segflow.governance.notes import register_note_topics

    register_note_topics(con, RunContext.of(settings, run_id))
    movement_table(con, rules, run_id, prev_id)
    from segflow.governance.model_reasons import DEFAULT_LIMIT, add_model_reasons
    from segflow.runstore import load_run

    inputs = load_run(settings, run_id).inputs
    explained = add_model_reasons(  # on the connection's engine
        settings, con, inputs.get("entity", "customer"), inputs.get("model_versions") or {},
        DEFAULT_LIMIT if reasons_limit is None else reasons_limit, ORDER)
    result = Movement(run_id, prev_id, count_movement(con, "movement"))
    result.model_reasons = explained
    result.summary = summarise(con, titles)
    result.files = write_movement(settings, con, run_id)
    return result


def count_movement(con, table: str) -> dict[str, int]:
    """entered, exited, moved and stayed: how many units of ``table`` (movers or
    movement, one row per unit) each, the only rows read back."""
    counts = dict(con.execute(f"SELECT movement, count(*) FROM {table} GROUP BY 1").fetchall())
    return {k: counts.get(k, 0) for k in ("entered", "exited", "moved", "stayed")}


def summarise(con, titles: dict[str, str]) -> list[str]:
    """'412 left Lapsed high-value: 380 recency_days fell below 90, 32 ...', per cohort."""
    rows = con.execute("""
      SELECT cohort, verb, reason, count(*) AS n FROM (
        SELECT cohort_before AS cohort, 'left' AS verb, coalesce(leave_reason, reason) AS reason
          FROM movement WHERE movement IN ('exited', 'moved')
        UNION ALL
        SELECT cohort_after, 'joined', coalesce(join_reason, reason)
          FROM movement WHERE movement IN ('entered', 'moved'))
      GROUP BY ALL ORDER BY cohort, verb DESC, n DESC, reason""").fetchall()
    groups: dict[tuple[str, str], list[tuple[str, int]]] = {}
    for cohort, verb, reason, n in rows:
        groups.setdefault((cohort, verb), []).append((reason, n))
    out = []
    for (cohort, verb), parts in groups.items():
        total = sum(n for _, n in parts)
        detail = ", ".join(f"{n:,} {reason}" for reason, n in parts)
        out.append(f"{total:,} {verb} {titles.get(cohort, cohort)}: {detail}")
    return out


def write_movement(settings: Settings, con, run_id: str) -> dict:
    folder = run_dir(settings, run_id)
    files = {"parquet": folder / "movement.parquet", "csv": folder / "movement.csv"}
    con.execute(f"COPY movement TO '{files['parquet']}' (FORMAT parquet)")
    con.execute(f"COPY movement TO '{files['csv']}' (HEADER, DELIMITER ',')")
    return {k: str(v) for k, v in files.items()}
