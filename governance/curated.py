"""Hand-curated cohorts: a list of ids with an owner, a reason and an expiry, inside the
governed run.

A campaign declares each curated cohort in its ``curated:`` section (name, priority among
the template cohorts, title, channels; ``segflow.governance.config``). People upload its
ids with ``segflow cohorts curate``: each upload is a new version in the workspace
database (``curated_lists``, ``curated_members``) and an audit entry. At refresh the latest
version of each declared cohort is applied to the memberships (``apply_curated``, one
DuckDB join, no loop over customers): an id takes the curated cohort when that cohort's
priority beats the cohort its rules gave it (or it had none), unless a suppression holds
it. A list whose expiry date the run's as-of has reached, or that was retired, assigns
nobody; the run records that, and the report and movement say so.

Every id of a list ends in exactly one outcome, written to ``runs/<id>/curated.parquet``:
``assigned``, ``higher_priority`` (a cohort ranked above it kept the id), ``suppressed``,
``not_in_population`` (the id is not among the run's entities: reported, never dropped
silently) or the list's state (``expired``, ``retired``). The ``curated_accounted``
control counts them against the memberships.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from segflow.errors import SegflowError
from segflow.governance.reasons import lit
from segflow.lock import holds_workspace
from segflow.settings import Settings

SCHEMA = """
CREATE TABLE IF NOT EXISTS curated_lists (
  campaign VARCHAR, name VARCHAR, version INTEGER, owner VARCHAR, reason VARCHAR,
  expires DATE, uploaded_by VARCHAR, uploaded_at TIMESTAMPTZ, source VARCHAR,
  sha256 VARCHAR, ids BIGINT, duplicates BIGINT, retired_at TIMESTAMPTZ,
  retired_by VARCHAR, retire_reason VARCHAR);
CREATE TABLE IF NOT EXISTS curated_members (
  campaign VARCHAR, name VARCHAR, version INTEGER, entity_id VARCHAR);
"""
RUN_FILE = "curated.parquet"
OUTCOMES = ("assigned", "higher_priority", "suppressed", "not_in_population")
LIST_COLUMNS = ("campaign", "name", "version", "owner", "reason", "expires", "uploaded_by",
                "uploaded_at", "ids", "retired_at", "retired_by", "retire_reason")


def ensure_schema(con) -> None:
    from segflow.db import has_schema

    if not has_schema(con, "curated_members", "entity_id"):
        con.execute(SCHEMA)


@dataclass
class Upload:
    """What ``curate`` stored, and what it found in the file."""

    campaign: str
    name: str
    version: int
    ids: int
    duplicates: int
    not_in_population: list[str]
    checked_against: str | None  # the run whose population the ids were checked against


def _spec(settings: Settings, campaign: str, name: str):
    from segflow.governance.config import load_config

    config = load_config(settings, campaign)
    for spec in config.curated:
        if spec.name == name:
            return config, spec
    declared = ", ".join(s.name for s in config.curated) or "none"
    raise SegflowError(f"campaign '{campaign}' declares no curated cohort '{name}' (declared: "
                       f"{declared}); add it under curated: in {config.path} with its priority")


def require_owner(settings: Settings, campaign: str, owner: str) -> None:
    """The owner is a person of the owners file who reviews or approves this campaign."""
    from segflow.governance.owners import load_owners

    person = load_owners(settings.owners_path).people.get(owner)
    if person is None:
        raise SegflowError(f"'{owner}' is not in the owners file {settings.owners_path}; a "
                           "curated cohort's owner answers for it, so they must be listed")
    if not (person.has("reviewer") or person.has("approver")) or not person.covers(campaign):
        raise SegflowError(f"'{owner}' has no reviewer or approver role on campaign "
                           f"'{campaign}' in {settings.owners_path}")


def parse_expiry(text: str) -> date:
    try:
        return date.fromisoformat(str(text))
    except ValueError:
        raise SegflowError(f"--expires {text!r} is not a date; give YYYY-MM-DD (the first "
                           "day the list no longer assigns)") from None


def csv_error(name: str, exc: Exception) -> str:
    """DuckDB's CSV error as one line: the file, the line it names, what to do."""
    import re

    text = str(exc)
    line = re.search(r"CSV Error on Line: (\d+)", text) or re.search(r"\bLine: (\d+)", text)
    where = f"{name}, line {line.group(1)}" if line else name
    if "unicode" in text.lower() or "utf-8" in text.lower() or "utf8" in text.lower():
        what = "it is not UTF-8 text; save it from the spreadsheet as CSV UTF-8"
    elif "column" in text.lower() and ("expected" in text.lower() or "found" in text.lower()):
        what = ("it has more or fewer values than the header names; give one id per line "
                "under one header")
    else:
        what = f"cannot read it as CSV ({text.splitlines()[0]}); save it as CSV and retry"
    return f"{where}: {what}"


