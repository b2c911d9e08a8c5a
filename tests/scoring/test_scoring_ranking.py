"""Ranks numbered in pieces (segflow.scoring.ranking) are the plain window's ranks, row for
row, on data built to break them: ties across a cut, NULL, NaN and infinite scores, all
equal, one row, integer and double scores, extreme magnitudes; and a ranked cohort keeps
exactly the matches a plain row_number() keeps."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from scoring_frames import customer_frame

from segflow.scoring.evaluate import matches_sql
from segflow.scoring.ranking import rank_ctes
from segflow.scoring.resolve import resolve_campaign

N = 3000
RNG = np.random.default_rng(11)
SCORES = {
    "ties_across_every_cut": RNG.integers(0, 4, N).astype(float),
    "integers": RNG.integers(-10**12, 10**12, N).astype(float),
    "heavy_tail": RNG.lognormal(5, 3, N),
    "all_equal": np.full(N, 0.25),
    "signed_and_zeros": np.where(RNG.random(N) < 0.3, np.copysign(0.0, RNG.normal(size=N)),
                                 RNG.normal(0, 1e-3, N)),
    "extremes": RNG.choice([np.nan, np.inf, -np.inf, 1e308, -1e308, 5e-324, -5e-324, 0.0,
                            1.0], N),
    "one_value_and_nulls": np.where(RNG.random(N) < 0.5, np.nan, 7.0),
}


def _table(values: np.ndarray, nulls: bool, n: int = N) -> pa.Table:
    groups = RNG.choice(np.array(["a", "b", "c"], dtype=object), n)
    groups[RNG.random(n) < 0.3] = None  # a group without a split is one NULL key
    mask = RNG.random(n) < 0.1 if nulls else None
    return pa.table({"entity_id": [f"E{i:05d}" for i in RNG.permutation(n)],
                     "g": pa.array(groups, pa.string()),
                     "v": pa.array(values[:n], pa.float64(), mask=mask)})


def _both(table: pa.Table):
    con = duckdb.connect()
    con.register("t", table)
    source = "SELECT entity_id, g AS _g0, v AS _o FROM t"
    got = con.sql(f"WITH {rank_ctes('q', source, 1)} SELECT entity_id, _rank, _total, _b "
                  "FROM q ORDER BY entity_id").fetchall()
    want = con.sql("""
        SELECT entity_id, row_number() OVER w, count(*) OVER (PARTITION BY g) FROM t
        WINDOW w AS (PARTITION BY g ORDER BY v DESC NULLS LAST, entity_id)
        ORDER BY entity_id""").fetchall()
    return got, want


@pytest.mark.parametrize("name", sorted(SCORES))
@pytest.mark.parametrize("nulls", [False, True])
def test_ranks_in_pieces_are_the_plain_window_s_ranks(name, nulls):
    got, want = _both(_table(SCORES[name], nulls))
    assert len(got) == N
    assert [g[:3] for g in got] == want


def test_one_row_is_first_of_one():
    got, want = _both(_table(np.array([3.5]), False, n=1))
    assert [g[:3] for g in got] == want and got[0][1:3] == (1, 1)


def test_a_heavy_tail_is_cut_into_many_small_pieces():
    """What makes the ranking spread: no bucket (one sort) holds a large share of a skewed
    score's rows, as equal widths of the score itself would (nearly all in the first)."""
    got, _ = _both(_table(SCORES["heavy_tail"], False))
    sizes = np.unique([g[3] for g in got], return_counts=True)[1]
    assert len(sizes) > 500 and sizes.max() < 0.02 * N


@pytest.mark.parametrize("top", [{"fraction": 0.3}, {"fraction": 1.0}, {"fraction": 0.001}])
def test_a_ranked_cohort_keeps_what_a_plain_row_number_keeps(home, columns, top):
    """holi_propensity_top's matches cut at ceil(fraction x matches) by holi_propensity
    (ties across the cut, NULLs), against the plain window computed here."""
    frame = customer_frame(2000, seed=4)
    score = np.round(np.random.default_rng(4).random(2000), 1)  # ~10 values: ties at the cut
    frame = frame.set_column(frame.schema.get_field_index("holi_propensity"), "holi_propensity",
                             pa.array(score, mask=np.arange(2000) % 17 == 0))
    sets = {f"top_propensity.{k}": str(v) for k, v in top.items()}
    resolved = resolve_campaign(home, "holi_2027", sets, columns=columns)
    (i,) = [n for n, b in enumerate(resolved.cohorts) if b.template.name == "holi_propensity_top"]
    params: dict = {}
    con = duckdb.connect()
    con.register("frame", frame)
    got = con.sql(f"SELECT entity_id, _m{i}, _c{i} FROM ({matches_sql(resolved, params)}) "
                  "ORDER BY entity_id", params=params).fetchall()
    con.register("m", pa.table({"entity_id": [g[0] for g in got], "m": [g[1] for g in got]}))
    con.register("f", frame.select(["customer_id", "holi_propensity"]))
    want = con.sql(f"""
        SELECT entity_id, coalesce(m AND row_number() OVER (PARTITION BY m ORDER BY
               holi_propensity DESC NULLS LAST, entity_id)
               <= ceil({top['fraction']} * count(*) OVER (PARTITION BY m)), false)
        FROM m JOIN f ON f.customer_id = m.entity_id ORDER BY entity_id""").fetchall()
    assert [(g[0], g[2]) for g in got] == want
    assert sum(g[1] for g in got) > 100 and any(g[2] for g in got)
