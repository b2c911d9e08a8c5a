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
    assert header == ["run", "campaign", "as", "of", "status", "decision"] and run in table[2]
    assert runs[0]["decision"] is None  # blocked: neither approved nor published
    shown = call("runs", "show", run)
    assert shown.out.splitlines()[1].startswith("verdict: BLOCKED")
    assert json.loads(call("runs", "show", run, "--json").out)["run_id"] == run
    entries = json.loads(call("audit", "show", "--json").out)
    assert [e["action"] for e in entries] == ["govern"]
    assert call("audit", "show").out.split()[:3] == ["seq", "┃", "time"]


def test_review_list_takes_a_family_of_rules_and_refuses_an_unknown_status(listed):
    run, call = listed
    every = json.loads(call("review", "list", "--run", run, "--json").out)
    family = every[0]["rule"].split(":")[0]
    members = json.loads(call("review", "list", "--run", run, "--rule", family, "--json").out)
    assert len(members) == sum(i["rule"] == family or i["rule"].startswith(family + ":")
                               for i in every) > 0
    bad = call("review", "list", "--run", run, "--status", "opne")
    assert bad.code != 0 and "unknown status 'opne'" in bad.err
    assert "Traceback" not in bad.err and len(bad.err.strip().splitlines()) == 1


def test_a_rule_filter_keeps_a_rule_and_its_family_but_not_a_longer_name():
    """``boundary:engaged.c1`` is not the family of ``boundary:engaged.c10``: the desk and
    ``review list`` share this condition (desk.queue.where_sql)."""
    from types import SimpleNamespace

    import duckdb

    from segflow.governance.desk.queue import Filters, where_sql

    con = duckdb.connect()
    con.execute("CREATE TABLE review_queue AS SELECT 'r' AS run_id, unnest(['boundary:e.c1', "
                "'boundary:e.c10', 'big_mover', 'boundary:f.c1']) AS rule")

    def kept(rule):
        where, params = where_sql(SimpleNamespace(run_id="r"), Filters(rule=rule), None)
        return sorted(r for (r,) in con.execute(
            f"SELECT rule FROM review_queue WHERE {where}", params).fetchall())

    assert kept("boundary:e.c1") == ["boundary:e.c1"]
    assert kept("boundary:e") == ["boundary:e.c1", "boundary:e.c10"]
    assert kept("boundary") == ["boundary:e.c1", "boundary:e.c10", "boundary:f.c1"]
    assert kept("big") == []


def test_review_list_of_a_cohort_nothing_matches_says_which_cohorts_have_items(listed):
    """An empty answer to a misspelt --cohort would read as an empty queue: stderr names the
    nearest cohort and those with items (an empty result is still exit 0)."""
    run, call = listed
    table = call("review", "list", "--run", run).out.splitlines()
    cohort = table[3].split("│")[1].strip()   # the largest group's cohort
    typo = cohort[:-1] + ("x" if cohort[-1] != "x" else "y")
    shown = call("review", "list", "--run", run, "--cohort", typo)
    assert shown.code == 0, shown.err
    assert f"note: no item matches --cohort '{typo}' (did you mean {cohort}" in shown.err
    assert "cohorts with items: " in shown.err and cohort in shown.err.split("items: ")[1]