def read_ids(con, path: Path, entity: str, shown: str | None = None) -> tuple[str, int]:
    """Load the file's ids into temp table ``upload_ids`` (distinct); returns the column
    read and the number of duplicate rows. The column is ``<entity>_id``, ``entity_id`` or
    ``id``, or the file's only column; a blank id is an error naming its line. Errors name
    the file as ``shown`` (an upload's own name, not the temporary copy read)."""
    path = Path(path)
    if not path.exists():
        raise SegflowError(f"no file {path}")
    name = shown or str(path)
    with open(path, "rb") as handle:
        if b"\x00" in handle.read(4096):  # an .xlsx (a zip) or another binary file
            raise SegflowError(f"{name}: this is a spreadsheet or binary file, not CSV text; "
                               "save it from the spreadsheet as CSV UTF-8 and upload that")
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE upload_raw AS SELECT *, row_number() OVER "
                    f"() + 1 AS _line FROM read_csv({lit(path)}, all_varchar = true, "
                    "header = true)")
    except Exception as exc:  # duckdb's parser error, said in one line
        raise SegflowError(csv_error(name, exc)) from None
    columns = [r[0] for r in con.execute("DESCRIBE upload_raw").fetchall() if r[0] != "_line"]
    wanted = [c for c in (f"{entity}_id", "entity_id", "id") if c in columns]
    if not wanted and len(columns) != 1:
        raise SegflowError(f"{name}: no id column; name it {entity}_id (columns found: "
                           f"{', '.join(columns)})")
    column = wanted[0] if wanted else columns[0]
    if not wanted and any(sep in column for sep in ",;\t|"):
        raise SegflowError(f"{name}, line 1: the header {column!r} names several columns but "
                           "the lines do not all hold as many values; give one id per line "
                           "under one header (or every line with all the columns)")
    q = '"' + column.replace('"', '""') + '"'
    blank = con.execute(f"SELECT min(_line) FROM upload_raw WHERE nullif(trim({q}), '') "
                        "IS NULL").fetchone()[0]
    if blank is not None:
        raise SegflowError(f"{name}, line {blank}, column {column}: the id is blank; remove "
                           "the line or give the id")
    rows = con.execute("SELECT count(*) FROM upload_raw").fetchone()[0]
    if rows == 0:
        raise SegflowError(f"{name}: no ids under the header; a curated cohort needs at "
                           "least one")
    con.execute(f"CREATE OR REPLACE TEMP TABLE upload_ids AS SELECT DISTINCT trim({q}) AS "
                "entity_id FROM upload_raw")
    return column, rows - con.execute("SELECT count(*) FROM upload_ids").fetchone()[0]


