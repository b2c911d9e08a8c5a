"""Live additions: an event may add a customer to a published cohort between governed
refreshes, only where the project and the campaign both allow it.

A cohort takes live additions when its template is marked ``live: true`` (checked by
``segflow.scoring.live``) and its campaign sets ``live_additions: {max_customers,
max_share}``: the approved bound, the smaller of ``max_customers`` and ``max_share`` of the
published version's assigned customers. Both are read from the published run's frozen
files, the rules the approved list was made with.

When the applier applies events (``segflow.ingest.events.inbox.apply_pending``, which
calls ``LiveAdditions`` in its transaction), each customer whose events feed a *live
column* (a count feature of realtime.yaml with ``column:``) is re-evaluated: the published
run's scored row, each live column raised by the events applied since the run's as-of,
against the live cohorts' rules (their params as the campaign set them) and the campaign's
suppression rules (those not evaluated at read time by an inactivity rule). A customer is
added to the first live cohort (by priority) whose rule now holds when

- the published list has them ``unassigned`` (never a holdout, a suppressed or an assigned
  customer; one the approved run never saw waits for the refresh),
- no suppression of the campaign holds for them (not even one scoped to some channels:
  an addition is never a suppressed customer) and no live suppression it lists was
  applied to them,
- the cohort was not ended for them by an event, and
- the campaign's additions to this version are below the bound; past it the addition is
  refused, kept in ``live_refusals`` with the reason (counted by ``segflow events status``,
  said by the lookup).

An addition is a live change ``(customer, 'add', '<campaign>:<version>:<cohort>')``, so it
is audited with the suppressions (``segflow.governance.live_audit``), and it belongs to that
published version: the next governed publication supersedes it (a new version, new bound).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from segflow.governance.live import target_of
from segflow.settings import Settings


@dataclass
class _Plan:
    """A published campaign's live cohorts, ready to evaluate."""

    campaign: str
    stamp: int
    version: int
    run_id: str
    published: str          # the version's Parquet
    scored: str             # the run's scored frame (features.parquet)
    key: str                # its entity column
    as_of: float
    approved: int
    bound: int
    columns: dict           # live column -> Feature
    cohorts: list           # [(name, channels, sql)] by priority
    suppressions: list      # [(template, channels, exempt, sql)]
    params: dict


def _rule(template, params: dict, prefix: str, out: dict) -> str:
    from segflow.scoring.predicate import parse
    from segflow.scoring.sqlparts import bind_predicate

    tree, _ = parse(template.where)
    return bind_predicate(tree, {**template.defaults(), **params}, prefix, out)


def _plan(settings: Settings, config, campaign: str, pointer, stamp: int) -> _Plan | None:
    """The campaign's plan, None when it takes no live additions."""
    import duckdb
    import pyarrow.parquet as pq

    from segflow.governance.live import _campaign, frozen_template
    from segflow.runstore import load_run, run_dir
    from segflow.timeutil import parse_as_of

    meta = json.loads(pointer.read_text())
    run_id = meta["run_id"]
    spec = _campaign(settings, campaign, run_id)
    if spec.live_additions is None:
        return None
    live = config.live_columns()
    params: dict = {}
    cohorts = []
    for i, c in enumerate(sorted(spec.cohorts, key=lambda c: c.priority)):
        template = frozen_template(settings, run_id, c.template)
        if template.live and not c.split_by:
            cohorts.append((c.name, tuple(c.channels), _rule(template, c.params, f"c{i}_",
                                                            params)))
    if not cohorts:
        return None
    timed = {rule.template for rule in config.inactivity}  # evaluated at read time
    suppressions = [(s.template, tuple(s.channels), tuple(s.exempt),
                     _rule(frozen_template(settings, run_id, s.template), s.params,
                           f"s{i}_", params))
                    for i, s in enumerate(spec.suppressions) if s.template not in timed]
    published = str(pointer.parent / meta["file"])
    db = duckdb.connect()
    try:
        approved = db.execute("SELECT count(DISTINCT entity_id) FROM read_parquet($p) WHERE "
                              "status = 'assigned'", {"p": published}).fetchone()[0]
    finally:
        db.close()
    scored = run_dir(settings, run_id) / "features.parquet"
    return _Plan(campaign, stamp, meta["version"], run_id, published, str(scored),
                 pq.read_schema(scored).names[0],
                 parse_as_of(load_run(settings, run_id).as_of).timestamp(), approved,
                 spec.live_additions.bound(approved), live, cohorts, suppressions, params)


