"""Suppressions scoped by cohort: a suppression's ``exempt`` cohorts are not suppressed by
it (the win-back cohort is not suppressed for being inactive), every other cohort is, and
the membership says which suppression applied."""

from __future__ import annotations

import duckdb
import pyarrow as pa
from scoring_frames import customer_frame

from segflow.scoring.campaigns import load_campaign
from segflow.scoring.evaluate import evaluate_memberships
from segflow.scoring.resolve import resolve_campaign
from segflow.scoring.schema import Problems


def _inactive(frame: pa.Table) -> pa.Table:
    """Everyone idle for 200 days: the inactivity suppression holds for every row."""
    idx = frame.schema.get_field_index("days_since_last_activity")
    return frame.set_column(idx, "days_since_last_activity",
                            pa.array([200] * frame.num_rows, pa.int64()))


def test_exempt_cohorts_are_not_suppressed_by_inactivity(home, columns):
    resolved = resolve_campaign(home, "holi_2027", columns=columns)
    inactive = next(s for s in resolved.suppressions if s.template.name == "inactive_14d")
    exempt = set(inactive.spec.exempt)
    assert {"winback_mid_value", "lapsed_high_value"} <= exempt
    m = evaluate_memberships(_inactive(customer_frame(3000, seed=4)), resolved, "r")  # noqa: F841
    rows = duckdb.sql("SELECT cohort, status, suppressed_by FROM m "
                      "WHERE cohort IS NOT NULL").fetchall()
    in_exempt = [r for r in rows if r[0] in exempt]
    others = [r for r in rows if r[0] not in exempt]
    assert in_exempt and others
    assert all(r[2] != "inactive_14d" for r in in_exempt)
    assert any(r[1] in ("assigned", "holdout") for r in in_exempt)
    assert all(r[1] == "suppressed" and r[2] is not None for r in others)
    assert {r[2] for r in others} >= {"inactive_14d"}


def test_exempt_must_name_a_cohort_of_the_campaign(home, tmp_path):
    text = (home.campaigns_dir / "holi_2027.yaml").read_text()
    text = text.replace("exempt: [lapsed_high_value,", "exempt: [lapsed_hi_value,")
    path = tmp_path / "holi_2027.yaml"
    path.write_text(text)
    problems = Problems()
    load_campaign(path, problems)
    assert any("exempt names no cohort of this campaign: 'lapsed_hi_value'" in str(p)
               for p in problems)
