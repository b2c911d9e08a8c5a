"""Live memberships: the published lists, tightened by events since their publication.

Between governed publications an event may only tighten a published list. A customer
``assigned`` in a campaign's current publication whose live changes (``segflow.ingest.events``)
include a suppression the campaign lists is suppressed, as the campaign's own rule would
do it: only on the suppression's channels when it names some, never in a cohort the
suppression exempts. An event that ends a cohort's purpose (a purchase ends a win-back)
suppresses the customer in that cohort. Nobody is added: additions wait for the next
governed refresh. Holdout rows stay as they are (the measurement needs them untouched).

The campaign's rules are read from the published run's frozen copy (``runs/<id>/frozen``),
the rules the governed list was made with, not today's files.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
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


def _suppressions(settings: Settings, campaign: str, run_id: str) -> dict[str, list]:
    from segflow.runstore import frozen_settings
    from segflow.scoring.campaigns import load_campaign
    from segflow.scoring.schema import Problems

    path = frozen_settings(settings, run_id).campaigns_dir / f"{campaign}.yaml"
    problems = Problems()
    spec = load_campaign(path, problems) if path.exists() else None
    if spec is None:
        from segflow.errors import SegflowError

        raise SegflowError(f"cannot read the rules campaign {campaign} was published with "
                           f"({path}): {problems[0] if problems else 'file missing'}")
    out: dict[str, list] = {}
    for s in spec.suppressions:
        out.setdefault(s.template, []).append(s)
    return out


class LiveMemberships:
    """Current publications held in an in-memory DuckDB, indexed by entity id, reloaded
    when a campaign's ``current.json`` changes; safe to share between threads."""

    def __init__(self, settings: Settings):
        import duckdb

        self.settings = settings
        self.con = duckdb.connect()
        self.lock = threading.Lock()
        self.pubs: dict[str, _Publication] = {}

    def _refresh(self) -> None:
        pointers = {p.parent.name: p for p in self.settings.publish_dir.glob("*/current.json")}
        with self.lock:
            for campaign, pointer in sorted(pointers.items()):
                stamp = pointer.stat().st_mtime_ns
                known = self.pubs.get(campaign)
                if known and known.stamp == stamp:
                    continue
                meta = json.loads(pointer.read_text())
                table = f"pub_{len(self.pubs)}_{meta['version']}"
                path = str(pointer.parent / meta["file"]).replace("'", "''")
                self.con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM "
                                 f"read_parquet('{path}')")
                self.con.execute(f"CREATE INDEX {table}_id ON {table}(entity_id)")
                self.pubs[campaign] = _Publication(
                    stamp, meta["version"], meta["run_id"], table,
                    _suppressions(self.settings, campaign, meta["run_id"]))
            for gone in set(self.pubs) - set(pointers):
                del self.pubs[gone]

    def published(self, ids: list[str]) -> dict[str, list[dict]]:
        """{id: [published row, ...]} of every campaign's current version."""
        import pyarrow as pa

        self._refresh()
        out: dict[str, list[dict]] = {i: [] for i in ids}
        cur = self.con.cursor()
        try:
            cur.register("wanted", pa.table({"entity_id": pa.array(ids, pa.string())}))
            for campaign, pub in sorted(self.pubs.items()):
                rows = cur.execute(
                    f"SELECT entity_id, cohort, status, arm, channels, suppressed_by "
                    f"FROM {pub.table} WHERE entity_id IN (SELECT entity_id FROM wanted) "
                    "ORDER BY entity_id, priority NULLS LAST, cohort").fetchall()
                for eid, cohort, status, arm, channels, sup in rows:
                    out[eid].append({"campaign": campaign, "version": pub.version,
                                     "cohort": cohort, "status": status, "arm": arm,
                                     "channels": channels, "suppressed_by": sup,
                                     "live_reason": None})
        finally:
            cur.close()
        return out

    def lookup(self, ids: list[str], changes: dict[str, list[dict]]) -> dict[str, list[dict]]:
        """{id: memberships}: the published rows with the live changes applied."""
        published = self.published(ids)
        return {i: [tighten(row, changes.get(i, []), self.pubs[row["campaign"]].suppressions)
                    for row in rows] for i, rows in published.items()}


def _cohort_name(cohort: str | None) -> str | None:
    return cohort.split("__", 1)[0] if cohort else cohort


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def tighten(row: dict, changes: list[dict], suppressions: dict[str, list]) -> dict:
    """One published row with the customer's live changes applied (a new dict): only an
    ``assigned`` row changes, and only towards fewer channels or suppressed."""
    if row["status"] != "assigned" or not changes:
        return row
    row = dict(row)
    name = _cohort_name(row["cohort"])
    channels = [c for c in (row["channels"] or "").split(",") if c]
    for change in sorted(changes, key=lambda c: c["event_ts"]):
        why = f"{change['event']} at {_when(change['event_ts'])} (event {change['event_id']})"
        if change["effect"] == "end" and change["target"] == name:
            row.update(status="suppressed", suppressed_by=f"ended:{name}", arm=None,
                       live_reason=why)
            return row
        for spec in suppressions.get(change["target"], []) if change["effect"] == "suppress" \
                else []:
            if name in spec.exempt:
                continue
            if spec.channels:
                channels = [c for c in channels if c not in spec.channels]
                row.update(channels=",".join(channels), live_reason=why)
            if not spec.channels or not channels:
                row.update(status="suppressed", suppressed_by=change["target"], arm=None,
                           live_reason=why)
                return row
    return row


def customer_segments(live: LiveMemberships, inbox, config, identity: dict, ids: list[str],
                      at: float) -> list[dict]:
    """What a sending tool asks at send time, for each id (merged ids answer for their
    survivor): the live memberships and the streaming features at time ``at`` (epoch s)."""
    from segflow.ingest.events.inbox import changes_of, live_features

    survivors = [identity.get(i, i) for i in ids]
    unique = sorted(set(survivors))
    memberships = live.lookup(unique, changes_of(inbox, unique))
    features = live_features(inbox, config, unique, at)
    for values in features.values():
        for f in config.features:
            if f.agg == "latest" and values.get(f.name) is not None:
                values[f.name] = _when(values[f.name])
    return [{"customer_id": i, "survivor_id": s, "memberships": memberships[s],
             "features": features[s]} for i, s in zip(ids, survivors, strict=True)]
