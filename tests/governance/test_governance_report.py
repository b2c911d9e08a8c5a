"""The refresh report is rendered from the run's record after every change of its state:
its verdict banner and every figure follow the gate, nothing stale survives an approval,
a publication or an export; sizes, suppressions and money read as a finance lead expects."""

from __future__ import annotations

import re

import pytest
from govworld import AS_OF_1, copy_world, drift_passed

from segflow.pages.fmt import Formatter


@pytest.fixture
def run_world(refreshed_run, tmp_path):
    """The session's governed refresh (tests/conftest.py), copied for each test."""
    settings, _, run = refreshed_run
    return copy_world(settings, tmp_path / "w"), run


def _page(settings, run: str) -> str:
    return (settings.runs_dir / run / "report.html").read_text(encoding="utf-8")


def _state(page: str) -> str:
    return re.search(r'<p class="state">([^<]+)</p>', page).group(1)


def _home_state(settings) -> str:
    """The campaign's state on the workspace home page (one campaign in this world)."""
    home = (settings.home / "index.html").read_text(encoding="utf-8")
    [state] = re.findall(r'<span class="state-[a-z]+" title="[^"]*">([^<]+)</span>', home)
    return state


def test_the_report_follows_the_run_from_drift_to_export(run_world):
    """Drift unchecked blocks; approval and publication move the banner on; an export
    replaces 'Not exported yet' with its files."""
    from govworld import ACCEPTANCE, APPROVAL

    from segflow.governance.gate import verdict
    from segflow.governance.pipeline import export_for
    from segflow.governance.publish import approve, publish_run

    settings, run = run_world
    page = _page(settings, run)
    assert _state(page) == "Blocked: drift not checked" and "data-state=\"blocked\"" in page
    drift_passed(settings, run)
    from segflow.governance.report import refresh_report

    refresh_report(settings, run)
    v = verdict(settings, run)
    assert v.state == "waiting" and _state(_page(settings, run)) == "Waiting for a decision"
    approve(settings, run, "lead.analyst", APPROVAL)
    page = _page(settings, run)
    assert "Approved by lead.analyst" in page and "an approval" not in _state(page)
    assert _home_state(settings) == _state(page)  # the home page follows every change
    publish_run(settings, run, by="lead.analyst", accept_open=v.open_exceptions,
                reason=ACCEPTANCE)
    page = _page(settings, run)
    assert _state(page) == "Published, not exported yet" and "Not exported yet" in page
    assert f"{v.open_exceptions} open item(s) were accepted" in page
    export_for(settings, run)
    page = _page(settings, run)
    assert _state(page) == "Published and exported"
    assert _home_state(settings) == "Published and exported"
    home = (settings.home / "index.html").read_text(encoding="utf-8")
    assert "v1 <span" in home
    process = re.search(r'id="process">.*?<li>([^<]+)</li>', home, re.S).group(1)
    assert process.startswith(f"{v.campaign}: 1 cycle(s), 1 published")  # the process, measured
    assert "Not exported yet" not in page and "Exported at" in page
    assert "What stands in the way" not in page


def test_a_breached_drift_gate_says_blocked_by_drift_until_acknowledged(run_world):
    import json

    from segflow.governance.audit import record
    from segflow.monitoring.gate import _write, acknowledge

    settings, run = run_world
    gate = {"run_id": run, "passed": False, "reasons": ["2 of 5 features drifted"],
            "acknowledged": None, "error": None}
    # as record_verdict records it (audit entry, then the file): the pages follow
    record(settings, "segflow", "drift_checked", {"passed": False, "reasons": gate["reasons"]},
           run_id=run)
    _write(settings, run, gate)
    page = _page(settings, run)
    assert _state(page) == "Blocked by drift" and "a drift acknowledgement" in page
    acknowledge(settings, run, "lead.analyst", "a known promotion shifted spend")
    page = _page(settings, run)
    assert _state(page) == "Waiting for a decision" and "drift acknowledgement" not in page
    assert json.loads((settings.runs_dir / run / "drift" / "gate.json").read_text())[
        "acknowledged"]["by"] == "lead.analyst"


def test_sizes_suppression_and_revenue_match_the_memberships(run_world):
    """One row per cohort with its totals, the suppression's share of the base stated, and
    revenue in rupees with lakh/crore as the reconciliation control counted it."""
    import duckdb

    settings, run = run_world
    page = _page(settings, run)
    con = duckdb.connect()
    con.execute(f"CREATE VIEW m AS SELECT * FROM read_parquet('{settings.runs_dir / run}/"
                "memberships.parquet')")
    base = con.execute("SELECT count(*) FROM m").fetchone()[0]
    suppressed = con.execute("SELECT count(*) FROM m WHERE status = 'suppressed'").fetchone()[0]
    fmt = Formatter("INR")
    assert (f"{fmt.pct(suppressed / base)} of the base ({fmt.count(suppressed)} customers) "
            "is suppressed</strong>, most by Inactive 14 days") in page
    for cohort, n in con.execute("SELECT cohort, count(*) FROM m WHERE status = 'assigned' "
                                 "GROUP BY 1").fetchall():
        row = re.search(f'<td class="text">{cohort}</td>.*?</tr>', page, re.S).group(0)
        assert page.count(f'<td class="text">{cohort}</td>') == 1  # one row per cohort
        assert f'data-sort="{n}"' in row  # its assigned customers
    assert '<svg class="chart"' in page and "Customers per cohort" in page
    assert "₹" in page and " INR" not in page.split("<footer>")[0].split("<main>")[1]


