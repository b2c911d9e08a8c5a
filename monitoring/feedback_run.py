"""``segflow feedback``: read the canonical outcomes, work out lift per group, write
``<home>/feedback/<campaign>/`` (Parquet tables, feedback.json, one HTML page) and the
labels the next training run reads (``labels.parquet`` in the same folder)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from segflow.canonical import source as canonical_source
from segflow.errors import SegflowError
from segflow.monitoring import experiments, feedback
from segflow.monitoring.config import FeedbackConfig
from segflow.monitoring.html import write_page
from segflow.runstore import list_runs, run_dir
from segflow.settings import Settings
from segflow.sqlengine import has_table, is_spark, scratch_connection


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


def bau_list_path(settings: Settings, cfg: FeedbackConfig) -> Path | None:
    """The uploaded business-as-usual list (relative paths from the campaigns folder)."""
    if not cfg.bau_list:
        return None
    path = Path(cfg.bau_list)
    path = path if path.is_absolute() else settings.campaigns_dir / path
    if not path.exists():
        raise SegflowError(f"feedback.bau_list: no file {path} (a CSV or Parquet file with a "
                           "customer_id column)")
    return path


def _check_bau(con, path: Path) -> None:
    """The uploaded list (view ``bau``, ``_register``) needs a customer_id column."""
    if "customer_id" not in {r[0] for r in con.execute("DESCRIBE bau").fetchall()}:
        raise SegflowError(f"{path}: the business-as-usual list needs a customer_id column")


def outcomes_path(settings: Settings, what: str) -> Path:
    """The project's campaign outcomes table (segflow.yaml ``tables.outcomes``), present in
    the workspace; ``what`` names the step that needs it in the error."""
    path = settings.table_path("outcomes")
    if path is None:
        raise SegflowError(f"{what} needs campaign outcomes, and this project names no outcomes "
                           "table: add `tables: {outcomes: <table>}` to segflow.yaml "
                           "(docs/projects.md)")
    if not path.exists():
        raise SegflowError(f"no campaign outcomes at {path} (segflow.yaml tables.outcomes); "
                           "run `segflow ingest` first")
    return path


def surveys_path(settings: Settings) -> Path | None:
    """The project's survey answers (segflow.yaml ``tables.surveys``) when the workspace has
    them (loaded by ingest, or received by webhook); else None, and ``no_surveys`` says why
    on the page (answers arrive weeks after a campaign, so feedback runs without them
    rather than stop)."""
    from segflow.featurestore.engine import live_files

    path = settings.table_path("surveys")
    if path is None:
        return None
    return path if path.exists() or live_files(settings, path.stem) else None


def no_surveys(settings: Settings) -> str | None:
    """Why feedback reports no survey results, in one sentence; None when it reads them."""
    name = settings.table_name("surveys")
    if name is None:
        return ("No survey results: the project names no surveys table (tables.surveys in "
                "segflow.yaml).")
    if surveys_path(settings) is None:
        return (f"No survey results: the surveys table {name} (tables.surveys in segflow.yaml) "
                "is not in this workspace; run `segflow ingest` once answers arrive.")
    return None


def _open_views(con, settings: Settings, campaign_id: str, memberships: Path | None,
                bau_list: Path | None) -> set:
    """Views ``outcomes`` (the campaign's rows), ``customers``, ``surveys`` where the
    workspace has them, with a run's memberships ``cohorts``, and with an uploaded list
    ``bau``, on either engine: the tables registered each engine's way (``_register``), the
    SQL over them the same."""
    outcomes = outcomes_path(settings, "feedback")
    _register(con, settings, outcomes, memberships, bau_list)
    if bau_list is not None:
        _check_bau(con, bau_list)
    quoted = campaign_id.replace("'", "''")  # views take no parameters
    con.execute(f"CREATE VIEW outcomes AS SELECT * FROM outcomes_all "
                f"WHERE campaign_id = '{quoted}'")
    if con.execute("SELECT count(*) FROM outcomes").fetchall()[0][0] == 0:
        known = [r[0] for r in con.execute(
            "SELECT DISTINCT campaign_id FROM outcomes_all ORDER BY 1").fetchall()]
        raise SegflowError(f"{outcomes}: no rows for campaign_id '{campaign_id}' "
                           f"(present: {', '.join(map(str, known)) or 'none'})")
    if memberships is not None:
        con.execute("""CREATE VIEW cohorts AS SELECT DISTINCT entity_id AS customer_id,
            CASE WHEN status IN ('assigned', 'holdout') THEN cohort ELSE '(' || status || ')'
            END AS cohort, template FROM members""")
    return {r[0] for r in con.execute("DESCRIBE customers").fetchall()}


def _register(con, settings: Settings, outcomes: Path, memberships: Path | None,
              bau_list: Path | None) -> None:
    """The tables feedback reads, as views: ``outcomes_all`` (every campaign's outcomes),
    ``customers`` (empty where ingest loaded none), ``surveys`` (the table as ingest loaded
    it, plus responses a survey tool's webhook sent since: ``with_live``), ``members``
    (the run's memberships, a file or a Spark run's partitioned folder) and ``bau`` (the
    uploaded business-as-usual list, CSV or Parquet)."""
    customers = settings.canonical_dir / "customers.parquet"
    surveys = surveys_path(settings)
    if is_spark(con):
        from segflow.monitoring.feedback_spark import register_tables

        register_tables(con.spark, settings, outcomes, customers, surveys, memberships,
                        bau_list)
        return
    from segflow.featurestore.engine import with_live
    from segflow.scoring.runfiles import parquet_sql

    con.execute(f"CREATE VIEW outcomes_all AS SELECT * FROM {canonical_source(outcomes)}")
    source = canonical_source(customers) if customers.exists() else \
        "(SELECT NULL::VARCHAR AS customer_id WHERE false)"
    con.execute(f"CREATE VIEW customers AS SELECT * FROM {source}")
    if surveys is not None:
        con.execute(f"CREATE VIEW surveys AS {with_live(settings, surveys)}")
    if memberships is not None:
        con.execute(f"CREATE VIEW members AS SELECT * FROM {parquet_sql(Path(memberships))}")
    if bau_list is not None:
        reader = "read_parquet" if bau_list.suffix == ".parquet" else "read_csv"
        con.execute(f"CREATE VIEW bau AS SELECT * FROM {reader}('{bau_list}')")


def run_feedback(settings: Settings, campaign: str, cfg: FeedbackConfig,
                 memberships: Path | None = None) -> dict:
    """Compute and write the campaign's feedback; returns the summary (feedback.json). On
    the project's engine: DuckDB in memory, or Spark through ``segflow.sqlengine`` (the
    same SQL; what comes back is a row per group and arm, and the labels are written by
    the executors)."""
    memberships = memberships or memberships_for(settings, campaign, cfg)
    bau_list = bau_list_path(settings, cfg)
    out = feedback_dir(settings, campaign)
    out.mkdir(parents=True, exist_ok=True)
    with scratch_connection(settings) as con:
        columns = _open_views(con, settings, cfg.campaign_id or campaign, memberships,
                              bau_list)
        groups = feedback.groups_sql(cfg.splits or [], columns, memberships is not None,
                                     bau_list is not None)
        lift = feedback.lift_table(con, groups, cfg.confidence)
        # a cohort's template; none for a group of several ("(suppressed)"), which no
        # pick of one (any_value: a different one per engine) would describe
        templates = (dict(con.execute(
            "SELECT cohort, CASE WHEN count(DISTINCT template) = 1 THEN min(template) END "
            "FROM cohorts GROUP BY cohort").fetchall()) if memberships else {})
        tables = {"funnel": feedback.funnel_table(con, groups),
                  "arm_totals": con.execute(experiments.arm_totals_sql(
                      groups, feedback.ARM_SQL)).df()}
        if has_table(con, "surveys"):
            tables["survey"] = feedback.survey_table(con, groups, cfg.survey_window_days,
                                                     cfg.confidence)
            asked = {r[0] for r in con.execute("DESCRIBE surveys").fetchall()}
            if {"question", "answer"} <= asked:
                tables["survey_choices"] = feedback.choice_table(
                    con, groups, cfg.survey_window_days, cfg.confidence)
        _write_labels(con, labels_path(settings, campaign))
    bau = feedback.bau_comparison(lift, feedback.BAU_LIST if bau_list else cfg.bau_cohort,
                                  cfg.confidence, templates)
    tables["comparisons"] = experiments.compare(tables["arm_totals"], cfg.confidence,
                                                cfg.sequential_tau, cfg.correction,
                                                cfg.min_customers)
    tables["heterogeneity"] = experiments.heterogeneity(tables["comparisons"])
    summary = _write(settings, out, campaign, cfg, lift, bau, tables, memberships)
    from segflow.governance.home import refresh_workspace_pages

    refresh_workspace_pages(settings)  # the home page shows the campaign's last lift
    return summary


def _write_labels(con, path: Path) -> None:
    """The labels, replacing the last ones whole: a file on DuckDB, a folder of part files
    on Spark, so a project that changes engine finds either in the way."""
    from segflow.staging import put_in_place, remove

    staged = path.with_name(path.name + ".tmp")
    remove(staged)
    con.execute(f"COPY ({feedback.labels_sql()}) TO '{staged}' (FORMAT parquet)")
    put_in_place(staged, path)


def _overall(table) -> list[dict]:
    """The rows of a by-group table for the whole campaign (dimension 'all'), one per arm."""
    return table[table["dimension"] == "all"].to_dict("records")


def _write(settings: Settings, out: Path, campaign: str, cfg: FeedbackConfig, lift, bau,
           tables: dict, memberships: Path | None) -> dict:
    """The Parquet tables, feedback.json and the page (money in the project's currency)."""
    surveys = no_surveys(settings)
    lift.to_parquet(out / "lift.parquet", index=False)
    if not bau.empty:
        bau.to_parquet(out / "bau_comparison.parquet", index=False)
    for name, table in tables.items():
        table.to_parquet(out / f"{name}.parquet", index=False)
    overall = lift[lift["dimension"] == "all"].iloc[0].to_dict()
    comparisons = tables["comparisons"]
    method = (f"difference in proportions, Newcombe's hybrid score interval; incremental "
              f"revenue by Welch's t interval; {cfg.confidence:.0%} confidence")
    summary = {"campaign": campaign, "campaign_id": cfg.campaign_id or campaign,
               "cohorts_from": str(memberships) if memberships else None,
               "method": method, "experiment_method": experiment_method(cfg),
               "overall": overall, "labels": str(out / "labels.parquet"),
               "groups": lift.to_dict("records"), "bau": bau.to_dict("records"),
               "arms": sorted(set(tables["arm_totals"]["arm"])),
               "decisions": headline_decisions(comparisons),
               "heterogeneity": tables["heterogeneity"].to_dict("records"),
               # the whole campaign's funnel and NPS per arm, for the command's summary lines
               "funnel": _overall(tables["funnel"]),
               "nps": _overall(tables["survey"]) if "survey" in tables else [],
               # the surveys table read, or None and why not
               "surveys": None if surveys else settings.table_name("surveys"),
               "surveys_note": surveys}
    (out / "feedback.json").write_text(json.dumps(summary, indent=1, default=float),
                                       encoding="utf-8")
    sections = [("Decisions", pd.DataFrame({"decision": summary["decisions"]})
                 if summary["decisions"] else "no offers to compare"),
                ("Offers against the holdout (conversion, points, 95% and always-valid "
                 "intervals)", _offers_figure(comparisons)),
                ("Method", f"{method}. Cohorts from "
                           f"{summary['cohorts_from'] or 'no run: whole campaign and splits'}. "
                           f"Offers: {summary['experiment_method']}"),
                ("Lift by group", _lift_figure(lift)), ("Rates and lift", lift),
                ("Offers against the holdout and each other",
                 _readable(comparisons.drop(columns=["decision"]))),
                ("Does the effect differ between groups?", tables["heterogeneity"]),
                ("Engagement funnel", tables["funnel"])]
    if not bau.empty:
        sections.append(("Template cohorts against business as usual", bau))
    if "survey" in tables:
        sections.append(("Survey responses (NPS: promoters minus detractors)",
                         tables["survey"]))
    elif surveys:
        sections.append(("Survey responses", surveys))
    if "survey_choices" in tables:
        sections.append(("Survey answers (share of respondents choosing each answer)",
                         tables["survey_choices"]))
    verdict, found = headline(comparisons)
    write_page(out / "feedback.html", f"Campaign feedback: {campaign}", sections,
               verdict=verdict, passed=found, settings=settings,
               nav=[("Campaigns", "../../index.html")])
    return summary


def headline(comparisons) -> tuple[str, bool]:
    """The page's first line: the offer with the largest clear conversion lift overall."""
    vs = comparisons[(comparisons["dimension"] == "all") & (comparisons["baseline"] == "holdout")
                     & (comparisons["metric"] == "conversion")]
    clear = vs[vs["significant"] & (vs["difference"] > 0)]
    if clear.empty:
        return "No offer clearly beats the holdout yet", False
    return clear.loc[clear["difference"].idxmax(), "decision"], True


def _offers_figure(comparisons):
    """Forest plot: each offer's conversion lift over the holdout per group, with its
    interval and (grey, wider) its always-valid interval; offers side by side per group."""
    import plotly.graph_objects as go

    vs = comparisons[(comparisons["baseline"] == "holdout")
                     & (comparisons["metric"] == "conversion")]
    groups = list(dict.fromkeys(zip(vs["dimension"], vs["group"], strict=True)))
    labels = [f"{d}: {g}" if d != "all" else "overall" for d, g in groups]
    row = {key: i for i, key in enumerate(groups)}
    arms = sorted(set(vs["arm"]))
    fig = go.Figure()
    for k, (arm, rows) in enumerate(vs.groupby("arm")):
        y = [row[key] + (k - (len(arms) - 1) / 2) * 0.8 / len(arms)
             for key in zip(rows["dimension"], rows["group"], strict=True)]
        x = rows["difference"] * 100
        fig.add_scatter(y=y, x=x, mode="markers", marker={"opacity": 0}, showlegend=False,
                        hoverinfo="skip", error_x={
                            "type": "data", "symmetric": False, "thickness": 5, "width": 0,
                            "color": "rgba(120,120,120,0.3)",
                            "array": rows["high_always_valid"] * 100 - x,
                            "arrayminus": x - rows["low_always_valid"] * 100})
        fig.add_scatter(name=arm, y=y, x=x, mode="markers", error_x={
            "type": "data", "symmetric": False, "array": rows["high"] * 100 - x,
            "arrayminus": x - rows["low"] * 100})
    fig.add_vline(x=0, line_dash="dot")
    fig.update_layout(xaxis_title="conversion lift over the holdout (points)",
                      yaxis={"tickvals": list(range(len(labels))), "ticktext": labels,
                             "autorange": "reversed"},
                      height=max(300, 40 * len(labels) + 120), margin={"l": 200})
    return fig


def experiment_method(cfg: FeedbackConfig) -> str:
    return (f"each offer against the holdout and against each other; conversion by "
            f"Newcombe's hybrid score interval and the score test, revenue per customer by "
            f"Welch's t interval and test; {cfg.correction} correction over the "
            f"comparisons of one metric in one dimension (adjusted intervals: Bonferroni); "
            f"always-valid intervals (normal-mixture sequential test, tuned to a lift of "
            f"{cfg.sequential_tau:g}) hold at every look, so reading results daily does not "
            f"inflate false positives")


def headline_decisions(comparisons) -> list[str]:
    """The sentences worth reading first: every overall comparison, then each significant
    one in a group."""
    if comparisons.empty:
        return []
    overall = comparisons[comparisons["dimension"] == "all"]
    found = comparisons[(comparisons["dimension"] != "all") & comparisons["significant"]]
    return list(overall["decision"]) + list(found["decision"])


def _readable(table):
    return table.round(6)


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
