"""Note topics route review items and read as movement reasons (issue 21, item 5) on the
small accounts world of the curated tests: the project's ``account_tiers`` campaign routes
``support_escalation`` and ``churn_risk`` (``review.note_topics``, notes at most 92 days
old), and owners.yaml names neha.kapoor for churn risk and support.escalations for
escalations (``topics:``).

One module-scoped world: two refreshes of a 300-account frame whose notes topic (the notes
model's output) is set for four accounts, with a notes table that dates them; the second
is governed.
The tests read it and never change it."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "scoring"))
from scoring_frames import account_frame  # noqa: E402

CAMPAIGN = "account_tiers"
FIRST, SECOND = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
TOPICS = {"A00001": "churn_risk",          # routed; moves to strategic in the second run
          "A00002": "support_escalation",  # routed
          "A00003": "churn_risk",          # its latest note is older than 92 days
          "A00004": "pricing_complaint"}   # a topic the campaign does not route
NOTES = [  # note_id, account_id, note_ts, text
    ("N1", "A00001", "2026-05-02 10:00", "Quarterly check-in, nothing major."),
    ("N2", "A00001", "2026-10-20 09:30", "Evaluating a replacement vendor; renewal at risk."),
    ("N3", "A00001", "2026-11-15 16:00", "Sponsor left, usage dropped again."),
    ("N7", "A00001", "2026-12-15 11:00", "Signed the renewal."),  # after both runs' as-of
    ("N4", "A00002", "2026-10-25 08:00", "P1 outage escalated to the CTO, root cause pending."),
    ("N5", "A00003", "2026-03-01 12:00", "They may not renew next year."),
    ("N6", "A00004", "2026-10-01 12:00", "Per-seat cost is too expensive."),
]


def _frame(strategic: set[str]) -> pa.Table:
    frame = account_frame(300)
    ids = frame["account_id"].to_pylist()
    topics = pa.array([TOPICS.get(i) for i in ids], pa.string())
    flags = pc.or_(frame["strategic_flag"], pa.array([i in strategic for i in ids]))
    frame = frame.set_column(frame.schema.get_field_index("notes_topic"), "notes_topic", topics)
    return frame.set_column(frame.schema.get_field_index("strategic_flag"), "strategic_flag",
                            flags)


@pytest.fixture(scope="module")
def routed(tmp_path_factory):
    """(settings, {"first", "second"} run ids): the second refresh (A00001 flagged
    strategic) governed, with its movement against the first."""
    from segflow.governance.pipeline import govern_run, movement_for
    from segflow.governance.refresh import refresh_with_overrides
    from segflow.settings import Settings

    settings = Settings(home=tmp_path_factory.mktemp("notes") / "ws").ensure()
    pq.write_table(pa.table({
        "note_id": [n[0] for n in NOTES], "account_id": [n[1] for n in NOTES],
        "note_ts": pa.array([datetime.fromisoformat(n[2]) for n in NOTES], pa.timestamp("us")),
        "author": ["am"] * len(NOTES), "text": [n[3] for n in NOTES]}),
        settings.canonical_dir / "account_notes.parquet")
    first = refresh_with_overrides(settings, CAMPAIGN, FIRST, features=_frame(set())).run_id
    second = refresh_with_overrides(settings, CAMPAIGN, SECOND,
                                    features=_frame({"A00001"})).run_id
    govern_run(settings, second)  # nothing published: the review items of the second run
    movement_for(settings, second, first)  # its movement against the first, as files
    return settings, {"first": first, "second": second}


def _items(settings, run_id: str) -> dict[str, tuple[str, str]]:
    from segflow.db import connect

    with connect(settings) as con:
        return {e: (r, d) for e, r, d in con.execute(
            "SELECT entity_id, rule, detail FROM review_queue WHERE run_id = ? AND "
            "starts_with(rule, 'note:')", [run_id]).fetchall()}


def test_routed_topics_of_recent_latest_notes_become_review_items_naming_their_owner(
        routed):
    settings, runs = routed
    assert _items(settings, runs["second"]) == {
        "A00001": ("note:churn_risk", 'latest note: churn risk, 2026-11-15 ("Sponsor left, '
                   'usage dropped again."); routed to neha.kapoor'),
        "A00002": ("note:support_escalation", 'latest note: support escalation, 2026-10-25 '
                   '("P1 outage escalated to the CTO, root cause pending."); routed to '
                   'support.escalations')}


def test_a_topic_owner_decides_only_the_items_of_their_topic(routed, capsys):
    from segflow.db import connect
    from segflow.errors import ControlFailed
    from segflow.governance.context import RunContext
    from segflow.governance.desk.queue import Filters, page
    from segflow.governance.owners import load_owners
    from segflow.governance.review import check_reviewer, get_item

    settings, runs = routed
    ctx = RunContext.of(settings, runs["second"])
    with connect(settings) as con:
        ids = dict(con.execute("SELECT entity_id, review_id FROM review_queue WHERE run_id = ? "
                               "AND starts_with(rule, 'note:')", [ctx.run_id]).fetchall())
        churn, escalation = get_item(con, ids["A00001"]), get_item(con, ids["A00002"])
        owners = load_owners(settings.owners_path)
        mine = page(con, ctx, Filters(owner="neha.kapoor", size=200), owners).rows
    assert [r["entity_id"] for r in mine] == ["A00001"]  # the desk's "owner" filter
    check_reviewer(ctx, churn, "neha.kapoor")
    check_reviewer(ctx, escalation, "support.escalations")
    with pytest.raises(ControlFailed, match="'neha.kapoor' may not review items"):
        check_reviewer(ctx, escalation, "neha.kapoor")
    with pytest.raises(ControlFailed):  # a topic owner's scope is their topic only
        check_reviewer(ctx, churn, "support.escalations")
    # the CLI refuses too, with one line and exit code 1, and writes nothing
    from test_governance_curated import segflow

    code, _, err = segflow(capsys, settings.home, "review", "confirm", ids["A00002"],
                           "--by", "neha.kapoor", "--reason", "looked at the outage note")
    assert code == 1 and "may not review items" in err
    code, out, _ = segflow(capsys, settings.home, "review", "show", ids["A00001"])
    assert code == 0 and "routed to neha.kapoor" in out
    code, out, _ = segflow(capsys, settings.home, "review", "list", "--run", ctx.run_id,
                           "--owner", "support.escalations", "--json")
    assert code == 0 and [i["entity_id"] for i in json.loads(out)] == ["A00002"]


def test_a_movers_reasons_end_with_its_latest_note_topic_and_date(routed):
    settings, runs = routed
    path = settings.runs_dir / runs["second"] / "movement.parquet"
    rows = {e: (m, r, rs) for e, m, r, rs in duckdb.sql(
        f"SELECT entity_id, movement, reason, reasons FROM read_parquet('{path}')").fetchall()}
    movement, reason, reasons = rows["A00001"]
    assert movement == "moved"
    assert reasons.endswith("; latest note: churn risk, 2026-11-15")
    assert "latest note" not in reason  # context, never the cause of the move
    assert all("latest note" not in (r[2] or "") for e, r in rows.items() if e not in TOPICS)


def test_note_topics_config_is_checked_strictly(tmp_path):
    from segflow.errors import ConfigError, SegflowError
    from segflow.governance.config import _check_note_topics
    from segflow.governance.notes import notes_model
    from segflow.settings import Settings
    from segflow.yamlio import load_yaml

    path = tmp_path / "c.yaml"
    path.write_text("note_topics:\n  column: notes_topic\n  route: [churn_risk]\n"
                    "  max_age: 30\n")
    with pytest.raises(ConfigError, match=r"c.yaml:4: unknown key 'max_age' in "
                                          "review.note_topics"):
        _check_note_topics(load_yaml(path)["note_topics"], path, 1)
    with pytest.raises(ConfigError, match="needs route"):
        _check_note_topics({"column": "notes_topic"}, path, 1)
    settings = Settings(home=tmp_path / "ws")
    with pytest.raises(SegflowError, match="route names 'churn', not a topic of "
                                           "account_notes_topics; its topics: "
                                           "support_escalation, churn_risk, "):
        notes_model(settings, "notes_topic", ["churn"], path)
    with pytest.raises(SegflowError, match="'notes_topic_guess' is not the first output"):
        notes_model(settings, "notes_topic_guess", ["churn_risk"], path)


def test_a_note_exactly_max_age_days_old_still_routes(tmp_path):
    """``max_age_days: 92`` routes notes at most 92 days old: one dated 92 days before the
    run's as-of routes, one a day older does not (the boundary day is included)."""
    from types import SimpleNamespace

    from segflow.governance.notes import TABLE, routed_sql
    from segflow.settings import Settings

    settings = Settings(home=tmp_path / "ws")
    spec = {"column": "notes_topic", "route": ["churn_risk"], "max_age_days": 92}
    ctx = SimpleNamespace(config=SimpleNamespace(campaign=CAMPAIGN, note_topics=spec),
                          run=SimpleNamespace(as_of=SECOND.isoformat()), run_id="r",
                          live=settings, settings=settings)
    con = duckdb.connect()
    con.execute(f"""CREATE TEMP TABLE {TABLE} AS SELECT * FROM (VALUES
        ('A1', 'churn_risk', DATE '2026-08-31', 'x'),     -- 92 days before 2026-12-01
        ('A2', 'churn_risk', DATE '2026-08-30', 'x'))     -- 93 days
        t(entity_id, topic, note_date, text)""")
    assert [r[0] for r in con.execute(routed_sql(ctx)).fetchall()] == ["A1"]


