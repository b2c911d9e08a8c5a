"""Why each mover moved: the clauses whose truth changed, with the values before and after.

Every cohort rule's clauses are evaluated on both runs' feature frames for the movers of
that cohort only (never a loop over customers), and a row is kept wherever a clause's truth
differs: a fixed number of statements for all rules together (``collect_changes``).
Suppression, population changes and overrides are reasons too; a mover with none of
these gets an explicit ranking/priority reason, so every mover has one.
"""

from __future__ import annotations

from segflow.governance.clauses import CohortRule, bind
from segflow.scoring.sqlparts import literal as lit

COLUMNS = (("entity_id", "VARCHAR"), ("side", "VARCHAR"), ("cohort", "VARCHAR"),
           ("rule", "VARCHAR"), ("clause_order", "INTEGER"), ("clause_id", "VARCHAR"),
           ("clause_text", "VARCHAR"), ("reason", "VARCHAR"), ("value_before", "VARCHAR"),
           ("value_after", "VARCHAR"))
# an empty table of typed columns written as a query, which both engines run
CHANGES = ("CREATE OR REPLACE TEMP TABLE clause_changes AS SELECT "
           + ", ".join(f"CAST(NULL AS {t}) AS {c}" for c, t in COLUMNS) + " WHERE false")


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


# The text of a feature value in a reason or a review detail, the same on both engines
# (each engine's own CAST AS VARCHAR prints a TIMESTAMPTZ with and without "+00", a double
# of 1e7 or more as 10029449.42 and as 1.002944942E7): a timestamp as "2027-02-22 14:39:43
# UTC" (to the second; both engines run in UTC), a double or float in plain decimal to at
# most 4 places without trailing zeros or exponent ("10029449.42", "0.25", "-3"), beyond
# 1e15 (where 4 places exceed a double's precision) in the engine's own notation; every
# other type (integers, decimals, dates, text, booleans) as CAST AS VARCHAR prints it, which
# is the same on both. docs/governance.md shows the forms.
PLAIN_LIMIT = "1e15"


def value_sql(ref: str, kind: str | None) -> str:
    """SQL for the text of ``ref`` (a column reference) of type ``kind`` (DESCRIBE's type
    name on either engine; None: unknown, CAST): one expression both engines print alike."""
    kind = (kind or "").lower()
    if "timestamp" in kind:
        return f"strftime({ref}, '%Y-%m-%d %H:%M:%S') || ' UTC'"
    if kind in ("double", "float", "real", "float4", "float8"):
        # through the engine's own text (the shortest digits that read back as the value)
        # to DECIMAL: both round that text half away from zero, where a double's direct
        # CAST rounds its binary value on DuckDB and its text on Spark
        plain = (f"regexp_replace(CAST(CAST(CAST({ref} AS VARCHAR) AS DECIMAL(38, 4)) "
                 "AS VARCHAR), '[.]?0+$', '', 'g')")
        return (f"CASE WHEN abs({ref}) < {PLAIN_LIMIT} THEN {plain} "
                f"ELSE CAST({ref} AS VARCHAR) END")
    return f"CAST({ref} AS VARCHAR)"


def column_types(con, view: str) -> dict[str, str]:
    """Column name -> type name of a view or table (from the plan on Spark: no job)."""
    return {r[0]: r[1] for r in con.execute(f"DESCRIBE {view}").fetchall()}


def _value(alias: str, columns: tuple[str, ...], types: dict[str, str]) -> str:
    """The text of a clause's values: the one column's, or ``c1=..., c2=...``."""
    if not columns:
        return "NULL"
    parts = [value_sql(f'{alias}."{c}"', types.get(c)) for c in columns]
    if len(parts) == 1:
        return parts[0]
    return "concat_ws(', ', " + ", ".join(
        f"{lit(c + '=')} || coalesce({p}, 'null')" for c, p in zip(columns, parts, strict=True)
    ) + ")"


def _absent(columns: tuple[str, ...]) -> str:
    """The text ``_value`` gives for an entity the run has no features for: NULL for one
    column, ``c1=null, c2=null`` for several (as the joins of old printed it)."""
    return "NULL" if len(columns) < 2 else lit(", ".join(f"{c}=null" for c in columns))


RULE = "segflow_rule"  # the rule a mover's feature row is read for (rule_before/rule_after)


