"""The review desk refuses what it must, over real HTTP to the real app (uvicorn on a
loopback port): anonymous requests on every route, a reviewer outside their ownership or
approving, a request without the CSRF token, injection strings in every filter, and a
sixth sign-in after five wrong passwords."""

from __future__ import annotations

import httpx
from deskworld import csrf_of, login

INJECTIONS = ["' OR 1=1 --", "x'); DROP TABLE review_queue; --"]
FILTERS = ("rule", "cohort", "owner", "status", "min_move", "sort", "size", "page", "after",
           "before")
PAGING = ("page", "after", "before")  # which page is shown, not the selection decided


def _state(settings) -> tuple:
    """What a refused request must leave as it was: decisions, overrides, approvals."""
    from segflow.db import connect

    with connect(settings, read_only=True) as con:
        return con.execute("""SELECT (SELECT count(*) FROM review_queue WHERE status = 'open'),
            (SELECT count(*) FROM review_queue), (SELECT count(*) FROM overrides),
            (SELECT count(*) FROM approvals), (SELECT max(seq) FROM audit_entries)""").fetchone()


def _open_item(settings, run: str, template: str) -> str:
    from segflow.db import connect

    with connect(settings, read_only=True) as con:
        return con.execute("SELECT review_id FROM review_queue WHERE run_id = ? AND "
                           "template = ? AND status = 'open' ORDER BY 1 LIMIT 1",
                           [run, template]).fetchone()[0]


def test_every_route_refuses_an_anonymous_request(desk):
    from fastapi.routing import APIRoute

    from segflow.governance.desk.app import create_app

    settings, run, server = desk
    item = _open_item(settings, run, "engaged")
    values = {"run_id": run, "review_id": item, "name": "report"}
    routes = [r for r in create_app(settings).routes if isinstance(r, APIRoute)]
    checked = 0
    with httpx.Client(base_url=server.url) as client:
        for route in routes:
            path = route.path.format(**values)
            for method in route.methods:
                if route.path == "/login":
                    continue
                r = client.request(method, path, data={"csrf_token": "x", "reason":
                                                       "an attempt without signing in"})
                assert r.status_code in (303, 401), (method, path, r.status_code)
                if r.status_code == 303:
                    assert r.headers["location"].startswith("/login"), (method, path)
                assert run not in r.text and "<table" not in r.text, (method, path)
                checked += 1
    assert checked >= 11
    assert _state(settings)[0] > 0


def test_a_reviewer_cannot_act_outside_their_ownership_nor_approve(desk):
    settings, run, server = desk
    before = _state(settings)
    with httpx.Client(base_url=server.url) as client:
        assert login(client, server.url, "asha.rao").status_code == 303
        token = csrf_of(client, server.url)
        # asha.rao owns lapsed_high_value, not engaged (ravi.k's)
        r = client.post(f"/runs/{run}/decide", data={
            "csrf_token": token, "rule": "boundary:engaged", "action": "override",
            "to": "unassigned", "reason": "moving customers she does not own"})
        assert r.status_code == 403 and "may not review items of engaged" in r.text
        item = _open_item(settings, run, "engaged")
        r = client.post(f"/runs/{run}/decide", data={
            "csrf_token": token, "cohort": "engaged", "action": "confirm",
            "reason": "confirming an item she does not own", "count": "1"})
        assert r.status_code == 403, item
        r = client.post(f"/runs/{run}/approve", data={
            "csrf_token": token, "reason": "figures checked against the finance report"})
        assert r.status_code == 403 and "no approver role" in r.text
        r = client.post(f"/runs/{run}/publish", data={"csrf_token": token})
        assert r.status_code == 403
    with httpx.Client(base_url=server.url) as client:  # a viewer decides nothing
        login(client, server.url, "mallory")
        r = client.post(f"/runs/{run}/decide", data={
            "csrf_token": csrf_of(client, server.url), "action": "confirm",
            "reason": "a viewer trying to confirm items"})
        assert r.status_code == 403
    assert _state(settings) == before


def test_a_request_without_the_csrf_token_is_refused(desk):
    settings, run, server = desk
    before = _state(settings)
    form = {"rule": "boundary:lapsed_high_value", "action": "override", "to": "unassigned",
            "reason": "the account managers asked to hold these back"}
    with httpx.Client(base_url=server.url) as client:
        login(client, server.url, "second.approver")
        for token in ({}, {"csrf_token": ""}, {"csrf_token": "forged-token-value"}):
            r = client.post(f"/runs/{run}/decide", data={**form, **token})
            assert r.status_code == 403 and "security token" in r.text
        r = client.post(f"/runs/{run}/approve", data={"reason": "figures checked "
                                                      "against the finance report"})
        assert r.status_code == 403
        r = client.post("/logout")
        assert r.status_code == 403
    assert _state(settings) == before


def test_injection_strings_in_every_filter_change_nothing(desk):
    settings, run, server = desk
    before = _state(settings)
    with httpx.Client(base_url=server.url) as client:
        login(client, server.url, "second.approver")
        token = csrf_of(client, server.url)
        for name in FILTERS:
            for text in INJECTIONS:
                r = client.get(f"/runs/{run}/queue", params={name: text})
                assert r.status_code in (200, 400, 422), (name, text, r.status_code)
                if r.status_code == 200:  # the value was matched literally: nothing matches
                    assert "<strong>0</strong> item(s) match" in r.text, (name, text)
                if name in PAGING:  # not a filter of the selection a decision acts on
                    continue
                r = client.post(f"/runs/{run}/decide", data={
                    "csrf_token": token, name: text, "action": "confirm",
                    "reason": "an injection attempt through the filters"})
                assert r.status_code in (400, 422), (name, text, r.status_code)
        r = client.get(f"/runs/{run}/items/{INJECTIONS[0]}")
        assert r.status_code == 400 and "no review item" in r.text
    assert _state(settings) == before


def test_five_wrong_passwords_throttle_the_name(desk):
    settings, run, server = desk
    with httpx.Client(base_url=server.url) as client:
        for _ in range(5):
            assert login(client, server.url, "asha.rao", "not her password").status_code == 401
        r = login(client, server.url, "asha.rao")  # the right password, too late
        assert r.status_code == 429 and "too many wrong passwords" in r.text
        assert client.get(f"/runs/{run}").status_code == 303  # still not signed in
        assert login(client, server.url, "ravi.k").status_code == 303  # others unaffected