def test_the_owner_filter_agrees_with_may_review_when_the_run_froze_other_owners(
        routed, tmp_path):
    """A topic granted after the run (today's owners file, not the run's frozen copy) lets
    nobody decide the run's items (``owners.may_review`` asks both files), so neither the
    desk's owner filter nor ``review list --owner`` may list them: one scope, one answer."""
    import shutil

    from segflow.db import connect
    from segflow.errors import ControlFailed
    from segflow.governance.context import RunContext
    from segflow.governance.desk.queue import Filters, owned_items, page
    from segflow.governance.owners import load_owners
    from segflow.governance.pipeline import govern_run
    from segflow.governance.refresh import refresh_with_overrides
    from segflow.governance.review import check_reviewer, get_item
    from segflow.runstore import frozen_dir
    from segflow.settings import Settings

    settings, _ = routed
    # the project's rules in a folder of the test's own: the run is made while the owners
    # file grants neha.kapoor no topic, and the topic is granted after (then governed)
    project = tmp_path / "project"
    shutil.copytree(settings.templates_dir, project / "segment_templates")
    owners = project / "owners.yaml"
    text = settings.owners_path.read_text()
    assert "topics: [churn_risk]" in text
    owners.write_text(text.replace("topics: [churn_risk]", "topics: []"))
    copy = Settings(home=tmp_path / "ws", templates_root=project / "segment_templates")
    shutil.copytree(settings.home, copy.home)
    run = refresh_with_overrides(copy, CAMPAIGN, SECOND, features=_frame({"A00001"})).run_id
    owners.write_text(text)
    govern_run(copy, run)
    assert "topics: []" in (frozen_dir(copy, run) / "owners.yaml").read_text()
    ctx = RunContext.of(copy, run)
    with connect(copy) as con:
        item = get_item(con, con.execute(
            "SELECT review_id FROM review_queue WHERE run_id = ? AND entity_id = 'A00001' "
            "AND rule = 'note:churn_risk'", [ctx.run_id]).fetchone()[0])
        listed = page(con, ctx, Filters(owner="neha.kapoor", size=200),
                      load_owners(copy.owners_path)).rows
    with pytest.raises(ControlFailed, match="'neha.kapoor' may review items of strategic "
                       r"\(entity A00001\) under today's owners file but not under the copy "
                       "frozen with this run"):
        check_reviewer(ctx, item, "neha.kapoor")
    assert listed == []
    assert owned_items(copy, {ctx.run_id}, "neha.kapoor") == set()
    # the topic's owner in both files still sees and decides their item
    assert owned_items(copy, {ctx.run_id}, "support.escalations")


