"""Exception review: boundary entities, big movers and anomalies go to ``review_queue``.

A reviewer of the owners file whose scope covers the item (``segflow.governance.owners``) confirms
or overrides it with a reason that says something; an override becomes a row in
``overrides`` that later refreshes apply until it expires. An override must name a cohort
of the run's own (frozen) campaign, expire in the future, and concern an entity of the run.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from segflow.errors import SegflowError
from segflow.governance.reasons import column_types, fmt, lit, value_sql
from segflow.governance.review_sets import materialise, register, require_items

QUEUE_COLS = ("review_id, run_id, campaign, entity_id, rule, detail, cohort_before, "
              "proposed_cohort, template, status")
# hex digits of an item's id, a hash of run, entity and rule: 64 bits make two items of one
# run share an id about once in 10,000 runs of 100M customers' 20M items (40 bits, as
# before, did it 3 times in one 10M-customer run); store_exceptions refuses the run if so
ID_HEX = 16


def _insert(con, run_id: str, campaign: str, select_sql: str) -> None:
    """Insert rows (entity_id, rule, detail, cohort_before, proposed_cohort, template)."""
    con.execute(f"""INSERT INTO new_items ({QUEUE_COLS})
        SELECT 'R' || substr(sha1({lit(run_id)} || '|' || entity_id || '|' || rule), 1,
                             {ID_HEX}),
          {lit(run_id)}, {lit(campaign)}, entity_id, rule, detail, cohort_before,
          proposed_cohort, template, 'open' FROM ({select_sql})""")


def store_exceptions(con, run_id: str, folder=None) -> int:
    """Replace the run's open items by the ones just found; returns how many are open.
    Decided items stay decided: an item is its entity and rule, whatever id an earlier
    version gave it. The items are table or view ``new_items`` (DuckDB), or the Parquet
    ``folder`` a Spark run's executors wrote, which stays where it is
    (``governance.review_sets``). Runs inside governance's audit transaction, on the
    workspace's DuckDB. An anti-join, a DISTINCT and a streamed insert spill past DuckDB's
    memory limit (a window to pick one row per item did not, with the anti-join); two
    items under one id are refused by ``_require_unique_ids``."""
    con.execute("DELETE FROM review_rows WHERE run_id = ? AND status = 'open'", [run_id])
    if folder is None:
        con.execute(f"""INSERT INTO review_rows ({QUEUE_COLS})
            SELECT DISTINCT {QUEUE_COLS} FROM new_items n
            WHERE NOT EXISTS (SELECT 1 FROM review_rows q WHERE q.run_id = n.run_id
                              AND q.entity_id = n.entity_id AND q.rule = n.rule)""")
    register(con, run_id, folder)
    require_items(con, run_id)
    _require_unique_ids(con, run_id)
    return con.execute("SELECT count(*) FROM review_queue WHERE run_id = ? AND status = "
                       "'open'", [run_id]).fetchone()[0]


def _require_unique_ids(con, run_id: str) -> None:
    """Two items of one run under one id (a hash collision, or one entity and rule found
    twice with different details) would be decided together (and, with the key the queue
    once had, one was dropped without a word): the run is refused instead."""
    shared = con.execute("SELECT review_id, count(*) FROM review_queue WHERE run_id = ? "
                         "GROUP BY review_id HAVING count(*) > 1 LIMIT 1", [run_id]).fetchone()
    if shared is not None:
        raise SegflowError(f"{shared[1]} review items of run {run_id} share the id "
                           f"{shared[0]}; nothing was stored. Govern the run again (a new "
                           "run id gives new item ids)")


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


def get_item(con, item_id: str, run_id: str | None = None) -> dict:
    """The item with this id (of ``run_id`` when given); ids are unique within a run
    (``store_exceptions``), and an id two runs share is refused rather than guessed."""
    return get_items(con, run_id, [item_id])[0]


def get_items(con, run_id: str | None, item_ids: list[str]) -> list[dict]:
    """The items with these ids, in their order, in one query (the queue has no index, so
    a query per item would scan it once per item); a clear error for the first id that is
    missing, of another run, or in more than one run."""
    cur = con.execute("SELECT * FROM review_queue WHERE review_id IN (SELECT unnest(?)) "
                      "ORDER BY run_id", [list(item_ids)])
    names = [d[0] for d in cur.description]
    found: dict[str, list[dict]] = {}
    for row in cur.fetchall():
        item = dict(zip(names, row, strict=True))
        found.setdefault(item["review_id"], []).append(item)
    items = []
    for item_id in item_ids:
        every = found.get(item_id, [])
        mine = [i for i in every if run_id is None or i["run_id"] == run_id]
        if len(mine) == 1:
            items.append(mine[0])
        elif mine:
            raise SegflowError(f"review item id '{item_id}' is in runs "
                               f"{', '.join(i['run_id'] for i in mine)}; decide it on the "
                               "review desk of its run")
        elif every:
            raise SegflowError(f"review item {item_id} belongs to run {every[0]['run_id']}, "
                               f"not {run_id}")
        else:
            require_items(con, run_id)  # unreadable items: say so, not "no such item"
            raise SegflowError(f"no review item '{item_id}' (see `segflow review list`)")
    return items


def check_reviewer(ctx, item: dict, by: str, owners=None) -> None:
    """``by`` is a reviewer of the owners file whose scope covers this item (``owners``:
    the run's owners files, ``owners.run_owners``, when read once for many items)."""
    from segflow.governance.owners import may_review

    cohorts = {(c or "").split("__")[0] for c in (item["proposed_cohort"],
                                                  item["cohort_before"]) if c}
    template_owners = {o for c in cohorts if c in ctx.rules for o in ctx.rules[c].owners}
    cfg = ctx.config
    may_review(ctx.live or ctx.settings, ctx.run_id, by, campaign=cfg.campaign,
               campaign_reviewers=set(cfg.owners) | set(cfg.review.get("reviewers") or []),
               template_owners=template_owners, template=item.get("template"),
               cohort=item["proposed_cohort"] or item["cohort_before"],
               entity_id=item["entity_id"], rule=item["rule"] or "", owners=owners)


def check_override(con, ctx, entities: list[str], to: str, expires: datetime | None) -> None:
    """The target is a cohort of the run's frozen campaign (a split cohort must exist in the
    run), the expiry lies after the run's as-of time (the override applies to refreshes as of
    before it expires), and every entity is in the run: two queries over the run's
    memberships for any number of items."""
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
    found = {e for (e,) in con.execute("SELECT DISTINCT entity_id FROM m_item WHERE "
                                       "entity_id IN (SELECT unnest(?))",
                                       [list(entities)]).fetchall()}
    missing = [e for e in entities if e not in found]
    if missing:
        raise SegflowError(f"entity {missing[0]} is not in run {ctx.run_id}")


@dataclass(frozen=True)
class Planned:
    """A checked decision: its words for the audit log and the values stored with it."""

    decision: dict
    item: dict
    at: datetime
    expires: datetime | None


def plan_decisions(con, ctx, items: list[dict], by: str, reason: str,
                   to: str | None = None, expires: datetime | None = None) -> list[Planned]:
    """Check a confirmation (``to`` None) or an override of each open item; what
    ``decision_writes`` stores. The run's owners files and memberships are read once for
    all the items (per item, a bulk decision of 1,000 items over 10M memberships spent
    about 70 s on them)."""
    from segflow.governance.owners import run_owners

    owners = run_owners(ctx.live or ctx.settings, ctx.run_id)
    for item in items:
        if item["status"] != "open":
            raise SegflowError(f"review item {item['review_id']} is already {item['status']}")
        check_reviewer(ctx, item, by, owners)
    if to is not None:
        check_override(con, ctx, [item["entity_id"] for item in items], to, expires)
    return [_planned(item, by, reason, to, expires) for item in items]


def _planned(item: dict, by: str, reason: str, to: str | None,
             expires: datetime | None) -> Planned:
    now = datetime.now(UTC)
    decision = {"review_id": item["review_id"], "entity_id": item["entity_id"],
                "status": "confirmed" if to is None else "overridden", "by": by,
                "reason": reason, "to": to,
                "expires": expires.isoformat() if expires else None}
    if to is not None:
        decision["override_id"] = "O" + hashlib.sha1(
            f"{item['review_id']}|{now}".encode()).hexdigest()[:10]
    return Planned(decision, item, now, expires)


def decision_writes(plans: list[Planned]):
    """The database writes that store checked decisions, run in the audit transaction: one
    UPDATE of the queue and one batch of overrides for all of them, so a bulk decision is
    not a scan per item (the queue has no index to find an item by). Items still only in a
    Spark run's Parquet are copied into ``review_rows`` first."""
    def column(get):
        return [get(p) for p in plans]

    def writes(c):
        materialise(c, column(lambda p: p.item["run_id"]),
                    column(lambda p: p.item["review_id"]))
        c.execute("""UPDATE review_rows q SET status = d.status, decided_by = d.by,
            decided_at = d.at, reason = d.reason, override_to = d.to_cohort
            FROM (SELECT unnest($ids::VARCHAR[]) AS id, unnest($runs::VARCHAR[]) AS run_id,
                    unnest($status::VARCHAR[]) AS status, unnest($by::VARCHAR[]) AS by,
                    unnest($at::TIMESTAMPTZ[]) AS at, unnest($reason::VARCHAR[]) AS reason,
                    unnest($to::VARCHAR[]) AS to_cohort) d
            WHERE q.run_id = d.run_id AND q.review_id = d.id""",
                  {"ids": column(lambda p: p.item["review_id"]),
                   "runs": column(lambda p: p.item["run_id"]),
                   "status": column(lambda p: p.decision["status"]),
                   "by": column(lambda p: p.decision["by"]), "at": column(lambda p: p.at),
                   "reason": column(lambda p: p.decision["reason"]),
                   "to": column(lambda p: p.decision["to"])})
        overrides = [p for p in plans if "override_id" in p.decision]
        if overrides:
            c.executemany("INSERT INTO overrides VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          [[p.decision["override_id"], p.item["campaign"],
                            p.item["entity_id"], p.decision["to"], p.decision["reason"],
                            p.decision["by"], p.at, p.expires, p.item["review_id"],
                            p.item["run_id"]] for p in overrides])

    return writes