class LiveAdditions:
    """The applier's ``admit`` hook: (additions, refusals) for a micro-batch of applied
    events. Plans are re-read when a campaign's ``current.json`` changes; a batch with no
    event feeding a live column costs a dictionary lookup."""

    def __init__(self, settings: Settings, config):
        self.settings, self.config = settings, config
        self.plans: dict[str, tuple[int, _Plan | None]] = {}
        self.feeds = {e for f in config.live_columns().values() for e in f.events}

    def _current(self) -> list[_Plan]:
        pointers = {p.parent.name: p for p in self.settings.publish_dir.glob("*/current.json")}
        for campaign, pointer in pointers.items():
            stamp = pointer.stat().st_mtime_ns
            if campaign not in self.plans or self.plans[campaign][0] != stamp:
                self.plans[campaign] = (stamp, _plan(self.settings, self.config, campaign,
                                                     pointer, stamp))
        for gone in set(self.plans) - set(pointers):
            del self.plans[gone]
        return [plan for _, plan in self.plans.values() if plan is not None]

    def __call__(self, con: sqlite3.Connection, applied: list, now: float
                 ) -> tuple[list, list]:
        last = {}  # customer -> their latest event (by its time) that feeds a live column
        for row in applied:
            if row[2] in self.feeds and (row[3] not in last or row[4] >= last[row[3]][4]):
                last[row[3]] = row
        if not last:
            return [], []
        added, refused = [], []
        for plan in self._current():
            a, r = _admit(con, plan, last, now)
            added += a
            refused += r
        return added, refused


def _live_values(con: sqlite3.Connection, plan: _Plan, ids: list[str]) -> dict[str, list]:
    """{live column: [value to add per id]}: events applied since the run's as-of."""
    marks = ",".join("?" * len(ids))
    out = {}
    for column, feature in plan.columns.items():
        names = ",".join("?" * len(feature.events))
        found = dict(con.execute(
            f"SELECT customer_id, count(*) FROM inbox WHERE customer_id IN ({marks}) AND "
            f"event IN ({names}) AND event_ts > ? AND applied_at IS NOT NULL "
            "GROUP BY customer_id", [*ids, *feature.events, plan.as_of]).fetchall())
        out[column] = [found.get(i, 0) for i in ids]
    return out


def _blocked(con: sqlite3.Connection, plan: _Plan, ids: list[str]) -> tuple[set, set, int]:
    """(customers added to this version already or suppressed live by a suppression the
    campaign lists, (customer, cohort) ended live, additions made to this version)."""
    marks = ",".join("?" * len(ids))
    prefix = target_of(plan.campaign, plan.version, "")
    listed = {t for t, *_ in plan.suppressions}
    blocked, ended = set(), set()
    for customer, effect, target, ts in con.execute(
            f"SELECT customer_id, effect, target, event_ts FROM live_changes WHERE "
            f"customer_id IN ({marks})", ids):
        if effect == "add" and target.startswith(prefix) or \
                effect == "suppress" and target in listed:
            blocked.add(customer)
        elif effect == "end" and ts >= plan.as_of:
            ended.add((customer, target))
    made = con.execute("SELECT count(DISTINCT customer_id) FROM live_changes WHERE effect = "
                       "'add' AND substr(target, 1, ?) = ?", (len(prefix), prefix)).fetchone()[0]
    return blocked, ended, made


