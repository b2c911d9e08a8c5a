"""Channel exports: only assigned rows leave; consent and unsubscribes are per channel, a
complaint removes the customer everywhere; every manifest counts who was left out and why;
ad audiences hash identifiers as the ad platforms document (published test vectors)."""

from __future__ import annotations

import hashlib
import json
import re

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from govworld import AS_OF_1, CHANNELS, assign, base_features, governed, write_canonical
from govworld import approve_and_publish as publish

from segflow.errors import ConfigError

# TikTok's customer-file guide publishes these (normalised value -> SHA-256 hex); Meta
# documents the same normalisation: trimmed lower-case email, phone digits with country code.
EMAIL_VECTOR = ("  JaneDoe@Gmail.com ",
                "d6117306485ed0e50afab3ac871e98f81699151f30281527d63ff5f233656c69")
PHONE_VECTOR = ("+37493828222", "65b7e6dcf6f4310f8d7cbfbd78289a753062fb054d6664fb9aaac5df66a422d4")


def _rewrite(settings, table: str, frame: pd.DataFrame) -> None:
    path = settings.canonical_dir / f"{table}.parquet"
    schema = pq.read_schema(path)
    pq.write_table(pa.Table.from_pandas(frame, schema=schema, preserve_index=False), path)


@pytest.fixture
def exported_world(world):
    """40 customers whose consent differs by channel; one holdout per cohort; one row lost
    sms to a channel suppression; events: two email unsubscribes, one sms unsubscribe, one
    complaint."""
    f = base_features(n=120)
    frames = write_canonical(world, list(f.customer_id))
    m = assign(f)
    holdout = m[m.status == "assigned"].groupby("cohort").head(1).index
    m.loc[holdout, ["status", "arm"]] = ["holdout", "holdout"]
    assigned = m[m.status == "assigned"]
    m.loc[assigned.index[::3], "arm"] = "discount"  # offers drawn in an experiment cohort
    m.loc[assigned.index[1::3], "arm"] = "bundle"
    sms_cut = assigned[assigned.channels.str.contains("sms")].index[0]
    m.loc[sms_cut, "channels"] = ",".join(c for c in m.loc[sms_cut, "channels"].split(",")
                                          if c != "sms")
    ads_row = assigned[assigned.channels.str.contains("ads")].index[-1]
    customers = frames["customers"].copy()
    i = customers.index[customers.customer_id == m.loc[ads_row, "entity_id"]][0]
    customers.loc[i, ["email", "phone", "consent_ads"]] = [EMAIL_VECTOR[0], PHONE_VECTOR[0],
                                                           True]
    _rewrite(world, "customers", customers)
    ids = list(assigned.entity_id)
    events = pd.DataFrame({
        "event_id": ["E1", "E2", "E3", "E4"], "customer_id": [ids[1], ids[2], ids[3], ids[4]],
        "event_ts": pd.Timestamp("2026-06-01", tz="UTC"),
        "channel": ["email", "email", "sms", "push"],
        "event_type": ["unsubscribe", "unsubscribe", "unsubscribe", "complaint"]})
    _rewrite(world, "engagement_events", events)
    run = governed(world, f, AS_OF_1, m)
    publish(world, run)
    return world, run, m, customers, events, m.loc[sms_cut, "entity_id"]


def _read(settings, run, cohort, channel):
    path = settings.exports_dir / run / cohort / f"{channel}.csv"
    return pd.read_csv(path, dtype=str) if path.exists() else pd.DataFrame()


def _exported_ids(settings, run, index):
    ids = set()
    for f in index["files"]:
        frame = _read(settings, run, f["cohort"], f["channel"])
        if "customer_id" in frame:
            ids |= {(x, f["channel"]) for x in frame.customer_id}
    return ids


