"""Features built for the run's as-of time, or a clear stop: never an older snapshot.

Retrieval takes each view's latest snapshot at or before the as-of time, which is right for
training rows and wrong for a refresh: a refresh as of 1 March that finds only a snapshot
of 1 December (nobody rebuilt the features) used it silently, every customer's recency and
activity 90 days out of date, new sign-ups missing. So before a refresh or preview reads
features, ``ensure_features`` looks at every view of the entity: a view whose latest
snapshot at or before the as-of is not the as-of itself (or that has none) is built for the
as-of from the canonical tables; when it cannot be built (its source tables are not in the
workspace) the run stops, naming the view, its snapshot time and the run's as-of time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from segflow.errors import SegflowError
from segflow.featurestore.engine import canonical_connection, sql_literal
from segflow.featurestore.repo import Repo, View, load_repo
from segflow.settings import Settings
from segflow.timeutil import parse_as_of


@dataclass(frozen=True)
class Staleness:
    """A view without a snapshot at the as-of time: its latest one before (None: none)."""

    view: View
    latest: datetime | None

    @property
    def shown(self) -> str:
        return self.latest.isoformat() if self.latest else "none"


def latest_snapshot(path: Path, as_of: datetime) -> datetime | None:
    """The latest snapshot time at or before ``as_of`` in a view's file (None: none)."""
    import duckdb

    if not Path(path).exists():
        return None
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(f"SELECT max(event_timestamp) FROM read_parquet({sql_literal(path)}) "
                           "WHERE event_timestamp <= $as_of", {"as_of": as_of}).fetchall()[0][0]
    finally:
        con.close()


def stale_views(repo: Repo, entity: str, as_of: datetime) -> list[Staleness]:
    """Views of ``entity`` whose latest snapshot at or before ``as_of`` is not ``as_of``."""
    found = []
    for view in repo.views_of(entity):
        latest = latest_snapshot(Path(view.feature_view.batch_source.path), as_of)
        if latest != as_of:
            found.append(Staleness(view, latest))
    return found


def available_sources(settings: Settings) -> set[str]:
    """Canonical tables and derived relations a build could read (none: no canonical data)."""
    try:
        con, names = canonical_connection(settings)
    except SegflowError as err:
        if "no canonical tables" in str(err):
            return set()
        raise
    con.close()
    return names


def ensure_features(settings: Settings, entity: str, as_of, repo: Repo | None = None
                    ) -> list[str]:
    """Make every view of ``entity`` hold a snapshot at ``as_of``, building those that do
    not; returns what was built, in words (empty when everything was there).

    A view that cannot be built and has no file is not part of this workspace (account
    views in a B2C one) and is left out, as retrieval leaves it out. A view that has a file
    but cannot be built for this as-of stops the run: using its older snapshot would be the
    silent staleness this function exists to prevent."""
    from segflow.featurestore.build import build_features

    when = parse_as_of(as_of)
    repo = repo or load_repo(settings)
    stale = stale_views(repo, entity, when)
    if not stale:
        return []
    available = available_sources(settings)
    buildable, blocked = [], []
    for item in stale:
        missing = [s for s in item.view.transformation.sources if s not in available]
        if not missing:
            buildable.append(item)
        elif Path(item.view.feature_view.batch_source.path).exists():
            blocked.append((item, missing))
    if blocked:
        item, missing = blocked[0]
        raise SegflowError(
            f"feature view '{item.view.name}' has no snapshot for the run's as-of time "
            f"{when.isoformat()} (its latest at or before it: {item.shown}) and cannot be "
            f"built here (no {', '.join(missing)} in the canonical tables); ingest its "
            "sources, or build it where they are with `segflow features build --as-of "
            f"{when.date().isoformat()}`")
    if not buildable:
        return []
    build_features(settings, [when], views=[i.view.name for i in buildable], repo=repo)
    return [f"features built for the run's as-of {when.isoformat()}: " + ", ".join(
        f"{i.view.name} (latest snapshot was {i.shown})" for i in buildable)]
