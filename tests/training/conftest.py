"""A tiny synthetic Holi world with features built, shared by the training tests.

Two orders are planted with an amount no real customer reaches: one the day before the
holi_2026 campaign starts (must be visible to training features) and one the day after
(must be invisible)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from segflow.settings import Settings, set_home

CAMPAIGN_START = datetime(2026, 2, 18, tzinfo=UTC)
PLANTED_AMOUNT = 5_000_000.0


def _planted_orders(orders: pa.Table, early: str, late: str) -> pa.Table:
    template = orders.slice(0, 2).to_pylist()
    for row, cid, when, oid in ((template[0], early, CAMPAIGN_START - timedelta(days=1), "PE"),
                                (template[1], late, CAMPAIGN_START + timedelta(days=1), "PL")):
        row.update(order_id=f"PLANTED-{oid}", customer_id=cid, order_ts=when, status="completed",
                   amount=PLANTED_AMOUNT, amount_inr=PLANTED_AMOUNT, currency="INR")
    return pa.concat_tables([orders, pa.Table.from_pylist(template, schema=orders.schema)])


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    """Settings of a 1,500-customer workspace with canonical tables, truth and features as
    of the holi_2026 start and the 2027 planning time; ``world.planted`` names the two
    customers with planted orders (early, late)."""
    from segflow.featurestore.build import build_features
    from segflow.ingest.synthetic.holi import generate_holi

    settings = Settings(home=tmp_path_factory.mktemp("training") / "ws").ensure()
    settings.truth_dir.mkdir(parents=True, exist_ok=True)
    tables = generate_holi(1500, seed=11)
    outcomes = tables["campaign_outcomes"]
    ids = pc.unique(outcomes["customer_id"]).to_pylist()
    planted = (ids[0], ids[1])
    tables["orders"] = _planted_orders(tables["orders"], *planted)
    for name, table in tables.items():
        folder = settings.truth_dir if name.endswith("_truth") else settings.canonical_dir
        pq.write_table(table, folder / f"{name}.parquet")
    build_features(settings, [CAMPAIGN_START, datetime(2027, 3, 1, tzinfo=UTC)])
    return _World(settings, planted)


class _World:
    campaign_start = CAMPAIGN_START
    planted_amount = PLANTED_AMOUNT

    def __init__(self, settings: Settings, planted: tuple[str, str]):
        self.settings, self.planted = settings, planted


@pytest.fixture
def trained_home(world, monkeypatch):
    """The shared world's settings, also set as the CLI's workspace for this test."""
    monkeypatch.setenv("SEGFLOW_HOME", str(world.settings.home))
    set_home(None)
    yield world.settings
    set_home(None)
