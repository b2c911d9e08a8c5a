"""Hand-curated cohorts (issue 16, item 5) and the account-manager hand-off (item 7) on a
small accounts (B2B) world: the project's own ``account_tiers`` campaign, which declares
the curated cohort ``contract_terms`` at priority 0, scored from a 300-account frame.

One module-scoped world holds two governed refreshes: with the list, and as of its
expiry date; tests read it and never change it (those that write use their own
workspace)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "scoring"))
from scoring_frames import account_frame  # noqa: E402

CAMPAIGN, NAME = "account_tiers", "contract_terms"
CHOSEN = ["A00003", "A00007", "A00011"]  # three accounts, in different tiers by the rules
UNKNOWN = "ZZ-NOT-AN-ACCOUNT"
REASON = "custom contract terms signed in Q3"
EXPIRES = "2026-12-01"
DURING, EXPIRED = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def tiers(tmp_path_factory):
    """(settings, {"during", "expired"} run ids, upload, movement summaries) of the
    accounts world: the list is uploaded before the first refresh; the second refresh is
    as of its expiry date, its movement against the first."""
    from segflow.governance.curated import curate
    from segflow.governance.pipeline import govern_run, movement_for
    from segflow.governance.refresh import refresh_with_overrides
    from segflow.settings import Settings

    settings = Settings(home=tmp_path_factory.mktemp("curated") / "ws").ensure()
    frame = account_frame(300)
    runs = {}
    ids = settings.home / "ids.csv"
    ids.write_text("account_id\n" + "\n".join([*CHOSEN, UNKNOWN, CHOSEN[0]]) + "\n")
    upload = curate(settings, CAMPAIGN, NAME, ids, "asha.rao", REASON, EXPIRES)
    runs["during"] = refresh_with_overrides(settings, CAMPAIGN, DURING, features=frame).run_id
    runs["expired"] = refresh_with_overrides(settings, CAMPAIGN, EXPIRED, features=frame).run_id
    for run in runs.values():
        govern_run(settings, run)
    summaries = {"during": movement_for(settings, runs["during"]).summary,  # all new
                 "expired": movement_for(settings, runs["expired"], runs["during"]).summary}
    return settings, runs, upload, summaries


def segflow(capsys, home: Path, *args):
    """The CLI in this process (``segflow.cli.run``: the installed entry point's code path,
    its one-line errors and exit codes): (code, stdout, last stderr line)."""
    from segflow.cli import run
    from segflow.settings import set_home

    capsys.readouterr()
    try:
        code = run(["--home", str(home), *map(str, args)])
    finally:
        set_home(None)
    out, err = capsys.readouterr()
    lines = [x for x in err.splitlines() if x.strip()]
    return code, out, lines[-1] if lines else ""


def _rows(settings, run_id: str, ids: list[str]) -> dict[str, dict]:
    path = settings.runs_dir / run_id / "memberships.parquet"
    return {r["entity_id"]: r for r in duckdb.sql(
        f"SELECT * FROM read_parquet('{path}') WHERE list_contains($ids, entity_id)",
        params={"ids": ids}).to_arrow_table().to_pylist()}


def test_curated_cohort_of_three_accounts_is_assigned_counted_explained_and_expires(
        tiers, capsys):
    from segflow.db import connect

    settings, runs, upload, summaries = tiers
    assert (upload.version, upload.ids, upload.duplicates) == (1, 4, 1)
    assert upload.checked_against is None  # no run yet: the refresh reports unknown ids
    # assigned: the rules put the three in other tiers (the expired run shows which); the
    # list (priority 0, above every tier) takes them
    by_rules = _rows(settings, runs["expired"], CHOSEN)
    assert all(r["cohort"] not in (None, NAME) for r in by_rules.values())
    during = _rows(settings, runs["during"], CHOSEN)
    assert {i: (r["cohort"], r["status"], r["priority"], r["curated_id"])
            for i, r in during.items()} == {i: (NAME, "assigned", 0, f"{NAME}@v1")
                                           for i in CHOSEN}
    # counted: everyone once, the curated ids each with one outcome, the unknown id named
    with connect(settings) as con:
        controls = {name: (passed, severity, message) for name, passed, severity, message in
                    con.execute("SELECT name, passed, severity, message FROM control_results "
                                "WHERE run_id = ?", [runs["during"]]).fetchall()}
    assert controls["accounted_once"][0] is True
    assert controls["curated_accounted"][:2] == (False, "review")
    assert f"{NAME}:{UNKNOWN}" in controls["curated_accounted"][2]
    outcomes = pq.read_table(settings.runs_dir / runs["during"] / "curated.parquet")
    assert sorted(zip(outcomes["entity_id"].to_pylist(), outcomes["outcome"].to_pylist(),
                      strict=True)) == sorted([(i, "assigned") for i in CHOSEN]
                                              + [(UNKNOWN, "not_in_population")])
    # movement explains who curated them and why
    reasons = _movement_reasons(settings, runs["during"])
    assert {reasons[i] for i in CHOSEN} == {f"curated by Asha Rao: {REASON} (v1, until "
                                            f"{EXPIRES})"}
    assert any(line.startswith("3 joined Custom contract terms") for line in
               summaries["during"])
    # explain says so for one account
    code, out, err = segflow(capsys, settings.home, "explain", "--campaign", CAMPAIGN,
                             "--account", CHOSEN[0], "--run", runs["during"], "--top", "0")
    assert code == 0, err
    assert "on the hand-curated list contract_terms@v1" in out
    assert f"curated: in curated cohort 'Custom contract terms': curated by Asha Rao: {REASON}" \
        in out
    # expires on its date: the run as of the expiry date assigns nobody from it, and the
    # report, movement and explain say it expired
    assert all(r["curated_id"] is None for r in by_rules.values())
    left = _movement_reasons(settings, runs["expired"])
    assert all(left[i].startswith(f"curated cohort expired on {EXPIRES}") for i in CHOSEN)
    report = (settings.runs_dir / runs["expired"] / "report.html").read_text()
    assert f"Custom contract terms expired on {EXPIRES}: it assigns nobody" in report
    code, out, _ = segflow(capsys, settings.home, "explain", "--campaign", CAMPAIGN,
                           "--account", CHOSEN[1], "--run", runs["expired"], "--top", "0")
    assert code == 0 and f"which expired on {EXPIRES}: it no longer assigns" in out


def _movement_reasons(settings, run_id: str) -> dict[str, str]:
    path = settings.runs_dir / run_id / "movement.parquet"
    return dict(duckdb.sql(f"SELECT entity_id, reason FROM read_parquet('{path}')").fetchall())


def test_handoff_writes_one_file_per_owner_from_the_configured_owner_column(tiers,
                                                                           tmp_path):
    """Every account of a hand-off tier (or that left one) is in exactly one owner's file;
    the owner column is the campaign's (exports.handoff.owner), here renamed to prove it."""
    import dataclasses

    from segflow.governance.context import RunContext
    from segflow.governance.handoff import write_handoff
    from segflow.governance.store import memberships_view

    settings, runs, *_ = tiers
    ctx = RunContext.of(settings, runs["during"])
    ids = [f"A{i:05d}" for i in range(300)]
    owners = ["asha.rao", "vikram.mehta", None]
    table = tmp_path / "book.parquet"
    pq.write_table(pa.table({"acct": ids, "manager": [owners[i % 3] for i in range(300)]}),
                   table)
    handoff = {"table": "book", "id": "acct", "owner": "manager"}
    ctx.__dict__["config"] = dataclasses.replace(
        ctx.config, exports={**ctx.config.exports, "handoff": handoff})
    con = duckdb.connect()
    memberships_view(con, settings, runs["during"], "m_cur")
    index = write_handoff(settings, con, ctx, {"book": table}, tmp_path / "out")
    files = {f["owner"]: f for f in index["files"]}
    assert set(files) == {"asha.rao", "vikram.mehta", None}
    assert files[None]["file"] == "_no_owner.csv"
    written = duckdb.sql(f"SELECT * FROM read_csv('{tmp_path}/out/handoff/*.csv', "
                         "filename = true, all_varchar = true)").to_arrow_table().to_pylist()
    expected = duckdb.sql(f"""SELECT count(*) FROM read_parquet('{settings.runs_dir /
        runs['during'] / 'memberships.parquet'}') WHERE status = 'assigned'
        AND split_part(cohort, '__', 1) IN ('strategic', 'key', 'growth', '{NAME}')""")
    assert len(written) == index["rows"] == expected.fetchall()[0][0]
    assert len({r["acct"] for r in written}) == len(written)  # nobody twice
    mine = [r for r in written if r["filename"].endswith("asha.rao.csv")]
    assert all(ids.index(r["acct"]) % 3 == 0 for r in mine)
    curated = next(r for r in written if r["acct"] == CHOSEN[0])
    assert (curated["tier"], curated["reason"]) == (
        NAME, f"curated by Asha Rao: {REASON} (v1, until {EXPIRES})")
    assert set(written[0]) == {"acct", "tier", "status", "tier_before", "movement", "reason",
                               "filename"}


