"""Why each mover moved: the clauses whose truth changed, with the values before and after.

For every cohort rule (a loop over rules and clauses, never over customers) the clauses are
evaluated on both runs' feature frames for the movers of that cohort only, and a row is kept
wherever a clause's truth differs. Suppression, population changes and overrides are
reasons too; a mover with none of these gets an explicit ranking/priority reason, so every
mover has one.
"""

from __future__ import annotations

from governance.clauses import CohortRule, bind, truth_sql

CHANGES = """CREATE OR REPLACE TEMP TABLE clause_changes (
  entity_id VARCHAR, side VARCHAR, cohort VARCHAR, rule VARCHAR, clause_order INTEGER,
  clause_id VARCHAR, clause_text VARCHAR, reason VARCHAR, value_before VARCHAR,
  value_after VARCHAR)"""


def lit(text: object) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def fmt(value: float) -> str:
    """5000.0 -> '5,000'; 0.25 -> '0.25' (deterministic, as a reader writes numbers)."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.4g}"


PHRASES = {  # op -> (phrase when the clause became false, when it became true)
    ">=": ("fell below {t}", "reached {t} or more"), ">": ("fell to {t} or below",
                                                         "rose above {t}"),
    "<": ("rose to {t} or more", "fell below {t}"), "<=": ("rose above {t}",
                                                         "fell to {t} or below"),
    "=": ("is no longer {t}", "became {t}"), "<>": ("became {t}", "is no longer {t}"),
}


def clause_phrases(clause) -> tuple[str, str]:
    if clause.column and clause.op in PHRASES:
        lost, gained = PHRASES[clause.op]
        t = fmt(clause.threshold)
        return f"{clause.column} {lost.format(t=t)}", f"{clause.column} {gained.format(t=t)}"
    return f"no longer {clause.text}", f"now {clause.text}"


def _value(alias: str, columns: tuple[str, ...]) -> str:
    if not columns:
        return "NULL"
    parts = [f"CAST({alias}.\"{c}\" AS VARCHAR)" for c in columns]
    if len(parts) == 1:
        return parts[0]
    return "concat_ws(', ', " + ", ".join(
        f"{lit(c + '=')} || coalesce({p}, 'null')" for c, p in zip(columns, parts, strict=True)
    ) + ")"


def collect_changes(con, rules: dict[str, CohortRule], movers: str, before: str,
                    after: str) -> None:
    """Fill temp table ``clause_changes`` from the movers table and two feature views."""
    con.execute(CHANGES)
    for name, rule in rules.items():
        con.execute(f"""CREATE OR REPLACE TEMP VIEW m_rule AS
            SELECT entity_id, 'leave' AS side, cohort_before AS cohort FROM {movers}
             WHERE base_before = {lit(name)} AND movement IN ('exited', 'moved')
            UNION ALL
            SELECT entity_id, 'join', cohort_after FROM {movers}
             WHERE base_after = {lit(name)} AND movement IN ('entered', 'moved')""")
        for side, src in (("fb", before), ("fa", after)):
            con.execute(f"CREATE OR REPLACE TEMP TABLE {side} AS SELECT f.* FROM {src} f "
                        "SEMI JOIN m_rule m USING (entity_id)")
        for side in ("b", "a"):
            bind(con, f"CREATE OR REPLACE TEMP TABLE t{side} AS "
                      f"{truth_sql(rule, 'f' + side)}", rule.params)
        for order, clause in enumerate(rule.clauses, start=1):
            lost, gained = clause_phrases(clause)
            cols = (clause.column,) if clause.column else clause.columns
            con.execute(f"""INSERT INTO clause_changes
                SELECT m.entity_id, m.side, m.cohort, {lit(name)}, {order}, {lit(clause.id)},
                  {lit(clause.text)}, CASE WHEN ta.{clause.id} THEN {lit(gained)}
                  ELSE {lit(lost)} END, {_value('fb', cols)}, {_value('fa', cols)}
                FROM m_rule m LEFT JOIN tb USING (entity_id) LEFT JOIN ta USING (entity_id)
                  LEFT JOIN fb USING (entity_id) LEFT JOIN fa USING (entity_id)
                WHERE tb.{clause.id} IS DISTINCT FROM ta.{clause.id}""")
        for order, column in enumerate(rule.spec.split_by, start=100):
            con.execute(f"""INSERT INTO clause_changes
                SELECT m.entity_id, m.side, m.cohort, {lit(name)}, {order}, 'split',
                  {lit(column)}, {lit(column + ' changed')}, {_value('fb', (column,))},
                  {_value('fa', (column,))}
                FROM m_rule m LEFT JOIN fb USING (entity_id) LEFT JOIN fa USING (entity_id)
                WHERE fb."{column}" IS DISTINCT FROM fa."{column}" """)
    _status_reasons(con, movers)


def _status_reasons(con, movers: str) -> None:
    """Reasons outside the rules: overrides, suppression, population; then the fallback."""
    con.execute(f"""INSERT INTO clause_changes
        SELECT entity_id, side, cohort, NULL, 0, kind, NULL, reason, NULL, NULL FROM (
          SELECT entity_id, 'join' AS side, cohort_after AS cohort, 'override' AS kind,
                 'overridden by review (' || override_id || ')' AS reason
            FROM {movers} WHERE override_id IS NOT NULL AND cohort_after IS NOT NULL
          UNION ALL
          SELECT entity_id, 'leave', cohort_before, 'override',
                 'overridden by review (' || override_id || ')'
            FROM {movers} WHERE override_id IS NOT NULL AND cohort_after IS NULL
          UNION ALL
          SELECT entity_id, 'leave', cohort_before, 'suppressed',
                 'suppressed by ' || coalesce(suppressed_by_after, 'a suppression')
            FROM {movers} WHERE status_after = 'suppressed'
          UNION ALL
          SELECT entity_id, 'leave', cohort_before, 'population', 'left the population'
            FROM {movers} WHERE movement = 'exited' AND status_after IS NULL
          UNION ALL
          SELECT entity_id, 'join', cohort_after, 'population', 'new in the population'
            FROM {movers} WHERE movement = 'entered' AND status_before IS NULL
          UNION ALL
          SELECT entity_id, 'join', cohort_after, 'suppressed',
                 'no longer suppressed by ' || coalesce(suppressed_by_before, 'a suppression')
            FROM {movers} WHERE status_before = 'suppressed' AND cohort_after IS NOT NULL)""")
    con.execute(f"""INSERT INTO clause_changes
        SELECT m.entity_id, CASE WHEN m.cohort_before IS NULL THEN 'join' ELSE 'leave' END,
          coalesce(m.cohort_before, m.cohort_after), NULL, 999, 'ranking',
          NULL, 'no clause changed: ranking or cohort priority decided',
          CAST(round(m.score_before, 4) AS VARCHAR), CAST(round(m.score_after, 4) AS VARCHAR)
        FROM {movers} m ANTI JOIN clause_changes c USING (entity_id)
        WHERE m.movement <> 'stayed'""")
