"""Freshness per campaign: the lag of the live events that concern a published campaign,
checked against the campaign's own limit (`freshness: {p95_limit_seconds}`) by
`segflow events status` (exit 1, one line naming the campaign, its p95 and the limit),
and shown in the refresh report."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from liveworld import apply_in_process, env_of, published_rows, published_world, track

from segflow.scoring.campaigns import load_campaign
from segflow.scoring.schema import Problems

pytestmark = pytest.mark.integration


def _limit(settings, text: str) -> None:
    path = settings.campaigns_dir / "holi_test.yaml"
    body = path.read_text().split("\nfreshness:")[0]
    path.write_text(body + f"\nfreshness: {text}\n")


def _status(settings) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "segflow.cli", "--home", str(settings.home),
                           "events", "status"], env=env_of(settings), capture_output=True,
                          text=True, timeout=120)


def test_a_campaign_past_its_p95_limit_fails_events_status(tmp_path):
    from segflow.governance.publications import current_publication
    from segflow.governance.report import write_report
    from segflow.ingest.events.config import load_realtime

    settings = published_world(tmp_path / "world")
    path = settings.realtime_path
    path.write_text(path.read_text().replace("p95_limit_seconds: 1.0", "p95_limit_seconds: 600"))
    config = load_realtime(settings)
    quitter = next(r["entity_id"] for r in published_rows(settings) if r["status"] == "assigned")
    now = datetime.now(UTC)
    late = [track(quitter, "Unsubscribed", now - timedelta(seconds=30)),
            track(quitter, "Unrelated Event", now - timedelta(seconds=500))]
    assert apply_in_process(settings, config, late) == 2

    _limit(settings, "{p95_limit_seconds: 5}")
    failed = _status(settings)
    assert failed.returncode == 1, failed.stderr
    gate = [line for line in failed.stdout.splitlines() if line.startswith("campaign holi_test:")]
    assert len(gate) == 1 and gate[0].startswith("campaign holi_test: p95 freshness 30.")
    assert gate[0].endswith("s is over its 5s limit (holi_test.yaml)")
    assert "freshness gate FAILED" in failed.stdout

    run_id = current_publication(settings, "holi_test")["run_id"]
    page = write_report(settings, run_id).read_text()
    assert "Over the limit" in page and "the limit is 5 s (set in holi_test.yaml)" in page
    _monitoring_page_shows_it(settings)

    _limit(settings, "{p95_limit_seconds: -1}")  # unreadable: an error, not another limit
    broken = _status(settings)
    assert broken.returncode == 2
    assert broken.stderr.strip().splitlines()[-1].startswith(
        "error: cannot read the freshness limit of campaign holi_test: ")

    _limit(settings, "{p95_limit_seconds: 60}")
    passed = _status(settings)
    assert passed.returncode == 0, passed.stdout
    assert "freshness gate passed" in passed.stdout
    assert "Within the limit" in write_report(settings, run_id).read_text()


def _monitoring_page_shows_it(settings) -> None:
    """The campaign's monitoring page (trends) leads with the same verdict and figures."""
    import re

    from segflow.monitoring.trends import write_trends

    text = re.sub(r"<[^>]+>", " ", write_trends(settings, "holi_test")[0].read_text())
    text = " ".join(text.split())
    assert "Over the limit. 95% of the 1 live events that concern the published list " \
           "changed it within 30." in text
    assert "the limit is 5 s (set in holi_test.yaml)" in text
    assert text.index("Over the limit") < text.index("Cohort size by run")
    assert re.search(r"holi_test 1 30\.\d\d s 30\.\d\d s 30\.\d\d s 5 s", text), text
    assert re.search(r"unsubscribed \(suppressed\) 1 30\.\d\d s", text)


@pytest.mark.parametrize(("text", "problem"), [
    ("{p95_limit_seconds: -1}", "must be a positive number of seconds, got -1"),
    ("{p95_limit_seconds: yes}", "must be a positive number of seconds, got True"),
    ("{p95: 5}", "unknown key 'p95' in freshness"),
    ("5", "campaign.freshness must be"),
])
def test_campaign_freshness_limit_is_parsed_strictly(tmp_path, text, problem):
    from govworld import make_world

    settings = make_world(tmp_path)
    _limit(settings, text)
    problems = Problems()
    load_campaign(settings.campaigns_dir / "holi_test.yaml", problems)
    assert any(problem in str(p) for p in problems), [str(p) for p in problems]