def collect_changes(con, rules: dict[str, CohortRule], movers: str, before: str,
                    after: str) -> None:
    """Fill temp table ``clause_changes`` from the movers table and two feature views.

    A fixed number of statements, however many rules and clauses the campaign has (on
    Spark every statement costs at least a job, about a second, so a statement per rule
    made reasons most of govern's time), and no UNION ALL over rules either (on Spark each
    branch adds tasks that each deserialize the whole plan): the movers of every rule with
    their side (``rule_sides``), their feature rows of both runs tagged with the rule
    (``rule_before``/``rule_after``), each run's truths and values in clause slots
    (``truths_b``/``truths_a``: slot k is the k-th clause of the row's rule, a CASE over
    the rules), and one join with the clauses (``rule_clauses``) that keeps each clause
    whose truth (or split value) changed."""
    con.execute(CHANGES)
    clauses = _clause_rows(rules)
    if clauses:
        names = ", ".join(lit(n) for n in rules)
        con.execute(f"""CREATE OR REPLACE TEMP TABLE rule_sides AS
            SELECT entity_id, 'leave' AS side, cohort_before AS cohort, base_before AS rule
              FROM {movers}
             WHERE base_before IN ({names}) AND movement IN ('exited', 'moved')
            UNION ALL
            SELECT entity_id, 'join', cohort_after, base_after FROM {movers}
             WHERE base_after IN ({names}) AND movement IN ('entered', 'moved')""")
        for table, src in (("rule_before", before), ("rule_after", after)):
            con.execute(f"""CREATE OR REPLACE TEMP TABLE {table} AS
                SELECT f.*, r.rule AS {RULE} FROM {src} f
                JOIN (SELECT DISTINCT entity_id, rule FROM rule_sides) r
                  ON f.entity_id = r.entity_id""")
        columns = list(clauses[0])
        con.execute("CREATE OR REPLACE TEMP TABLE rule_clauses AS SELECT * FROM (VALUES "
                    + ", ".join("(" + ", ".join(row.values()) + ")" for row in clauses)
                    + f") t({', '.join(columns)})")
        slots = _slots(rules)
        for run, table, src in (("b", "rule_before", before), ("a", "rule_after", after)):
            _truths(con, rules, slots, f"truths_{run}", table, column_types(con, src))
        pick = {key: "CASE k.clause_order " + " ".join(
            f"WHEN {order} THEN {{run}}.{key}_{order}" for order in slots) + " END"
            for key in ("t", "r", "v")}
        b, a = ({k: v.format(run=run) for k, v in pick.items()} for run in ("b", "a"))
        con.execute(f"""INSERT INTO clause_changes
            SELECT s.entity_id, s.side, s.cohort, s.rule, k.clause_order, k.clause_id,
              k.clause_text, CASE WHEN k.split THEN k.changed WHEN {a['t']} THEN k.gained
                                  ELSE k.lost END,
              coalesce({b['v']}, k.absent), coalesce({a['v']}, k.absent)
            FROM rule_sides s JOIN rule_clauses k ON k.rule = s.rule
            LEFT JOIN truths_b b ON b.entity_id = s.entity_id AND b.rule = s.rule
            LEFT JOIN truths_a a ON a.entity_id = s.entity_id AND a.rule = s.rule
            WHERE CASE WHEN k.split THEN {b['r']} IS DISTINCT FROM {a['r']}
                       ELSE {b['t']} IS DISTINCT FROM {a['t']} END""")
    _status_reasons(con, movers)


def _clause_rows(rules: dict[str, CohortRule]) -> list[dict[str, str]]:
    """Per rule, its clauses (order 1..n) and split columns (order 100..): what a changed
    one is called, as SQL literals of table ``rule_clauses``."""
    rows = []
    for name, rule in rules.items():
        for order, clause in enumerate(rule.clauses, start=1):
            lost, gained = clause_phrases(clause)
            values = (clause.column,) if clause.column else clause.columns
            rows.append({"rule": lit(name), "clause_order": str(order),
                         "clause_id": lit(clause.id), "clause_text": lit(clause.text),
                         "split": "false", "gained": lit(gained), "lost": lit(lost),
                         "changed": "CAST(NULL AS VARCHAR)",
                         "absent": f"CAST({_absent(values)} AS VARCHAR)"})
        for order, column in enumerate(rule.spec.split_by, start=100):
            rows.append({"rule": lit(name), "clause_order": str(order), "clause_id":
                         "'split'", "clause_text": lit(column), "split": "true",
                         "gained": "CAST(NULL AS VARCHAR)", "lost": "CAST(NULL AS VARCHAR)",
                         "changed": lit(column + " changed"),
                         "absent": "CAST(NULL AS VARCHAR)"})
    return rows


def _slots(rules: dict[str, CohortRule]) -> list[int]:
    """The clause orders any rule has: 1..the most clauses, 100..the most split columns."""
    most = max((len(r.clauses) for r in rules.values()), default=0)
    split = max((len(r.spec.split_by) for r in rules.values()), default=0)
    return [*range(1, most + 1), *range(100, 100 + split)]


def _truths(con, rules: dict[str, CohortRule], slots: list[int], name: str, table: str,
            types: dict[str, str]) -> None:
    """Temp table ``name`` over ``table`` (feature rows tagged with their rule): per row,
    for each slot k, ``t_k`` the truth of the rule's k-th clause (NULL counts as false),
    ``v_k`` its values' text, ``r_k`` a split column's value (compared as text). One
    SELECT: each slot a CASE over the rules (NULL where the rule has no such clause)."""
    cases: dict[str, list[str]] = {f"{k}_{o}": [] for o in slots for k in ("t", "r", "v")}
    params: dict = {}
    for rule_name, rule in rules.items():
        params.update(rule.params)
        when = f"WHEN {lit(rule_name)} THEN "
        for order, clause in enumerate(rule.clauses, start=1):
            values = (clause.column,) if clause.column else clause.columns
            cases[f"t_{order}"].append(f"{when}coalesce(({clause.sql}), false)")
            cases[f"v_{order}"].append(when + _value("f", values, types))
        for order, column in enumerate(rule.spec.split_by, start=100):
            cases[f"r_{order}"].append(f'{when}CAST(f."{column}" AS VARCHAR)')
            cases[f"v_{order}"].append(when + _value("f", (column,), types))
    kinds = {"t": "BOOLEAN", "r": "VARCHAR", "v": "VARCHAR"}
    shown = ", ".join(
        (f"CASE f.{RULE} {' '.join(w)} END" if w else f"CAST(NULL AS {kinds[k[0]]})")
        + f" AS {k}" for k, w in cases.items())
    bind(con, f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT f.entity_id, "
              f"f.{RULE} AS rule, {shown} FROM {table} f", params)


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
          {value_sql('m.score_before', 'double')}, {value_sql('m.score_after', 'double')}
        FROM {movers} m ANTI JOIN clause_changes c USING (entity_id)
        WHERE m.movement <> 'stayed'""")
