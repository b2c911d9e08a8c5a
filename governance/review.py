"""Exception review: boundary entities, big movers and anomalies go to ``review_queue``.

A named reviewer (one of the cohort template's owners, the campaign's owners or the
campaign's ``review.reviewers``) confirms or overrides each item with a required reason;
an override becomes a row in ``overrides`` that later refreshes apply until it expires.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from governance.reasons import fmt, lit
from segflow.errors import SegflowError

QUEUE_COLS = ("review_id, run_id, campaign, entity_id, rule, detail, cohort_before, "
              "proposed_cohort, template, status")


def _insert(con, run_id: str, campaign: str, select_sql: str) -> None:
    """Insert rows (entity_id, rule, detail, cohort_before, proposed_cohort, template)."""
    con.execute(f"""INSERT OR IGNORE INTO review_queue ({QUEUE_COLS})
        SELECT 'R' || substr(sha1({lit(run_id)} || '|' || entity_id || '|' || rule), 1, 10),
          {lit(run_id)}, {lit(campaign)}, entity_id, rule, detail, cohort_before,
          proposed_cohort, template, 'open' FROM ({select_sql})""")


def find_exceptions(con, ctx) -> int:
    """Fill the queue for one run from views m_cur, f_cur and temp table movement."""
    cfg, run_id = ctx.config, ctx.run_id
    con.execute("DELETE FROM review_queue WHERE run_id = ? AND status = 'open'", [run_id])
    current = ("SELECT m.entity_id, m.cohort, m.template, mv.cohort_before FROM m_cur m "
               "LEFT JOIN movement mv USING (entity_id) "
               "WHERE m.status IN ('assigned', 'holdout')")
    for name, rule in ctx.rules.items():
        for clause in rule.clauses:
            if cfg.band <= 0:  # a band of 0 switches boundary review off
                break
            if clause.threshold is None or clause.op not in (">", ">=", "<", "<="):
                continue
            width = abs(clause.threshold) * cfg.band
            _insert(con, run_id, cfg.campaign, f"""
              SELECT c.entity_id, 'boundary:{name}.{clause.id}' AS rule,
                {lit(clause.column)} || ' = ' || CAST(f."{clause.column}" AS VARCHAR)
                  || {lit(f' is within {cfg.band:.0%} of the threshold in {clause.text}')}
                  AS detail, c.cohort_before, c.cohort AS proposed_cohort, c.template
              FROM ({current}) c JOIN f_cur f USING (entity_id)
              WHERE split_part(c.cohort, '__', 1) = {lit(name)}
                AND abs(f."{clause.column}" - {clause.threshold!r}) <= {width!r}""")
    _big_movers(con, ctx)
    if "is_anomaly" in ctx.columns:
        _insert(con, run_id, cfg.campaign, f"""SELECT c.entity_id, 'anomaly' AS rule,
            'flagged is_anomaly by the anomaly model' AS detail, c.cohort_before,
            c.cohort AS proposed_cohort, c.template FROM ({current}) c
            JOIN f_cur f USING (entity_id) WHERE f.is_anomaly""")
    return con.execute("SELECT count(*) FROM review_queue WHERE run_id = ? AND status = "
                       "'open'", [run_id]).fetchone()[0]


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
        m.template FROM movement mv
        JOIN tiers b ON b.cohort = split_part(mv.cohort_before, '__', 1)
        JOIN tiers a ON a.cohort = split_part(mv.cohort_after, '__', 1)
        JOIN m_cur m USING (entity_id)
        WHERE mv.movement = 'moved' AND abs(a.level - b.level) >= {cfg.big_mover_tiers}""")
    column = cfg.review.get("revenue_column") or next(
        (c for c in ("revenue_4q", "monetary_365d", "lifetime_spend") if c in ctx.columns), None)
    if cfg.revenue_limit is None or column is None:
        return
    _insert(con, ctx.run_id, cfg.campaign, f"""SELECT mv.entity_id, 'revenue_mover' AS rule,
        {lit(column)} || ' = ' || CAST(f."{column}" AS VARCHAR)
          || {lit(' above the review limit ' + fmt(cfg.revenue_limit))} AS detail,
        mv.cohort_before, mv.cohort_after AS proposed_cohort, NULL AS template
        FROM movement mv JOIN f_cur f USING (entity_id)
        WHERE mv.movement <> 'stayed' AND f."{column}" > {cfg.revenue_limit!r}""")


def allowed_reviewers(ctx, cohort: str | None) -> set[str]:
    names = set(ctx.config.owners) | set(ctx.config.review.get("reviewers") or [])
    rule = ctx.rules.get((cohort or "").split("__")[0])
    return names | set(rule.owners if rule else ())


def get_item(con, item_id: str) -> dict:
    cur = con.execute("SELECT * FROM review_queue WHERE review_id = ?", [item_id])
    row = cur.fetchone()
    if row is None:
        raise SegflowError(f"no review item '{item_id}' (see `segflow review list`)")
    return dict(zip([d[0] for d in cur.description], row, strict=True))


def decide(con, ctx, item: dict, by: str, reason: str, to: str | None = None,
           expires: datetime | None = None) -> dict:
    """Confirm (``to`` None) or override an open item; returns the stored decision."""
    if not reason or not reason.strip():
        raise SegflowError("a reason is required for every review decision (--reason)")
    if item["status"] != "open":
        raise SegflowError(f"review item {item['review_id']} is already {item['status']}")
    allowed = allowed_reviewers(ctx, item["proposed_cohort"] or item["cohort_before"])
    if by not in allowed:
        raise SegflowError(f"{by!r} may not review {item['review_id']}: reviewers are "
                           f"{', '.join(sorted(allowed))} (template and campaign owners)")
    known = set(ctx.rules) | {"unassigned"}
    if to is not None and to.split("__")[0] not in known:
        raise SegflowError(f"--to {to!r} is not a cohort of {ctx.config.campaign}; one of "
                           f"{', '.join(sorted(known))}")
    now = datetime.now(UTC)
    status = "confirmed" if to is None else "overridden"
    con.execute("""UPDATE review_queue SET status = ?, decided_by = ?, decided_at = ?,
        reason = ?, override_to = ? WHERE review_id = ?""",
                [status, by, now, reason, to, item["review_id"]])
    decision = {"review_id": item["review_id"], "entity_id": item["entity_id"],
                "status": status, "by": by, "reason": reason, "to": to,
                "expires": expires.isoformat() if expires else None}
    if to is not None:
        oid = "O" + hashlib.sha1(f"{item['review_id']}|{now}".encode()).hexdigest()[:10]
        con.execute("INSERT INTO overrides VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [oid, item["campaign"], item["entity_id"], to, reason, by, now, expires,
                     item["review_id"], item["run_id"]])
        decision["override_id"] = oid
    return decision
