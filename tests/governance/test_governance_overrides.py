"""Overrides are validated against the run (cohort of its frozen campaign, expiry ahead,
entity in the run) and a refresh with a live override works in a workspace whose
memberships table predates ``override_id``."""

from __future__ import annotations

import pytest
from govworld import AS_OF_2, copy_world, refreshed_world

from segflow.errors import SegflowError


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A refresh governed, in a workspace whose ``memberships`` table was created without
    ``override_id`` (no override applied yet)."""
    return refreshed_world(tmp_path_factory.mktemp("overrides"))


@pytest.fixture
def refreshed(prepared, tmp_path):
    settings, table, run = prepared
    return copy_world(settings, tmp_path / "w"), table, run


def _item(settings, run):
    from segflow.governance.review_cli import list_items

    return next(i for i in list_items(settings, run, "open") if i[5] == "lapsed_high_value")


@pytest.mark.parametrize("target", ["ghost", "engaged__north", "lapsed_high_value__x"])
def test_an_override_to_a_cohort_the_run_does_not_have_is_refused(refreshed, target):
    from segflow.governance.review_cli import decide_item

    settings, _, run = refreshed
    with pytest.raises(SegflowError, match=f"--to '{target}' is not a cohort of holi_test"):
        decide_item(settings, _item(settings, run)[0], "asha.rao",
                    "the customer belongs elsewhere", to=target)


def test_an_override_that_has_already_expired_is_refused(refreshed):
    from datetime import UTC, datetime

    from segflow.governance.review_cli import decide_item

    settings, _, run = refreshed
    with pytest.raises(SegflowError, match="is not in the future"):
        decide_item(settings, _item(settings, run)[0], "asha.rao",
                    "the customer belongs elsewhere", to="engaged",
                    expires=datetime(2020, 1, 1, tzinfo=UTC))


def test_a_refresh_with_a_live_override_works_and_the_row_carries_it(refreshed):
    """The workspace table ``memberships`` was created by a refresh without overrides (no
    override_id column): the next refresh, with an override, used to die with
    BinderException: Table "memberships" does not have a column with name "override_id"."""
    import pyarrow.parquet as pq

    from segflow.db import connect
    from segflow.governance.refresh import refresh_with_overrides
    from segflow.governance.review_cli import decide_item

    settings, table, run = refreshed
    with connect(settings) as con:
        assert "override_id" not in [r[0] for r in con.execute("DESCRIBE memberships").fetchall()]
    review_id, _, entity = _item(settings, run)[:3]
    decision = decide_item(settings, review_id, "asha.rao", "the account manager confirmed "
                           "a pending order", to="engaged")
    second = refresh_with_overrides(settings, "holi_test", AS_OF_2, features=table)
    rows = pq.read_table(settings.runs_dir / second.run_id / "memberships.parquet").to_pandas()
    row = rows.set_index("entity_id").loc[entity]
    assert row.cohort == "engaged" and row.override_id == decision["override_id"]
    # a reviewer's placement is not randomised: never an experiment's offer
    assert row.arm == ("holdout" if row.status == "holdout" else "treatment")
    assert second.inputs["override_ids"] == [decision["override_id"]]
    with connect(settings) as con:
        stored = con.execute("SELECT override_id FROM memberships WHERE run_id = ? AND "
                             "entity_id = ?", [second.run_id, entity]).fetchone()
    assert stored == (decision["override_id"],)


def test_an_override_takes_a_customer_out_of_the_offer_test():
    """A reviewer's placement is not randomised: the moved customer loses the offer drawn for
    them (arm 'treatment'), and one moved out of every cohort has no arm at all."""
    from datetime import UTC, datetime

    import pyarrow as pa

    from segflow.governance.overrides import apply_overrides

    m = pa.table({"entity_id": ["A", "B", "C", "D"], "cohort": ["lapsed"] * 3 + ["loyal"],
                  "template": ["lapsed"] * 3 + ["loyal"], "split_value": [None] * 4,
                  "status": ["assigned", "assigned", "holdout", "assigned"],
                  "arm": ["discount", "bundle", "holdout", "treatment"],
                  "priority": [1, 1, 1, 2], "rank": [1, 2, 3, 1],
                  "channels": ["email"] * 4})
    o = pa.table({"entity_id": ["A", "B", "C"], "to_cohort": ["loyal", "unassigned", "loyal"],
                  "override_id": ["o1", "o2", "o3"], "expires": pa.array([None] * 3,
                                                                          pa.timestamp("us")),
                  "created_at": [datetime(2027, 1, 1, tzinfo=UTC)] * 3})
    out = apply_overrides(m, o, datetime(2027, 3, 1, tzinfo=UTC)).to_pylist()
    arm = {r["entity_id"]: (r["cohort"], r["status"], r["arm"]) for r in out}
    assert arm == {"A": ("loyal", "assigned", "treatment"), "B": (None, "unassigned", None),
                   "C": ("loyal", "holdout", "holdout"), "D": ("loyal", "assigned", "treatment")}


def test_a_bulk_override_reads_the_memberships_once_and_refuses_an_entity_not_in_the_run(
        refreshed, monkeypatch):
    """A bulk decision checks every item against the run's facts read once (per item,
    1,000 items over 10M memberships spent about 70 s on them), and is all or nothing: an
    item whose entity is not in the run refuses the whole selection, and no item of it is
    decided."""
    from segflow.db import connect
    from segflow.governance import store
    from segflow.governance.review import QUEUE_COLS
    from segflow.governance.review_cli import decide_many, list_items

    settings, _, run = refreshed
    items = [i for i in list_items(settings, run, "open") if i[5] == "lapsed_high_value"][:3]
    assert len(items) == 3
    with connect(settings) as con:
        con.execute(f"INSERT INTO review_rows ({QUEUE_COLS}) SELECT 'Rghost', run_id, "
                    "campaign, 'ghost', rule, detail, cohort_before, proposed_cohort, "
                    "template, 'open' FROM review_queue WHERE review_id = ?", [items[0][0]])
    reads = []
    real = store.memberships_view
    monkeypatch.setattr(store, "memberships_view", lambda con, settings, run_id, view: (
        reads.append(view), real(con, settings, run_id, view))[1])
    ids = [i[0] for i in items]
    with pytest.raises(SegflowError, match=f"entity ghost is not in run {run}"):
        decide_many(settings, run, [*ids, "Rghost"], "asha.rao",
                    "the customer belongs elsewhere", to="engaged")
    assert reads == ["m_item"]
    assert {i[0] for i in list_items(settings, run, "open")} >= {*ids, "Rghost"}
