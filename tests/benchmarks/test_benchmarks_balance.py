"""The campaign balance check (benchmarks/campaign_balance.py): it fails on an empty or an
oversized cohort, and the shipped Holi campaign keeps every cohort under half of the
assigned customers on a 400-customer world (the 100k check also needs every cohort
populated, which does not scale down: the smallest cohorts hold ~0.05% of customers)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from benchmarks.campaign_balance import balance
from benchmarks.world import AS_OF, CAMPAIGN


def _memberships(cohorts: list[str], statuses: list[str]) -> pa.Table:
    return pa.table({"cohort": cohorts, "status": statuses})


def test_balance_names_an_empty_and_an_oversized_cohort(home):
    from segflow.scoring.resolve import resolve_campaign

    resolved = resolve_campaign(home, "account_tiers")
    names = [b.key for b in resolved.cohorts]
    cohorts = [names[0]] * 8 + [n for n in names[1:-1]]
    result = balance(_memberships(cohorts, ["assigned"] * len(cohorts)), resolved)
    assert result["empty"] == [names[-1]]
    assert [c for c, _ in result["too_large"]] == [names[0]]
    assert len(result["problems"]) == 2
    even = names * 2
    assert balance(_memberships(even, ["assigned"] * len(even)), resolved)["problems"] == []


@pytest.fixture(scope="module")
def small_world(tmp_path_factory):
    from segflow.featurestore.build import build_features
    from segflow.ingest.synthetic.holi import TABLES, generate_holi
    from segflow.settings import Settings

    settings = Settings(home=tmp_path_factory.mktemp("balance") / "ws").ensure()
    tables = generate_holi(400, seed=3)
    for name in TABLES:
        pq.write_table(tables[name], settings.canonical_dir / f"{name}.parquet")
    build_features(settings, AS_OF)
    return settings


def test_holi_campaign_no_cohort_takes_half_on_a_small_world(small_world):
    from segflow.featurestore.retrieval import get_features
    from segflow.scoring.evaluate import evaluate_memberships
    from segflow.scoring.resolve import resolve_campaign

    frame = get_features(small_world, "customer", as_of=AS_OF)
    rng = np.random.default_rng(0)   # model scores shaped like the 100k champions'
    frame = frame.append_column("holi_propensity", pa.array(rng.beta(2, 6, frame.num_rows)))
    frame = frame.append_column("flash_sale_uplift",
                                pa.array(rng.normal(0.06, 0.02, frame.num_rows)))
    resolved = resolve_campaign(small_world, CAMPAIGN)
    result = balance(evaluate_memberships(frame, resolved, "r"), resolved)
    assert result["assigned"] > 100
    assert not result["too_large"], result["too_large"]