def test_curate_cli_versions_lists_retires_and_refuses_bad_input(home, capsys, tmp_path):
    import json

    good = tmp_path / "ids.csv"
    good.write_text("account_id\nA1\nA2\nA3\n")
    args = ["cohorts", "curate", "--campaign", CAMPAIGN, "--name", NAME, "--owner",
            "asha.rao", "--reason", REASON, "--expires", EXPIRES]
    code, out, err = segflow(capsys, home.home, *args, "--file", good)
    assert code == 0, err
    assert "version 1, 3 ids" in out and "not checked against the population" in out
    assert segflow(capsys, home.home, *args, "--file", good)[1].startswith(
        f"curated cohort {NAME} of {CAMPAIGN}: version 2")
    blank = tmp_path / "blank.csv"
    blank.write_text("account_id\nA1\n\nA2\n ,\n")
    refused = {
        "blank": segflow(capsys, home.home, *args, "--file", blank),
        "undeclared": segflow(capsys, home.home, *[a if a != NAME else "vip" for a in args],
                              "--file", good),
        "owner": segflow(capsys, home.home,
                         *[a if a != "asha.rao" else "rahul.verma" for a in args],
                         "--file", good),
        "date": segflow(capsys, home.home, *[a if a != EXPIRES else "2026-13-01" for a in args],
                        "--file", good)}
    assert {k: r[0] for k, r in refused.items()} == dict.fromkeys(refused, 2)
    assert "blank.csv, line" in refused["blank"][2]
    assert "the id is blank" in refused["blank"][2]
    assert "declares no curated cohort 'vip'" in refused["undeclared"][2]
    assert "no reviewer or approver role" in refused["owner"][2]
    assert "is not a date" in refused["date"][2]
    code, out, _ = segflow(capsys, home.home, "cohorts", "retire", "--campaign", CAMPAIGN,
                           "--name", NAME, "--by", "vikram.mehta", "--reason",
                           "contracts moved to standard terms")
    assert code == 0 and "version 2" in out
    listed = json.loads(segflow(capsys, home.home, "cohorts", "list", "--all", "--json")[1])
    assert [(r["version"], r["retired_by"]) for r in listed] == [(1, None),
                                                                 (2, "vikram.mehta")]
    shown = json.loads(segflow(capsys, home.home, "cohorts", "show", "--campaign", CAMPAIGN,
                               "--name", NAME, "--version", "1", "--json")[1])
    assert shown["members"] == ["A1", "A2", "A3"] and shown["versions"] == [1, 2]
    from segflow.governance import audit

    assert [e["action"] for e in audit.read(home) if e["action"].startswith("curated")] == [
        "curated_cohort_uploaded", "curated_cohort_uploaded", "curated_cohort_retired"]


