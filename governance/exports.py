"""Channel exports of a run: one file per cohort and channel, with a manifest each.

Rules, all in one DuckDB pass: only ``assigned`` rows (holdout and suppressed never leave);
a channel needs its consent and a usable identifier (valid email, E.164 phone); a channel
a customer is suppressed on (a channel-scoped campaign suppression, which removes it from
the row's ``channels``, or an unsubscribe/complaint event on that channel) removes the
customer from every channel unless ``exports.cross_channel_suppression: false``.
Ad audiences carry SHA-256 hex of the trimmed, lower-cased email and of the phone's E.164
digits without '+', as Meta and TikTok document (tests check their published vectors).
"""

from __future__ import annotations

import hashlib
import json
import shutil

from governance.reasons import lit
from segflow.errors import SegflowError

EMAIL_SHA = "sha256(lower(trim(c.email)))"
PHONE_SHA = "sha256(regexp_replace(c.phone, '[^0-9]', '', 'g'))"


def _patterns() -> tuple[str, str]:
    from ingest.identifiers import E164_PATTERN, EMAIL_PATTERN

    return EMAIL_PATTERN, E164_PATTERN


def channel_rules() -> dict[str, tuple[str, str]]:
    """channel -> (eligibility condition on customers c, columns written)."""
    email, e164 = (p.replace("'", "''") for p in _patterns())
    valid_email = f"regexp_matches(lower(trim(c.email)), '{email}')"
    valid_phone = f"regexp_matches(c.phone, '{e164}')"
    return {
        "email": (f"c.consent_email AND {valid_email}", "e.entity_id AS customer_id, "
                  "lower(trim(c.email)) AS email"),
        "sms": (f"c.consent_sms AND {valid_phone}", "e.entity_id AS customer_id, c.phone"),
        "push": ("c.consent_push", "e.entity_id AS customer_id"),
        "ads": (f"c.consent_ads AND ({valid_email} OR {valid_phone})",
                f"CASE WHEN {valid_email} THEN {EMAIL_SHA} END AS email_sha256, "
                f"CASE WHEN {valid_phone} THEN {PHONE_SHA} END AS phone_sha256"),
    }


def _suppressed_sql(ctx, canonical: dict) -> str:
    """Entities suppressed on some channel: (entity_id, channel)."""
    full = " UNION ALL ".join(
        f"SELECT {lit(name)} AS cohort, unnest({_list(r.spec.channels)}) AS channel"
        for name, r in ctx.rules.items()) or "SELECT NULL AS cohort, NULL AS channel"
    parts = [f"""SELECT m.entity_id, f.channel FROM m_cur m JOIN ({full}) f
        ON f.cohort = split_part(m.cohort, '__', 1) WHERE m.status = 'assigned'
        AND NOT list_contains(string_split(coalesce(m.channels, ''), ','), f.channel)"""]
    if "engagement_events" in canonical:
        events = ", ".join(lit(e) for e in ctx.config.suppression_events)
        parts.append(f"""SELECT customer_id, channel FROM read_parquet(
            {lit(canonical['engagement_events'])}) WHERE event_type IN ({events})""")
    return " UNION ".join(parts)


def _list(items) -> str:
    return "[" + ", ".join(lit(i) for i in items) + "]::VARCHAR[]"


def export_run(settings, con, ctx, canonical: dict) -> dict:
    """Write ``<home>/exports/<run_id>/<cohort>/<channel>.csv`` + manifests; index back."""
    if "customers" not in canonical:
        raise SegflowError("exports need canonical/customers.parquet (emails, phones, "
                           "consents)")
    folder = settings.exports_dir / ctx.run_id
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    con.execute(f"CREATE OR REPLACE TEMP TABLE chan_supp AS {_suppressed_sql(ctx, canonical)}")
    cross = ctx.config.cross_channel_suppression
    con.execute("CREATE OR REPLACE TEMP TABLE wanted (entity_id VARCHAR, cohort VARCHAR, "
                "channel VARCHAR)")
    for name, rule in ctx.rules.items():
        con.execute(f"""INSERT INTO wanted SELECT m.entity_id, m.cohort, ch.channel
            FROM m_cur m, (SELECT unnest({_list(rule.spec.channels)}) AS channel) ch
            WHERE m.status = 'assigned' AND split_part(m.cohort, '__', 1) = {lit(name)}
              AND list_contains(string_split(coalesce(m.channels, ''), ','), ch.channel)""")
    blocked = ("SEMI JOIN chan_supp s ON s.entity_id = e.entity_id" if cross else
               "SEMI JOIN chan_supp s ON s.entity_id = e.entity_id AND s.channel = e.channel")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE eligible AS SELECT * FROM wanted e
        ANTI JOIN (SELECT e.* FROM wanted e {blocked}) x USING (entity_id, cohort, channel)""")
    counts = _outboxes(con, canonical, channel_rules())
    index = {"run_id": ctx.run_id, "cross_channel_suppression": cross, "files": []}
    for (cohort, channel), (wanted_n, eligible_n, rows) in sorted(counts.items()):
        path = folder / cohort / f"{channel}.csv"
        path.parent.mkdir(exist_ok=True)
        con.execute(f"""COPY (SELECT * EXCLUDE (cohort) FROM out_{channel}
            WHERE cohort = {lit(cohort)} ORDER BY ALL) TO {lit(path)} (HEADER)""")
        index["files"].append(_manifest(ctx.run_id, cohort, channel, path,
                                        wanted_n, eligible_n, rows))
    (folder / "manifest.json").write_text(json.dumps(index, indent=2))
    return index


def _outboxes(con, canonical: dict, rules: dict) -> dict:
    """Temp table ``out_<channel>`` per channel: the eligible rows that pass the channel's
    consent and identifier rules, with the columns written. One join with customers per
    channel (not per file: ~100 files at 1M customers re-read customers.parquet each time).
    Returns (cohort, channel) -> (candidates, after suppression, rows written)."""
    customers = f"read_parquet({lit(canonical['customers'])})"
    counts: dict[tuple[str, str], list[int]] = {}
    for table, column in (("wanted", 0), ("eligible", 1)):
        for cohort, channel, n in con.execute(f"SELECT cohort, channel, count(*) FROM {table} "
                                              "GROUP BY ALL").fetchall():
            counts.setdefault((cohort, channel), [0, 0, 0])[column] = n
    for channel in sorted({ch for _, ch in counts} & set(rules)):
        cond, cols = rules[channel]
        con.execute(f"""CREATE OR REPLACE TEMP TABLE out_{channel} AS SELECT e.cohort, {cols}
            FROM eligible e JOIN {customers} c ON c.customer_id = e.entity_id
            WHERE e.channel = {lit(channel)} AND {cond}""")
        for cohort, n in con.execute(f"SELECT cohort, count(*) FROM out_{channel} "
                                     "GROUP BY ALL").fetchall():
            counts[(cohort, channel)][2] = n
    return {k: tuple(v) for k, v in counts.items() if k[1] in rules}


def _manifest(run_id: str, cohort: str, channel: str, path, wanted: int, eligible: int,
              rows: int) -> dict:
    """Counts (wanted, sent, dropped for consent/identifier or suppression) and file hash."""
    data = path.read_bytes()
    manifest = {"run_id": run_id, "cohort": cohort, "channel": channel, "file": path.name,
                "rows": rows, "candidates": wanted, "dropped_suppressed": wanted - eligible,
                "dropped_consent_or_identifier": eligible - rows,
                "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    path.with_suffix(".manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest
