"""The review desk end to end in the system Chromium (headless), against the real app under
uvicorn on a loopback port: a reviewer signs in, filters the queue (HTMX), overrides 50
boundary items with one reason and sees the run's counts change at once; the same person is
refused approval of that run (403, four eyes); an approver approves and publishes; the audit
log names everyone."""

from __future__ import annotations

import re

from deskworld import PASSWORD

RULE = "boundary:lapsed_high_value.c2"
REASON = "the account managers hold these back until the contract renewal"


def _kpi(page, title: str) -> int:
    card = page.locator("#counts .kpi", has=page.locator(".kpi-label", has_text=title)).first
    return int(card.locator(".kpi-value").inner_text().replace(",", ""))


def _sign_in(page, url: str, name: str, path: str) -> None:
    page.goto(f"{url}{path}")
    assert "/login" in page.url
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}{path.split('?')[0]}*")


def _open(settings, run: str, rule: str | None = None) -> int:
    from segflow.db import connect

    with connect(settings, read_only=True) as con:
        return con.execute("SELECT count(*) FROM review_queue WHERE run_id = ? AND status = "
                           "'open' AND (? IS NULL OR rule = ?)", [run, rule, rule]).fetchone()[0]


def test_reviewer_overrides_in_bulk_and_an_approver_publishes(browser, desk):
    from segflow.governance import audit

    settings, run, server = desk
    matching = _open(settings, run, RULE)
    assert matching >= 50
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _sign_in(page, server.url, "second.approver", f"/runs/{run}/queue")
    lapsed, unassigned = _kpi(page, "Lapsed high-value"), _kpi(page, "unassigned")

    page.select_option("select[name=rule]", RULE)  # HTMX swaps the rows in place
    page.wait_for_function(f"document.querySelector('#total strong').textContent === "
                           f"'{matching}'")
    assert "rule=boundary" in page.url  # the filtered view has its own address
    assert page.locator("#bulk-filters input[name=rule]").get_attribute("value") == RULE

    page.check("input[name=action][value=override]")
    page.select_option("select[name=to]", "unassigned")
    page.fill("input[name=count]", "50")
    page.fill("#decide-form input[name=reason]", REASON)
    page.click("#decide-form button[type=submit]")
    page.wait_for_selector("#flash")
    assert "50 item(s) overridden by second.approver" in page.inner_text("#flash")
    assert _kpi(page, "Lapsed high-value") == lapsed - 50  # in effect in this run, now
    assert _kpi(page, "unassigned") == unassigned + 50
    assert _open(settings, run, RULE) == matching - 50

    page.goto(f"{server.url}/runs/{run}")
    page.fill("#approve-form input[name=reason]", "figures checked against the finance report")
    with page.expect_response(lambda r: r.url.endswith("/approve")) as refused:
        page.click("#approve-form button[type=submit]")
    assert refused.value.status == 403
    assert "may not approve" in page.inner_text("#message")

    page.goto(f"{server.url}/")
    page.click("header form button[type=submit]")  # sign out
    page.wait_for_url("**/login")
    _sign_in(page, server.url, "lead.analyst", f"/runs/{run}")
    page.fill("#approve-form input[name=reason]", "figures checked against the finance report")
    page.click("#approve-form button[type=submit]")
    page.wait_for_url(f"{server.url}/runs/{run}")
    left = _open(settings, run)
    page.fill("#publish-form input[name=accept_open]", str(left))
    page.fill("#publish-form input[name=reason]", "the other boundary items go out as proposed")
    page.click("#publish-form button[type=submit]")
    page.wait_for_url(f"{server.url}/runs/{run}")
    assert page.inner_text(".verdict .state").startswith("Published")
    page.goto(f"{server.url}/runs/{run}/pages/report")  # the run's report, behind the login
    assert "Published" in page.inner_text(".verdict .state")
    page.close()

    steps = [(e["actor"], e["action"]) for e in audit.read(settings, run)]
    assert ("second.approver", "review_bulk_overridden") in steps
    assert ("second.approver", "govern") in steps  # the run re-derived under her name
    assert steps[-2:] == [("lead.analyst", "approve"), ("lead.analyst", "publish")]
    bulk = next(e for e in audit.read(settings, run) if e["action"] == "review_bulk_overridden")
    assert bulk["payload"]["count"] == 50 and bulk["payload"]["reason"] == REASON
    assert re.match(r"R[0-9a-f]{16}", bulk["payload"]["items"][0]["review_id"])
