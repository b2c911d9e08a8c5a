"""Evaluation into memberships: binding, exclusivity, holdout stability, preview, explain."""

from __future__ import annotations

import hashlib

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from scoring_frames import account_frame, customer_frame

from segflow.runstore import run_dir
from segflow.scoring.clauses import evaluate_clauses
from segflow.scoring.evaluate import MEMBERSHIP_COLUMNS, evaluate_memberships
from segflow.scoring.explain import explain_entity
from segflow.scoring.preview import preview
from segflow.scoring.refresh import refresh_campaign
from segflow.scoring.resolve import resolve_campaign
from segflow.scoring.schema import Problems
from segflow.scoring.templates import load_template


def test_string_param_with_quote_cannot_change_the_query(home):
    template = load_template(home.templates_dir / "regional_cluster.yaml", Problems())
    frame = customer_frame(100)
    evil = "Maharashtra' OR '1'='1"
    regions = frame.column("region").to_pylist()
    frame = frame.set_column(frame.schema.get_field_index("region"), "region",
                             pa.array([evil] + regions[1:]))
    out = evaluate_clauses(frame, template, {"region": evil, "language": "marathi"})
    assert out.column("c1").to_pylist() == [True] + [False] * 99


def test_exclusive_campaign_accounts_for_every_entity_once(home, columns):
    frame = customer_frame(2000, seed=5)
    resolved = resolve_campaign(home, "holi_2027", columns=columns)
    m = evaluate_memberships(frame, resolved, "r1")
    assert tuple(m.column_names) == MEMBERSHIP_COLUMNS
    assert m.num_rows == frame.num_rows
    assert sorted(m.column("entity_id").to_pylist()) == frame.column("customer_id").to_pylist()
    counts = dict(duckdb.sql("SELECT status, count(*) FROM m GROUP BY 1").fetchall())
    assert set(counts) <= {"assigned", "holdout", "suppressed", "unassigned"}
    assert sum(counts.values()) == frame.num_rows


def test_first_matching_cohort_by_priority_wins(home, columns):
    frame = account_frame(300)
    resolved = resolve_campaign(home, "account_tiers", columns=columns)
    m = evaluate_memberships(frame, resolved).to_pylist()
    truth = {b.key: evaluate_clauses(frame, b.template, b.params) for b in resolved.cohorts}
    dormant = resolved.suppressions[0]
    supp = evaluate_clauses(frame, dormant.template, dormant.params)
    for i, row in enumerate(m):
        holds = [k for k, t in truth.items() if all(t.column(c)[i].as_py()
                                                     for c in t.column_names[1:])]
        if all(supp.column(c)[i].as_py() for c in supp.column_names[1:]):
            assert row["status"] == "suppressed"
        elif holds:
            assert (row["status"], row["cohort"]) == ("assigned", holds[0])
        else:
            assert row["status"] == "unassigned"


def _arm(entity_id: str, salt: str, fraction: float) -> str:
    u = int(hashlib.md5(f"{entity_id}:{salt}".encode()).hexdigest()[:15], 16) / 16**15
    return "holdout" if u < fraction else "treatment"


def test_holdout_is_stable_across_refreshes_with_changed_data(home):
    first = refresh_campaign(home, "holi_2027", features=customer_frame(1500, seed=1))
    second = refresh_campaign(home, "holi_2027", features=customer_frame(1500, seed=2))
    runs = [pq.read_table(run_dir(home, r.run_id) / "memberships.parquet").to_pylist()
            for r in (first, second)]
    arms = [{r["entity_id"]: r["arm"] for r in rows if r["arm"]} for rows in runs]
    both = set(arms[0]) & set(arms[1])
    assert len(both) > 50  # data changed, yet many are in a cohort both times
    assert any(a["status"] != b["status"] for a, b in zip(*runs, strict=True))
    for entity in both:  # offers of the experiment cohorts: tests/scoring/test_scoring_arms.py
        held = [a[entity] == "holdout" for a in arms]
        assert held[0] == held[1] == (_arm(entity, "holi-2027", 0.1) == "holdout")
    with duckdb.connect(str(home.database_path)) as con:
        stored = con.sql("SELECT run_id, count(*) FROM memberships GROUP BY 1").fetchall()
    assert sorted(stored) == sorted([(first.run_id, 1500), (second.run_id, 1500)])
    assert first.inputs["templates"]["lapsed_high_value"] and first.status == "scored"


def test_preview_funnel_equals_independent_counts(home, columns):
    frame = customer_frame(1000, seed=3)
    resolved = resolve_campaign(home, "holi_2027", {"lapsed_high_value.lapsed_days": "60"},
                                columns=columns)
    result = preview(frame, resolved)
    r = frame.to_pandas()
    c1 = r.recency_days >= 60
    c2 = c1 & (r.lifetime_spend > 5000)
    c3 = c2 & (r.engagement_score >= 0.6)
    assert [n for _, n in result.funnels["lapsed_high_value"]] == [c1.sum(), c2.sum(),
                                                                    c3.sum()]
    assert sum(result.status.values()) == 1000


