"""Feedback and the offer bandit read the tables the project names (segflow.yaml ``tables:``),
never a table name of the platform's: one without an outcomes table is told so in one line,
one without a surveys table gets feedback without survey results, said on the page."""

from __future__ import annotations

import dataclasses
import json

import pytest
from test_monitoring_offers import _world

from segflow.errors import SegflowError
from segflow.monitoring.bandit import offer_totals
from segflow.monitoring.config import FeedbackConfig
from segflow.monitoring.feedback_run import run_feedback


def _with_tables(settings, **tables):
    """The same workspace under a project naming exactly these tables."""
    project = dataclasses.replace(settings.project, tables=tuple(tables.items()))
    return dataclasses.replace(settings, project=project)


def test_feedback_reads_the_outcomes_table_the_project_names(home):
    _world(home, n=1000)
    (home.canonical_dir / "campaign_outcomes.parquet").rename(
        home.canonical_dir / "results.parquet")
    settings = _with_tables(home, outcomes="results")
    summary = run_feedback(settings, "offers_2027", FeedbackConfig())
    overall = summary["overall"]
    assert overall["n_treatment"] + overall["n_holdout"] == 1000 and summary["surveys"] is None
    saved = json.loads((home.home / "feedback" / "offers_2027" / "feedback.json").read_text())
    assert saved["surveys"] is None and "names no surveys table" in saved["surveys_note"]
    page = (home.home / "feedback" / "offers_2027" / "feedback.html").read_text()
    assert "No survey results: the project names no surveys table" in page
    assert set(offer_totals(settings, "offers_2027", ["discount", "bundle"])["arm"]) == {
        "discount", "bundle"}


@pytest.mark.parametrize("tables, words", [
    ({}, "feedback needs campaign outcomes, and this project names no outcomes table"),
    ({"outcomes": "nowhere"}, "no campaign outcomes at"),
])
def test_a_table_the_project_lacks_is_one_line_not_a_crash(home, tables, words):
    _world(home, n=300)
    with pytest.raises(SegflowError, match=words):
        run_feedback(_with_tables(home, **tables), "offers_2027", FeedbackConfig())


def test_surveys_named_but_not_yet_ingested_are_reported_as_missing(home):
    _world(home, n=300)
    summary = run_feedback(_with_tables(home, outcomes="campaign_outcomes", surveys="later"),
                           "offers_2027", FeedbackConfig())
    assert summary["surveys"] is None
    assert "the surveys table later (tables.surveys in segflow.yaml) is not in this " \
        "workspace" in summary["surveys_note"]
    page = (home.home / "feedback" / "offers_2027" / "feedback.html").read_text()
    assert "the surveys table later" in page


def test_the_bandit_without_an_outcomes_table_says_what_to_name(home):
    _world(home, n=300)
    with pytest.raises(SegflowError, match="the offer bandit .* names no outcomes table"):
        offer_totals(_with_tables(home), "offers_2027", ["discount"])
