"""The `segflow features` commands a data scientist and a scheduler run."""

from __future__ import annotations

import json

import pytest
from features_world import write_world
from typer.testing import CliRunner

from segflow.cli import app

pytestmark = pytest.mark.integration


def test_build_list_show_online_load_and_lookup(home):
    write_world(home)
    runner = CliRunner()
    out = runner.invoke(app, ["features", "build", "--as-of", "2027-03-01"])
    assert out.exit_code == 0, out.output
    assert "customer_rfm" in out.output and "rows" in out.output
    listed = runner.invoke(app, ["features", "list", "--entity", "account"]).output
    assert "revenue_4q" in listed and "recency_days" not in listed
    shown = runner.invoke(app, ["features", "show", "customer_engagement"]).output
    assert "engagement_score" in shown and "$as_of" in shown and "ttl_days" in shown
    assert runner.invoke(app, ["features", "online-load"]).exit_code == 0
    looked = runner.invoke(app, ["features", "lookup", "--entity", "customer", "c1", "zz"])
    rows = [json.loads(line) for line in looked.stdout.splitlines() if line.startswith("{")]
    assert [r["customer_id"] for r in rows] == ["c1", "zz"]
    assert rows[0]["recency_days"] == 9 and rows[1]["recency_days"] is None


def test_show_of_an_unknown_view_names_the_known_ones(home):
    from segflow.errors import SegflowError

    out = CliRunner().invoke(app, ["features", "show", "customer_nope"])
    assert isinstance(out.exception, SegflowError) and "customer_rfm" in str(out.exception)