def _admit(con: sqlite3.Connection, plan: _Plan, last: dict, now: float
           ) -> tuple[list, list]:
    import duckdb
    import pyarrow as pa

    from segflow.scoring.sqlparts import quote

    ids = sorted(last)
    blocked, ended, made = _blocked(con, plan, ids)
    ids = [i for i in ids if i not in blocked]
    if not ids:
        return [], []
    extra = _live_values(con, plan, ids)
    frame = pa.table({"_id": pa.array(ids, pa.string()),
                      **{f"_d{j}": pa.array(v, pa.int64())
                         for j, v in enumerate(extra.values())}})
    raised = ", ".join(f"f.{quote(c)} + d._d{j} AS {quote(c)}"
                       for j, c in enumerate(extra))
    cohorts = ", ".join(f"{sql} AS _c{j}" for j, (_, _, sql) in enumerate(plan.cohorts))
    sups = "".join(f", {sql} AS _s{j}" for j, (*_, sql) in enumerate(plan.suppressions))
    key = quote(plan.key)
    db = duckdb.connect()
    try:
        db.register("d", frame)
        rows = db.execute(f"""
            WITH f AS (SELECT f.* REPLACE ({raised}), d._id FROM read_parquet($scored) f
                       JOIN d ON CAST(f.{key} AS VARCHAR) = d._id),
                 p AS (SELECT entity_id, bool_and(status = 'unassigned') AS free
                       FROM read_parquet($published) WHERE entity_id IN (SELECT _id FROM d)
                       GROUP BY entity_id)
            SELECT f._id, {cohorts}{sups} FROM f JOIN p ON p.entity_id = f._id
            WHERE p.free ORDER BY f._id""",
            {**plan.params, "scored": plan.scored, "published": plan.published}).fetchall()
    finally:
        db.close()
    added, refused = [], []
    for customer, *hits in rows:
        cohort = _first(plan, customer, hits, ended)
        if cohort is None:
            continue
        _, eid, name, _, ts, got = last[customer]
        target = target_of(plan.campaign, plan.version, cohort)
        if made < plan.bound:
            made += 1
            added.append((customer, "add", target, eid, name, ts, got, now))
        else:
            refused.append((customer, target, _refusal(plan), eid, ts, now))
    return added, refused


def _first(plan: _Plan, customer: str, hits: list, ended: set) -> str | None:
    """The first live cohort (by priority) whose rule now holds, unless a suppression of
    the campaign that does not exempt it holds too (even one scoped to some channels: a
    live addition is never a suppressed customer, not even on one channel)."""
    ncoh = len(plan.cohorts)
    matched, held = hits[:ncoh], hits[ncoh:]
    for (name, _, _), hit in zip(plan.cohorts, matched, strict=True):
        if hit and (customer, name) not in ended and not any(
                on and name not in exempt
                for (_, _, exempt, _), on in zip(plan.suppressions, held, strict=True)):
            return name
    return None


def _refusal(plan: _Plan) -> str:
    return (f"campaign {plan.campaign} version {plan.version} has reached its approved bound "
            f"of {plan.bound:,} live additions (live_additions in its file; "
            f"{plan.approved:,} customers assigned at approval); the next governed refresh "
            "decides")


def additions_of_run(settings: Settings, campaign: str, run_id: str) -> list[tuple[str, str]]:
    """(customer, cohort) added live to the campaign's current version when ``run_id`` is
    its run (an export of another run gets none: the additions belong to a version); empty
    without an inbox."""
    from segflow.ingest.events.inbox import inbox_path

    pointer = settings.publish_dir / campaign / "current.json"
    path = inbox_path(settings)
    if not path.exists() or not pointer.exists():
        return []
    meta = json.loads(pointer.read_text())
    if meta["run_id"] != run_id:
        return []
    prefix = target_of(campaign, meta["version"], "")
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return [(customer, target[len(prefix):]) for customer, target in con.execute(
            "SELECT customer_id, target FROM live_changes WHERE effect = 'add' AND "
            "substr(target, 1, ?) = ? ORDER BY customer_id", (len(prefix), prefix))]
    finally:
        con.close()
