"""Channel exports of a run: one file per cohort and channel, with a manifest each.

Only ``assigned`` rows leave (holdout and suppressed never do). Consent and unsubscribes are
per channel: a customer is left out of one channel, and only that one, when

- a campaign suppression scoped to that channel removed it from the row's ``channels``
  (e.g. ``no_consent`` with ``channels: [ads]``),
- they unsubscribed from that channel (an engagement event listed in
  ``exports.channel_events``, default ``[unsubscribe]``),
- the channel's consent is not given (``consent_<channel>``), or
- the channel has no usable identifier (valid email, E.164 phone).

Suppressions applied live since (an unsubscribe sent by webhook or Kafka, docs/realtime.md)
count as the campaign's suppression rule would: on its channels, else everywhere; customers
added live to a ``live: true`` cohort of the run's published version are exported with it.

A global suppression removes them from every channel: an engagement event listed in
``exports.global_events`` (default ``[complaint]``) on any channel, or a campaign
suppression without ``channels:`` (a legal hold, say), which already marks the row
``suppressed``. Every manifest counts who was left out and why (the first reason above
that applies to them). Ad audiences carry SHA-256 hex of the trimmed, lower-cased email and
of the phone's E.164 digits without '+', as Meta and TikTok document.

When the people reached are not the entities segmented (B2B: a campaign segments accounts,
the email goes to their contacts), ``exports.recipients`` names the customers column holding
the entity id (or, for accounts rolled up to a top parent, the column and the hierarchy that
maps it to the entity); each assigned entity then reaches every one of its people, each
judged on their own consent, identifier and events, and the files carry both ids.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass

from segflow.canonical import source as canonical_source
from segflow.errors import SegflowError
from segflow.governance.reasons import lit

EMAIL_SHA = "sha256(lower(trim(c.email)))"
PHONE_SHA = "sha256(regexp_replace(c.phone, '[^0-9]', '', 'g'))"
REASONS = ("global_suppression", "channel_suppression", "channel_unsubscribe",
           "not_in_customers", "no_consent", "no_identifier")


def _patterns() -> tuple[str, str]:
    from segflow.ingest.identifiers import E164_PATTERN, EMAIL_PATTERN

    return EMAIL_PATTERN, E164_PATTERN


@dataclass(frozen=True)
class People:
    """Who an export reaches for each assigned entity: ``source``, the relation joined as
    ``c`` on its column ``key`` = the entity id; ``person``, the expression of the person's
    id that their unsubscribes and complaints are matched on; ``ids``, the id columns each
    file starts with, as (name, expression) pairs. By default the entity is the customer;
    with ``exports.recipients`` it is every person whose column (through a hierarchy, if one
    is named) is the entity."""

    source: str
    key: str = "customer_id"
    person: str = "e.entity_id"
    ids: tuple[tuple[str, str], ...] = (("customer_id", "e.entity_id"),)

    def pairs(self) -> str:
        """(entity_id, customer_id) of every person reached: a live suppression names the
        entity and must reach its people."""
        return f"SELECT {self.key} AS entity_id, customer_id FROM {self.source}"


def people(recipients: dict | None, canonical: dict) -> People:
    """The ``People`` of ``exports.recipients`` (checked by ``_check_recipients``)."""
    customers = canonical_source(canonical["customers"])
    if recipients is None:
        return People(customers)
    column, through = recipients["column"], recipients.get("through")
    if through is None:
        return People(customers, column, "c.customer_id",
                      (("customer_id", "c.customer_id"), (column, "e.entity_id")))
    source = (f"(SELECT p.*, h.{through['entity']} AS segflow_entity FROM {customers} p "
              f"JOIN {canonical_source(canonical[through['table']])} h "
              f"ON h.{through['id']} = p.{column})")
    return People(source, "segflow_entity", "c.customer_id",
                  (("customer_id", "c.customer_id"), (through["entity"], "e.entity_id")))


def channel_rules(ids: tuple[tuple[str, str], ...] = People("").ids
                  ) -> dict[str, tuple[str, str, tuple[tuple[str, str], ...]]]:
    """channel -> (consent condition, identifier condition, the columns written as (name,
    expression) pairs), on customers ``c`` and candidates ``e``; ``ids``: the id columns
    each file starts with."""
    email, e164 = (p.replace("'", "''") for p in _patterns())
    valid_email = f"regexp_matches(lower(trim(c.email)), '{email}')"
    valid_phone = f"regexp_matches(c.phone, '{e164}')"
    return {
        "email": ("c.consent_email", valid_email, (*ids, ("email", "lower(trim(c.email))"))),
        "sms": ("c.consent_sms", valid_phone, (*ids, ("phone", "c.phone"))),
        "push": ("c.consent_push", "true", ids),
        "ads": ("c.consent_ads", f"({valid_email} OR {valid_phone})",
                (("email_sha256", f"CASE WHEN {valid_email} THEN {EMAIL_SHA} END"),
                 ("phone_sha256", f"CASE WHEN {valid_phone} THEN {PHONE_SHA} END"))),
    }


def _list(items) -> str:
    return "[" + ", ".join(lit(i) for i in items) + "]::VARCHAR[]"


def _candidates(con, ctx, channels: set[str]) -> None:
    """Temp table ``cand``: every assigned row x each channel its cohort uses, with whether
    the row still has that channel (a channel-scoped suppression removes it)."""
    pairs = [(name, ch) for name, rule in ctx.rules.items() for ch in rule.spec.channels
             if ch in channels]
    pairs += [(c.name, ch) for c in ctx.config.curated for ch in c.channels if ch in channels]
    values = ", ".join(f"({lit(n)}, {lit(c)})" for n, c in pairs) or "(NULL, NULL)"
    con.execute(f"""CREATE OR REPLACE TEMP TABLE cand AS
        SELECT m.entity_id, m.cohort, m.arm, cc.channel,
               list_contains(string_split(coalesce(m.channels, ''), ','), cc.channel) AS on_row
        FROM m_cur m JOIN (VALUES {values}) cc(base, channel)
          ON cc.base = split_part(m.cohort, '__', 1)
        WHERE m.status = 'assigned'""")
    _live_additions(con, ctx, channels)


def _live_additions(con, ctx, channels: set[str]) -> None:
    """Customers added live to the published version of this run (docs/realtime.md) join
    ``cand`` in their cohort, on each of its channels (their published row is
    ``unassigned``, so it is not there yet)."""
    import pyarrow as pa

    from segflow.governance.live_additions import additions_of_run

    added = additions_of_run(ctx.settings, ctx.run.campaign, ctx.run_id)
    pairs = [(customer, cohort, ch) for customer, cohort in added if cohort in ctx.rules
             for ch in ctx.rules[cohort].spec.channels if ch in channels]
    if not pairs:
        return
    con.register("live_add", pa.table({
        "entity_id": pa.array([p[0] for p in pairs], pa.string()),
        "cohort": pa.array([p[1] for p in pairs], pa.string()),
        "channel": pa.array([p[2] for p in pairs], pa.string())}))
    con.execute("INSERT INTO cand SELECT entity_id, cohort, NULL, channel, true FROM live_add")
    con.unregister("live_add")


def events_table(settings) -> tuple[str | None, object]:
    """The project's engagement events table (segflow.yaml ``tables.events``) and its
    canonical file; (None, None) when the project names none, and exports then apply no
    event-based suppression (the manifest says so). Named but not ingested is an error: an
    export must not reach customers who unsubscribed because a table is missing."""
    name, path = settings.table_name("events"), settings.table_path("events")
    if path is not None and not path.exists():
        raise SegflowError(f"exports read unsubscribes and complaints from {path} "
                           "(segflow.yaml tables.events), which is missing: run `segflow "
                           "ingest`, or remove tables.events to export without them")
    return name, path


def _events(con, ctx, path, people: str | None) -> None:
    """Temp tables ``glob_supp`` (customers suppressed everywhere) and ``chan_unsub`` (customer,
    channel unsubscribed from), from the project's engagement events; ``people`` expands a
    live suppression of an entity to its recipients (``_live_events``)."""
    cfg = ctx.config
    if path is not None:
        # one scan of the events (the largest table) for both kinds of opt-out
        kinds = _list([*cfg.global_events, *cfg.channel_events])
        con.execute("CREATE OR REPLACE TEMP TABLE opt_outs AS SELECT DISTINCT customer_id, "
                    f"channel, event_type FROM {canonical_source(path)} "
                    f"WHERE list_contains({kinds}, event_type)")
        glob_supp = ("SELECT DISTINCT customer_id FROM opt_outs WHERE "
                     f"list_contains({_list(cfg.global_events)}, event_type)")
        chan_unsub = ("SELECT DISTINCT customer_id, channel FROM opt_outs WHERE "
                      f"list_contains({_list(cfg.channel_events)}, event_type)")
    else:
        glob_supp = "SELECT NULL::VARCHAR AS customer_id WHERE false"
        chan_unsub = "SELECT NULL::VARCHAR AS customer_id, NULL::VARCHAR AS channel WHERE false"
    con.execute(f"CREATE OR REPLACE TEMP TABLE glob_supp AS {glob_supp}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE chan_unsub AS {chan_unsub}")
    _live_events(con, ctx, people)


def _live_events(con, ctx, people: str | None) -> None:
    """Suppressions applied live since (docs/realtime.md) reach the export as the campaign's
    rule would apply them: on the suppression's channels (``chan_unsub``), else everywhere
    (``glob_supp``). An exemption is not honoured here (it is per cohort, these tables per
    customer): an export errs on the side of leaving a customer out. A live suppression
    names the campaign's entity; ``people`` is a query of (entity_id, customer_id) reaching
    its recipients (None: the entity is the customer)."""
    import pyarrow as pa

    from segflow.governance.live import live_suppressions

    found = live_suppressions(ctx.settings, ctx.run.campaign, ctx.run_id)
    if not found:
        return
    everywhere = [c for c, channels in found if not channels]
    scoped = [(c, ch) for c, channels in found for ch in channels]
    con.register("live_glob", pa.table({"customer_id": pa.array(everywhere, pa.string())}))
    con.register("live_chan", pa.table({
        "customer_id": pa.array([c for c, _ in scoped], pa.string()),
        "channel": pa.array([ch for _, ch in scoped], pa.string())}))
    if people is None:
        con.execute("INSERT INTO glob_supp SELECT customer_id FROM live_glob")
        con.execute("INSERT INTO chan_unsub SELECT customer_id, channel FROM live_chan")
    else:
        con.execute(f"""INSERT INTO glob_supp SELECT p.customer_id FROM live_glob l
            JOIN ({people}) p ON p.entity_id = l.customer_id""")
        con.execute(f"""INSERT INTO chan_unsub SELECT p.customer_id, l.channel
            FROM live_chan l JOIN ({people}) p ON p.entity_id = l.customer_id""")
    con.unregister("live_glob")
    con.unregister("live_chan")


def _judge(con, who: People, rules: dict) -> dict[str, tuple[str, ...]]:
    """Temp table ``judged``: each candidate of every channel in ``rules`` (each person
    reached, with ``exports.recipients``) with the first reason it is left out on that
    channel (NULL: exported) and the columns its channel's file carries, from ONE join of
    the candidates with the people, the suppressions and the unsubscribes: on Spark each
    relation a query names is computed again wherever it is read, so a join per channel
    read the customers once per channel. A file column is kept once per distinct
    expression (``x0``, ``x1``, ...; the ids are shared by the channels that write them)
    and is NULL on the other channels' rows. ``rules`` is not empty, and every channel
    writes at least its id columns. Returns channel -> its columns as ``x<i> AS name``."""
    def per_channel(pick) -> str:
        return "CASE " + " ".join(f"WHEN e.channel = {lit(ch)} THEN {pick(rule)}"
                                  for ch, rule in rules.items()) + " END"

    slots: dict[str, tuple[str, list[str]]] = {}  # expression -> (slot, its channels)
    selects = {}
    for channel, (_, _, cols) in rules.items():
        for _, expr in cols:
            slots.setdefault(expr, (f"x{len(slots)}", []))[1].append(channel)
        selects[channel] = tuple(f"{slots[expr][0]} AS {name}" for name, expr in cols)
    columns = ", ".join(
        f"CASE WHEN e.channel IN ({', '.join(lit(c) for c in channels)}) THEN {expr} END "
        f"AS {slot}" for expr, (slot, channels) in slots.items())
    con.execute(f"""CREATE OR REPLACE TEMP TABLE judged AS
        SELECT e.channel, e.cohort, CASE
            WHEN g.customer_id IS NOT NULL THEN 'global_suppression'
            WHEN NOT e.on_row THEN 'channel_suppression'
            WHEN u.customer_id IS NOT NULL THEN 'channel_unsubscribe'
            WHEN c.customer_id IS NULL THEN 'not_in_customers'
            WHEN NOT coalesce({per_channel(lambda r: r[0])}, false) THEN 'no_consent'
            WHEN NOT coalesce({per_channel(lambda r: r[1])}, false) THEN 'no_identifier'
            END AS left_out,
          {columns}, nullif(e.arm, 'treatment') AS offer
        FROM cand e LEFT JOIN {who.source} c ON c.{who.key} = e.entity_id
        LEFT JOIN glob_supp g ON g.customer_id = {who.person}
        LEFT JOIN chan_unsub u ON u.customer_id = {who.person} AND u.channel = e.channel
        WHERE e.channel IN ({', '.join(lit(c) for c in rules)})""")
    return selects


def _channel_rows(con, channel: str, columns: tuple[str, ...]) -> None:
    """``out_<channel>``: the channel's rows of ``judged`` with its file's columns. On
    DuckDB a table (each cohort's COPY then scans its channel's rows only); on Spark a
    view over the cached ``judged``, read once by the channel's one write."""
    from segflow.sqlengine import is_spark

    kind = "VIEW" if is_spark(con) else "TABLE"
    con.execute(f"""CREATE OR REPLACE TEMP {kind} out_{channel} AS
        SELECT cohort, left_out, {', '.join(columns)}, offer
        FROM judged WHERE channel = {lit(channel)}""")


