"""The monitoring pages format money in the project's base currency and its readers' way of
grouping digits: a USD project reads $440K, an INR project ₹4.4 lakh (issue 15)."""

from __future__ import annotations

import dataclasses
import re

import pandas as pd
from test_monitoring_offers import _world

from segflow.monitoring.config import FeedbackConfig
from segflow.monitoring.feedback_run import run_feedback


def _page(settings) -> str:
    run_feedback(settings, "offers_2027", FeedbackConfig())
    return (settings.home / "feedback" / "offers_2027" / "feedback.html").read_text()


def test_feedback_money_reads_in_the_projects_currency(home):
    _world(home, n=1000)
    path = home.canonical_dir / "campaign_outcomes.parquet"
    outcomes = pd.read_parquet(path)
    outcomes["revenue"] *= 10_000  # 80 lakh per conversion: per customer in lakh
    outcomes.to_parquet(path)
    assert home.project.base_currency == "INR"
    rupees = _page(home)
    assert re.search(r"₹\d+(\.\d+)? lakh", rupees) and "$" not in re.sub(
        r"<script.*?</script>", "", rupees, flags=re.S)
    usd = dataclasses.replace(home, project=dataclasses.replace(home.project,
                                                                base_currency="USD"))
    dollars = re.sub(r"<script.*?</script>", "", _page(usd), flags=re.S)
    assert re.search(r"\$\d+(\.\d+)?K", dollars)
    assert "₹" not in dollars and "lakh" not in dollars
