"""Channel exports honour consent, identifiers, holdout and suppression across channels;
ad audiences hash identifiers as the ad platforms document (published test vectors)."""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from govworld import AS_OF_1, assign, base_features, write_canonical, write_run

# TikTok's customer-file guide publishes these (normalised value -> SHA-256 hex); Meta
# documents the same normalisation: trimmed lower-case email, phone digits with country code.
EMAIL_VECTOR = ("  JaneDoe@Gmail.com ",
                "d6117306485ed0e50afab3ac871e98f81699151f30281527d63ff5f233656c69")
PHONE_VECTOR = ("+37493828222", "65b7e6dcf6f4310f8d7cbfbd78289a753062fb054d6664fb9aaac5df66a422d4")


@pytest.fixture
def exported_world(world):
    f = base_features()
    frames = write_canonical(world, list(f.customer_id))
    m = assign(f)
    m.loc[m.status == "assigned", "status"] = "assigned"
    # one assigned customer per cohort goes to holdout; one loses sms by a channel suppression
    holdout = m[m.status == "assigned"].groupby("cohort").head(1).index
    m.loc[holdout, ["status", "arm"]] = ["holdout", "holdout"]
    sms_cut = m[(m.status == "assigned") & m.channels.str.contains("sms")].index[0]
    m.loc[sms_cut, "channels"] = ",".join(c for c in m.loc[sms_cut, "channels"].split(",")
                                          if c != "sms")
    ads_row = m[(m.status == "assigned") & m.channels.str.contains("ads")].index[-1]
    customers = frames["customers"].copy()
    i = customers.index[customers.customer_id == m.loc[ads_row, "entity_id"]][0]
    customers.loc[i, ["email", "phone", "consent_ads"]] = [EMAIL_VECTOR[0], PHONE_VECTOR[0], True]
    table = pq.read_table(world.canonical_dir / "customers.parquet")
    pq.write_table(pa.Table.from_pandas(customers, schema=table.schema, preserve_index=False),
                   world.canonical_dir / "customers.parquet")
    run = write_run(world, f, AS_OF_1, m)
    return world, run, m, customers, frames["engagement_events"], m.loc[sms_cut, "entity_id"]


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


def test_exports_honour_consent_holdout_and_cross_channel_suppression(exported_world):
    from governance.pipeline import export_for

    settings, run, m, customers, events, sms_cut = exported_world
    index = export_for(settings, run)
    sent = _exported_ids(settings, run, index)
    holdout = set(m.entity_id[m.status == "holdout"])
    unsubscribed = set(events.customer_id)
    assert sent and not {e for e, _ in sent} & holdout
    assert not {e for e, _ in sent} & (unsubscribed | {sms_cut})  # gone from every channel
    c = customers.set_index("customer_id")
    for entity, channel in sent:
        if channel == "email":
            assert c.consent_email[entity] and isinstance(c.email[entity], str)
        if channel == "sms":
            assert c.consent_sms[entity] and c.phone[entity].startswith("+")
        if channel == "push":
            assert c.consent_push[entity]
    for f in index["files"]:
        data = (settings.exports_dir / run / f["cohort"] / f["file"]).read_bytes()
        assert f["sha256"] == hashlib.sha256(data).hexdigest() and f["run_id"] == run
        assert f["rows"] == len(_read(settings, run, f["cohort"], f["channel"]))


def test_without_cross_channel_suppression_only_that_channel_is_dropped(exported_world):
    from governance.pipeline import export_for

    settings, run, m, customers, events, sms_cut = exported_world
    path = settings.campaigns_dir / "holi_test.yaml"
    path.write_text(path.read_text().replace("cross_channel_suppression: true",
                                             "cross_channel_suppression: false"))
    sent = _exported_ids(settings, run, export_for(settings, run))
    assert (sms_cut, "sms") not in sent
    c = customers.set_index("customer_id")
    cohort = m.set_index("entity_id").cohort[sms_cut]
    if "email" in m.set_index("entity_id").channels[sms_cut] and c.consent_email[sms_cut] \
            and isinstance(c.email[sms_cut], str):
        assert (sms_cut, "email") in sent, cohort
    for entity in set(events.customer_id):
        assert (entity, "email") not in sent


def test_ad_audience_hashes_match_published_vectors(exported_world):
    from governance.pipeline import export_for

    settings, run, *_ = exported_world
    index = export_for(settings, run)
    ads = pd.concat([_read(settings, run, f["cohort"], "ads") for f in index["files"]
                     if f["channel"] == "ads"])
    assert EMAIL_VECTOR[1] in set(ads.email_sha256)
    assert PHONE_VECTOR[1] in set(ads.phone_sha256)
    manifest = json.loads((settings.exports_dir / run / "manifest.json").read_text())
    assert manifest["run_id"] == run
