"""Keyset paging of the desk's queue over real HTTP: following Next from the first page
shows every matching item exactly once in the sort's order (missing values last, the item
id breaking ties), Previous walks the same pages back, and a decision taken between two
pages neither skips nor repeats an item."""

from __future__ import annotations

import re

import httpx
from deskworld import csrf_of, login

ROW = re.compile(r'<tr><td><a href="/runs/[^/]+/items/(R[0-9a-f]{16})">')
LINK = re.compile(r'<a href="([^"]+)" hx-get="[^"]+" hx-target="#rows" hx-push-url="true" '
                  r'id="(next|previous)">')


RULE = "boundary:lapsed_high_value.c2"  # items second.approver may decide


def _ordered(settings, run: str, column: str, desc: bool, rule: str | None) -> list[str]:
    """Every matching item id in the order the desk promises, straight from the table (the
    open items of ``rule`` where one is given)."""
    from segflow.db import connect

    with connect(settings, read_only=True) as con:
        return [r[0] for r in con.execute(
            f"SELECT review_id FROM review_queue WHERE run_id = ? AND (? IS NULL OR "
            f"(rule = ? AND status = 'open')) ORDER BY {column} "
            f"{'DESC' if desc else 'ASC'} NULLS LAST, review_id",
            [run, rule, rule]).fetchall()]


def _walk(client, start: str, way: str) -> tuple[list[list[str]], str]:
    """The pages met following ``way`` links from ``start``, and the last page's URL (as
    HTMX asks for them: the rows and pager only)."""
    pages, url = [], start
    while True:
        html = client.get(url, headers={"HX-Request": "true"}).text
        pages.append(ROW.findall(html))
        links = {name: target.replace("&amp;", "&") for target, name in LINK.findall(html)}
        if way not in links:
            return pages, url
        url = links[way]


SORTS = [("before", "cohort_before", False), ("move", "move", True)]  # missing values, numbers


def test_next_and_previous_walk_every_item_once_in_order(desk):
    settings, run, server = desk
    walks = {}
    with httpx.Client(base_url=server.url) as client:
        login(client, server.url, "second.approver")
        for sort, _column, desc in SORTS:
            start = f"/runs/{run}/queue?sort={sort}&size=50" + ("&desc=true" if desc else "")
            forward, last = _walk(client, start, "next")
            walks[sort] = forward, _walk(client, last, "previous")[0]
        for key in ('["x"]', "not json", '[null, 4]', '["3", "R1"]'):
            r = client.get(f"/runs/{run}/queue", params={"sort": "move", "after": key})
            assert r.status_code == 400 and "page link is damaged" in r.text, key
    for sort, column, desc in SORTS:
        forward, backward = walks[sort]
        assert len(forward) > 2 and all(len(p) == 50 for p in forward[:-1]), sort
        assert [i for p in forward for i in p] == _ordered(settings, run, column, desc, None)
        assert backward == forward[::-1], sort


def test_a_decision_between_two_pages_skips_and_repeats_nothing(desk):
    settings, run, server = desk
    expected = _ordered(settings, run, "rule", False, RULE)
    with httpx.Client(base_url=server.url) as client:
        login(client, server.url, "second.approver")
        html = client.get(f"/runs/{run}/queue", params={"rule": RULE, "status": "open",
                                                       "size": 25}).text
        first = ROW.findall(html)
        after = dict((n, t) for t, n in LINK.findall(html))["next"].replace("&amp;", "&")
        r = client.post(f"/runs/{run}/decide", data={
            "csrf_token": csrf_of(client, server.url), "rule": RULE, "status": "open",
            "count": "10",
            "action": "confirm", "reason": "checked against the contracts on file"})
        assert r.status_code == 303, r.text
        second = ROW.findall(client.get(after).text)
    assert first == expected[:25]
    assert second == expected[25:50]  # the 10 confirmed were on page 1: page 2 is unchanged
