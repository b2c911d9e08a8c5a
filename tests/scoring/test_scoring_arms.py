"""Offers tested inside cohorts: parsing, the stable offer draw, kept offers when the shares
move, balance checks, preview and explain."""

from __future__ import annotations

import hashlib
import json

import duckdb
import pyarrow.parquet as pq
import pytest
from scoring_frames import customer_frame

from segflow.runstore import frozen_dir, load_run, run_dir
from segflow.scoring.arms import ALLOCATION_FILE, allocation_path, balance, run_offers
from segflow.scoring.campaigns import load_campaign
from segflow.scoring.evaluate import evaluate_memberships
from segflow.scoring.explain import reasons
from segflow.scoring.preview import preview
from segflow.scoring.refresh import refresh_campaign
from segflow.scoring.render import preview_text
from segflow.scoring.resolve import resolve_campaign
from segflow.scoring.schema import Problems

OFFERS = ("discount", "bundle", "free_shipping")
EXPERIMENT_COHORTS = ("lapsed_high_value", "winback_mid_value")


def _draw(entity_id: str, salt: str) -> float:
    return int(hashlib.md5(f"{entity_id}:{salt}".encode()).hexdigest()[:15], 16) / 16**15


def _expected_offer(entity_id: str, shares: list[tuple[str, float]]) -> str:
    u, low = _draw(entity_id, "holi-2027-offers"), 0.0
    for name, share in shares:
        if u < low + share:
            return name
        low += share
    return shares[-1][0]


def test_offers_are_drawn_by_hash_only_in_experiment_cohorts(home, columns):
    resolved = resolve_campaign(home, "holi_2027", columns=columns)
    assert set(resolved.offers) == set(EXPERIMENT_COHORTS)
    m = evaluate_memberships(customer_frame(4000, seed=9), resolved, "r").to_pylist()
    third = [(o, 1 / 3) for o in OFFERS]
    tested = [r for r in m if r["status"] == "assigned" and r["cohort"] in EXPERIMENT_COHORTS]
    assert len(tested) > 100
    assert all(r["arm"] == _expected_offer(r["entity_id"], third) for r in tested)
    assert {r["arm"] for r in tested} == set(OFFERS)
    others = {r["arm"] for r in m if r["status"] == "assigned"
              and r["cohort"] not in EXPERIMENT_COHORTS}
    assert others == {"treatment"}
    assert {r["arm"] for r in m if r["status"] == "holdout"} == {"holdout"}


def test_new_shares_move_only_new_assignments_and_are_frozen(home):
    first = refresh_campaign(home, "holi_2027", features=customer_frame(3000, seed=1))
    path = allocation_path(home, "holi_2027")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"offers": {"discount": 0.8, "bundle": 0.1,
                                           "free_shipping": 0.1}}))
    bigger = customer_frame(6000, seed=1)  # the first 3000 rows are the same customers
    second = refresh_campaign(home, "holi_2027", features=bigger)
    rows = [pq.read_table(run_dir(home, r.run_id) / "memberships.parquet").to_pylist()
            for r in (first, second)]
    before = {(r["entity_id"], r["cohort"]): r["arm"] for r in rows[0]
              if r["status"] == "assigned" and r["cohort"] in EXPERIMENT_COHORTS}
    after = [r for r in rows[1] if r["status"] == "assigned"
             and r["cohort"] in EXPERIMENT_COHORTS]
    kept = [r for r in after if (r["entity_id"], r["cohort"]) in before]
    new = [r for r in after if (r["entity_id"], r["cohort"]) not in before]
    assert len(kept) > 30 and len(new) > 100
    assert all(r["arm"] == before[r["entity_id"], r["cohort"]] for r in kept)
    skewed = [("discount", 0.8), ("bundle", 0.1), ("free_shipping", 0.1)]
    assert all(r["arm"] == _expected_offer(r["entity_id"], skewed) for r in new)
    assert json.loads((frozen_dir(home, second.run_id) / ALLOCATION_FILE).read_text()) \
        == json.loads(path.read_text())
    assert second.inputs["experiment"]["offers"]["lapsed_high_value"] == [list(p) for p in skewed]
    assert run_offers(load_run(home, second.run_id).inputs)["lapsed_high_value"] == tuple(skewed)
    assert first.inputs["experiment"]["allocation"] is None


