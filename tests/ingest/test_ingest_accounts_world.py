"""The synthetic B2B world: deterministic, the promised shape, and ingestible as shipped."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from segflow.ingest.pipeline import run_ingest
from segflow.ingest.synthetic.accounts import generate_accounts, write_accounts_world
from segflow.ingest.synthetic.accounts_notes import TOPICS


@pytest.fixture(scope="module")
def world():
    return generate_accounts(400, seed=11)


def _digest(paths):
    return {k: hashlib.sha256(p.read_bytes()).hexdigest() for k, p in paths.items()}


def test_same_seed_same_bytes_other_seed_other_world(tmp_path):
    first = write_accounts_world(tmp_path / "a" / "sources", 150, seed=3)
    second = write_accounts_world(tmp_path / "b" / "sources", 150, seed=3)
    other = write_accounts_world(tmp_path / "c" / "sources", 150, seed=4)
    assert _digest(first) == _digest(second)
    assert _digest(first)["billing"] != _digest(other)["billing"]
    assert first["account_notes_truth"].parent == tmp_path / "a" / "truth"
    assert (tmp_path / "a" / "sources" / "sources.yaml").exists()


def test_hierarchy_has_children_and_three_levels(world):
    acc = world["accounts"].to_pylist()
    parent = {a["account_id"]: a["parent_account_id"] for a in acc}
    children = [a for a, p in parent.items() if p]
    assert 0.25 <= len(children) / len(acc) <= 0.35
    depth = {a: 0 if not p else 1 + (1 if parent[p] else 0) for a, p in parent.items()}
    assert set(depth.values()) == {0, 1, 2}
    assert len({a["owner"] for a in acc}) > 3 and "asha.rao" in {a["owner"] for a in acc}
    assert any(a["strategic_flag"] for a in acc)


def test_billing_covers_nine_quarters_to_2026_and_follows_trajectory(world):
    billing = world["billing"]
    dates = billing["invoice_date"]
    assert pc.min(dates).as_py() >= datetime(2024, 10, 1, tzinfo=UTC)
    assert pc.min(dates).as_py() < datetime(2025, 1, 1, tzinfo=UTC)
    assert pc.max(dates).as_py() < datetime(2027, 1, 1, tzinfo=UTC)
    assert pc.any(pc.less(billing["revenue"], 0)).as_py()        # credit notes exist
    truth = {r["account_id"]: r["growth_trajectory"]
             for r in world["accounts_truth"].to_pylist()}
    import duckdb

    yearly = duckdb.sql("""
        SELECT account_id, sum(revenue) FILTER (WHERE year(invoice_date) = 2026)
             / nullif(sum(revenue) FILTER (WHERE year(invoice_date) = 2025), 0) AS ratio
        FROM billing GROUP BY 1""").fetchall()
    by_truth = {}
    for account, ratio in yearly:
        if ratio is not None:
            by_truth.setdefault(truth[account], []).append(ratio)
    median = {k: sorted(v)[len(v) // 2] for k, v in by_truth.items()}
    assert median["growing"] > 1.1 and median["declining"] < 0.9
    assert 0.9 < median["stable"] < 1.1


def test_notes_cover_every_topic_with_truth(world):
    notes, truth = world["account_notes"], world["account_notes_truth"]
    assert notes["note_id"].to_pylist() == truth["note_id"].to_pylist()
    assert set(truth["topic"].to_pylist()) == set(TOPICS)
    assert not any("{" in t for t in notes["text"].to_pylist())     # every slot filled


def test_ingest_of_the_world_accepts_it_and_finds_the_planted_duplicates(home):
    write_accounts_world(home.sources_dir, 300, seed=5)
    report = run_ingest(home)
    assert all(t.quarantined_total == 0 for t in report.tables.values())
    merged = {r["merged_id"]: r["survivor_id"] for r in
              pq.read_table(home.canonical_dir / "customer_merge_map.parquet").to_pylist()}
    planted = {r["customer_id"]: r["duplicate_of"] for r in
               pq.read_table(home.truth_dir / "contact_duplicates_truth.parquet").to_pylist()}
    assert planted and merged == planted
    tree = pq.read_table(home.canonical_dir / "account_hierarchy.parquet")
    assert tree.num_rows == 300 and max(tree["depth"].to_pylist()) == 2


def test_contacts_email_events_load_with_the_unsubscribes_exports_leave_out(home):
    """The B2B world carries its contacts' email engagement, so the project's
    ``tables.events`` exists for account_tiers too and its channel exports can honour
    unsubscribes and complaints (without it `segflow export` refuses, fail closed)."""
    import duckdb

    write_accounts_world(home.sources_dir, 300, seed=5)
    report = run_ingest(home)
    loaded = report.tables["engagement_events"]
    assert loaded.quarantined_total == 0 and loaded.rows_in > 0
    events = home.canonical_dir / "engagement_events.parquet"
    contacts = home.canonical_dir / "customers.parquet"
    kinds = dict(duckdb.sql(f"SELECT event_type, count(*) FROM '{events}' GROUP BY 1").fetchall())
    assert kinds["send"] > kinds["open"] > kinds["click"] > 0
    assert kinds["unsubscribe"] > 0 and kinds["complaint"] > 0
    strays = duckdb.sql(f"SELECT count(*) FROM '{events}' e ANTI JOIN '{contacts}' c "
                        "USING (customer_id)").fetchall()[0][0]
    assert strays == 0  # duplicates' events follow their survivor
