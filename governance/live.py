"""Live memberships: the published lists, tightened by events since their publication.

Between governed publications an event may only tighten a published list. A customer
``assigned`` in a campaign's current publication whose live changes (``segflow.ingest.events``)
include a suppression the campaign lists is suppressed, as the campaign's own rule would
do it: only on the suppression's channels when it names some, never in a cohort the
suppression exempts. An event that ends a cohort's purpose (a purchase ends a win-back)
suppresses the customer in that cohort. Nobody is added, except to a cohort whose template
is ``live: true`` in a campaign that allows live additions, within its approved bound
(``segflow.governance.live_additions``): such a customer's ``unassigned`` row reads as
assigned. Holdout rows stay as they are (the measurement needs them untouched).

The campaign's rules are read from the published run's frozen copy (``runs/<id>/frozen``),
the rules the governed list was made with, not today's files.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

from segflow.settings import Settings

SHOWN = ("campaign", "version", "cohort", "status", "arm", "channels", "suppressed_by",
         "live_reason")


@dataclass
class _Publication:
    stamp: int
    version: int
    run_id: str
    table: str
    suppressions: dict[str, list]  # template -> [SuppressionSpec, ...]
    as_of: float = 0.0                  # the published run's as-of (epoch s)
    inactivity: list = field(default_factory=list)  # [(Inactivity, SuppressionSpec, days)]
    channels: dict = field(default_factory=dict)    # cohort -> its channels, "a,b"


def _frozen_error(path, problems):
    from segflow.errors import SegflowError

    return SegflowError(f"cannot read the rules the campaign was published with ({path}): "
                        f"{problems[0] if problems else 'file missing'}")


def _frozen(settings: Settings, run_id: str, folder: str, name: str, loader):
    """A file of the rules the run was made with (its frozen copy: ``folder`` is
    ``campaigns_dir`` or ``templates_dir``), parsed by ``loader``; an error when it cannot
    be read (fail closed: no live change on rules nobody approved)."""
    from segflow.runstore import frozen_settings
    from segflow.scoring.schema import Problems

    path = getattr(frozen_settings(settings, run_id), folder) / f"{name}.yaml"
    problems = Problems()
    parsed = loader(path, problems) if path.exists() else None
    if parsed is None:
        raise _frozen_error(path, problems)
    return parsed


def _campaign(settings: Settings, campaign: str, run_id: str):
    """The campaign as published: the run's frozen file."""
    from segflow.scoring.campaigns import load_campaign

    return _frozen(settings, run_id, "campaigns_dir", campaign, load_campaign)


def frozen_template(settings: Settings, run_id: str, name: str):
    """A template as the run used it: its frozen file."""
    from segflow.scoring.templates import load_template

    return _frozen(settings, run_id, "templates_dir", name, load_template)


def _threshold(settings: Settings, run_id: str, spec, param: str) -> float:
    """The suppression's ``param`` as the campaign set it, else its template's default."""
    if param in spec.params:
        return float(spec.params[param])
    template = frozen_template(settings, run_id, spec.template)
    if param not in template.defaults():
        raise _frozen_error(template.path, [f"template {spec.template} has no parameter "
                                            f"{param!r} (realtime.yaml)"])
    return float(template.defaults()[param])