def test_balance_flags_a_sample_ratio_mismatch():
    import pyarrow as pa

    n = 3000
    fair = pa.table({"cohort": ["c"] * n, "template": ["t"] * n, "status": ["assigned"] * n,
                     "entity_id": [f"E{i}" for i in range(n)],
                     "arm": [("a", "b")[i % 2] for i in range(n)]})
    offers = {"c": (("a", 0.5), ("b", 0.5))}
    assert balance(fair, offers)[0]["flags"] == []
    skew = fair.set_column(4, "arm", pa.array(["a" if i % 5 else "b" for i in range(n)]))
    flags = balance(skew, offers, min_per_offer=1000)[0]["flags"]
    assert any("offer sizes off their shares" in f for f in flags)
    assert any("fewer than 1000 customers: b" in f for f in flags)
    strata = pa.table({"entity_id": [f"E{i}" for i in range(n)],
                       "stratum": ["x" if i % 2 else "y" for i in range(n)]})
    row = balance(fair, offers, strata)[0]  # offer b only in stratum y: confounded
    assert row["p_strata"] < 1e-6 and any("strata" in f for f in row["flags"])


def test_preview_shows_offer_sizes_and_explain_says_why(home, columns):
    frame = customer_frame(3000, seed=2)
    resolved = resolve_campaign(home, "holi_2027", columns=columns)
    p = preview(frame, resolved)
    assert {r["cohort"] for r in p.offers} <= set(EXPERIMENT_COHORTS) and p.offers
    for r in p.offers:
        assert set(r["offers"]) == set(OFFERS) and r["p_strata"] is not None
        assert sum(o["n"] for o in r["offers"].values()) == r["treated"]
    text = preview_text(p)
    assert "offers tested" in text and "discount" in text
    m = evaluate_memberships(frame, resolved, "r")  # noqa: F841 (read by DuckDB below)
    row = duckdb.sql("SELECT * FROM m WHERE status = 'assigned' AND arm = 'bundle' "
                     "LIMIT 1").to_arrow_table().to_pylist()[0]
    why = reasons(resolved, [], [], [row])[0]
    assert "offer 'bundle'" in why and "falls in bundle's band" in why


@pytest.mark.parametrize(("snippet", "message"), [
    ("offers: {discount: 1}", "needs at least two offers"),
    ("offers: {discount: 1, holdout: 1}", "'holdout' is an arm segflow names itself"),
    ("offers: {discount: 1, bundle: -1}", "positive weight"),
    ("offers: {a: 1, b: 1}\n  cohorts: [nope]", "experiment.cohorts names no cohort"),
    ("offers: {a: 1, b: 1}\n  bandit: {metric: clicks}", "bandit.metric is conversion"),
    ("offers: {a: 1, b: 1}\n  oops: 1", "unknown key 'oops' in experiment"),
])
def test_bad_experiment_sections_name_the_line(home, tmp_path, snippet, message):
    text = (home.campaigns_dir / "holi_2027.yaml").read_text()
    start = text.index("experiment:\n")
    end = text.index("schedule:")
    path = tmp_path / "holi_2027.yaml"
    path.write_text(text[:start] + f"experiment:\n  {snippet}\n" + text[end:])
    problems = Problems()
    load_campaign(path, problems)
    assert any(message in str(p) for p in problems), [str(p) for p in problems]
    assert all(str(p).startswith(str(path)) for p in problems)


def test_an_unreadable_allocation_file_is_one_clear_error(home, columns):
    from segflow.errors import SegflowError

    path = allocation_path(home, "holi_2027")
    path.parent.mkdir(parents=True)
    path.write_text('{"offers": "all of them"}')
    with pytest.raises(SegflowError, match=r"allocation.json: not a readable offer allocation"):
        resolve_campaign(home, "holi_2027", columns=columns)
