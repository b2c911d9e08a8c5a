"""Exception review: boundary entities, big movers and anomalies go to ``review_queue``.

A reviewer of the owners file whose scope covers the item (``segflow.governance.owners``) confirms
or overrides it with a reason that says something; an override becomes a row in
``overrides`` that later refreshes apply until it expires. An override must name a cohort
of the run's own (frozen) campaign, expire in the future, and concern an entity of the run.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from segflow.errors import SegflowError
from segflow.governance.reasons import column_types, fmt, lit, value_sql

QUEUE_COLS = ("review_id, run_id, campaign, entity_id, rule, detail, cohort_before, "
              "proposed_cohort, template, status")


def _insert(con, run_id: str, campaign: str, select_sql: str) -> None:
    """Insert rows (entity_id, rule, detail, cohort_before, proposed_cohort, template)."""
    con.execute(f"""INSERT INTO new_items ({QUEUE_COLS})
        SELECT 'R' || substr(sha1({lit(run_id)} || '|' || entity_id || '|' || rule), 1, 10),
          {lit(run_id)}, {lit(campaign)}, entity_id, rule, detail, cohort_before,
          proposed_cohort, template, 'open' FROM ({select_sql})""")


def store_exceptions(con, run_id: str) -> int:
    """Replace the run's open items by the ones just found (table or view ``new_items``;
    decided items stay decided); returns how many are open. Runs inside governance's audit
    transaction, on the workspace's DuckDB."""
    con.execute("DELETE FROM review_queue WHERE run_id = ? AND status = 'open'", [run_id])
    con.execute(f"""INSERT OR IGNORE INTO review_queue ({QUEUE_COLS})
        SELECT {QUEUE_COLS} FROM new_items
        QUALIFY row_number() OVER (PARTITION BY review_id ORDER BY rule) = 1""")
    return con.execute("SELECT count(*) FROM review_queue WHERE run_id = ? AND status = "
                       "'open'", [run_id]).fetchone()[0]


def find_exceptions(con, ctx) -> None:
    """Fill temp table ``new_items`` for one run from views m_cur, f_cur and temp table
    movers (``segflow.governance.movement.build_movers``); ``store_exceptions`` moves them
    into the queue. The same SQL on either engine (``segflow.sqlengine``): on Spark the
    items stay on the executors until written as Parquet (``governance.pipeline``)."""
    cfg, run_id = ctx.config, ctx.run_id
    con.execute("CREATE OR REPLACE TEMP TABLE new_items AS SELECT "
                + ", ".join(f"CAST(NULL AS VARCHAR) AS {c}" for c in QUEUE_COLS.split(", "))
                + " WHERE false")
    current = ("SELECT m.entity_id, m.cohort, m.template, mv.cohort_before FROM m_cur m "
               "LEFT JOIN movers mv USING (entity_id) "
               "WHERE m.status IN ('assigned', 'holdout')")
    _boundary(con, ctx, current)
    _big_movers(con, ctx)
    _note_topics(con, ctx)
    if "is_anomaly" in ctx.columns:
        _insert(con, run_id, cfg.campaign, f"""SELECT c.entity_id, 'anomaly' AS rule,
            'flagged is_anomaly by the anomaly model' AS detail, c.cohort_before,
            c.cohort AS proposed_cohort, c.template FROM ({current}) c
            JOIN f_cur f USING (entity_id) WHERE f.is_anomaly""")