class LiveMemberships:
    """Current publications held in an in-memory DuckDB, indexed by entity id, reloaded
    when a campaign's ``current.json`` changes; safe to share between threads."""

    def __init__(self, settings: Settings, config):
        import duckdb

        self.settings, self.config = settings, config
        self.con = duckdb.connect()
        self.lock = threading.Lock()
        self.pubs: dict[str, _Publication] = {}

    def _load(self, campaign: str, pointer, stamp: int) -> _Publication:
        from segflow.governance.publications import version_sql
        from segflow.runstore import load_run, run_dir
        from segflow.timeutil import parse_as_of

        meta = json.loads(pointer.read_text())
        run_id = meta["run_id"]
        spec = _campaign(self.settings, campaign, run_id)
        suppressions: dict[str, list] = {}
        for s in spec.suppressions:
            suppressions.setdefault(s.template, []).append(s)
        rules = [(rule, s, _threshold(self.settings, run_id, s, rule.param))
                 for rule in self.config.inactivity for s in suppressions.get(rule.template, [])]
        table = f"pub_{len(self.pubs)}_{meta['version']}"
        published = version_sql(pointer.parent / meta["file"])  # a file or a folder
        columns = sorted({rule.days_since for rule, _, _ in rules})
        if columns:  # the published run's last activity, from its scored frame
            import pyarrow.parquet as pq

            scored = run_dir(self.settings, run_id) / "features.parquet"
            key = pq.read_schema(scored).names[0]  # the entity's join key comes first
            frame = str(scored).replace("'", "''")
            picked = ", ".join(f'f."{c}"' for c in columns)
            source = (f"SELECT m.*, {picked} FROM {published} m LEFT JOIN "
                      f"read_parquet('{frame}') f ON f.\"{key}\" = m.entity_id")
        else:
            source = f"SELECT * FROM {published}"
        self.con.execute(f"CREATE OR REPLACE TABLE {table} AS {source}")
        self.con.execute(f"CREATE INDEX {table}_id ON {table}(entity_id)")
        manifest = run_dir(self.settings, run_id) / "manifest.json"
        if manifest.exists():
            as_of = parse_as_of(load_run(self.settings, run_id).as_of).timestamp()
        elif rules:
            load_run(self.settings, run_id)  # names the missing run
        else:
            as_of = 0.0  # a publication without its run record: every change applies
        return _Publication(stamp, meta["version"], run_id, table, suppressions, as_of, rules,
                            {c.name: ",".join(c.channels) for c in spec.cohorts})

    def _refresh(self) -> None:
        pointers = {p.parent.name: p for p in self.settings.publish_dir.glob("*/current.json")}
        with self.lock:
            for campaign, pointer in sorted(pointers.items()):
                stamp = pointer.stat().st_mtime_ns
                known = self.pubs.get(campaign)
                if not known or known.stamp != stamp:
                    self.pubs[campaign] = self._load(campaign, pointer, stamp)
            for gone in set(self.pubs) - set(pointers):
                del self.pubs[gone]

    def published(self, ids: list[str]) -> dict[str, list[dict]]:
        """{id: [published row, ...]} of every campaign's current version (with the run's
        last-activity columns the inactivity rules need, under ``_days``)."""
        import pyarrow as pa

        self._refresh()
        out: dict[str, list[dict]] = {i: [] for i in ids}
        cur = self.con.cursor()
        try:
            cur.register("wanted", pa.table({"entity_id": pa.array(ids, pa.string())}))
            for campaign, pub in sorted(self.pubs.items()):
                days = sorted({rule.days_since for rule, _, _ in pub.inactivity})
                extra = "".join(f', "{c}"' for c in days)
                rows = cur.execute(
                    f"SELECT entity_id, cohort, status, arm, channels, suppressed_by{extra} "
                    f"FROM {pub.table} WHERE entity_id IN (SELECT entity_id FROM wanted) "
                    "ORDER BY entity_id, priority NULLS LAST, cohort").fetchall()
                for eid, cohort, status, arm, channels, sup, *values in rows:
                    out[eid].append({"campaign": campaign, "version": pub.version,
                                     "cohort": cohort, "status": status, "arm": arm,
                                     "channels": channels, "suppressed_by": sup,
                                     "live_reason": None,
                                     "_days": dict(zip(days, values, strict=True))})
        finally:
            cur.close()
        return out

    def lookup(self, ids: list[str], changes: dict[str, list[dict]],
               features: dict[str, dict], at: float) -> dict[str, list[dict]]:
        """{id: memberships}: the published rows with the live changes, and the
        time-based rules at ``at``, applied."""
        out = {}
        for i, rows in self.published(ids).items():
            out[i] = []
            for row in rows:
                pub = self.pubs[row["campaign"]]
                row = added(row, changes.get(i, []), pub)
                row = tighten(row, changes.get(i, []), pub.suppressions, pub.as_of)
                for rule, spec, limit in pub.inactivity:
                    row = inactive(row, spec, limit, _last_activity(
                        row["_days"].get(rule.days_since), pub.as_of,
                        features.get(i, {}).get(rule.live)), at)
                row.pop("_days")
                out[i].append(row)
        return out


def target_of(campaign: str, version: int, cohort: str) -> str:
    """The live change target of an addition to ``cohort`` of a published version."""
    return f"{campaign}:{version}:{cohort}"


def parse_target(target: str) -> tuple[str, int, str]:
    campaign, version, cohort = target.split(":", 2)
    return campaign, int(version), cohort


def added(row: dict, changes: list[dict], pub: _Publication) -> dict:
    """An ``unassigned`` published row of a customer added live to this version of the
    campaign (``segflow.governance.live_additions``) becomes their assigned row in the
    cohort, on its channels, with the event that added them (a new dict)."""
    if row["status"] != "unassigned":
        return row
    prefix = target_of(row["campaign"], pub.version, "")
    for change in changes:
        if change["effect"] == "add" and change["target"].startswith(prefix):
            cohort = change["target"][len(prefix):]
            return {**row, "cohort": cohort, "status": "assigned", "arm": None,
                    "channels": pub.channels.get(cohort, ""), "suppressed_by": None,
                    "live_reason": f"added live: {change['event']} at "
                                   f"{_when(change['event_ts'])} (event {change['event_id']})"}
    return row