def test_the_campaign_declares_where_a_curated_cohort_sits(home, tmp_path):
    """The curated: section is strict: a priority is required, ties and name clashes with
    template cohorts are refused, and so is an overlapping campaign."""
    import dataclasses

    from segflow.errors import ConfigError
    from segflow.governance.config import load_config

    text = (home.campaigns_dir / f"{CAMPAIGN}.yaml").read_text()
    folder = tmp_path / "segment_templates" / "campaigns"
    folder.mkdir(parents=True)
    settings = dataclasses.replace(home, templates_root=folder.parent)
    spec = "  contract_terms:            # accounts on custom contract terms, above every " \
           "rule-made tier\n    priority: 0\n"
    assert spec in text
    cases = {"    priority: 1\n": "also the priority of cohort 'strategic'",
             "": "needs a priority",
             "    priority: 0\n    colour: red\n": "unknown key 'colour'"}
    for replacement, problem in cases.items():
        (folder / f"{CAMPAIGN}.yaml").write_text(text.replace(
            spec, spec.split("\n")[0] + "\n" + replacement))
        with pytest.raises(ConfigError, match=problem):
            load_config(settings, CAMPAIGN)
    (folder / f"{CAMPAIGN}.yaml").write_text(text.replace("exclusive: true",
                                                          "exclusive: false"))
    with pytest.raises(ConfigError, match="only an exclusive campaign"):
        load_config(settings, CAMPAIGN)
    (folder / f"{CAMPAIGN}.yaml").write_text(text.replace("  contract_terms:", "  key:"))
    with pytest.raises(ConfigError, match="has the name of a template cohort"):
        load_config(settings, CAMPAIGN)


