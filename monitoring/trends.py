"""Segment trends: size and stability of every cohort across a campaign's runs.

Size alone hides churn (a cohort can keep its size while half its members change), so each
run also reports the overlap with the same cohort in the previous run (members kept and the
Jaccard index). Everything is one DuckDB pass over the runs' memberships files.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from segflow.errors import SegflowError
from segflow.monitoring.html import write_page
from segflow.runstore import list_runs, run_dir
from segflow.settings import Settings


def trend_table(con, runs: list[tuple[str, Path]]) -> pd.DataFrame:
    """(run_order, run_id, cohort, size, kept, jaccard, change, change_pct) per cohort/run."""
    from segflow.scoring.runfiles import parquet_sql

    values = ", ".join(f"({i}, '{rid}', '{path}')" for i, (rid, path) in enumerate(runs))
    con.execute("CREATE OR REPLACE TEMP TABLE runs AS SELECT * FROM (VALUES "
                f"{values}) v(run_order, run_id, path)")
    union = " UNION ALL ".join(
        f"SELECT {i} AS run_order, entity_id, cohort FROM {parquet_sql(Path(path))} "
        f"WHERE status IN ('assigned', 'holdout')" for i, (_, path) in enumerate(runs))
    return con.execute(f"""
        WITH m AS (SELECT DISTINCT * FROM ({union})),
             sizes AS (SELECT run_order, cohort, count(*) AS size FROM m GROUP BY ALL),
             kept AS (SELECT c.run_order, c.cohort, count(*) AS kept
                      FROM m c JOIN m p ON p.entity_id = c.entity_id AND p.cohort = c.cohort
                                       AND p.run_order = c.run_order - 1 GROUP BY ALL),
             t AS (SELECT s.*, lag(size) OVER (PARTITION BY cohort ORDER BY run_order) AS prev
                   FROM sizes s)
        SELECT t.run_order, r.run_id, t.cohort, t.size,
               CASE WHEN t.prev IS NULL THEN NULL ELSE coalesce(k.kept, 0) END AS kept,
               coalesce(k.kept, 0) / (t.size + t.prev - coalesce(k.kept, 0)) AS jaccard,
               t.size - t.prev AS change, (t.size - t.prev) / t.prev AS change_pct
        FROM t JOIN runs r USING (run_order) LEFT JOIN kept k USING (run_order, cohort)
        ORDER BY t.cohort, t.run_order""").df()


def moved_most(trend: pd.DataFrame) -> pd.DataFrame:
    """For each cohort, the run where its size changed most (absolute change)."""
    moved = trend.dropna(subset=["change"])
    if moved.empty:
        return pd.DataFrame(columns=["cohort", "run_id", "size", "change", "change_pct",
                                     "jaccard"])
    idx = moved["change"].abs().groupby(moved["cohort"]).idxmax()
    return (moved.loc[idx, ["cohort", "run_id", "size", "change", "change_pct", "jaccard"]]
            .sort_values("change", key=abs, ascending=False))


def campaign_runs(settings: Settings, campaign: str) -> list[tuple[str, Path]]:
    runs = [(r.run_id, run_dir(settings, r.run_id) / "memberships.parquet")
            for r in list_runs(settings, campaign)]
    runs = [(rid, path) for rid, path in runs if path.exists()]
    if not runs:
        raise SegflowError(f"campaign '{campaign}' has no runs with memberships yet")
    return runs


def write_trends(settings: Settings, campaign: str) -> tuple[Path, pd.DataFrame]:
    """Write ``<home>/trends/<campaign>/`` (trends.parquet, trends.html); return the page."""
    import duckdb
    import plotly.express as px

    con = duckdb.connect()
    try:
        trend = trend_table(con, campaign_runs(settings, campaign))
    finally:
        con.close()
    out = settings.home / "trends" / campaign
    out.mkdir(parents=True, exist_ok=True)
    trend.to_parquet(out / "trends.parquet", index=False)
    moved = moved_most(trend)
    sizes = px.line(trend, x="run_id", y="size", color="cohort", markers=True,
                    title="Cohort size by run")
    overlap = px.line(trend.dropna(subset=["jaccard"]), x="run_id", y="jaccard",
                      color="cohort", markers=True,
                      title="Overlap with the same cohort in the previous run (Jaccard)")
    from segflow.monitoring.freshness import freshness_sections

    page = write_page(out / "trends.html", f"Segment trends: {campaign}",
                      [*freshness_sections(settings, campaign), ("Size", sizes),
                       ("Overlap", overlap), ("Where each cohort moved most", moved),
                       ("All runs", trend)],
                      settings=settings, nav=[("Campaigns", "../../index.html")])
    return page, moved
