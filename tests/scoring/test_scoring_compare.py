"""`segflow compare`: the account-tier rules against the tier list a finance team keeps
today. The test writes that list from a run's own memberships, plants disagreements, and
checks the agreement, the confusion table and, for each disagreement, the clause and values
that decide it; a bad list is every bad row with file:line and exit 2."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from scoring_frames import account_frame
from typer.testing import CliRunner

from segflow.cli import app
from segflow.errors import SegflowError
from segflow.runstore import run_dir
from segflow.scoring.compare import BadLegacyRows, read_legacy
from segflow.scoring.refresh import refresh_campaign

LABELS = {"strategic": "Strategic", "key": "Key", "growth": "Growth", "core": "Core",
          "long_tail": "Long tail"}


@pytest.fixture(scope="module")
def tiers(tmp_path_factory):
    """A workspace with one account_tiers run over 200 accounts, and the tier list the
    team keeps, equal to the run except for four planted disagreements: (settings, run id,
    list path, memberships by id, the planted rows)."""
    from segflow.settings import Settings

    home = tmp_path_factory.mktemp("tiers")
    settings = Settings(home=home / "ws").ensure()
    run = refresh_campaign(settings, "account_tiers", features=account_frame(200)).run_id
    members = {r["entity_id"]: r for r in pq.read_table(
        run_dir(settings, run) / "memberships.parquet").to_pylist()}
    tiered = sorted(e for e, r in members.items() if r["status"] == "assigned")
    low = next(e for e in tiered if members[e]["cohort"] == "long_tail")
    dormant = next(e for e, r in members.items() if r["status"] == "suppressed")
    other = next(e for e in tiered if members[e]["cohort"] == "core")
    planted = {low: "Key", other: "Platinum", dormant: "Core", "A99999": "Strategic"}
    rows = [(e, LABELS[members[e]["cohort"]]) for e in tiered] + \
        [(e, t) for e, t in planted.items() if e not in tiered]
    rows = [(e, planted.get(e, t)) for e, t in rows]
    path = home / "current_tiers.csv"
    path.write_text("Account ID,Tier,Account manager\n"
                    + "".join(f"{e},{t},someone\n" for e, t in rows), encoding="utf-8-sig")
    return settings, run, path, members, planted, rows


def _compare(settings, *args):
    from segflow.settings import set_home

    try:
        return CliRunner().invoke(app, ["--home", str(settings.home), "compare", "--campaign",
                                        "account_tiers", *map(str, args)])
    finally:
        set_home(None)


def test_compare_reports_agreement_and_the_clauses_of_each_disagreement(tiers):
    settings, run, path, members, planted, rows = tiers
    result = _compare(settings, "--legacy", path, "--run", run, "--json")
    assert result.exit_code == 0, result.output
    c = json.loads(result.output)

    # independent count: listed accounts whose tier equals the run's cohort
    cohort = {e: r["cohort"] for e, r in members.items() if r["status"] == "assigned"}
    by_label = {v: k for k, v in LABELS.items()}
    agree = sum(1 for e, t in rows if cohort.get(e) == by_label.get(t))
    assert (c["agree"], c["disagree"], c["compared"]) == (agree, 4, len(rows))
    assert c["legacy"]["id_column"] == "Account ID" and c["legacy"]["segment_column"] == "Tier"
    assert c["legacy"]["not_cohorts"] == ["Platinum"]
    cells = {(x["legacy"], x["rules"]): x["count"] for x in c["confusion"]}
    assert cells[("key", "long_tail")] == 1 and cells[("core", "(suppressed)")] == 1
    assert cells[("strategic", "(not in population)")] == 1 and cells[("Platinum", "core")] == 1
    assert sum(cells.values()) == len(set(members) | {e for e, _ in rows})

    why = {d["id"]: d for d in c["disagreements"]}
    low, = (e for e, t in planted.items() if t == "Key")
    revenue = account_frame(200).to_pylist()[int(low[1:])]["revenue_4q"]
    assert why[low]["why"].startswith("the key rule fails: revenue_4q >= 10000000 "
                                      "(revenue_4q = ")
    assert "long_tail holds: COALESCE(revenue_4q, 0) > 0" in why[low]["why"]
    assert why[low]["legacy_rule"]["matched"] is False
    failed = [x for x in why[low]["legacy_rule"]["clauses"] if not x["passed"]]
    assert failed[0]["values"] == {"revenue_4q": revenue} and revenue < 10_000_000
    assert [x["passed"] for x in why[low]["rules_rule"]["clauses"]] == [True]
    dormant, = (e for e, t in planted.items() if t == "Core")
    assert "suppressed by account_dormant: COALESCE(revenue_4q, 0) <= 0" in why[dormant]["why"]
    assert "not a cohort of this campaign" in why[next(e for e, t in planted.items()
                                                       if t == "Platinum")]["why"]
    assert "not in the campaign's population" in why["A99999"]["why"]
    assert why["A99999"]["line"] == len(rows) + 1


def test_the_text_report_leads_with_the_agreement_then_the_table(tiers):
    settings, run, path, _, planted, rows = tiers
    result = _compare(settings, "--legacy", path, "--run", run, "--limit", "2")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == (f"account_tiers: the rules agree with {path} on {len(rows) - 4:,} of "
                        f"{len(rows):,} accounts ({(len(rows) - 4) / len(rows):.1%}); "
                        "4 disagree")
    header = next(x for x in lines if x.startswith("legacy \\ rules"))
    assert "(suppressed)" in header and "long_tail" in header
    assert "disagreements (4, the first 2):" in lines
    assert "'Long tail' = long_tail" in result.output


def test_a_bad_list_names_every_bad_row_and_exits_2(tiers, tmp_path, cli):
    settings, run, *_ = tiers
    bad = tmp_path / "tiers.csv"
    bad.write_text("account_id;tier\nA00001;Core\n\nA00002;\nA00001;Key\nA00003\n")
    result = cli(settings.home, "compare", "--campaign", "account_tiers", "--legacy", bad,
                 "--run", run)
    assert result.code == 2, result.err
    assert f"{bad}:4: empty tier" in result.err
    assert f"{bad}:5: account_id 'A00001' is listed twice (first on line 2)" in result.err
    assert f"{bad}:6: 1 field(s), expected at least 2" in result.err
    assert "3 bad row(s)" in result.line and "Traceback" not in result.err


def test_columns_are_detected_or_named(tmp_path):
    odd = tmp_path / "odd.csv"
    odd.write_text("acct\tbucket\tnote\nA1\tKey\tx\n")
    with pytest.raises(SegflowError, match="cannot tell which column holds the account ids"):
        read_legacy(odd, "account")
    listed = read_legacy(odd, "account", id_column="acct", segment_column="bucket")
    assert (listed.ids, listed.labels, listed.lines) == (["A1"], ["Key"], [2])
    two = tmp_path / "two.csv"
    two.write_text("id,Bucket\nA1,Key\n")
    assert read_legacy(two, "account").segment_column == "Bucket"
    with pytest.raises(SegflowError, match=r"no column 'tier' \(--segment-column\)"):
        read_legacy(two, "account", segment_column="tier")
    dup = tmp_path / "dup.csv"
    dup.write_text("id,segment\nA1,x\nA1,y\n")
    with pytest.raises(BadLegacyRows, match="listed twice"):
        read_legacy(dup, "account")


def test_a_spreadsheet_file_given_as_the_legacy_list_is_named_with_what_to_do(tmp_path):
    """An .xlsx (a zip) is not text: the error names the file and says to save it as CSV,
    not the encoding setting of sources.yaml."""
    book = tmp_path / "tiers.xlsx"
    book.write_bytes(b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\xf0\xa1\xb2")
    with pytest.raises(SegflowError) as err:
        read_legacy(book, "account")
    assert str(err.value) == (f"{book}: not UTF-8 text (a byte 0xf0): the legacy list is a "
                              "CSV file; save a spreadsheet as CSV (UTF-8) first")
