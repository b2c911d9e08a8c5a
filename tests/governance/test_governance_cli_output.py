"""Listings for people and scripts: a table with headers and a summary that fits a screen,
or --json that parses, from the installed CLI in its own process."""

from __future__ import annotations

import json

import pytest
from govworld import copy_world


@pytest.fixture
def listed(refreshed_run, tmp_path, cli):
    """Run the CLI on a copy of the session's governed refresh: (run id, call)."""
    settings, _, run = refreshed_run
    world = copy_world(settings, tmp_path / "w")
    env = {"SEGFLOW_TEMPLATES": str(world.templates_root)}
    return run, lambda *args: cli(world.home, *args, env=env)


def test_review_list_summarises_then_lists_a_few(listed):
    run, call = listed
    every = json.loads(call("review", "list", "--run", run, "--json").out)
    assert len(every) > 3 and {"review_id", "rule", "status"} <= set(every[0])
    shown = call("review", "list", "--run", run, "--limit", "3")
    assert shown.code == 0, shown.err
    lines = shown.out.splitlines()
    assert f"{len(every):,} review item(s) by rule and cohort" in lines[0]
    assert lines[1].split()[:4] == ["rule", "┃", "cohort", "┃"]  # a header row
    assert f"showing 3 of {len(every):,}" in shown.out and len(lines) < 40
    rule = every[0]["rule"]
    narrowed = json.loads(call("review", "list", "--run", run, "--rule", rule, "--json").out)
    assert narrowed and all(i["rule"] == rule for i in narrowed)
    assert len(narrowed) == sum(i["rule"] == rule for i in every)


def test_runs_and_audit_listings_have_headers_and_json(listed):
    run, call = listed
    runs = json.loads(call("runs", "list", "--json").out)
    assert [r["run_id"] for r in runs] == [run] and runs[0]["campaign"] == "holi_test"
    table = call("runs", "list").out.splitlines()
    header = [w for w in table[0].split() if w != "┃"]
    assert header == ["run", "campaign", "as", "of", "status"] and run in table[2]
    shown = call("runs", "show", run)
    assert shown.out.splitlines()[1].startswith("verdict: BLOCKED")
    assert json.loads(call("runs", "show", run, "--json").out)["run_id"] == run
    entries = json.loads(call("audit", "show", "--json").out)
    assert [e["action"] for e in entries] == ["govern"]
    assert call("audit", "show").out.split()[:3] == ["seq", "┃", "time"]
