"""Review decisions need a reviewer in scope and a reason; overrides carry into the next
refresh and are in the audit log (tampering with the log: test_governance_audit.py)."""

from __future__ import annotations

import json

import pytest
from govworld import AS_OF_1, AS_OF_2, assign, base_features, write_canonical, write_run
from typer.testing import CliRunner

from segflow.cli import app


def cli(*args):
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def reviewed(world):
    from segflow.governance.pipeline import govern_run

    f = base_features()
    write_canonical(world, list(f.customer_id))
    run = write_run(world, f, AS_OF_1)
    result = govern_run(world, run)
    assert result.exceptions > 0
    return world, f, run


def _open_item(settings, run):
    from segflow.governance.review_cli import list_items

    items = list_items(settings, run, "open")
    return next(i for i in items if i[5] == "lapsed_high_value")


def test_boundary_items_are_near_a_threshold(reviewed):
    from segflow.governance.review_cli import show_item

    settings, f, run = reviewed
    item = show_item(settings, _open_item(settings, run)[0])
    values = item["features"]
    near = [abs(values["recency_days"] - 90) <= 9, abs(values["lifetime_spend"] - 5000) <= 500]
    assert item["rule"].startswith("boundary:") or item["rule"] in ("anomaly", "big_mover")
    if item["rule"].startswith("boundary:"):
        assert any(near)


def test_reviewer_must_be_owner_and_give_reason(reviewed):
    settings, _, run = reviewed
    item = _open_item(settings, run)[0]
    out = cli("review", "confirm", item, "--by", "mallory", "--reason",
              "looks fine to me today")
    assert out.exit_code != 0 and "'mallory' may not review" in str(out.exception)
    out = cli("review", "confirm", item, "--by", "asha.rao", "--reason", "  ")
    assert out.exit_code != 0 and "the review reason must say why" in str(out.exception)


def test_override_survives_next_refresh_and_is_audited(reviewed):
    from segflow.governance.overrides import active_overrides, apply_overrides
    from segflow.governance.pipeline import movement_for

    settings, f, run = reviewed
    item, _, entity = _open_item(settings, run)[:3]
    out = cli("review", "override", item, "--by", "asha.rao", "--to", "engaged",
              "--reason", "account manager confirmed a pending order")
    assert out.exit_code == 0, out.output
    # the next refresh: fresh memberships, then overrides applied as refresh does
    m2 = assign(f)
    applied = apply_overrides(m2, active_overrides(settings, "holi_test", AS_OF_2), AS_OF_2)
    run2 = write_run(settings, f, AS_OF_2, applied.to_pandas())
    row = applied.to_pandas().set_index("entity_id").loc[entity]
    assert row.cohort == "engaged" and row.status == "assigned" and row.override_id
    movement = movement_for(settings, run2, previous=run)
    import pandas as pd

    moved = pd.read_parquet(movement.files["parquet"]).set_index("entity_id").loc[entity]
    assert moved.cohort_after == "engaged" and "overridden by review" in moved.reasons
    logged = [e for e in map(json.loads, settings.audit_log_path.read_text().splitlines())
              if e["action"] == "review_overridden"]
    assert logged and logged[0]["payload"]["reason"] == "account manager confirmed a pending order"
    assert logged[0]["actor"] == "asha.rao"


def test_expired_override_is_not_applied(reviewed):
    from segflow.governance.overrides import active_overrides, apply_overrides

    settings, f, run = reviewed
    item, _, entity = _open_item(settings, run)[:3]
    out = cli("review", "override", item, "--by", "asha.rao", "--to", "unassigned",
              "--reason", "temporary hold while the account is checked",
              "--expires", "2027-02-15")
    assert out.exit_code == 0, out.output
    before = apply_overrides(assign(f), active_overrides(settings, "holi_test", AS_OF_1),
                             AS_OF_1).to_pandas().set_index("entity_id").loc[entity]
    after = apply_overrides(assign(f), active_overrides(settings, "holi_test", AS_OF_2),
                            AS_OF_2).to_pandas().set_index("entity_id").loc[entity]
    assert before.status == "unassigned" and after.cohort == "lapsed_high_value"