def test_process_measured_from_audit_entries_and_runs():
    """Refresh to approval and publication, decisions per reviewer (a bulk entry counts its
    items), time per decision and the share of overrides, from known timestamps."""
    from segflow.governance.process import measure, summary_lines

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("""CREATE TABLE runs AS SELECT * FROM (VALUES
        ('r1', 'tiers', TIMESTAMPTZ '2027-01-01 06:00:00+00'),
        ('r2', 'tiers', TIMESTAMPTZ '2027-04-01 06:00:00+00')) v(run_id, campaign, created_at)""")
    con.execute("""CREATE TABLE entries AS SELECT CAST(ts AS TIMESTAMPTZ) AS ts, actor,
        action, run_id, status, items FROM (VALUES
        ('2027-01-01 06:10:00+00', 'segflow', 'govern', 'r1', NULL, NULL),
        ('2027-01-01 06:20:00+00', 'asha', 'review_confirmed', 'r1', 'confirmed', NULL),
        ('2027-01-01 06:30:00+00', 'asha', 'review_overridden', 'r1', 'overridden', NULL),
        ('2027-01-01 07:10:00+00', 'vikram', 'review_overridden', 'r1', 'overridden', 4),
        ('2027-01-01 08:00:00+00', 'lead', 'approve', 'r1', NULL, NULL),
        ('2027-01-01 09:00:00+00', 'lead', 'publish', 'r1', NULL, NULL),
        ('2027-04-01 06:05:00+00', 'segflow', 'govern', 'r2', NULL, NULL))
        v(ts, actor, action, run_id, status, items)""")
    cycles, reviewers, campaigns = measure(con)
    c1, c2 = cycles.to_pylist()
    assert (c1["hours_to_approval"], c1["hours_to_publication"]) == (2.0, 3.0)
    assert (c1["decisions"], c1["overrides"], c1["override_share"]) == (6, 5, 5 / 6)
    assert [(r["reviewer"], r["decisions"], r["overrides"], r["seconds_per_decision"])
            for r in reviewers.to_pylist()] == [("asha", 2, 1, 600.0), ("vikram", 4, 4, 900.0)]
    assert c1["seconds_per_decision"] == 750.0  # the median over the two reviewers
    assert (c2["decisions"], c2["hours_to_approval"], c2["seconds_per_decision"]) == (
        0, None, None)
    assert summary_lines({"campaigns": campaigns}) == [
        "tiers: 2 cycle(s), 1 published, median 2.0 h from refresh to approval, 3.0 h to "
        "publication, 6 review decision(s), 83% overrides, 750 s per decision"]