def _population_check(settings: Settings, con, campaign: str) -> tuple[list[str], str | None]:
    """Ids of the upload not among the entities of the campaign's latest run."""
    from segflow.runstore import list_runs, run_dir
    from segflow.scoring.runfiles import parquet_sql

    for record in reversed(list_runs(settings, campaign)):
        path = run_dir(settings, record.run_id) / "memberships.parquet"
        if path.exists():
            missing = [r[0] for r in con.execute(
                f"SELECT entity_id FROM upload_ids ANTI JOIN (SELECT DISTINCT entity_id FROM "
                f"{parquet_sql(path)}) USING (entity_id) ORDER BY 1").fetchall()]
            return missing, record.run_id
    return [], None


@holds_workspace("curate")
def curate(settings: Settings, campaign: str, name: str, path: Path, owner: str, reason: str,
           expires: str, by: str | None = None, source: str | None = None) -> Upload:
    """Store a new version of a curated cohort's ids, with its owner, reason and expiry,
    and its audit entry, in one transaction: nothing is stored unless the whole file
    reads. ``source`` names a file read from a temporary copy (the desk's upload) in
    errors and in the record; the CLI's file is named by its path."""
    import hashlib

    from segflow.db import connect
    from segflow.governance import audit
    from segflow.governance.owners import require_reason

    config, _ = _spec(settings, campaign, name)
    require_owner(settings, campaign, owner)
    reason = require_reason(reason, "curated cohort's reason")
    until = parse_expiry(expires)
    entity = _entity(config)
    with connect(settings) as con:
        ensure_schema(con)
        column, duplicates = read_ids(con, path, entity, source)
        ids = con.execute("SELECT count(*) FROM upload_ids").fetchone()[0]
        missing, checked = _population_check(settings, con, campaign)
        version = con.execute("SELECT coalesce(max(version), 0) + 1 FROM curated_lists WHERE "
                              "campaign = ? AND name = ?", [campaign, name]).fetchone()[0]
        sha = hashlib.sha256(Path(path).read_bytes()).hexdigest()

        def writes(c):
            c.execute("INSERT INTO curated_lists VALUES (?, ?, ?, ?, ?, ?, ?, now(), ?, ?, ?, "
                      "?, NULL, NULL, NULL)", [campaign, name, version, owner, reason, until,
                                               by or owner, source or str(path), sha, ids,
                                               duplicates])
            c.execute("INSERT INTO curated_members SELECT ?, ?, ?, entity_id FROM upload_ids",
                      [campaign, name, version])

        audit.record(settings, by or owner, "curated_cohort_uploaded", {
            "campaign": campaign, "name": name, "version": version, "owner": owner,
            "reason": reason, "expires": until.isoformat(), "file": source or str(path),
            "column": column, "sha256": sha, "ids": ids, "duplicates": duplicates,
            "not_in_population": len(missing), "checked_against": checked},
            writes=writes, con=con)
    return Upload(campaign, name, version, ids, duplicates, missing, checked)


@holds_workspace("curate")
def retire(settings: Settings, campaign: str, name: str, by: str, reason: str) -> int:
    """Retire a curated cohort now: its latest version assigns nobody from the next
    refresh (an upload later makes a new, live version). Returns the version retired."""
    from segflow.db import connect
    from segflow.governance import audit
    from segflow.governance.owners import require_reason

    _spec(settings, campaign, name)
    require_owner(settings, campaign, by)
    reason = require_reason(reason, "retirement's reason")
    with connect(settings) as con:
        ensure_schema(con)
        rows = con.execute("SELECT version, retired_at FROM curated_lists WHERE campaign = ? "
                          "AND name = ? ORDER BY version DESC LIMIT 1",
                          [campaign, name]).fetchall()
        row = rows[0] if rows else None
        if row is None:
            raise SegflowError(f"curated cohort '{name}' of '{campaign}' has no list yet: "
                               "nothing to retire")
        if row[1] is not None:
            raise SegflowError(f"curated cohort '{name}' of '{campaign}' (version {row[0]}) "
                               f"was already retired on {row[1]:%Y-%m-%d}")

        def writes(c):
            c.execute("UPDATE curated_lists SET retired_at = now(), retired_by = ?, "
                      "retire_reason = ? WHERE campaign = ? AND name = ? AND version = ?",
                      [by, reason, campaign, name, row[0]])

        audit.record(settings, by, "curated_cohort_retired", {
            "campaign": campaign, "name": name, "version": row[0], "reason": reason},
            writes=writes, con=con)
    return row[0]


