"""Boundary review understands thresholds written as expressions of params
(``lifetime_spend >= $min_spend * $fx`` is banded around the value it evaluates to), and
`templates check` names every cohort clause it cannot band, with the reason."""

from __future__ import annotations

import pytest
from govworld import AS_OF_1, TEMPLATES, base_features, governed, write_canonical

from segflow.governance.clauses import NotBandable, band_points, band_target

VALUES = {"min_spend": 2500, "fx": 2.0, "low": 1, "since": "2027-02-20"}


def _boundary_items(settings) -> list[tuple[str, str]]:
    from segflow.db import connect

    f = base_features()
    write_canonical(settings, list(f.customer_id))
    run = governed(settings, f, AS_OF_1)
    with connect(settings) as con:
        return con.execute("SELECT entity_id, detail FROM review_queue WHERE run_id = ? AND "
                           "rule LIKE 'boundary:lapsed_high_value.%' ORDER BY 1",
                           [run]).fetchall()


def test_an_expression_threshold_is_banded_like_the_number_it_evaluates_to(world,
                                                                          tmp_path):
    from govworld import make_world

    plain = _boundary_items(make_world(tmp_path / "plain"))
    path = world.templates_dir / "lapsed_high_value.yaml"
    path.write_text(TEMPLATES["lapsed_high_value"].replace(
        "  min_spend: {type: float, default: 5000, description: lifetime spend in INR}",
        "  min_spend: {type: float, default: 2500, description: lifetime spend in USD}\n"
        "  fx: {type: float, default: 2.0, description: INR per USD}").replace(
        "lifetime_spend >= $min_spend", "lifetime_spend >= $min_spend * $fx"))
    banded = _boundary_items(world)
    spend = [d for _, d in banded if d.startswith("lifetime_spend")]
    assert spend and len(banded) == len(plain)
    assert [e for e, _ in banded] == [e for e, _ in plain]
    assert all("2500" in d for d in spend), spend


@pytest.mark.parametrize(("clause", "expected"), [
    ("lifetime_spend > $min_spend * $fx", ("lifetime_spend", ">", 5000.0)),
    ("($min_spend + 500) / $fx <= lifetime_spend", ("lifetime_spend", ">=", 1500.0)),
    ("recency_days < -$low", ("recency_days", "<", -1.0)),
    ("region = 'Goa'", (None, None, None)),          # not an ordering: nothing to band
    ("category IN ('a', 'b')", (None, None, None)),
])
def test_band_targets(clause, expected):
    assert band_target(_parse(clause), VALUES) == expected


@pytest.mark.parametrize(("clause", "why"), [
    ("lifetime_spend > avg_spend * 2", "compares two columns"),
    ("coalesce(lifetime_spend, 0) > $min_spend", "not a plain column"),
    ("lifetime_spend > greatest($min_spend, 10)", "not arithmetic"),
    ("signup_ts >= $since", "$since is 2027-02-20, not a number"),
    ("lifetime_spend BETWEEN avg_spend AND $min_spend", "its range reads columns"),
    ("coalesce(lifetime_spend, 0) BETWEEN 1 AND 2", "not a plain column"),
    ("lifetime_spend > $min_spend / ($fx - 2)", "divides by zero"),
])
def test_clauses_that_cannot_be_banded_say_why(clause, why):
    with pytest.raises(NotBandable, match=why.replace("$", r"\$")):
        band_points(_parse(clause), VALUES)


def test_between_is_banded_at_both_ends():
    assert band_points(_parse("lifetime_spend BETWEEN $low AND $min_spend * $fx"), VALUES) == (
        "lifetime_spend", ((">=", 1.0), ("<=", 5000.0)))
    assert band_points(_parse("region = 'Goa'"), VALUES) == (None, ())


def test_both_ends_of_a_between_get_boundary_items(world):
    from govworld import assign

    from segflow.db import connect

    path = world.templates_dir / "engaged.yaml"
    path.write_text(TEMPLATES["engaged"].replace(
        "where: engagement_score >= $min_score",
        "where: engagement_score BETWEEN $min_score AND 0.9"))
    f = base_features(200)
    write_canonical(world, list(f.customer_id))
    run = governed(world, f, AS_OF_1)
    with connect(world) as con:
        found = [e for (e,) in con.execute(
            "SELECT entity_id FROM review_queue WHERE run_id = ? AND rule = "
            "'boundary:engaged.c1' ORDER BY 1", [run]).fetchall()]
    m = assign(f).assign(score=f.engagement_score)
    engaged = m[(m.cohort == "engaged") & (m.status == "assigned")]
    near = ((engaged.score - 0.5).abs() <= 0.05) | ((engaged.score - 0.9).abs() <= 0.09)
    expected = sorted(engaged.entity_id[near])
    assert found == expected and any(engaged.score[near] > 0.7) and any(
        engaged.score[near] < 0.7)


def _parse(clause: str):
    from segflow.scoring.predicate import parse

    tree, issues = parse(clause)
    assert not issues
    return tree


def test_templates_check_names_each_clause_it_cannot_band(world, cli):
    path = world.templates_dir / "engaged.yaml"
    path.write_text(TEMPLATES["engaged"].replace(
        "where: engagement_score >= $min_score",
        "where: engagement_score >= $min_score AND coalesce(recency_days, 0) < 400"))
    result = cli(world.home, "templates", "check")
    assert result.code == 0, result.err
    notes = [line for line in result.out.splitlines() if line.startswith("note:")]
    assert len(notes) == 1
    assert f"{path}:" in notes[0] and "cohort engaged" in notes[0]
    assert "`COALESCE(recency_days, 0) < 400`" in notes[0] and "not a plain column" in notes[0]