INDEPENDENT = """
WITH spec AS (SELECT * FROM (VALUES {spec}) s(cohort, channel)),
rows AS (SELECT m.entity_id, m.cohort, s.channel, m.channels FROM m JOIN spec s USING (cohort)
         WHERE m.status = 'assigned')
SELECT r.cohort, r.channel, count(*) AS n FROM rows r JOIN c ON c.customer_id = r.entity_id
WHERE position(r.channel IN r.channels) > 0
  AND r.entity_id NOT IN (SELECT customer_id FROM e WHERE event_type = 'complaint')
  AND (r.entity_id, r.channel) NOT IN (SELECT customer_id, channel FROM e
                                       WHERE event_type = 'unsubscribe')
  AND CASE r.channel WHEN 'email' THEN c.consent_email AND c.email IS NOT NULL
                     WHEN 'sms' THEN c.consent_sms AND c.phone IS NOT NULL
                     WHEN 'push' THEN c.consent_push
                     WHEN 'ads' THEN c.consent_ads AND (c.email IS NOT NULL
                                                        OR c.phone IS NOT NULL) END
GROUP BY ALL
"""


def test_per_channel_counts_equal_an_independent_query(exported_world):
    """Consent differs by channel in this world: the counts must be per channel."""
    from segflow.governance.pipeline import export_for

    settings, run, m, customers, events, _ = exported_world
    index = export_for(settings, run)
    spec = ", ".join(f"('{c}', '{ch}')" for c, chans in CHANNELS.items()
                     for ch in chans.split(","))
    con = duckdb.connect()
    con.register("m", m)
    con.register("c", customers)
    con.register("e", events)
    expected = {(c, ch): n for c, ch, n in con.execute(INDEPENDENT.format(spec=spec))
                .fetchall()}
    got = {(f["cohort"], f["channel"]): f["rows"] for f in index["files"] if f["rows"]}
    assert got == expected
    consent = customers[["consent_email", "consent_sms", "consent_push", "consent_ads"]]
    assert consent.nunique(axis=1).gt(1).sum() > 10  # consent really differs by channel


def test_every_file_names_each_customers_offer(exported_world):
    from segflow.governance.pipeline import export_for

    settings, run, m, *_ = exported_world
    index = export_for(settings, run)
    arm = dict(zip(m.entity_id, m.arm, strict=True))
    seen = set()
    for f in index["files"]:
        frame = _read(settings, run, f["cohort"], f["channel"])
        if "customer_id" not in frame or frame.empty:
            continue
        for customer, offer in zip(frame.customer_id, frame.offer.fillna(""), strict=True):
            assert offer == ("" if arm[customer] == "treatment" else arm[customer])
            seen.add(offer)
    assert seen == {"", "discount", "bundle"}


def test_consent_and_unsubscribes_are_per_channel_a_complaint_is_global(exported_world):
    from segflow.governance.pipeline import export_for

    settings, run, m, customers, events, sms_cut = exported_world
    sent = _exported_ids(settings, run, export_for(settings, run))
    holdout = set(m.entity_id[m.status == "holdout"])
    assert sent and not {e for e, _ in sent} & holdout
    complained = events.customer_id[events.event_type == "complaint"].iloc[0]
    assert not {(e, ch) for e, ch in sent if e == complained}
    for entity in events.customer_id[events.channel == "email"]:
        assert (entity, "email") not in sent
    assert (sms_cut, "sms") not in sent
    c = customers.set_index("customer_id")
    no_ads = [e for e in m.entity_id[(m.status == "assigned") & m.channels.str.contains("ads")
                                     & m.channels.str.contains("email")]
              if not c.consent_ads[e] and c.consent_email[e] and isinstance(c.email[e], str)
              and e not in set(events.customer_id)]
    assert no_ads and all((e, "email") in sent for e in no_ads)  # the old bug dropped them


def test_every_manifest_counts_who_was_left_out_and_why_by_the_projects_events(exported_world):
    from segflow.governance.pipeline import export_for

    settings, run, *_ = exported_world
    _events_table_is_the_projects(exported_world)  # here: the world takes 10 s to build
    index = export_for(settings, run)
    reasons = set()
    for f in index["files"]:
        data = (settings.exports_dir / run / f["cohort"] / f["file"]).read_bytes()
        assert f["sha256"] == hashlib.sha256(data).hexdigest() and f["run_id"] == run
        assert f["rows"] == len(_read(settings, run, f["cohort"], f["channel"]))
        assert f["rows"] + sum(f["left_out"].values()) == f["candidates"]
        reasons |= set(f["left_out"])
    assert {"global_suppression", "channel_suppression", "channel_unsubscribe",
            "no_consent"} <= reasons
    saved = json.loads((settings.exports_dir / run / "manifest.json").read_text())
    assert saved["global_events"] == ["complaint"] and saved["channel_events"] == ["unsubscribe"]
    assert saved["events_table"] == settings.project.table("events")