def _cohort_name(cohort: str | None) -> str | None:
    return cohort.split("__", 1)[0] if cohort else cohort


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _suppress(row: dict, spec, why: str) -> bool:
    """Apply one campaign suppression to an assigned row as its rule would (only on its
    channels when it names some); True when the row is now suppressed."""
    if _cohort_name(row["cohort"]) in spec.exempt:
        return False
    channels = [c for c in (row["channels"] or "").split(",") if c]
    if spec.channels:
        channels = [c for c in channels if c not in spec.channels]
        row.update(channels=",".join(channels), live_reason=why)
    if not spec.channels or not channels:
        row.update(status="suppressed", suppressed_by=spec.template, arm=None, live_reason=why)
        return True
    return False


def tighten(row: dict, changes: list[dict], suppressions: dict[str, list],
            as_of: float = 0.0) -> dict:
    """One published row with the customer's live changes applied (a new dict): only an
    ``assigned`` row changes, and only towards fewer channels or suppressed. An event that
    ends a cohort counts only after the publication's as-of (an earlier purchase was in
    the data the cohort was chosen from: it does not end next year's win-back); a
    suppression counts whenever it happened (a refresh that missed it must not undo it)."""
    if row["status"] != "assigned" or not changes:
        return row
    row = dict(row)
    name = _cohort_name(row["cohort"])
    for change in sorted(changes, key=lambda c: c["event_ts"]):
        why = f"{change['event']} at {_when(change['event_ts'])} (event {change['event_id']})"
        if change["effect"] == "end" and change["target"] == name \
                and change["event_ts"] >= as_of:
            row.update(status="suppressed", suppressed_by=f"ended:{name}", arm=None,
                       live_reason=why)
            return row
        specs = suppressions.get(change["target"], []) if change["effect"] == "suppress" else []
        if any(_suppress(row, spec, why) for spec in specs):
            return row
    return row


def _last_activity(days_since, as_of: float, live: float | None) -> float | None:
    """The later of the published run's last activity (whole days before its as-of) and
    the live one (epoch s); None when neither knows any."""
    batch = None if days_since is None else as_of - float(days_since) * 86400
    known = [t for t in (batch, live) if t is not None]
    return max(known) if known else None


def inactive(row: dict, spec, limit: float, last: float | None, at: float) -> dict:
    """A time-based suppression evaluated at ``at``: an assigned row whose customer has
    been idle ``limit`` days or more (or never active) is suppressed, as the batch rule
    would have done had it run now."""
    if row["status"] != "assigned":
        return row
    idle = float("inf") if last is None else (at - last) / 86400
    if idle < limit:
        return row
    row = dict(row)
    since = "never active" if last is None else f"last active {_when(last)}"
    _suppress(row, spec, f"{since}: {limit:g} days without activity at {_when(at)}")
    return row


def live_suppressions(settings: Settings, campaign: str, run_id: str
                      ) -> list[tuple[str, tuple[str, ...]]]:
    """(customer, channels) of every live suppression the campaign lists (empty channels:
    every channel), for exports made after the events; empty without an inbox."""
    import sqlite3

    from segflow.ingest.events.inbox import inbox_path

    path = inbox_path(settings)
    if not path.exists():
        return []
    specs: dict[str, list] = {}
    for s in _campaign(settings, campaign, run_id).suppressions:
        specs.setdefault(s.template, []).append(s)
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        rows = con.execute("SELECT customer_id, target FROM live_changes "
                           "WHERE effect = 'suppress'").fetchall()
    finally:
        con.close()
    return [(customer, tuple(spec.channels)) for customer, target in rows
            for spec in specs.get(target, [])]


def customer_segments(live: LiveMemberships, inbox, config, identity: dict, ids: list[str],
                      at: float) -> list[dict]:
    """What a sending tool asks at send time, for each id (merged ids answer for their
    survivor): the live memberships and the streaming features at time ``at`` (epoch s)."""
    from segflow.ingest.events.inbox import changes_of, live_features, refusals_of

    survivors = [identity.get(i, i) for i in ids]
    unique = sorted(set(survivors))
    features = live_features(inbox, config, unique, at)
    memberships = live.lookup(unique, changes_of(inbox, unique), features, at)
    versions = {c: p.version for c, p in live.pubs.items()}
    refused = {i: [{"campaign": c, "version": v, "cohort": k, "reason": r["reason"]}
                   for r in rows for c, v, k in [parse_target(r["target"])]
                   if versions.get(c) == v]
               for i, rows in refusals_of(inbox, unique).items()}
    for values in features.values():
        for f in config.features:
            if f.agg == "latest" and values.get(f.name) is not None:
                values[f.name] = _when(values[f.name])
    return [{"customer_id": i, "survivor_id": s, "memberships": memberships[s],
             "refused_additions": refused[s], "features": features[s]}
            for i, s in zip(ids, survivors, strict=True)]