def export_run(settings, con, ctx, canonical: dict, seal: dict | None = None) -> dict:
    """Write ``<home>/exports/<run_id>/<cohort>/<channel>.csv`` + manifests, and the
    per-owner hand-off when the campaign configures one (``segflow.governance.handoff``);
    index back."""
    if "customers" not in canonical:
        raise SegflowError("exports need canonical/customers.parquet (emails, phones, "
                           "consents)")
    folder = settings.exports_dir / ctx.run_id
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    recipients = _check_recipients(ctx.config, canonical)
    who = people(recipients, canonical)
    rules = channel_rules(who.ids)
    wanted = set(ctx.config.exports.get("channels") or rules) & set(rules)
    _candidates(con, ctx, wanted)
    events_name, events_path = events_table(settings)
    _events(con, ctx, events_path, recipients and who.pairs())
    index = {"run_id": ctx.run_id, "seal_hash": seal and seal["seal_hash"],
             "engine": settings.engine,  # what computed the files: duckdb or spark
             "events_table": events_name,  # None: the project has none, no event suppression
             "channel_events": list(ctx.config.channel_events),
             "global_events": list(ctx.config.global_events),
             "recipients": recipients,  # None: the entity is the person reached
             "files": [], "left_out": {}}
    present = sorted({c for (c,) in con.execute("SELECT DISTINCT channel FROM cand")
                      .fetchall()})
    selects = _judge(con, who, {ch: rules[ch] for ch in present}) if present else {}
    tallies = _tallies(con) if present else {}
    for channel in present:
        per_cohort = tallies.get(channel, {})
        _channel_rows(con, channel, selects[channel])
        paths = {cohort: folder / cohort / f"{channel}.csv" for cohort in sorted(per_cohort)}
        _write_files(con, channel, paths)
        for cohort, path in paths.items():
            index["files"].append(_manifest(ctx.run_id, cohort, channel, path,
                                            per_cohort[cohort]))
    index["left_out"] = _left_out(tallies)
    from segflow.governance.handoff import write_handoff

    handoff = write_handoff(settings, con, ctx, canonical, folder)
    if handoff is not None:
        index["handoff"] = handoff
    (folder / "manifest.json").write_text(json.dumps(index, indent=2))
    return index


