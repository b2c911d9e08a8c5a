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


def test_a_csv_upload_is_stored_and_a_bad_file_is_one_line_with_nothing_kept(desk):
    """The upload goes through ``curated.curate`` as ``segflow cohorts curate --file``
    does: a bad file is named by its own name, line and column, and nothing is stored;
    too big a body is refused before it is read, and so is a form without its token."""
    from segflow.governance import audit
    from segflow.governance.curated import list_lists, members

    settings, _run, server = desk
    campaign = settings.campaigns_dir / "holi_test.yaml"
    campaign.write_text(campaign.read_text() + CURATED)
    form = {"campaign": "holi_test", "name": "key_accounts", "expires": "2031-01-01",
            "reason": "signed custom contract terms in Q3"}
    good = ("key accounts.csv", b"id,note\nC001,renewed\nC002,new\nC001,again\n", "text/csv")
    blank = ("q3.csv", b"id,note\nC001,x\nC002,y\n,z\n", "text/csv")
    spreadsheet = ("q3.xlsx", b"PK\x03\x04\x14\x00\x06\x00\x00\x00sheet", "application/zip")
    entries = len(audit.read(settings))
    with httpx.Client(base_url=server.url) as client:
        login(client, server.url, "ravi.k")
        token = csrf_of(client, server.url, "/cohorts")
        assert 'enctype="multipart/form-data"' in client.get("/cohorts").text
        r = client.post("/cohorts/curate", data=form, files={"file": good})
        assert r.status_code == 403 and "security token" in r.text  # no CSRF token
        r = client.post("/cohorts/curate", data={**form, "csrf_token": token},
                        files={"file": blank})
        assert r.status_code == 400
        assert "q3.csv, line 4, column id: the id is blank; remove the line or give the id" \
            in r.text
        r = client.post("/cohorts/curate", data={**form, "csrf_token": token},
                        files={"file": spreadsheet})
        assert r.status_code == 400 and "q3.xlsx: this is a spreadsheet or binary file" in r.text
        r = client.post("/cohorts/curate", data={**form, "csrf_token": token}, files={
            "file": ("big.csv", b"id\n" + b"C0000001\n" * 700_000, "text/csv")})
        assert r.status_code == 413 and "over 5 MB" in r.text
        assert list_lists(settings) == [] and len(audit.read(settings)) == entries
        r = client.post("/cohorts/curate", data={**form, "csrf_token": token},
                        files={"file": good})
        assert r.status_code == 303, r.text
        assert "holi_test/key_accounts v1: 2 id(s) stored" in client.get(
            r.headers["location"]).text
    [stored] = list_lists(settings)
    assert (stored["owner"], stored["ids"]) == ("ravi.k", 2)
    assert sorted(members(settings, "holi_test", "key_accounts", 1)) == ["C001", "C002"]
    entry = audit.read(settings)[-1]
    assert (entry["actor"], entry["action"]) == ("ravi.k", "curated_cohort_uploaded")
    assert (entry["payload"]["file"], entry["payload"]["duplicates"]) == ("key accounts.csv", 1)
