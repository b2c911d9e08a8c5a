"""Movement reasons and the review queue issue a fixed number of statements, however many
cohort rules a campaign has: on Spark every statement costs at least one job (about a second
in local mode), so a statement per rule or per clause made them most of ``govern``'s time on
a 40-rule campaign. Counted on DuckDB (the same SQL runs on Spark) for a campaign of 2 rules
and one of 12, each rule with two clauses, one of them banded; about 2 s."""

from __future__ import annotations

from types import SimpleNamespace

import duckdb

from segflow.governance.clauses import Clause, CohortRule
from segflow.governance.movement import build_movers
from segflow.governance.reasons import collect_changes
from segflow.governance.review import find_exceptions

PER_RULE = 4  # entities that move out of each rule's cohort into the next one's


class Counting:
    """A DuckDB connection that counts the statements it is given."""

    def __init__(self, con):
        self.con, self.statements = con, 0

    def execute(self, *args):
        self.statements += 1
        return self.con.execute(*args)

    def __getattr__(self, name):
        return getattr(self.con, name)


def _rules(n: int) -> dict[str, CohortRule]:
    """``n`` rules r0..r<n-1>: ``x >= 5`` (banded, its threshold a param) and ``y < 10``."""
    rules = {}
    for i in range(n):
        spec = SimpleNamespace(name=f"r{i}", split_by=(), priority=i)
        clauses = (Clause("c1", "x >= 5", f"x >= $p{i}_t", ("x",), "x", ">=", 5.0,
                          ((">=", 5.0),)),
                   Clause("c2", "y < 10", "y < 10", ("y",), "y", "<", 10.0))
        rules[f"r{i}"] = CohortRule(spec, f"Rule {i}", (), clauses, {f"p{i}_t": 5})
    return rules


def _world(n: int):
    """Views of two runs: every entity of r<i> last run is in r<i+1> now, its x risen from
    1 to 5.1 (clause c1 became true: a reason on both sides, and within 5% of 5: a boundary
    item) and y unchanged; a run context with those rules."""
    con = duckdb.connect()
    rows = [(f"e{i}_{j}", f"r{i}", f"r{(i + 1) % n}") for i in range(n)
            for j in range(PER_RULE)]
    values = ", ".join(f"('{e}', '{b}', '{a}')" for e, b, a in rows)
    con.execute(f"CREATE TABLE ids AS SELECT * FROM (VALUES {values}) t(entity_id, b, a)")
    for run, cohort, x in (("prev", "b", 1.0), ("cur", "a", 5.1)):
        con.execute(f"""CREATE VIEW m_{run} AS SELECT entity_id, {cohort} AS cohort,
            'assigned' AS status, CAST(NULL AS VARCHAR) AS suppressed_by, 0.5 AS score,
            'tpl' AS template FROM ids""")
        con.execute(f"CREATE VIEW f_{run} AS SELECT entity_id, {x} AS x, 3 AS y FROM ids")
    config = SimpleNamespace(band=0.05, campaign="c", big_mover_tiers=99, review={},
                             revenue_limit=None, note_topics=None)
    ctx = SimpleNamespace(config=config, rules=_rules(n), columns={"x": "DOUBLE"},
                          run_id="run1")
    return con, ctx


def _statements(n: int) -> tuple[int, int, int]:
    """(statements of the reasons and review steps, clause changes, review items)."""
    con, ctx = _world(n)
    build_movers(con, True)
    counting = Counting(con)
    collect_changes(counting, ctx.rules, "movers", "f_prev", "f_cur")
    find_exceptions(counting, ctx)
    changes = con.execute("SELECT count(*) FROM clause_changes WHERE clause_id = 'c1'"
                          ).fetchone()[0]
    items = con.execute("SELECT count(DISTINCT rule) FROM new_items").fetchone()[0]
    return counting.statements, changes, items


def test_reasons_and_review_statements_do_not_grow_with_the_rules():
    few, changes_few, items_few = _statements(2)
    many, changes_many, items_many = _statements(12)
    # every rule's movers got their reason (a leave and a join row each) and every rule's
    # banded clause its boundary items: the work grew, the statements did not
    assert (changes_few, changes_many) == (2 * 2 * PER_RULE, 12 * 2 * PER_RULE)
    assert (items_few, items_many) == (2, 12)
    assert many == few