def _tallies(con) -> dict[str, dict[str, dict[str, int]]]:
    """channel -> cohort -> reason (or ``exported``) -> rows, of ``judged``: one query for
    every channel and cohort (a few hundred rows, whatever the customers)."""
    tallies: dict[str, dict[str, dict[str, int]]] = {}
    for channel, cohort, why, n in con.execute(
            "SELECT channel, cohort, left_out, count(*) FROM judged GROUP BY ALL "
            "ORDER BY ALL").fetchall():
        tallies.setdefault(channel, {}).setdefault(cohort, {})[why or "exported"] = n
    return tallies


def _left_out(tallies: dict[str, dict[str, dict]]) -> dict[str, dict[str, int]]:
    """Per channel (sorted), who was left out per reason, summed over its cohorts, in
    REASONS order: not in the order the engine returned the counts."""
    out = {}
    for channel in sorted(tallies):
        totals = {r: sum(t.get(r, 0) for t in tallies[channel].values()) for r in REASONS}
        if any(totals.values()):
            out[channel] = {r: n for r, n in totals.items() if n}
    return out


def _write_files(con, channel: str, paths: dict) -> None:
    """Each cohort's file of the channel (``paths``: cohort -> file): its exported rows,
    without the cohort and the reason columns, sorted by every column. On Spark every file
    of the channel is written by one job from ``out_<channel>`` (the cached ``judged``)
    (``sqlengine.write_csv_per_value``: the same bytes); on DuckDB one COPY per file."""
    from segflow.sqlengine import is_spark, write_csv_per_value

    for path in paths.values():
        path.parent.mkdir(exist_ok=True)
    if is_spark(con):
        frame = con.spark.table(f"out_{channel}").where("left_out IS NULL").drop("left_out")
        write_csv_per_value(frame, "cohort", paths, header=True)
        return
    for cohort, path in paths.items():
        con.execute(f"""COPY (SELECT * EXCLUDE (cohort, left_out) FROM out_{channel}
            WHERE cohort = {lit(cohort)} AND left_out IS NULL ORDER BY ALL)
            TO {lit(path)} (HEADER)""")


