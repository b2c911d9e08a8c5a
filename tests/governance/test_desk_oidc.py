"""Signing in to the review desk through an identity provider (OIDC, authorization code with
PKCE): the real desk and a stand-in provider (tests/governance/idp.py) both under uvicorn on
loopback ports, once per module. A person of the owners file lands on the queue with the
owners file's roles and acts under their own name; a wrong state, a tampered signature, a
wrong audience, an expired token, another sign-in's nonce, a replayed code and an identity
the owners file does not hold are each refused, and no secret reaches a page or a log."""

from __future__ import annotations

import base64
import html
import logging
import re

import httpx
import pytest
from deskworld import PASSWORD, Server
from idp import CLIENT_ID, CLIENT_SECRET, IdP

SECRET_ENV = "TEST_DESK_OIDC_SECRET"
ASHA = {"email": "Asha.Rao@shop.example", "email_verified": True, "name": "Asha"}


@pytest.fixture(scope="module")
def oidc(desk_ready, tmp_path_factory):
    """(settings, run id, desk server, provider): the desk world's copy signing in with
    ``sign_in: oidc`` only, asha.rao known at the provider as asha.rao@shop.example."""
    import dataclasses

    from govworld import OWNERS, copy_world

    from segflow.project import load_project

    settings, run = desk_ready
    root = tmp_path_factory.mktemp("oidc")
    settings = copy_world(settings, root / "w")
    (root / "w" / "owners.yaml").write_text(OWNERS.replace(
        "asha.rao: {name: Asha Rao, roles: [reviewer]}",
        "asha.rao: {name: Asha Rao, roles: [reviewer], identity: asha.rao@shop.example}"))
    idp = IdP()
    with pytest.MonkeyPatch.context() as mp, Server(app=idp.app()) as provider:
        # the provider on another site than the desk (localhost, not 127.0.0.1), as a real
        # one is: the browser then treats its redirect back as cross-site
        idp.url = f"http://localhost:{provider.port}"
        (root / "segflow.yaml").write_text(
            "name: shop\nbase_currency: USD\nreview_desk:\n  sign_in: oidc\n  oidc:\n"
            f"    issuer: {idp.url}\n    client_id: {CLIENT_ID}\n"
            f"    client_secret_env: {SECRET_ENV}\n    title: Shop SSO\n")
        desk_config = load_project(root)  # the world's own project, signing in with oidc
        settings = dataclasses.replace(settings, project=dataclasses.replace(
            settings.project, desk_sign_in=desk_config.desk_sign_in,
            desk_oidc=desk_config.desk_oidc))
        mp.setenv("SEGFLOW_TEMPLATES", str(settings.templates_root))
        mp.setenv(SECRET_ENV, CLIENT_SECRET)
        desk = Server(settings)
        idp.redirect_uris.add(f"{desk.url}/oidc/callback")
        with desk:
            yield settings, run, desk, idp


@pytest.fixture
def idp(oidc):
    """The provider, signing in asha.rao honestly unless a test says otherwise."""
    provider = oidc[3]
    provider.person, provider.mischief = dict(ASHA), None
    yield provider
    provider.mischief, provider.secret = None, CLIENT_SECRET


def _start(client: httpx.Client, desk_url: str, next: str = "/") -> str:
    """Through the desk's sign-in link and the provider: the address the provider sends the
    browser back to (code and state)."""
    r = client.get(f"{desk_url}/oidc/login", params={"next": next})
    assert r.status_code == 303 and "code_challenge_method=S256" in r.headers["location"]
    page = client.get(r.headers["location"])  # the provider's sign-in page: press the button
    form = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text))
    r = client.post(page.url.copy_with(query=None), data={k: html.unescape(v)
                                                          for k, v in form.items()})
    assert r.status_code == 302, r.text
    return r.headers["location"]


def _audit(settings) -> list[dict]:
    import json

    return [json.loads(line) for line in
            (settings.home / "audit" / "audit.jsonl").read_text().splitlines()]


def test_a_person_signs_in_lands_on_the_queue_with_their_role_and_acts_under_their_name(
        oidc, idp, caplog):
    settings, run, desk, _ = oidc
    seen = []
    # an earlier import in the session may have configured logging with
    # disable_existing_loggers (Prefect does): the HTTP client's logger must speak here
    client_log = logging.getLogger("httpx")
    was_disabled, client_log.disabled = client_log.disabled, False
    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, logger="httpx"), \
            httpx.Client() as client:
        callback = _start(client, desk.url, f"/runs/{run}/queue")
        r = client.get(callback)
        seen.append(r.text)
        assert r.status_code == 200 and "Welcome, Asha Rao (asha.rao; reviewer)" in r.text
        target = re.search(r'url=([^"]+)"', r.text).group(1)
        assert target == f"/runs/{run}/queue"
        r = client.get(f"{desk.url}{target}")
        seen.append(r.text)
        assert r.status_code == 200 and "Signed in as Asha Rao (asha.rao; reviewer)" in r.text, \
            re.findall(r"id=\"message\">(.*?)</p>", r.text)
        token = re.search(r'name="csrf_token" value="([^"]+)"', r.text).group(1)
        r = client.post(f"{desk.url}/runs/{run}/decide", data={
            "csrf_token": token, "cohort": "lapsed_high_value", "action": "confirm",
            "reason": "checked with the account team", "count": "1"})
        assert r.status_code == 303, r.text
        r = client.post(f"{desk.url}/runs/{run}/approve", data={
            "csrf_token": token, "reason": "figures checked against the finance report"})
        seen.append(r.text)
        assert r.status_code == 403 and "no approver role" in r.text  # the owners file's
    entries = _audit(settings)
    signed = [e for e in entries if e["action"] == "desk_signed_in"]
    assert signed[-1]["actor"] == "asha.rao"
    assert signed[-1]["payload"]["email"] == "Asha.Rao@shop.example"
    assert entries[-1]["actor"] == "asha.rao" and entries[-1]["action"].startswith("review_")
    # the client secret (as sent: in a Basic header) is in no page, log line or audit entry;
    # the code, a one-time secret, in no page or audit entry (the test's own HTTP client
    # logs the address it was sent back to, code included, so logs are not searched for it)
    code = re.search(r"code=([^&]+)", callback).group(1)
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    kept = "\n".join(seen) + (settings.home / "audit" / "audit.jsonl").read_text()
    for secret in (CLIENT_SECRET, basic):
        assert secret not in kept + caplog.text
    assert code not in kept
    client_log.disabled = was_disabled
    assert "POST" in caplog.text and "/token" in caplog.text  # the logs were captured


def test_a_browser_signs_in_through_the_provider_and_lands_where_it_was_going(
        oidc, idp, browser):
    """In Chromium: the provider's sign-in page posts back from the provider's site, so the
    desk's SameSite=strict session cookie would not travel on a plain redirect after the
    callback; the "Signed in" page continues from the desk's own site."""
    settings, run, desk, _ = oidc
    page = browser.new_page()
    try:
        page.goto(f"{desk.url}/runs/{run}")
        assert "/login" in page.url
        page.click("text=Sign in with Shop SSO")
        page.wait_for_url("http://localhost:*/authorize*")
        page.click("text=Sign in")
        page.wait_for_url(f"{desk.url}/runs/{run}")
        assert "Signed in as Asha Rao (asha.rao; reviewer)" in page.inner_text("header")
    finally:
        page.close()


@pytest.mark.parametrize("mischief, words", [
    ("signature", "signature is not the identity provider's"),
    ("foreign_key", "signature is not the identity provider's"),
    ("audience", "audience is not this desk's client id"),
    ("expired", "has expired"),
    ("nonce", "nonce is not the one this sign-in sent"),
])
def test_a_wrong_id_token_is_refused(oidc, idp, mischief, words):
    settings, run, desk, _ = oidc
    idp.mischief = mischief
    with httpx.Client() as client:
        r = client.get(_start(client, desk.url))
        assert r.status_code == 403 and words in html.unescape(r.text)
        assert client.get(f"{desk.url}/runs/{run}").status_code == 303  # not signed in