def _boundary(con, ctx, current: str) -> None:
    """Members within ``band`` of a threshold of their cohort's rule (``boundary:<cohort>.
    <clause>``): one statement for every rule and banded clause, the members joined once
    with the banded clauses of their cohort's rule (an inline table) and each clause's
    test and detail a CASE over them, so neither the statements (a job each on Spark) nor
    the plan (a UNION ALL branch each) grow with the rules."""
    cfg = ctx.config
    if cfg.band <= 0:  # a band of 0 switches boundary review off
        return
    types = column_types(con, "f_cur")
    keys, near, detail = [], [], []
    for name, rule in ctx.rules.items():
        for clause in rule.clauses:
            if not clause.bands:
                continue
            key = lit(f"{name}.{clause.id}")
            keys.append(f"({lit(name)}, {key})")
            near.append(f"WHEN {key} THEN " + " OR ".join(
                f'abs(f."{clause.column}" - {t!r}) <= {abs(t) * cfg.band!r}'
                for _, t in clause.bands))
            value = value_sql(f'f."{clause.column}"', types.get(clause.column))
            detail.append(f"WHEN {key} THEN {lit(clause.column)} || ' = ' || {value} || "
                          + lit(f" is within {cfg.band:.0%} of the threshold in {clause.text}"))
    if not keys:
        return
    _insert(con, ctx.run_id, cfg.campaign, f"""
        SELECT c.entity_id, 'boundary:' || k.clause AS rule,
          CASE k.clause {' '.join(detail)} END AS detail, c.cohort_before,
          c.cohort AS proposed_cohort, c.template
        FROM ({current}) c JOIN f_cur f USING (entity_id)
        JOIN (VALUES {', '.join(keys)}) k(base, clause)
          ON k.base = split_part(c.cohort, '__', 1)
        WHERE CASE k.clause {' '.join(near)} END""")


def _note_topics(con, ctx) -> None:
    """Accounts whose latest note has a topic the campaign routes (``review.note_topics``):
    one item each, rule ``note:<topic>``, decided by the reviewers the owners file names for
    the topic (``topics:``) and, as every item, by the campaign's reviewers."""
    from segflow.governance.notes import (
        has_note_topics,
        note_words_sql,
        register_note_topics,
        routed_sql,
    )
    from segflow.governance.owners import NOTE_RULE
    from segflow.governance.store import deciding_rows

    if not has_note_topics(con) and not register_note_topics(con, ctx):
        return
    routed = routed_sql(ctx)
    if routed is None:
        return
    _insert(con, ctx.run_id, ctx.config.campaign, f"""SELECT n.entity_id,
        {lit(NOTE_RULE)} || n.topic AS rule,
        {note_words_sql('n')} || coalesce(' ("' || left(n.text, 80)
          || CASE WHEN length(n.text) > 80 THEN '...' ELSE '' END || '")', '')
          || '; routed to ' || n.owners AS detail,
        mv.cohort_before, c.cohort AS proposed_cohort, c.template
        FROM ({routed}) n
        JOIN ({deciding_rows("m_cur")}) c USING (entity_id)
        LEFT JOIN movers mv USING (entity_id)""")


def _big_movers(con, ctx) -> None:
    """Moves across ``big_mover_tiers`` or more priority levels; movers above revenue_limit."""
    cfg = ctx.config
    tiers = {r.spec.name: r.spec.priority for r in ctx.rules.values()}
    levels = {p: i for i, p in enumerate(sorted(set(tiers.values())))}
    values = ", ".join(f"({lit(n)}, {levels[p]})" for n, p in tiers.items()) or "(NULL, 0)"
    con.execute(f"CREATE OR REPLACE TEMP TABLE tiers AS SELECT * FROM (VALUES {values}) "
                "t(cohort, level)")
    _insert(con, ctx.run_id, cfg.campaign, f"""SELECT mv.entity_id, 'big_mover' AS rule,
        'moved ' || abs(a.level - b.level) || ' tiers: ' || mv.cohort_before || ' -> '
          || mv.cohort_after AS detail, mv.cohort_before, mv.cohort_after AS proposed_cohort,
        m.template FROM movers mv
        JOIN tiers b ON b.cohort = split_part(mv.cohort_before, '__', 1)
        JOIN tiers a ON a.cohort = split_part(mv.cohort_after, '__', 1)
        JOIN m_cur m USING (entity_id)
        WHERE mv.movement = 'moved' AND abs(a.level - b.level) >= {cfg.big_mover_tiers}""")
    column = cfg.review.get("revenue_column")  # required with revenue_limit (config)
    if cfg.revenue_limit is None or column is None:
        return
    types = column_types(con, "f_cur")
    _insert(con, ctx.run_id, cfg.campaign, f"""SELECT mv.entity_id, 'revenue_mover' AS rule,
        {lit(column)} || ' = ' || {value_sql(f'f."{column}"', types.get(column))}
          || {lit(' above the review limit ' + fmt(cfg.revenue_limit))} AS detail,
        mv.cohort_before, mv.cohort_after AS proposed_cohort, NULL AS template
        FROM movers mv JOIN f_cur f USING (entity_id)
        WHERE mv.movement <> 'stayed' AND f."{column}" > {cfg.revenue_limit!r}""")


def get_item(con, item_id: str) -> dict:
    cur = con.execute("SELECT * FROM review_queue WHERE review_id = ?", [item_id])
    row = cur.fetchone()
    if row is None:
        raise SegflowError(f"no review item '{item_id}' (see `segflow review list`)")
    return dict(zip([d[0] for d in cur.description], row, strict=True))


def check_reviewer(ctx, item: dict, by: str) -> None:
    """``by`` is a reviewer of the owners file whose scope covers this item."""
    from segflow.governance.owners import may_review

    cohorts = {(c or "").split("__")[0] for c in (item["proposed_cohort"],
                                                  item["cohort_before"]) if c}
    owners = {o for c in cohorts if c in ctx.rules for o in ctx.rules[c].owners}
    cfg = ctx.config
    may_review(ctx.live or ctx.settings, ctx.run_id, by, campaign=cfg.campaign,
               campaign_reviewers=set(cfg.owners) | set(cfg.review.get("reviewers") or []),
               template_owners=owners, template=item.get("template"),
               cohort=item["proposed_cohort"] or item["cohort_before"],
               entity_id=item["entity_id"], rule=item["rule"] or "")


def check_override(con, ctx, item: dict, to: str, expires: datetime | None) -> None:
    """The target is a cohort of the run's frozen campaign (a split cohort must exist in the
    run), the expiry lies after the run's as-of time (the override applies to refreshes as of
    before it expires), and the entity is in the run."""
    from segflow.governance.store import memberships_view

    memberships_view(con, ctx.settings, ctx.run_id, "m_item")
    present = {c for (c,) in con.execute("SELECT DISTINCT cohort FROM m_item WHERE cohort "
                                         "IS NOT NULL").fetchall()}
    plain = {name for name, rule in ctx.rules.items() if not rule.spec.split_by}
    valid = {"unassigned"} | plain | {c for c in present if c.split("__")[0] in ctx.rules}
    if to not in valid:
        raise SegflowError(f"--to {to!r} is not a cohort of {ctx.config.campaign} as run "
                           f"{ctx.run_id} was made; one of {', '.join(sorted(valid))}")
    as_of = datetime.fromisoformat(ctx.run.as_of)
    if expires is not None and expires <= as_of:
        raise SegflowError(f"--expires {expires.date()} is not in the future of run "
                           f"{ctx.run_id} (data as of {as_of.date()}): overrides apply to "
                           "later refreshes until they expire, so this one would never apply")
    found = con.execute("SELECT count(*) FROM m_item WHERE entity_id = ?",
                        [item["entity_id"]]).fetchone()[0]
    if not found:
        raise SegflowError(f"entity {item['entity_id']} is not in run {ctx.run_id}")


def plan_decision(con, ctx, item: dict, by: str, reason: str, to: str | None = None,
                  expires: datetime | None = None):
    """Check a confirmation (``to`` None) or an override of an open item; returns the
    decision and the database writes that store it (run in the audit transaction)."""
    if item["status"] != "open":
        raise SegflowError(f"review item {item['review_id']} is already {item['status']}")
    check_reviewer(ctx, item, by)
    if to is not None:
        check_override(con, ctx, item, to, expires)
    now = datetime.now(UTC)
    status = "confirmed" if to is None else "overridden"
    decision = {"review_id": item["review_id"], "entity_id": item["entity_id"],
                "status": status, "by": by, "reason": reason, "to": to,
                "expires": expires.isoformat() if expires else None}
    oid = None
    if to is not None:
        oid = "O" + hashlib.sha1(f"{item['review_id']}|{now}".encode()).hexdigest()[:10]
        decision["override_id"] = oid

    def writes(c):
        c.execute("""UPDATE review_queue SET status = ?, decided_by = ?, decided_at = ?,
            reason = ?, override_to = ? WHERE review_id = ?""",
                  [status, by, now, reason, to, item["review_id"]])
        if oid is not None:
            c.execute("INSERT INTO overrides VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      [oid, item["campaign"], item["entity_id"], to, reason, by, now, expires,
                       item["review_id"], item["run_id"]])

    return decision, writes