def _check_recipients(config, canonical: dict) -> dict | None:
    """``exports.recipients`` checked against the tables it names: a column that is not
    there would leave every entity 'not_in_customers' and the files silently empty."""
    import pyarrow.parquet as pq

    recipients = config.recipients
    if recipients is None:
        return None
    through = recipients.get("through")
    wanted = [("customers", recipients["column"])]
    if through is not None:
        wanted += [(through["table"], through["id"]), (through["table"], through["entity"])]
    for table, column in wanted:
        if table not in canonical:
            raise SegflowError(f"{config.path}: exports.recipients.through.table '{table}' "
                               "is not a canonical table of this workspace (run `segflow "
                               "ingest`, or name a table the project's contracts define)")
        names = pq.read_schema(canonical[table]).names
        if column not in names:
            raise SegflowError(f"{config.path}: exports.recipients names '{column}', which "
                               f"is not a column of {table} ({', '.join(names)})")
    return recipients


def _manifest(run_id: str, cohort: str, channel: str, path, tally: dict) -> dict:
    """Rows written, candidates, who was left out and why (per reason), and the file hash."""
    from segflow.runstore import file_sha256  # streamed: a cohort's file may be gigabytes

    left_out = {r: tally[r] for r in REASONS if tally.get(r)}
    manifest = {"run_id": run_id, "cohort": cohort, "channel": channel, "file": path.name,
                "rows": tally.get("exported", 0), "candidates": sum(tally.values()),
                "left_out": left_out, "sha256": file_sha256(path),
                "bytes": path.stat().st_size}
    path.with_suffix(".manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest
