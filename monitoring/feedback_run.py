"""``segflow feedback``: read the canonical outcomes, work out lift per group, write
``<home>/feedback/<campaign>/`` (Parquet tables, feedback.json, one HTML page) and the
labels the next training run reads (``labels.parquet`` in the same folder)."""

from __future__ import annotations

import json
from pathlib import Path

from segflow.errors import SegflowError
from segflow.monitoring import feedback
from segflow.monitoring.config import FeedbackConfig
from segflow.monitoring.html import write_page
from segflow.runstore import list_runs, run_dir
from segflow.settings import Settings


def feedback_dir(settings: Settings, campaign: str) -> Path:
    return settings.home / "feedback" / campaign


def labels_path(settings: Settings, campaign: str) -> Path:
    """Where training finds this campaign's outcomes as labels."""
    return feedback_dir(settings, campaign) / "labels.parquet"


def memberships_for(settings: Settings, campaign: str, cfg: FeedbackConfig) -> Path | None:
    """The memberships that defined the campaign's cohorts: the configured run, else the
    campaign's latest run that has them; None means no cohorts (splits only)."""
    if cfg.run:
        path = run_dir(settings, cfg.run) / "memberships.parquet"
        if not path.exists():
            raise SegflowError(f"feedback.run '{cfg.run}' has no memberships.parquet")
        return path
    paths = [run_dir(settings, r.run_id) / "memberships.parquet"
             for r in list_runs(settings, campaign)]
    paths = [p for p in paths if p.exists()]
    return paths[-1] if paths else None


def _open_views(con, settings: Settings, campaign_id: str, memberships: Path | None) -> set:
    canonical = settings.canonical_dir
    outcomes = canonical / "campaign_outcomes.parquet"
    if not outcomes.exists():
        raise SegflowError(f"no campaign outcomes at {outcomes} (run `segflow ingest` first)")
    quoted = campaign_id.replace("'", "''")  # views take no parameters
    con.execute(f"CREATE VIEW outcomes AS SELECT * FROM read_parquet('{outcomes}') "
                f"WHERE campaign_id = '{quoted}'")
    if con.execute("SELECT count(*) FROM outcomes").fetchone()[0] == 0:
        known = [r[0] for r in con.execute(
            f"SELECT DISTINCT campaign_id FROM read_parquet('{outcomes}') ORDER BY 1").fetchall()]
        raise SegflowError(f"{outcomes}: no rows for campaign_id '{campaign_id}' "
                           f"(present: {', '.join(map(str, known)) or 'none'})")
    customers = canonical / "customers.parquet"
    source = f"read_parquet('{customers}')" if customers.exists() else \
        "(SELECT NULL::VARCHAR AS customer_id WHERE false)"
    con.execute(f"CREATE VIEW customers AS SELECT * FROM {source}")
    surveys = canonical / "survey_responses.parquet"
    if surveys.exists():
        con.execute(f"CREATE VIEW surveys AS SELECT * FROM read_parquet('{surveys}')")
    if memberships is not None:
        con.execute(f"""CREATE VIEW cohorts AS SELECT DISTINCT entity_id AS customer_id,
            CASE WHEN status IN ('assigned', 'holdout') THEN cohort ELSE '(' || status || ')'
            END AS cohort, template FROM read_parquet('{memberships}')""")
    return {r[0] for r in con.execute("DESCRIBE customers").fetchall()}


def run_feedback(settings: Settings, campaign: str, cfg: FeedbackConfig,
                 memberships: Path | None = None) -> dict:
    """Compute and write the campaign's feedback; returns the summary (feedback.json)."""
    import duckdb

    memberships = memberships or memberships_for(settings, campaign, cfg)
    out = feedback_dir(settings, campaign)
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        columns = _open_views(con, settings, cfg.campaign_id or campaign, memberships)
        groups = feedback.groups_sql(cfg.splits, columns, memberships is not None)
        lift = feedback.lift_table(con, groups, cfg.confidence)
        templates = (dict(con.execute("SELECT cohort, any_value(template) FROM cohorts "
                                      "GROUP BY cohort").fetchall()) if memberships else {})
        surveys = (feedback.survey_table(con, groups, cfg.survey_window_days)
                   if "surveys" in _views(con) else None)
        con.execute(f"COPY ({feedback.labels_sql()}) TO '{labels_path(settings, campaign)}' "
                    "(FORMAT parquet)")
    finally:
        con.close()
    bau = feedback.bau_comparison(lift, cfg.bau_cohort, cfg.confidence, templates)
    return _write(out, campaign, cfg, lift, bau, surveys, memberships)