def test_an_overlapping_campaigns_mover_reads_its_latest_note_once():
    """In an overlapping campaign a customer moves cohort by cohort (one mover row each),
    but their reasons are gathered per customer: the latest note is said once, not once
    per cohort entered or left."""
    from segflow.governance.notes import TABLE, add_note_reasons
    from segflow.governance.reasons import CHANGES

    con = duckdb.connect()
    con.execute(CHANGES)
    con.execute("""CREATE TEMP TABLE movers AS SELECT * FROM (VALUES
        ('A1', 'entered', NULL, 'engaged'), ('A1', 'entered', NULL, 'lapsed'),
        ('A1', 'stayed', 'loyal', 'loyal')) t(entity_id, movement, cohort_before, cohort_after)""")
    con.execute(f"CREATE TEMP TABLE {TABLE} AS SELECT 'A1' AS entity_id, 'churn_risk' AS "
                "topic, DATE '2026-11-15' AS note_date, 'x' AS text")
    add_note_reasons(con, "movers")
    assert con.execute("SELECT reason FROM clause_changes").fetchall() == [
        ("latest note: churn risk, 2026-11-15",)]


def test_a_campaign_without_note_topics_reads_no_earlier_runs_note_topics():
    """``note_topics`` is a temp table of the connection: registering a run whose campaign
    routes no topics must not leave an earlier run's table to be read as this run's."""
    from types import SimpleNamespace

    from segflow.governance.notes import TABLE, has_note_topics, register_note_topics

    con = duckdb.connect()
    con.execute(f"CREATE TEMP TABLE {TABLE} AS SELECT 'A1' AS entity_id")  # another run's
    ctx = SimpleNamespace(config=SimpleNamespace(note_topics=None))
    assert register_note_topics(con, ctx) is False
    assert not has_note_topics(con)


def test_an_item_proposes_the_entitys_deciding_row_not_an_arbitrary_one():
    """An entity in several cohorts (a campaign that is not exclusive) is proposed, and its
    revenue attributed, under its row of highest priority, the cohort breaking a tie, a row
    without a cohort last: the same row however the rows are stored (store.deciding_rows)."""
    from segflow.governance.store import deciding_rows

    rows = [("A1", "growth", 2), ("A1", "key", 1), ("A1", None, None),
            ("A2", "zeta", 3), ("A2", "alpha", 3), ("A3", None, None)]
    for order in (rows, rows[::-1]):
        con = duckdb.connect()
        con.execute("CREATE TABLE m_cur (entity_id VARCHAR, cohort VARCHAR, priority INT)")
        con.executemany("INSERT INTO m_cur VALUES (?, ?, ?)", order)
        got = con.execute(f"SELECT entity_id, cohort FROM ({deciding_rows('m_cur')}) "
                          "ORDER BY entity_id").fetchall()
        assert got == [("A1", "key"), ("A2", "alpha"), ("A3", None)]