def _events_table_is_the_projects(exported_world):
    """The platform names no events table: the project's tables.events decides; a project
    without one exports with no event suppression and says so; one naming a table it never
    ingested is stopped, not exported as if nobody had unsubscribed."""
    from segflow.errors import SegflowError
    from segflow.governance.pipeline import export_for

    settings, run, m, customers, events, _ = exported_world
    index = export_for(_project_tables(settings), run)
    assert index["events_table"] is None
    assert "channel_unsubscribe" not in {r for f in index["files"] for r in f["left_out"]}
    c = customers.set_index("customer_id")
    unsubscribed = [e for e in events.customer_id[events.channel == "email"]
                    if c.consent_email[e] and isinstance(c.email[e], str)]
    sent = _exported_ids(settings, run, index)
    assert unsubscribed and all((e, "email") in sent for e in unsubscribed)
    with pytest.raises(SegflowError, match="tables.events.*which is missing"):
        export_for(_project_tables(settings, events="not_ingested"), run)


def _project_tables(settings, **tables):
    """The same workspace under a project that names exactly these tables."""
    import dataclasses

    project = dataclasses.replace(settings.project, tables=tuple(tables.items()))
    return dataclasses.replace(settings, project=project)


def test_ad_audience_hashes_match_published_vectors(exported_world):
    from segflow.governance.pipeline import export_for

    settings, run, *_ = exported_world
    index = export_for(settings, run)
    ads = pd.concat([_read(settings, run, f["cohort"], "ads") for f in index["files"]
                     if f["channel"] == "ads"])
    assert EMAIL_VECTOR[1] in set(ads.email_sha256)
    assert PHONE_VECTOR[1] in set(ads.phone_sha256)


def test_the_removed_cross_channel_switch_is_a_clear_error(world):
    from segflow.governance.config import load_config

    path = world.campaigns_dir / "holi_test.yaml"
    path.write_text(path.read_text().replace("exports: {}",
                                             "exports: {cross_channel_suppression: true}"))
    with pytest.raises(ConfigError, match="cross_channel_suppression was removed: consent and "
                                          "unsubscribes are per channel"):
        load_config(world, "holi_test")


def _contacts(customers: pd.DataFrame) -> pd.DataFrame:
    """Two people per customer id, reached through ``account_id`` (B2B contacts): the
    first keeps the customer's consent and identifiers, the second consents to email."""
    first = customers.assign(account_id=customers.customer_id,
                             customer_id=customers.customer_id + "-a")
    second = first.assign(customer_id=customers.customer_id + "-b",
                          consent_email=True,
                          email=customers.customer_id.str.lower() + "@contact.example")
    return pd.concat([first, second], ignore_index=True)


def _frozen_exports(settings, run: str, exports: str) -> None:
    """The run's frozen campaign (what its exports read) with this exports section."""
    from segflow.runstore import frozen_settings

    campaign = frozen_settings(settings, run).campaigns_dir / "holi_test.yaml"
    campaign.write_text(re.sub(r"(?m)^exports: .*$", f"exports: {exports}",
                               campaign.read_text()))