def test_preview_shows_effect_of_a_param_change(home, columns):
    frame = customer_frame(1000, seed=3)
    before = resolve_campaign(home, "holi_2027", columns=columns)
    after = resolve_campaign(home, "holi_2027", {"lapsed_high_value.lapsed_days": "30"},
                             columns=columns)
    changes = {c["cohort"]: c for c in preview(frame, after, before).changes}
    assert changes["lapsed_high_value"]["after"] > changes["lapsed_high_value"]["before"]


def test_preview_warns_of_a_rule_over_a_column_null_for_everyone(home, columns):
    from segflow.scoring.render import preview_text

    frame = customer_frame(500, seed=3)
    i = frame.schema.get_field_index("lifetime_spend")
    frame = frame.set_column(i, "lifetime_spend", pa.nulls(500, pa.float64()))
    resolved = resolve_campaign(home, "holi_2027", columns=columns)
    result = preview(frame, resolved)
    assert ("lapsed_high_value", "lifetime_spend") in result.all_null
    assert {c for _, c in result.all_null} == {"lifetime_spend"}
    text = preview_text(result)
    assert text.startswith("warning: lapsed_high_value reads lifetime_spend, which is null "
                           "for every one of the 500 entities")
    assert preview(customer_frame(500, seed=3), resolved).all_null == []


def test_explain_known_customer(home, columns):
    frame = customer_frame(300, seed=4)
    idx = frame.schema.get_field_index
    n = frame.num_rows
    # customer 0: lapsed high value, active, consenting, no complaints
    for col, value, typ in (("recency_days", 120, pa.int64()), ("lifetime_spend", 9000.0, None),
                            ("engagement_score", 0.9, None), ("days_since_last_activity", 2,
                                                              pa.int64()),
                            ("unsubscribed", False, None), ("complaints_365d", 0, None),
                            ("holi_propensity", 0.0, None), ("flash_sale_uplift", -0.1, None)):
        old = frame.column(col).to_pylist()
        frame = frame.set_column(idx(col), col, pa.array([value] + old[1:], typ))
    resolved = resolve_campaign(home, "holi_2027", columns=columns)
    m = evaluate_memberships(frame, resolved)
    rows = m.filter(pc.equal(m.column("entity_id"), "C000000")).to_pylist()
    out = explain_entity(home, resolved, "C000000", frame, rows)
    lapsed = next(c for c in out["cohorts"] if c["name"] == "lapsed_high_value")
    assert lapsed["matched"] and [c["passed"] for c in lapsed["clauses"]] == [True] * 3
    assert lapsed["clauses"][0]["values"] == {"recency_days": 120}
    assert lapsed["clauses"][0]["text"] == "recency_days >= 90"
    top = next(c for c in out["cohorts"] if c["name"] == "top_propensity")
    assert not top["matched"] or rows[0]["cohort"] != "lapsed_high_value"
    assert rows[0]["cohort"] in {c["name"] for c in out["cohorts"] if c["matched"]}
    assert rows[0]["status"] in out["why"][0]
    assert n == 300


def test_explain_is_short_by_default_and_full_on_request(home, columns):
    """The short form: the status, the clauses that decided it, each other cohort's nearest
    miss, suppressions named once; --full: every clause, the per-channel suppressions told
    apart by their channel; money in the project's currency where a description says so."""
    from segflow.pages.fmt import Formatter
    from segflow.scoring.render import MISSES_SHOWN, explain_text

    frame = customer_frame(300, seed=4)
    resolved = resolve_campaign(home, "holi_2027", columns=columns)
    m = evaluate_memberships(frame, resolved)
    entity = m.filter(pc.equal(m.column("status"), "assigned")).column("entity_id")[0].as_py()
    rows = m.filter(pc.equal(m.column("entity_id"), entity)).to_pylist()
    out = explain_entity(home, resolved, entity, frame, rows, top_k=0)
    meaning = {"lifetime_spend": "INR spent on all completed orders."}
    short = explain_text(out, fmt=Formatter("INR"), meaning=meaning)
    full = explain_text(out, full=True, fmt=Formatter("INR"), meaning=meaning)

    lines = short.splitlines()
    assert len(lines) <= 25, short
    assert f"decided by cohort {rows[0]['cohort']}:" in short
    assert short.count("no_consent") == 1  # four uses (one per channel), named once
    misses = [u for u in out["cohorts"] if not u["matched"]]
    assert len(misses) > MISSES_SHOWN
    assert f"... {len(misses) - MISSES_SHOWN} more cohorts" in short
    assert "--full" in short
    channels = [line for line in full.splitlines() if "no_consent [channel=" in line]
    assert len(channels) == 4 and "[channel=sms]" in channels[1]
    assert full.count("  [MATCH] ") + full.count("  [no] ") == len(out["cohorts"]) + len(
        out["suppressions"])
    spend = out["cohorts"][2]["clauses"][1]["values"]["lifetime_spend"]  # lapsed_high_value
    assert f"lifetime_spend = {Formatter('INR').money_exact(spend)}" in full
    assert "₹" in full


@pytest.mark.parametrize("bad", ["lapsed_high_value.lapsed_days=abc", "nope.x=1"])
def test_bad_override_is_a_clear_error(home, columns, bad):
    from segflow.errors import SegflowError

    key, _, value = bad.partition("=")
    with pytest.raises(SegflowError, match=key.split(".")[0]):
        resolve_campaign(home, "holi_2027", {key: value}, columns=columns)