def list_lists(settings: Settings, campaign: str | None = None,
               every_version: bool = False) -> list[dict]:
    """The curated lists of the workspace (latest version of each, or every version)."""
    from segflow.db import connect

    with connect(settings) as con:
        if not _has_tables(con):
            return []
        latest = ("" if every_version else "QUALIFY version = max(version) OVER "
                  "(PARTITION BY campaign, name)")
        rows = con.execute(f"SELECT {', '.join(LIST_COLUMNS)} FROM curated_lists WHERE "
                           f"(? IS NULL OR campaign = ?) {latest} ORDER BY campaign, name, "
                           "version", [campaign, campaign]).fetchall()
    return [dict(zip(LIST_COLUMNS, r, strict=True)) for r in rows]


def members(settings: Settings, campaign: str, name: str, version: int) -> list[str]:
    from segflow.db import connect

    with connect(settings) as con:
        if not _has_tables(con):
            return []
        return [r[0] for r in con.execute(
            "SELECT entity_id FROM curated_members WHERE campaign = ? AND name = ? AND "
            "version = ? ORDER BY 1", [campaign, name, version]).fetchall()]


def _has_tables(con) -> bool:
    from segflow.db import has_schema

    return has_schema(con, "curated_members", "entity_id")


def _entity(config) -> str:
    from segflow.scoring.campaigns import load_campaign
    from segflow.scoring.schema import Problems

    campaign = load_campaign(config.path, Problems())
    return campaign.entity if campaign else "customer"


def state_at(row: dict | None, as_of: datetime) -> str:
    """none (nothing uploaded), retired, expired (the run's as-of date reached the expiry
    date) or active."""
    if row is None:
        return "none"
    if row["retired_at"] is not None:
        return "retired"
    when = as_of.astimezone(UTC).date() if as_of.tzinfo else as_of.date()
    return "expired" if when >= row["expires"] else "active"


def for_run(settings: Settings, config, as_of: datetime, versions: dict | None = None):
    """The campaign's declared curated cohorts as of a run: a list of dicts (name, title,
    priority, channels, version, owner, reason, expires, state) and their members (Arrow:
    entity_id, cohort, version, priority, channels, state). ``versions`` (a re-run's:
    name -> {version, state} as its run recorded them) pins each cohort to what that run
    applied, so a list uploaded or retired since does not change the re-run."""
    import pyarrow as pa

    from segflow.db import connect

    lists: list[dict] = []
    parts = []
    with connect(settings) as con:
        have = _has_tables(con)
        for spec in config.curated:
            recorded = (versions or {}).get(spec.name) or {}
            pinned = recorded.get("version")
            row = None
            if have and not (versions is not None and pinned is None):
                found = con.execute(
                    f"SELECT {', '.join(LIST_COLUMNS)} FROM curated_lists WHERE campaign = ? "
                    "AND name = ? AND (? IS NULL OR version = ?) ORDER BY version DESC "
                    "LIMIT 1", [config.campaign, spec.name, pinned, pinned]).fetchall()
                row = dict(zip(LIST_COLUMNS, found[0], strict=True)) if found else None
            state = recorded.get("state") or state_at(row, as_of)
            entry = {"name": spec.name, "title": spec.title, "priority": spec.priority,
                     "channels": list(spec.channels), "state": state, "version": None,
                     "owner": None, "owner_name": None, "reason": None, "expires": None,
                     "ids": 0, "retired_by": None, "retire_reason": None, "retired_at": None,
                     "outcomes": {}}
            if row is not None:
                entry.update(version=row["version"], owner=row["owner"], reason=row["reason"],
                             expires=row["expires"].isoformat(), ids=row["ids"],
                             retired_by=row["retired_by"], retire_reason=row["retire_reason"],
                             retired_at=row["retired_at"] and row["retired_at"].isoformat())
                parts.append(con.sql(
                    "SELECT entity_id, ? AS cohort, version, ?::INTEGER AS priority, "
                    "? AS channels, ? AS state FROM curated_members WHERE campaign = ? AND "
                    "name = ? AND version = ?",
                    params=[spec.name, spec.priority, ",".join(spec.channels), state,
                            config.campaign, spec.name, row["version"]]).to_arrow_table())
            lists.append(entry)
    schema = pa.schema([("entity_id", pa.string()), ("cohort", pa.string()),
                        ("version", pa.int32()), ("priority", pa.int32()),
                        ("channels", pa.string()), ("state", pa.string())])
    table = (pa.concat_tables([p.cast(schema) for p in parts]) if parts
             else schema.empty_table())
    return lists, table


