"""Curated cohorts from the review desk: a reviewer of the campaign pastes ids, the list is
stored as a new version owned by them with an audit entry; a viewer is refused."""

from __future__ import annotations

import httpx
from deskworld import csrf_of, login

CURATED = """curated:
  key_accounts:
    priority: 0
    title: Key accounts on custom terms
    channels: [email]
"""


def test_a_reviewer_uploads_a_curated_cohort_from_the_desk(desk):
    from segflow.governance import audit
    from segflow.governance.curated import list_lists, members

    settings, _run, server = desk
    campaign = settings.campaigns_dir / "holi_test.yaml"
    campaign.write_text(campaign.read_text() + CURATED)
    form = {"campaign": "holi_test", "name": "key_accounts", "expires": "2031-01-01",
            "reason": "signed custom contract terms in Q3", "ids": "C001\nC002\n\nC003\nNOPE9\n"}
    with httpx.Client(base_url=server.url) as client:
        login(client, server.url, "mallory")
        r = client.post("/cohorts/curate", data={**form, "csrf_token": csrf_of(
            client, server.url, "/cohorts")})
        assert r.status_code == 403 and "no reviewer role" in r.text
        assert list_lists(settings) == []
    with httpx.Client(base_url=server.url) as client:
        login(client, server.url, "ravi.k")
        r = client.post("/cohorts/curate", data={**form, "csrf_token": csrf_of(
            client, server.url, "/cohorts")})
        assert r.status_code == 303, r.text
        page = client.get(r.headers["location"]).text
    assert "holi_test/key_accounts v1: 4 id(s) stored" in page and "NOPE9" in page
    [stored] = list_lists(settings)
    assert (stored["owner"], stored["version"], stored["ids"]) == ("ravi.k", 1, 4)
    assert sorted(members(settings, "holi_test", "key_accounts", 1)) == [
        "C001", "C002", "C003", "NOPE9"]
    assert audit.read(settings)[-1]["actor"] == "ravi.k"