def test_process_command_reads_the_workspace(tiers, capsys):
    import json

    settings, runs, *_ = tiers
    code, out, err = segflow(capsys, settings.home, "process", "--campaign", CAMPAIGN,
                             "--json")
    assert code == 0, err
    data = json.loads(out)
    assert [c["run_id"] for c in data["cycles"]] == [runs["during"], runs["expired"]]
    assert all(c["governed_at"] and c["decisions"] == 0 and c["approved_at"] is None
               for c in data["cycles"])
    assert data["campaigns"][0]["cycles"] == 2
    report = (settings.runs_dir / runs["during"] / "report.html").read_text()
    assert 'id="process"' in report and "not approved yet" in report
    code, _, err = segflow(capsys, settings.home, "process", "--campaign", "nope")
    assert code == 2 and "no campaign 'nope'" in err


def test_apply_curated_respects_priority_and_suppression_and_names_every_outcome():
    """Pure: a curated list at priority 2 takes an unassigned id and one of priority 3,
    not one of priority 1 nor a suppressed one; an id outside the population is named;
    the rows keep their order and everything else."""
    from segflow.governance.curated import apply_curated

    m = pa.table({
        "entity_id": ["a", "b", "c", "d", "e"], "cohort": [None, "top", "low", None, "low"],
        "template": [None, "t_top", "t_low", None, "t_low"],
        "split_value": pa.nulls(5, pa.string()),
        "status": ["unassigned", "assigned", "assigned", "suppressed", "assigned"],
        "arm": [None, "treatment", "treatment", None, "treatment"],
        "priority": pa.array([None, 1, 3, None, 3], pa.int32()),
        "rank": pa.array([None, 1, 1, None, 2], pa.int64()), "score": [0.1] * 5,
        "channels": ["", "email", "email", "", "email"]})
    listed = pa.table({"entity_id": ["a", "b", "c", "d", "zz"], "cohort": ["vip"] * 5,
                       "version": pa.array([3] * 5, pa.int32()),
                       "priority": pa.array([2] * 5, pa.int32()),
                       "channels": ["account_manager"] * 5, "state": ["active"] * 5})
    out, outcomes = apply_curated(m, listed)
    rows = out.to_pylist()
    assert [r["entity_id"] for r in rows] == ["a", "b", "c", "d", "e"]
    assert [(r["cohort"], r["status"], r["priority"], r["curated_id"]) for r in rows] == [
        ("vip", "assigned", 2, "vip@v3"), ("top", "assigned", 1, None),
        ("vip", "assigned", 2, "vip@v3"), (None, "suppressed", None, None),
        ("low", "assigned", 3, None)]
    assert rows[2]["template"] is None and rows[2]["channels"] == "account_manager"
    assert dict(zip(outcomes["entity_id"].to_pylist(), outcomes["outcome"].to_pylist(),
                    strict=True)) == {"a": "assigned", "b": "higher_priority",
                                      "c": "assigned", "d": "suppressed",
                                      "zz": "not_in_population"}
    expired = listed.set_column(5, "state", pa.array(["expired"] * 5))
    out, outcomes = apply_curated(m, expired)
    assert out.drop_columns(["curated_id"]).equals(m)
    assert set(outcomes["outcome"].to_pylist()) == {"expired"}