def apply_curated(memberships, curated_members):
    """Memberships with the active curated lists applied (exclusive campaigns), and each
    listed id's outcome. Pure: Arrow in, Arrow out.

    An id takes its curated cohort (the one of lowest priority number when it is on
    several lists) unless it is suppressed or a cohort of higher priority (lower number)
    kept it. A curated member is ``assigned`` with the plain ``treatment`` arm: a hand-made
    list is a decision, not an experiment, so no holdout is drawn from it.

    DuckDB joins the lists to the memberships (a hash join built on the small side) and
    decides the ids taken; Arrow then writes them into the memberships' columns
    (``index_in`` + ``if_else``), keeping the rows' order without sorting them again."""
    import duckdb

    from segflow.scoring.sqlparts import to_arrow

    memberships = to_arrow(memberships)
    if "curated_id" in memberships.column_names:
        memberships = memberships.drop_columns(["curated_id"])
    if "active" not in curated_members["state"].to_pylist():
        return _nothing_active(memberships, curated_members)
    con = duckdb.connect()
    try:
        con.register("m", memberships.select(["entity_id", "cohort", "status", "priority"]))
        con.register("l", curated_members)
        taken = con.sql("""
          WITH c AS (SELECT * FROM l WHERE state = 'active'
                     QUALIFY row_number() OVER (PARTITION BY entity_id
                                                ORDER BY priority, cohort) = 1)
          SELECT c.entity_id, c.cohort, c.priority, c.channels,
                 c.cohort || '@v' || c.version AS curated_id,
                 row_number() OVER (PARTITION BY c.cohort ORDER BY c.entity_id) AS rank
          FROM c JOIN m USING (entity_id)
          WHERE m.status <> 'suppressed'
            AND (m.cohort IS NULL OR m.status = 'unassigned' OR m.priority > c.priority)
          """).to_arrow_table()
        con.register("t", taken)
        outcomes = con.sql("""
          SELECT l.cohort, l.version, l.state, l.entity_id, CASE
              WHEN l.state <> 'active' THEN l.state
              WHEN t.curated_id = l.cohort || '@v' || l.version THEN 'assigned'
              WHEN m.entity_id IS NULL THEN 'not_in_population'
              WHEN m.status = 'suppressed' THEN 'suppressed'
              ELSE 'higher_priority' END AS outcome,
            coalesce(t.cohort, m.cohort) AS cohort_in_run,
            CASE WHEN t.entity_id IS NOT NULL THEN 'assigned' ELSE m.status END
              AS status_in_run
          FROM l LEFT JOIN m USING (entity_id) LEFT JOIN t USING (entity_id)
          ORDER BY l.cohort, l.entity_id""").to_arrow_table()
    finally:
        con.close()
    return _write_taken(memberships, taken), outcomes


