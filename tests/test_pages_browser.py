"""Every page segflow writes, opened in a real browser (the system Chromium, headless):
the verdict banner says the run's state, charts draw, tables have rows and sort by value,
nothing overflows the page, every link resolves.

The pages come from the governance test world (one refresh, a real drift check of it) and a
small synthetic Holi world's campaign feedback: the same code paths as the demo, in seconds.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "governance"))


@pytest.fixture(scope="module")
def pages(refreshed_run, tmp_path_factory, home_module):
    """Paths of the report, movement, drift and feedback pages of one world."""
    import pyarrow.parquet as pq
    from govworld import copy_world

    from segflow.ingest.synthetic.holi import generate_holi
    from segflow.monitoring.config import FeedbackConfig
    from segflow.monitoring.feedback_run import run_feedback
    from segflow.monitoring.gate import check
    from segflow.monitoring.trends import write_trends

    settings, _, run = refreshed_run
    settings = copy_world(settings, tmp_path_factory.mktemp("pages") / "w")
    advised = settings.templates_dir / "lapsed_high_value.yaml"
    advised.write_text(advised.read_text().replace("owner:", ADVICE + "owner:", 1))
    check(settings, "holi_test", run)  # renders the run's pages, the home and the catalogue
    world = generate_holi(2_000, seed=7)
    for table in ("customers", "campaign_outcomes", "survey_responses"):
        pq.write_table(world[table], home_module.canonical_dir / f"{table}.parquet")
    run_feedback(home_module, "holi_2026",
                 FeedbackConfig(splits=["region", "preferred_language"]))
    folder = settings.runs_dir / run
    return {"trends": write_trends(settings, "holi_test")[0],
            "report": folder / "report.html", "movement": folder / "movement.html",
            "drift": folder / "drift" / "report.html",
            "feedback": home_module.home / "feedback" / "holi_2026" / "feedback.html",
            "home": settings.home / "index.html", "catalogue": settings.home / "catalogue.html",
            "feedback_home": home_module.home / "index.html"}


ADVICE = """when_to_use: Win-back offers for big spenders gone quiet.
caveats: [Leave it exempt from inactivity suppressions.]
"""


@pytest.fixture(scope="module")
def home_module(tmp_path_factory):
    from segflow.settings import Settings

    return Settings(home=tmp_path_factory.mktemp("feedback") / "ws").ensure()


# the drift page of a first run (nothing to compare with) has figures but no chart
CHARTS = {"trends": 2, "report": 3, "movement": 1, "drift": 0, "feedback": 1, "home": 0,
          "catalogue": 0, "feedback_home": 0}
# What a reader must see first on each page (a pattern its start matches)
BANNERS = {"trends": None, "report": "Waiting for a decision", "movement": None,
           "drift": "Drift gate passed",
           "feedback": r"(\S+ beats holdout overall by|No offer clearly beats the holdout)",
           "home": r"1 of 1 campaign\(s\) need attention",
           "catalogue": "3 of 4 templates say nothing about when to use them",
           "feedback_home": "No campaign has run yet"}
# Texts of one SVG chart that a reader cannot read whole: outside the chart's own box (cut
# at its edge) or, for a row label, running into the row's first bar.
CHART_TEXT_CUT = """(svg) => {
  const box = svg.viewBox.baseVal;
  const bars = [...svg.querySelectorAll('rect.bar')];
  const barX = bars.length ? Math.min(...bars.map(b => b.x.baseVal.value)) : box.width;
  return [...svg.querySelectorAll('text')].filter(t => {
    const b = t.getBBox();
    const out = b.x < -0.5 || b.x + b.width > box.width + 0.5;
    return out || (t.classList.contains('label') && b.x + b.width > barX - 2);
  }).map(t => t.textContent);
}"""
CHECKS = """() => {
  const CHART_TEXT_CUT = """ + CHART_TEXT_CUT + """;
  const doc = document.documentElement;
  const overflow = doc.scrollWidth > window.innerWidth + 1;
  const empty = [...document.querySelectorAll('table')].filter(t =>
      t.querySelectorAll('tbody tr, tr td').length === 0).length;
  const charts = [...document.querySelectorAll('svg.chart, .plotly-graph-div')];
  const drawn = charts.filter(c => c.getBoundingClientRect().width > 100 &&
      c.getBoundingClientRect().height > 40 &&
      (c.tagName.toLowerCase() === 'svg' ? c.querySelectorAll('rect.bar').length > 0
                                          : c.querySelectorAll('svg.main-svg').length > 0));
  const links = [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'));
  const state = document.querySelector('.verdict .state');
  const ids = [...document.querySelectorAll('[id]')].map(e => e.id);
  const wide = [...document.querySelectorAll('.table-wrap')].filter(w =>
      w.scrollWidth > w.clientWidth + 1).length;
  const cut = [...document.querySelectorAll('svg.chart')].flatMap(CHART_TEXT_CUT);
  return {overflow, empty, charts: charts.length, drawn: drawn.length, links, ids, wide, cut,
          banner: state ? state.textContent.trim() : null,
          bannerTop: state ? state.getBoundingClientRect().top : null,
          h1: document.querySelector('h1').textContent.trim()};
}"""


@pytest.mark.parametrize("name", list(BANNERS))
def test_page_reads_in_a_browser(browser, pages, name):
    path = pages[name]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    seen = page.evaluate(CHECKS)
    page.close()
    assert not errors, errors
    assert seen["h1"] and not seen["overflow"] and seen["empty"] == 0, seen
    if name in ("home", "catalogue", "feedback_home"):  # their tables fit without scrolling
        assert seen["wide"] == 0, seen
    assert seen["charts"] >= CHARTS[name] and seen["drawn"] == seen["charts"], seen
    assert seen["cut"] == [], f"{name}: chart texts cut or over their bars: {seen['cut']}"
    if BANNERS[name]:
        assert re.match(BANNERS[name], seen["banner"]), seen
        assert seen["bannerTop"] < 300, seen  # the verdict is on the first screen
    else:
        assert seen["banner"] is None, seen
    for href in seen["links"]:
        target, _, anchor = href.partition("#")
        assert (path.parent / target).exists() if target else anchor in seen["ids"], \
            f"{name}: link {href} leads nowhere"


def test_tables_sort_by_value_and_filter(browser, pages):
    """A numeric column sorts by value (not as text); the filter box hides other rows."""
    page = browser.new_page()
    page.goto(pages["feedback"].as_uri())
    table = page.locator("table.sortable:has(input.filter), .table-wrap:has(input.filter) "
                         "table.sortable").first
    column = table.evaluate("t => [...t.tHead.rows[0].cells].findIndex("
                            "c => c.classList.contains('num'))")
    header = table.locator("thead th").nth(column)
    header.click()
    header.click()  # descending
    keys = table.locator("tbody tr").evaluate_all(
        f"rows => rows.map(r => parseFloat(r.cells[{column}].getAttribute('data-sort')))")
    assert keys == sorted(keys, reverse=True) and len(keys) > 8
    box = page.locator(".table-wrap:has(input.filter) input.filter").first
    box.fill(table.locator("tbody tr").first.locator("td").first.text_content())
    visible = table.locator("tbody tr:visible").count()
    assert 1 <= visible < len(keys)
    page.close()


def _cells(table) -> list[list[str]]:
    return table.locator("tbody tr").evaluate_all(
        "rows => rows.map(r => [...r.cells].map(c => c.textContent.trim()))")


def test_home_lists_each_campaign_with_its_state_and_lift(browser, pages):
    """The run's campaign with its state, size and a link to its report; a campaign with
    only measured feedback with its lift, linked to the feedback page."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(pages["home"].as_uri())
    [row] = _cells(page.locator("table.data").first)
    assert row[0].startswith("Holi test") and row[2] == "Waiting for a decision", row
    assert int(row[3].replace(",", "")) > 0 and row[6] == "not measured", row
    page.click("table.data tbody a")
    assert page.locator(".verdict .state").text_content().strip() == "Waiting for a decision"
    page.goto(pages["feedback_home"].as_uri())  # the project's campaigns, none run there
    rows = {r[0]: r for r in _cells(page.locator("table.data").first)}
    row = rows.pop("holi_2026")
    assert row[1] == "" and re.match(r"[+-]\d+\.\d pts95%: ", row[6]), row
    assert rows and all(r[2] == "no run in this workspace" for r in rows.values()), rows
    page.click("table.data tbody a")
    assert "Campaign feedback" in page.locator("h1").text_content()
    page.close()


def test_catalogue_shows_each_template_with_its_advice_and_uses(browser, pages):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(pages["catalogue"].as_uri())
    index = _cells(page.locator("table.data").first)
    assert {r[0] for r in index} >= {"Lapsed high-valuelapsed_high_value"}, index
    assert all(r[3] == "holi_test" and r[4] for r in index), index
    section = page.locator("section#lapsed_high_value")
    facts = section.locator("dl.facts").text_content()
    assert "Win-back offers for big spenders gone quiet." in facts
    assert "Leave it exempt from inactivity suppressions." in facts and "asha.rao" in facts
    params = [r[:3] for r in _cells(section.locator("table.data").first)]
    assert ["lapsed_days", "int", "90"] in params, params
    page.close()


LONG_LABELS = ["WWWW MMMM wwww mmmm %%%% @@@@ WWWW MMMM wwww mmmm",
               "flash_sale_responders · Maharashtra × Marathi · festive zone west",
               "होली उत्सव के ग्राहक · उत्तर प्रदेश × हिन्दी",
               "Ünïcödé résumé naïve café São Paulo Zürich Kraków",
               "short"]


def test_long_chart_labels_are_shortened_never_cut(browser, tmp_path):
    """Labels of any length and script, the widest glyphs included, stay inside the chart
    and clear of their bars, start first (an ellipsis ends what does not fit) and are whole
    in their tooltip. Before, a label of 40 wide characters ran off the chart's left edge."""
    from segflow.pages import env, write

    rows = [(label, {"assigned": 1000 * (i + 1)}) for i, label in enumerate(LONG_LABELS)]
    (tmp_path / "chart.html.j2").write_text(CHART_PAGE)
    path = write(tmp_path / "chart.html", env(extra=tmp_path), "chart.html.j2", rows=rows,
                 page_title="Long labels")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    cut = page.evaluate("() => (" + CHART_TEXT_CUT + ")(document.querySelector('svg.chart'))")
    shown = page.evaluate("() => [...document.querySelectorAll('svg.chart text.label')]"
                          ".map(t => [t.lastChild.textContent, t.querySelector('title')"
                          ".textContent])")
    page.close()
    assert cut == [], cut
    assert [full for _, full in shown] == LONG_LABELS
    for text, full in shown:
        assert text == full or (text.endswith("…") and full.startswith(text[:-1])), text
    assert shown[0][0].endswith("…") and shown[-1][0] == "short"


CHART_PAGE = """{% extends "base.html.j2" %}
{% block content %}{{ stacked_bars(rows, ["assigned"], fmt.count, "Long labels") | safe }}
{% endblock %}"""