def test_a_wrong_state_or_another_browser_is_refused(oidc, idp):
    settings, run, desk, _ = oidc
    with httpx.Client() as client:
        callback = _start(client, desk.url)
        forged = re.sub(r"state=[^&]+", "state=made-up-by-an-attacker", callback)
        r = client.get(forged)
        assert r.status_code == 403 and "state does not match" in html.unescape(r.text)
        assert client.get(f"{desk.url}/runs/{run}").status_code == 303
    with httpx.Client() as client, httpx.Client() as victim:  # login CSRF: the attacker's
        callback = _start(client, desk.url)                    # code in another browser
        r = victim.get(callback)
        assert r.status_code == 403 and "started in another browser" in html.unescape(r.text)


def test_a_replayed_code_is_refused(oidc, idp):
    settings, run, desk, provider = oidc
    with httpx.Client() as client:
        callback = _start(client, desk.url)
        assert client.get(callback).status_code == 200
    with httpx.Client() as client:  # the same callback again: its state is used up
        fresh = _start(client, desk.url)
        cookie = client.cookies.get("segflow_desk_oidc")
        r = client.get(callback)
        assert r.status_code == 403 and "used already" in html.unescape(r.text)
        # the old code under a fresh sign-in's state: the provider refuses it
        asked = provider.token_requests
        old = re.search(r"code=([^&]+)", callback).group(1)
        r = client.get(re.sub(r"code=[^&]+", f"code={old}", fresh),
                       cookies={"segflow_desk_oidc": cookie})
        assert r.status_code == 403
        assert "refused the sign-in code (400 invalid_grant)" in html.unescape(r.text)
        assert provider.token_requests == asked + 1
        assert client.get(f"{desk.url}/runs/{run}").status_code == 303


def test_a_secret_the_provider_does_not_hold_is_refused_and_not_shown(oidc, idp):
    settings, run, desk, _ = oidc
    idp.secret = "rotated-at-the-provider"
    with httpx.Client() as client:
        r = client.get(_start(client, desk.url))
        text = html.unescape(r.text)
        assert r.status_code == 403 and f"(401 invalid_client): the desk's client id or the " \
            f"secret in {SECRET_ENV} is not the one the provider holds" in text
        assert CLIENT_SECRET not in text and idp.secret not in text


def test_an_identity_outside_the_owners_file_is_refused_and_audited(oidc, idp):
    settings, run, desk, _ = oidc
    idp.person = {"email": "eve@elsewhere.example", "email_verified": True}
    with httpx.Client() as client:
        r = client.get(_start(client, desk.url))
        assert r.status_code == 403
        assert "eve@elsewhere.example signed in at Shop SSO, but is not a person of the " \
               "owners file" in r.text
        assert client.get(f"{desk.url}/").status_code == 303
    last = _audit(settings)[-1]
    assert (last["actor"], last["action"]) == ("eve@elsewhere.example", "desk_sign_in_refused")
    assert last["payload"]["why"] == "not in the owners file"


def test_password_sign_in_is_switched_off(oidc):
    settings, run, desk, _ = oidc
    with httpx.Client(base_url=desk.url) as client:
        page = client.get("/login")
        assert "Sign in with Shop SSO" in page.text and 'type="password"' not in page.text
        r = client.post("/login", data={"name": "asha.rao", "password": PASSWORD, "next": "/"})
        assert r.status_code == 403 and "password sign-in is switched off" in r.text
        assert client.get("/").status_code == 303


def test_the_desk_does_not_start_without_the_client_secret(oidc, monkeypatch):
    from segflow.errors import SegflowError
    from segflow.governance.desk.app import create_app

    settings = oidc[0]
    monkeypatch.delenv(SECRET_ENV)
    with pytest.raises(SegflowError, match=rf"segflow.yaml:8: .*names {SECRET_ENV}, which "
                                           "is not set"):
        create_app(settings)


@pytest.mark.parametrize("target", ["//evil.example/x", "/\\evil.example/x",
                                    "https://evil.example/", "/\t/evil.example"])
def test_after_signing_in_the_desk_sends_nobody_to_another_site(oidc, idp, target):
    desk = oidc[2]
    with httpx.Client() as client:
        r = client.get(_start(client, desk.url, target))
        assert r.status_code == 200 and 'content="0; url=/"' in r.text