def _nothing_active(memberships, curated_members):
    """No list is active (none uploaded, or expired or retired): the memberships gain an
    empty ``curated_id`` without a pass over their rows; each id's outcome is its list's
    state."""
    import pyarrow as pa

    return (memberships.append_column("curated_id",
                                      pa.nulls(memberships.num_rows, pa.string())),
            _states_as_outcomes(curated_members))


def _states_as_outcomes(curated_members):
    """Each listed id's outcome when no list is active: its list's state."""
    import pyarrow as pa

    n = curated_members.num_rows
    return pa.table({
        "cohort": curated_members["cohort"], "version": curated_members["version"],
        "state": curated_members["state"], "entity_id": curated_members["entity_id"],
        "outcome": curated_members["state"], "cohort_in_run": pa.nulls(n, pa.string()),
        "status_in_run": pa.nulls(n, pa.string())}).sort_by([("cohort", "ascending"),
                                                            ("entity_id", "ascending")])


def _write_taken(memberships, taken):
    """The memberships with the taken ids' columns replaced, in Arrow, order kept."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = taken.num_rows
    idx = pc.index_in(memberships["entity_id"], value_set=taken["entity_id"])
    mask = pc.is_valid(idx)
    fill = {"cohort": taken["cohort"], "priority": taken["priority"],
            "channels": taken["channels"], "rank": taken["rank"],
            "status": pa.array(["assigned"] * n, pa.string()),
            "arm": pa.array(["treatment"] * n, pa.string()),
            "template": pa.nulls(n, pa.string()), "split_value": pa.nulls(n, pa.string())}
    out = memberships
    for name, values in fill.items():
        if name in out.column_names:
            column = out[name]
            picked = pc.take(values, idx).cast(column.type)
            out = out.set_column(out.column_names.index(name), name,
                                 pc.if_else(mask, picked, column))
    return out.append_column("curated_id", pc.take(taken["curated_id"], idx).cast(pa.string()))


def apply_to_run(settings: Settings, memberships, record, versions: dict | None = None):
    """The refresh hook's part: apply the campaign's curated lists as of the run, write
    ``curated.parquet`` and record each list (version, state, outcomes) in the run's
    inputs. Returns the memberships (unchanged when the campaign declares none)."""
    import pyarrow.parquet as pq

    from segflow.governance.config import load_config
    from segflow.runstore import frozen_settings, run_dir

    config = load_config(frozen_settings(settings, record.run_id), record.campaign)
    if not config.curated:
        return memberships
    when = datetime.fromisoformat(record.as_of)
    lists, listed = for_run(settings, config, when, versions)
    names = _people_names(settings)
    for entry in lists:
        if entry.get("owner"):
            entry["owner_name"] = names.get(entry["owner"], entry["owner"])
    if hasattr(memberships, "withColumn"):  # a Spark run's memberships (segflow.scoring.refresh)
        memberships, outcomes = _on_spark(memberships, listed, record.run_id)
    else:
        memberships, outcomes = apply_curated(memberships, listed)
    pq.write_table(outcomes, run_dir(settings, record.run_id) / RUN_FILE)
    counts: dict[str, dict[str, int]] = {}
    for name, outcome in zip(outcomes["cohort"].to_pylist(), outcomes["outcome"].to_pylist(),
                             strict=True):
        counts.setdefault(name, {}).update({outcome: counts.get(name, {}).get(outcome, 0) + 1})
    for entry in lists:
        entry["outcomes"] = counts.get(entry["name"], {})
    record.inputs["curated"] = lists
    return memberships


def _on_spark(memberships, listed, run_id: str):
    """``apply_curated`` for a Spark DataFrame when no list is active (none uploaded, or
    every one expired or retired): the same empty ``curated_id`` column, added by the
    executors, and each id's outcome its list's state. An active list is not applied on
    Spark yet: refused in one line rather than computed on this machine."""
    from pyspark.sql import functions as F

    active = sorted({c for c, s in zip(listed["cohort"].to_pylist(),
                                       listed["state"].to_pylist(), strict=True)
                     if s == "active"})
    if active:
        raise SegflowError(f"run {run_id}: the curated list '{active[0]}' is active, and "
                           "applying curated lists on Spark is not built yet "
                           "(docs/scale-out.md); set `engine: duckdb` to apply it")
    if "curated_id" in memberships.columns:
        memberships = memberships.drop("curated_id")
    return (memberships.withColumn("curated_id", F.lit(None).cast("string")),
            _states_as_outcomes(listed))


def _people_names(settings: Settings) -> dict[str, str]:
    """Person id -> name from the owners file (ids stand in where there is none)."""
    from segflow.governance.owners import load_owners

    if not settings.owners_path.exists():
        return {}
    return {p.id: p.name for p in load_owners(settings.owners_path).people.values()}


def run_lists(record) -> list[dict]:
    """The curated lists a run applied (its inputs), with their outcomes."""
    return list(record.inputs.get("curated") or [])


def describe(entry: dict) -> str:
    """'curated by Asha Rao: custom contract terms (v2, until 2027-01-01)'."""
    return (f"curated by {entry.get('owner_name') or entry.get('owner')}: {entry.get('reason')}"
            f" (v{entry.get('version')}, until {entry.get('expires')})")


def state_sentence(entry: dict) -> str:
    """One line a reader understands: what the list did in the run."""
    title = entry.get("title") or entry["name"]
    state = entry["state"]
    if state == "none":
        return f"{title}: no list uploaded yet (segflow cohorts curate)"
    if state == "expired":
        return f"{title}: expired on {entry['expires']}, assigns nobody ({describe(entry)})"
    if state == "retired":
        return (f"{title}: retired by {entry.get('retired_by')} "
                f"({entry.get('retire_reason')}), assigns nobody")
    o = entry.get("outcomes") or {}
    parts = [f"{o[k]:,} {k.replace('_', ' ')}" for k in OUTCOMES if o.get(k)]
    return f"{title}: {', '.join(parts) or 'no ids'}; {describe(entry)}"


def register_notes(con, record) -> None:
    """Temp table ``curated_notes`` (cohort, joined, left) for movement's reasons: why an
    account joined a curated cohort, and why it left one (expired, retired, taken off)."""
    rows = []
    for e in run_lists(record):
        joined = describe(e) if e["state"] == "active" else None
        left = {"expired": f"curated cohort expired on {e.get('expires')} ({describe(e)})",
                "retired": f"curated cohort retired by {e.get('retired_by')}: "
                           f"{e.get('retire_reason')}",
                "none": "curated cohort has no list",
                "active": f"taken off the curated list (v{e.get('version')})"}[e["state"]]
        rows.append(f"({lit(e['name'])}, {lit(joined) if joined else 'NULL'}, {lit(left)})")
    values = ", ".join(rows) or "(NULL, NULL, NULL)"
    con.execute(f"CREATE OR REPLACE TEMP TABLE curated_notes AS SELECT * FROM (VALUES "
                f"{values}) v(cohort, joined, left_why) WHERE cohort IS NOT NULL")


def explain_lines(settings: Settings, record, entity_id: str) -> list[str]:
    """What the curated lists did to one entity in a run, in sentences (for explain)."""
    from segflow.runstore import run_dir
    from segflow.scoring.explain import membership_rows

    path = run_dir(settings, record.run_id) / RUN_FILE
    if not path.exists():
        return []
    entries = {e["name"]: e for e in run_lists(record)}
    rows = membership_rows(path, entity_id)  # the entity's rows only, read by DuckDB
    out = []
    for r in rows:
        e = entries.get(r["cohort"], {"name": r["cohort"], "state": r["state"]})
        title = e.get("title") or r["cohort"]
        outcome = r["outcome"]
        if outcome == "assigned":
            out.append(f"in curated cohort '{title}': {describe(e)}")
        elif outcome == "expired":
            out.append(f"was on curated cohort '{title}', which expired on {e.get('expires')}:"
                       f" it no longer assigns ({describe(e)})")
        elif outcome == "retired":
            out.append(f"was on curated cohort '{title}', retired by {e.get('retired_by')}: "
                       f"{e.get('retire_reason')}")
        elif outcome == "higher_priority":
            out.append(f"on curated cohort '{title}' ({describe(e)}), but '{r['cohort_in_run']}'"
                       " ranks above it and kept it")
        elif outcome == "suppressed":
            out.append(f"on curated cohort '{title}' ({describe(e)}), but suppressed")
    return out


def control(con, settings: Settings, record) -> object:
    """``curated_accounted``: every id of each applied list has exactly one outcome, the
    members the memberships hold equal the ids the file says were assigned, and ids not in
    the population are named (the run needs approval to publish without them)."""
    from segflow.governance.controls import ControlResult
    from segflow.runstore import run_dir

    lists = run_lists(record)
    if not lists:
        return None
    path = run_dir(settings, record.run_id) / RUN_FILE
    if not path.exists():
        return ControlResult("curated_accounted", False, {}, f"the run's {RUN_FILE} is "
                             "missing: the curated cohorts cannot be counted")
    src = f"read_parquet({lit(path)})"
    from segflow.governance.store import has_column

    if not has_column(con, "m_cur", "curated_id"):
        return ControlResult("curated_accounted", False, {}, "the run's memberships carry "
                             "no curated_id: the curated cohorts were not applied to them")
    override = ("m.override_id IS NOT NULL" if has_column(con, "m_cur", "override_id")
                else "false")
    figures = {}
    problems, missing_all = [], []
    for e in lists:
        if e["state"] == "none":
            continue
        name = e["name"]
        tag = lit(f"{name}@v{e.get('version')}")
        ids, assigned, held, overridden, dupes = con.execute(f"""SELECT
            (SELECT count(*) FROM {src} WHERE cohort = {lit(name)}),
            (SELECT count(*) FROM {src} WHERE cohort = {lit(name)} AND outcome = 'assigned'),
            (SELECT count(*) FROM m_cur WHERE curated_id = {tag} AND cohort = {lit(name)}
                AND status = 'assigned'),
            (SELECT count(*) FROM {src} f JOIN m_cur m USING (entity_id)
              WHERE f.cohort = {lit(name)} AND f.outcome = 'assigned'
                AND m.curated_id IS NULL AND {override}),
            (SELECT count(*) - count(DISTINCT entity_id) FROM {src}
                WHERE cohort = {lit(name)})""").fetchone()
        held += overridden  # a reviewer's override of one account outranks the list
        missing = [r[0] for r in con.execute(
            f"SELECT entity_id FROM {src} WHERE cohort = {lit(name)} AND outcome = "
            "'not_in_population' ORDER BY 1").fetchall()]
        figures[name] = {"state": e["state"], "ids": ids, "assigned": assigned,
                         "in_memberships": held, "overridden": overridden,
                         "not_in_population": len(missing),
                         "outcomes": e.get("outcomes", {})}
        if dupes or assigned != held:
            problems.append(f"{name}: {assigned:,} ids assigned but {held:,} rows in the "
                            f"memberships (overrides included), {dupes:,} ids twice")
        missing_all += [f"{name}:{m}" for m in missing]
    if problems:
        return ControlResult("curated_accounted", False, figures, "; ".join(problems))
    if missing_all:
        shown = ", ".join(missing_all[:10]) + (" ..." if len(missing_all) > 10 else "")
        return ControlResult("curated_accounted", False, figures,
                             f"{len(missing_all):,} curated id(s) are not in the population: "
                             f"{shown} (reported, not assigned; approve to publish without "
                             "them, or correct the list)", severity="review")
    return ControlResult("curated_accounted", True, figures,
                         "every curated id accounted for once: " + "; ".join(
                             state_sentence(e) for e in lists if e["state"] != "none"))

