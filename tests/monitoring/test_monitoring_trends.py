"""Segment trends across runs: sizes, overlap with the previous run, biggest movers."""

from __future__ import annotations

import pandas as pd

from segflow.monitoring.trends import write_trends


def test_trends_show_size_overlap_and_the_run_that_moved(world):
    first = world.add_run(world.frame(2000, seed=1))
    second = world.add_run(world.frame(2000, seed=1))              # same customers
    third = world.add_run(world.frame(2000, seed=1, halve_north=True))  # north leaves engaged
    page, moved = write_trends(world.settings, "holi_2027")
    trend = pd.read_parquet(page.parent / "trends.parquet")
    north = trend[trend["cohort"] == "engaged__north"].set_index("run_id")
    assert north.loc[first, "size"] > 0 and pd.isna(north.loc[first, "jaccard"])
    assert north.loc[second, "jaccard"] == 1.0 and north.loc[second, "change"] == 0
    assert third not in north.index  # the cohort emptied
    high = trend[trend["cohort"] == "high_value"].set_index("run_id")
    assert high.loc[third, "change"] > 0 and high.loc[third, "jaccard"] < 1
    row = moved.set_index("cohort").loc["high_value"]
    assert row["run_id"] == third
    html = page.read_text()
    assert html.count("<html") == 1 and "Plotly.newPlot" in html
    assert '<script src="http' not in html and "<script src='http" not in html  # inlined