def test_recipients_reach_every_person_of_an_entity_each_on_their_own_consent(exported_world):
    """B2B: the campaign segments accounts and the email goes to their contacts. With
    ``exports.recipients: account_id`` every contact of an assigned account is judged on
    their own consent, identifier and events; the files carry both ids; an unsubscribe by
    one contact leaves the account's other contact in."""
    from segflow.governance.pipeline import export_for

    settings, run, m, customers, events, _ = exported_world
    contacts = _contacts(customers)
    _rewrite(settings, "customers", contacts)
    unsub = events.customer_id[events.channel == "email"].iloc[0]
    _rewrite(settings, "engagement_events", events.assign(
        customer_id=events.customer_id + "-a"))
    _frozen_exports(settings, run, "{recipients: {column: account_id}, channels: [email]}")
    index = export_for(settings, run)
    emails = pd.concat([_read(settings, run, f["cohort"], "email") for f in index["files"]])
    assert list(emails.columns[:2]) == ["customer_id", "account_id"]
    con = duckdb.connect()
    con.register("m", m)
    con.register("c", contacts)
    con.register("ev", events.assign(customer_id=events.customer_id + "-a"))
    expected = con.execute("""SELECT c.customer_id, c.account_id FROM m
        JOIN c ON c.account_id = m.entity_id
        WHERE m.status = 'assigned' AND position('email' IN m.channels) > 0
          AND c.consent_email AND c.email IS NOT NULL
          AND c.customer_id NOT IN (SELECT customer_id FROM ev WHERE event_type = 'complaint'
                                    OR (event_type = 'unsubscribe' AND channel = 'email'))
        ORDER BY 1""").fetchall()
    got = sorted(zip(emails.customer_id, emails.account_id, strict=True))
    assert got == expected and len({a for _, a in got}) < len(got)  # several per account
    assert (unsub + "-a", unsub) not in got
    assert any(a == unsub for _, a in got)  # the account's other contact still receives it
    assert json.loads((settings.exports_dir / run / "manifest.json").read_text())[
        "recipients"] == {"column": "account_id"}


def test_recipients_naming_no_column_of_customers_is_a_clear_error(exported_world):
    from segflow.errors import SegflowError
    from segflow.governance.pipeline import export_for

    settings, run, *_ = exported_world
    _frozen_exports(settings, run, "{recipients: {column: acount_id}}")
    with pytest.raises(SegflowError, match="names 'acount_id', which is not a column of "
                                           "customers"):
        export_for(settings, run)
    _frozen_exports(settings, run, "{recipients: {column: account_id, through: "
                                   "{table: hierarchy, id: account_id, entity: top}}}")
    with pytest.raises(SegflowError, match="through.table 'hierarchy' is not a canonical"):
        export_for(settings, run)


def test_recipients_through_a_hierarchy_reach_the_contacts_of_child_accounts(exported_world):
    """Contacts of a child account belong to its top parent's tier: through the hierarchy
    they are reached; without it they would be 'not_in_customers'."""
    from segflow.governance.pipeline import export_for

    settings, run, m, customers, *_ = exported_world
    contacts = _contacts(customers)
    child = contacts.customer_id.str.endswith("-b")
    contacts.loc[child, "account_id"] = "X" + contacts.account_id[child]  # a child account
    _rewrite(settings, "customers", contacts)
    tops = sorted(set(customers.customer_id))
    hierarchy = pd.DataFrame({"account_id": tops + ["X" + t for t in tops],
                              "top_account_id": tops + tops})
    hierarchy.to_parquet(settings.canonical_dir / "account_hierarchy.parquet")
    _frozen_exports(settings, run, "{channels: [email], recipients: {column: account_id, "
                    "through: {table: account_hierarchy, id: account_id, "
                    "entity: top_account_id}}}")
    index = export_for(settings, run)
    emails = pd.concat([_read(settings, run, f["cohort"], "email") for f in index["files"]])
    assert list(emails.columns[:2]) == ["customer_id", "top_account_id"]
    reached = set(emails.customer_id)
    assigned = set(m.entity_id[(m.status == "assigned") & m.channels.str.contains("email")])
    assert {e + "-b" for e in assigned} <= reached  # every child contact consents to email
    assert all(t == c[:-2] for c, t in zip(emails.customer_id, emails.top_account_id,
                                           strict=True))


def test_recipients_without_a_column_is_a_config_error(world):
    from segflow.governance.config import load_config

    path = world.campaigns_dir / "holi_test.yaml"
    path.write_text(path.read_text().replace("exports: {}",
                                             "exports: {recipients: {through: {table: t}}}"))
    with pytest.raises(ConfigError, match="exports.recipients needs column"):
        load_config(world, "holi_test")
