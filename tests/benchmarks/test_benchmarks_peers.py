"""The benchmark's peers compute what our pipeline computes, so their timings compare like
with like: the harness's own equality checks, run on a tiny Holi world (no timings)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from benchmarks import pandas_cohorts, pandas_peer, peers, stages
from benchmarks.checks import compare
from benchmarks.world import AS_OF, CAMPAIGN, KEY, peers_dir

CUSTOMERS = 400


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Canonical tables of a 400-customer Holi world with features built as of AS_OF."""
    from segflow.featurestore.build import build_features
    from segflow.ingest.synthetic.holi import TABLES, generate_holi
    from segflow.settings import Settings

    settings = Settings(home=tmp_path_factory.mktemp("bench") / "ws").ensure()
    tables = generate_holi(CUSTOMERS, seed=3)
    for name in TABLES:
        pq.write_table(tables[name], settings.canonical_dir / f"{name}.parquet")
    build_features(settings, AS_OF)
    stages.retrieval(settings, CUSTOMERS)  # keeps the sample the peers are checked against
    return settings


def _ours(settings) -> pa.Table:
    return pq.read_table(peers_dir(settings) / "ours_retrieval_sample.parquet")


def test_pandas_features_equal_our_feature_store(world):
    ours = _ours(world)
    theirs = pandas_peer.features(world.canonical_dir, world.feature_repo_dir, AS_OF)
    columns = [c for c in ours.column_names if c not in (KEY, "event_timestamp")]
    check = compare(ours, theirs, columns)
    assert check["rows"] == CUSTOMERS and check["columns"] == 34
    assert check["equal"], check["example"]


def test_pandas_cohorts_equal_our_segment_evaluation(world):
    """Same frame (features + made-up model scores) through the templates and by hand."""
    from segflow.scoring.evaluate import evaluate_memberships
    from segflow.scoring.resolve import resolve_campaign

    frame = _ours(world)
    rng = np.random.default_rng(0)
    frame = frame.append_column("holi_propensity", pa.array(rng.beta(2, 5, frame.num_rows)))
    frame = frame.append_column("flash_sale_uplift",
                                pa.array(rng.normal(0.02, 0.04, frame.num_rows)))
    ours = evaluate_memberships(frame, resolve_campaign(world, CAMPAIGN), "r1")
    ours = ours.select(["entity_id", "cohort", "status"]).rename_columns([KEY, "cohort",
                                                                        "status"])
    theirs = pandas_cohorts.assign(frame.to_pandas())
    check = compare(ours, theirs, ["cohort", "status"])
    statuses = set(ours["status"].to_pylist())
    assert {"assigned", "suppressed"} <= statuses  # the check covers more than one path
    assert check["equal"], check["example"]


def test_feast_file_store_returns_our_rows(world):
    result = peers.feast_file(world, CUSTOMERS)
    check = result["info"]["check"]
    assert result["info"]["rows"] == CUSTOMERS
    assert check["equal"] and check["rows"] == CUSTOMERS, check["example"]


def test_the_check_reports_a_changed_cell_and_a_missing_row(world):
    ours = _ours(world)
    theirs = ours.to_pandas()
    theirs.loc[3, "lifetime_spend"] += 1.0
    theirs = theirs.drop(index=7)
    check = compare(ours, theirs, ["lifetime_spend", "region"])
    assert not check["equal"]
    assert check["missing_rows"] == 1
    assert check["by_column"] == {"lifetime_spend": 1}


def test_the_floor_of_a_world_not_ingested_fails_the_stage(tmp_path):
    """A 10M run whose ingest had failed once recorded the floor at 0.00 s: it read the
    canonical tables there were, none."""
    from segflow.errors import SegflowError
    from segflow.settings import Settings

    with pytest.raises(SegflowError, match="no canonical tables"):
        peers.floor(Settings(home=tmp_path / "ws").ensure(), CUSTOMERS)


def test_the_floor_reads_every_canonical_table(world):
    done = peers.floor(world, CUSTOMERS)
    assert set(done["info"]) == {p.stem for p in world.canonical_dir.glob("*.parquet")}
    assert done["info"]["customers"]["rows"] == pq.read_metadata(
        world.canonical_dir / "customers.parquet").num_rows