def test_report_render_never_fails_the_action_it_follows(run_world, caplog):
    from segflow.governance.report import refresh_report

    settings, run = run_world
    (settings.runs_dir / run / "movement.parquet").write_bytes(b"not parquet")
    refresh_report(settings, run)
    assert "could not render the report" in caplog.text


@pytest.mark.parametrize(("currency", "value", "short", "exact"), [
    ("INR", 906_749_762.09, "₹90.67 crore", "₹90,67,49,762.09"),
    ("INR", 452_000.0, "₹4.52 lakh", "₹4,52,000.00"),
    ("INR", -12_345.0, "-₹12,345", "-₹12,345.00"),
    ("USD", 906_749_762.09, "$906.75M", "$906,749,762.09"),
    ("CHF", 1_500.0, "1.5K CHF", "1,500.00 CHF"),
])
def test_money_reads_in_the_projects_currency(currency, value, short, exact):
    f = Formatter(currency)
    assert (f.money(value), f.money_exact(value)) == (short, exact)


def test_counts_and_shares_read_as_people_write_them():
    assert Formatter("INR").count(1234567) == "12,34,567"
    assert Formatter("USD").count(1234567) == "1,234,567"
    assert Formatter("INR").pct(0.4341) == "43.4%"
    assert Formatter("USD").number(21860.0) == "21,860"
    assert Formatter("USD").number(0.45454) == "0.45"


def test_first_run_report_has_no_stale_sections(run_world):
    settings, run = run_world
    page = _page(settings, run)
    assert "Not exported yet" in page and "has been published before: all 20 customers" in page
    assert AS_OF_1.strftime("%Y-%m-%d") in page


def _figures_text(settings, run: str) -> str:
    """The report as shown, without the time it was written."""
    return re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", "", _page(settings, run))


def test_a_page_rendered_again_tells_the_kept_figures_without_a_query(run_world,
                                                                       monkeypatch):
    """After the first rendering the rows sit beside the run; the next rendering reads no
    file of the run's content and shows exactly what the first showed."""
    from segflow.governance import report

    settings, run = run_world
    report.write_report(settings, run)
    assert (settings.runs_dir / run / report.FIGURES_FILE).exists()
    first = _figures_text(settings, run)

    def no_query(*_):
        raise AssertionError("the figures were read again")

    monkeypatch.setattr(report, "_read_rows", no_query)
    report.write_report(settings, run)
    assert _figures_text(settings, run) == first and "Cohort sizes" in first


def test_figures_are_read_again_once_the_memberships_file_is_rewritten(run_world):
    """A rewritten memberships file (a re-governed run, an applied override) is counted
    again: a kept figure is never older than its file."""
    import duckdb

    from segflow.governance.context import RunContext
    from segflow.governance.report import run_figures

    settings, run = run_world
    path = settings.runs_dir / run / "memberships.parquet"
    with duckdb.connect() as con:
        before = run_figures(settings, RunContext.of(settings, run), con)[0]
        first = con.execute(f"SELECT min(entity_id) FROM '{path}'").fetchone()[0]
        con.execute(f"COPY (SELECT * FROM '{path}' WHERE entity_id <> '{first}') "
                    f"TO '{path}.new' (FORMAT parquet)")
        (path.parent / f"{path.name}.new").replace(path)
        after = run_figures(settings, RunContext.of(settings, run), con)[0]
    assert after["base"] == before["base"] - 1 > 0


def test_a_kept_figures_file_that_cannot_be_read_is_read_again(run_world):
    import json

    from segflow.governance import report

    settings, run = run_world
    report.write_report(settings, run)
    first = _figures_text(settings, run)
    kept = settings.runs_dir / run / report.FIGURES_FILE
    held = json.loads(kept.read_text())
    kept.write_text("{not json")
    report.write_report(settings, run)
    assert _figures_text(settings, run) == first
    assert json.loads(kept.read_text()) == held and held["value"]["base"][0][0] > 0


def test_a_value_json_cannot_hold_is_not_kept(tmp_path):
    from decimal import Decimal

    from segflow.governance.runcache import keep, kept

    keep(tmp_path / "f.json", {"a": 1}, {"rows": [[Decimal("1.5")]]})
    keep(tmp_path / "g.json", {"a": 1}, {"rows": [[float("nan")]]})
    assert not (tmp_path / "f.json").exists() and not (tmp_path / "g.json").exists()
    keep(tmp_path / "h.json", {"a": (1, 2)}, {"rows": [[1.5, None, "x"]]})
    assert kept(tmp_path / "h.json", {"a": [1, 2]}) == {"rows": [[1.5, None, "x"]]}
    assert kept(tmp_path / "h.json", {"a": [1, 3]}) is None


def test_every_kept_figure_query_with_many_rows_fixes_their_order():
    """The kept figures file is compared with a fresh reading when it cannot be parsed, and
    receipts hash it: a grouped query without an ORDER BY returns its rows in whatever order
    DuckDB's threads finish (CI once saw ``by_status`` rows swapped)."""
    from segflow.governance.report import MOVEMENT_QUERIES, SIZE_QUERIES
    from segflow.governance.story import QUERIES

    queries = {**SIZE_QUERIES, **MOVEMENT_QUERIES, **QUERIES}
    unordered = [name for name, sql in queries.items()
                 if "GROUP BY" in sql.upper() and "ORDER BY" not in sql.upper().rsplit(")", 1)[-1]]
    assert unordered == []
