"""Segment freshness on a campaign's monitoring page: the verdict against the campaign's
limit, then the published campaign's p50/p95/max lag and the same per live segment.

The figures are those ``segflow events status`` and the refresh report show
(``segflow.governance.freshness.report_freshness`` per campaign,
``segflow.ingest.events.freshness.freshness`` per segment), read when the page is written.
"""

from __future__ import annotations

import pandas as pd

from segflow.settings import Settings


def _seconds(value) -> str:
    return "" if value is None else f"{value:,.2f} s"


def _segments(settings: Settings, campaign: str, row: dict | None) -> pd.DataFrame:
    """Per live segment (a suppression or ended cohort the campaign's published list
    has): events and lag; empty without measured events."""
    from segflow.governance.freshness import campaign_segments
    from segflow.ingest.events.freshness import freshness
    from segflow.ingest.events.inbox import connect_inbox

    if row is None or row.get("error") or not row["events"]:
        return pd.DataFrame()
    con = connect_inbox(settings, readonly=True)
    try:
        names = campaign_segments(settings, campaign)
        rows = [r for r in freshness(con) if r.get("target") in names]
    finally:
        con.close()
    return _table(rows, "segment")


def _table(rows: list[dict], what: str) -> pd.DataFrame:
    return pd.DataFrame([{what: r["segment"], "events": r["events"],
                          "median": _seconds(r["p50"]), "95th percentile": _seconds(r["p95"]),
                          "slowest": _seconds(r["max"]),
                          **({"limit": f"{r['limit']:g} s"} if "limit" in r else {})}
                         for r in rows])


def freshness_sections(settings: Settings, campaign: str) -> list[tuple[str, object]]:
    """The page's sections: the verdict line, the campaign's figures, per segment."""
    from segflow.errors import SegflowError
    from segflow.governance.freshness import report_freshness, verdict

    try:
        row = report_freshness(settings, campaign)
    except SegflowError as err:
        row = {"error": str(err)}
    passed, headline, detail = verdict(row)
    sections: list[tuple[str, object]] = [
        ("Freshness of live changes", f"{headline}. {detail}".strip() if detail
         else f"{headline}.")]
    if row is not None and not row.get("error") and row["events"]:
        sections += [("Freshness: the published campaign", _table([row], "campaign")),
                     ("Freshness by live segment", _segments(settings, campaign, row))]
    return sections
