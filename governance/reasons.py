"""Why each mover moved: the clauses whose truth changed, with the values before and after.

For every cohort rule (a loop over rules and clauses, never over customers) the clauses are
evaluated on both runs' feature frames for the movers of that cohort only, and a row is kept
wherever a clause's truth differs. Suppression, population changes and overrides are
reasons too; a mover with none of these gets an explicit ranking/priority reason, so every
mover has one.
"""

from __future__ import annotations

from segflow.governance.clauses import CohortRule, bind, truth_sql

COLUMNS = (("entity_id", "VARCHAR"), ("side", "VARCHAR"), ("cohort", "VARCHAR"),
           ("rule", "VARCHAR"), ("clause_order", "INTEGER"), ("clause_id", "VARCHAR"),
           ("clause_text", "VARCHAR"), ("reason", "VARCHAR"), ("value_before", "VARCHAR"),
           ("value_after", "VARCHAR"))
# an empty table of typed columns written as a query, which both engines run
CHANGES = ("CREATE OR REPLACE TEMP TABLE clause_changes AS SELECT "
           + ", ".join(f"CAST(NULL AS {t}) AS {c}" for c, t in COLUMNS) + " WHERE false")


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
    """Fill temp table ``clause_changes`` from the movers table and two feature views.

    The movers' feature rows are read from the two runs' files once; every rule then
    picks its own from those (re-reading both files per rule was most of the time)."""
    con.execute(CHANGES)
    for table, src in (("moved_before", before), ("moved_after", after)):
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT f.* FROM {src} f "
                    f"SEMI JOIN (SELECT entity_id FROM {movers} WHERE movement <> 'stayed') m "
                    "USING (entity_id)")
    for name, rule in rules.items():
        con.execute(f"""CREATE OR REPLACE TEMP VIEW m_rule AS
            SELECT entity_id, 'leave' AS side, cohort_before AS cohort FROM {movers}
             WHERE base_before = {lit(name)} AND movement IN ('exited', 'moved')
            UNION ALL
            SELECT entity_id, 'join', cohort_after FROM {movers}
             WHERE base_after = {lit(name)} AND movement IN ('entered', 'moved')""")
        for side, src in (("fb", "moved_before"), ("fa", "moved_after")):
            con.execute(f"CREATE OR REPLACE TEMP TABLE {side} AS SELECT f.* FROM {src} f "
                        "SEMI JOIN m_rule m USING (entity_id)")
        for side in ("b", "a"):
            bind(con, f"CREATE OR REPLACE TEMP TABLE t{side} AS "
                      f"{truth_sql(rule, 'f' + side)}", rule.params)
        _rule_changes(con, name, rule)
    _status_reasons(con, movers)


def _rule_changes(con, name: str, rule: CohortRule) -> None:
    """One join of the rule's movers with both runs' truths and values, then every clause
    (and split column) whose truth changed, read from it: the joins are paid once per
    rule rather than once per clause."""
    cols, entries = [], []
    for order, clause in enumerate(rule.clauses, start=1):
        lost, gained = clause_phrases(clause)
        values = (clause.column,) if clause.column else clause.columns
        k = clause.id
        cols += [f"tb.{k} AS b_{k}", f"ta.{k} AS a_{k}", f"{_value('fb', values)} AS vb_{k}",
                 f"{_value('fa', values)} AS va_{k}"]
        entries.append(_entry(name, order, k, clause.text, f"CASE WHEN a_{k} THEN "
                              f"{lit(gained)} ELSE {lit(lost)} END",
                              f"b_{k} IS DISTINCT FROM a_{k}", k))
    for order, column in enumerate(rule.spec.split_by, start=100):
        k = f"s{order}"
        cols += [f'fb."{column}" IS DISTINCT FROM fa."{column}" AS changed_{k}',
                 f"{_value('fb', (column,))} AS vb_{k}", f"{_value('fa', (column,))} AS va_{k}"]
        entries.append(_entry(name, order, "split", column, lit(column + " changed"),
                              f"changed_{k}", k))
    if not entries:
        return
    con.execute(f"""CREATE OR REPLACE TEMP TABLE rule_movers AS
        SELECT m.entity_id, m.side, m.cohort, {', '.join(cols)}
        FROM m_rule m LEFT JOIN tb USING (entity_id) LEFT JOIN ta USING (entity_id)
          LEFT JOIN fb USING (entity_id) LEFT JOIN fa USING (entity_id)""")
    con.execute("INSERT INTO clause_changes " + " UNION ALL ".join(entries))


def _entry(rule: str, order: int, clause_id: str, text: str, why: str, changed: str,
           k: str) -> str:
    """The rows of ``rule_movers`` whose clause ``k`` changed, as rows of clause_changes
    (one SELECT per clause over the rule's one join: a UNION ALL both engines run)."""
    return (f"SELECT entity_id, side, cohort, {lit(rule)}, {order}, {lit(clause_id)}, "
            f"{lit(text)}, {why}, vb_{k}, va_{k} FROM rule_movers WHERE {changed}")


def _curated_reasons(con, movers: str) -> None:
    """Curated cohorts (table ``curated_notes``, when the run has any): joining one says who
    curated it and why, on both sides of a move (it, not a clause, decided); leaving one
    says whether the list expired, was retired or no longer names the account."""
    from segflow.sqlengine import has_table

    if not has_table(con, "curated_notes"):
        return
    con.execute(f"""INSERT INTO clause_changes
        SELECT entity_id, side, cohort, NULL, 0, 'curated', NULL, why, NULL, NULL FROM (
          SELECT m.entity_id, 'join' AS side, m.cohort_after AS cohort, n.joined AS why
            FROM {movers} m JOIN curated_notes n ON n.cohort = m.cohort_after
           WHERE m.movement IN ('entered', 'moved') AND n.joined IS NOT NULL
          UNION ALL
          SELECT m.entity_id, 'leave', m.cohort_before, n.joined
            FROM {movers} m JOIN curated_notes n ON n.cohort = m.cohort_after
           WHERE m.movement = 'moved' AND n.joined IS NOT NULL
          UNION ALL
          SELECT m.entity_id, 'leave', m.cohort_before, n.left_why
            FROM {movers} m JOIN curated_notes n ON n.cohort = m.cohort_before
           WHERE m.movement IN ('exited', 'moved'))""")


def _status_reasons(con, movers: str) -> None:
    """Reasons outside the rules: curated cohorts, overrides, suppression, population; then
    the fallback."""
    _curated_reasons(con, movers)
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
          CAST(CAST(m.score_before AS DECIMAL(18, 4)) AS VARCHAR),
          CAST(CAST(m.score_after AS DECIMAL(18, 4)) AS VARCHAR)
        FROM {movers} m ANTI JOIN clause_changes c USING (entity_id)
        WHERE m.movement <> 'stayed'""")