def _views(con) -> set[str]:
    return {r[0] for r in con.execute("SELECT view_name FROM duckdb_views()").fetchall()}


def _write(out: Path, campaign: str, cfg: FeedbackConfig, lift, bau, surveys,
           memberships: Path | None) -> dict:
    lift.to_parquet(out / "lift.parquet", index=False)
    if not bau.empty:
        bau.to_parquet(out / "bau_comparison.parquet", index=False)
    if surveys is not None:
        surveys.to_parquet(out / "survey.parquet", index=False)
    overall = lift[lift["dimension"] == "all"].iloc[0].to_dict()
    summary = {"campaign": campaign, "campaign_id": cfg.campaign_id or campaign,
               "cohorts_from": str(memberships) if memberships else None,
               "method": f"difference in proportions, normal approximation (Wald, unpooled), "
                         f"{cfg.confidence:.0%} confidence",
               "overall": overall, "labels": str(out / "labels.parquet"),
               "groups": lift.to_dict("records"), "bau": bau.to_dict("records")}
    (out / "feedback.json").write_text(json.dumps(summary, indent=1, default=float),
                                       encoding="utf-8")
    sections = [("Lift by group", _lift_figure(lift)), ("Rates and lift", _shown(lift))]
    if not bau.empty:
        sections.append(("Template cohorts against business as usual", bau))
    if surveys is not None:
        sections.append(("Survey responses (mean score out of 10; not a net promoter score)",
                         surveys.rename(columns={"mean_nps": "mean score (0-10)"})))
    cohorts = summary["cohorts_from"] or "no run: whole campaign and splits"
    sections.append(("Method", f"{summary['method']}. Cohorts from {cohorts}."))
    headline, passed, kpis = _headline(overall)
    write_page(out / "feedback.html", f"Campaign feedback: {campaign}", sections,
               verdict=headline, passed=passed, kpis=kpis)
    return summary


# the columns a reader looks for first: who, how many, conversion, lift, money
FIRST = ["dimension", "group", "n_treatment", "n_holdout", "conversion_treatment",
         "conversion_holdout", "lift", "lift_low", "lift_high", "incremental_revenue",
         "incremental_revenue_per_customer"]


def _shown(lift):
    """The lift table for the page: incremental revenue in total beside the lift, the
    standard error (in the Parquet) left out."""
    frame = lift.assign(incremental_revenue=lift["incremental_revenue_per_customer"]
                        * lift["n_treatment"])
    rest = [c for c in frame.columns if c not in FIRST and c != "lift_se"]
    return frame[FIRST + rest]


def _headline(overall: dict) -> tuple[str, bool, list]:
    """The campaign's result in one line and its tiles: lift in points with its interval,
    incremental revenue in total."""
    from segflow.pages.fmt import Formatter

    f = Formatter()
    points = lambda x: f"{x * 100:+.1f} points"  # noqa: E731
    low, high = overall["lift_low"], overall["lift_high"]
    shown = low > 0
    headline = (f"The campaign lifted conversion by {points(overall['lift'])[1:]} "
                f"(95% interval {points(low)} to {points(high)})" if shown else
                f"No lift shown: conversion {points(overall['lift'])}, 95% interval "
                f"{points(low)} to {points(high)}")
    n = overall["n_treatment"]
    kpis = [("Lift in conversion", points(overall["lift"]),
             f"{f.pct(overall['conversion_treatment'])} treated vs "
             f"{f.pct(overall['conversion_holdout'])} holdout"),
            ("Incremental revenue", f.money(overall["incremental_revenue_per_customer"] * n),
             f"{f.money(overall['incremental_revenue_low'] * n)} to "
             f"{f.money(overall['incremental_revenue_high'] * n)} (95%)"),
            ("Customers", f.count(n + overall["n_holdout"]),
             f"{f.count(n)} treated, {f.count(overall['n_holdout'])} holdout")]
    return headline, shown, kpis


def _lift_figure(lift):
    import plotly.graph_objects as go

    fig = go.Figure()
    for dimension, rows in lift.groupby("dimension", sort=False):
        fig.add_bar(name=dimension, x=[f"{dimension}: {g}" for g in rows["group"]],
                    y=rows["lift"], error_y={"type": "data", "symmetric": False,
                                             "array": rows["lift_high"] - rows["lift"],
                                             "arrayminus": rows["lift"] - rows["lift_low"]})
    fig.update_layout(yaxis_title="conversion lift (treatment - holdout)", height=450,
                      margin={"b": 140})
    return fig
