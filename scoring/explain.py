"""Explain one entity: every cohort's and suppression's clauses with the entity's values,
pass or fail, its final status and why, and model contributions behind score thresholds.

Reads a run's features.parquet and memberships.parquet (the latest run of the campaign by
default), so the explanation is of what was actually decided, not a re-computation; and the
contributions the run stored when it scored (contributions.parquet), so no model is loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from segflow.errors import SegflowError
from segflow.runstore import list_runs, load_run, run_dir
from segflow.scoring.arms import offer_reason
from segflow.scoring.clauses import clause_sql, clauses, evaluate_clauses
from segflow.scoring.columns import model_of_column
from segflow.scoring.evaluate import matches_sql
from segflow.scoring.resolve import Bound, Resolved
from segflow.scoring.score import CONTRIBUTIONS
from segflow.scoring.sqlparts import duck, quote
from segflow.settings import Settings
from segflow.suggest import nearest


def _rows(con, sql: str, params: dict | None = None) -> list[dict[str, Any]]:
    """Rows as dicts through DuckDB's own conversion: Arrow's ``to_pylist`` imports pandas
    for a timestamp with a time zone, seconds of a one-customer explain."""
    cur = con.execute(sql, params or {})
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _source(con, frame) -> None:
    """View ``frame`` over the scored frame: a run's Parquet file, read by DuckDB (only the
    row groups that can hold the id are read), or an Arrow table."""
    if isinstance(frame, str | Path):
        from segflow.scoring.runfiles import parquet_sql

        con.execute(f"CREATE VIEW frame AS SELECT * FROM {parquet_sql(Path(frame))}")
    else:
        con.register("frame", frame)


def entity_row(con, key: str, entity_id: str) -> dict[str, Any]:
    """The entity's row of view ``frame``, kept as temp table ``one`` for its clauses."""
    con.execute(f"CREATE TEMP TABLE one AS SELECT * FROM frame "
                f"WHERE CAST({quote(key)} AS VARCHAR) = $id", {"id": entity_id})
    rows = _rows(con, "SELECT * FROM one")
    if not rows:
        raise SegflowError(f"no {key} '{entity_id}' in the run's scored frame")
    return rows[0]


def in_cohort(con, resolved: Resolved, entity_id: str) -> list[bool]:
    """Whether the entity meets each cohort's rule, top fraction included (ranked over the
    whole of view ``frame``)."""
    return cohort_matches(con, resolved, [entity_id])[entity_id]


def cohort_matches(frame_or_con, resolved: Resolved, ids: list[str]) -> dict[str, list[bool]]:
    """For each of ``ids``: whether it meets each cohort's rule, top fraction included
    (ranked over the whole frame, so one pass serves any number of ids). Takes an Arrow
    table, or a DuckDB connection with view ``frame``."""
    params: dict[str, Any] = {}
    sql = matches_sql(resolved, params)
    cols = ", ".join(f"_c{i}" for i in range(len(resolved.cohorts)))
    params["ids"] = list(ids)
    query = (f"SELECT entity_id, {cols} FROM ({sql}) WHERE list_contains($ids, entity_id)")
    if not hasattr(frame_or_con, "execute"):
        with duck() as con:
            con.register("frame", frame_or_con)
            return {r[0]: list(r[1:]) for r in con.execute(query, params).fetchall()}
    return {r[0]: list(r[1:]) for r in frame_or_con.execute(query, params).fetchall()}


def clause_truths(con, uses: list[Bound]) -> list[list[bool]]:
    """Each clause's truth for the row in table ``one``, for every use, in one query."""
    bound: dict[str, Any] = {}
    select = []
    for u, b in enumerate(uses):
        exprs = clause_sql(b.template, b.params, bound, prefix=f"u{u}_")
        select += [f"{e} AS u{u}_c{n}" for n, e in enumerate(exprs, start=1)]
    if not select:
        return [[] for _ in uses]
    row = _rows(con, f"SELECT {', '.join(select)} FROM one", bound)[0]
    return [[bool(row[f"u{u}_c{n}"]) for n in range(1, len(clauses(b.template, b.params)) + 1)]
            for u, b in enumerate(uses)]


def table_truth(bound: Bound, one_row) -> list[bool]:
    """Each clause's truth for a one-row Arrow table (compare explains several entities)."""
    truth = evaluate_clauses(one_row, bound.template, bound.params).to_pylist()[0]
    return [bool(truth[c.column]) for c in clauses(bound.template, bound.params)]


def explain_use(bound: Bound, row: dict[str, Any], truth: list[bool]) -> dict:
    """One cohort or suppression: each clause with the values it reads and its truth."""
    items = [{"id": c.id, "text": c.text, "passed": passed,
              "values": {col: row.get(col) for col in c.columns}}
             for c, passed in zip(clauses(bound.template, bound.params), truth, strict=True)]
    return {"name": bound.key, "template": bound.template.name,
            "priority": getattr(bound.spec, "priority", None),
            "params": {k: v for k, v in bound.params.items()},
            "matched": all(i["passed"] for i in items), "clauses": items}


def pick_run(settings: Settings, campaign: str, run_id: str | None):
    if run_id:
        record = load_run(settings, run_id)
        if record.campaign != campaign:
            raise SegflowError(f"run {run_id} is of campaign '{record.campaign}', not "
                               f"'{campaign}'")
        return record
    runs = list_runs(settings, campaign)
    if not runs:
        known = sorted(p.stem for p in settings.campaigns_dir.glob("*.yaml"))
        if campaign not in known:
            raise SegflowError(f"no campaign '{campaign}' in {settings.campaigns_dir}"
                               f"{nearest(campaign, known)}; campaigns: {', '.join(known)}")
        raise SegflowError(f"no run of '{campaign}' yet: run `segflow refresh --campaign "
                           f"{campaign}` first, or pass --run")
    return runs[-1]


def explain_entity(settings: Settings, resolved: Resolved, entity_id: str, frame,
                   membership_rows: list[dict], top_k: int = 3,
                   model_versions: dict[str, str] | None = None,
                   stored=None) -> dict:
    """Everything ``segflow explain`` prints, as data. ``frame`` is the run's scored frame
    (its features.parquet path, or an Arrow table); ``model_versions`` are the run's, so
    contributions come from the models that scored it; ``stored`` is the run's
    contributions file, read instead of loading those models when it has them.

    One DuckDB connection does it all: the entity's row, every clause of every cohort and
    suppression, and the ranked cohorts' top fractions over the whole frame."""
    key = f"{resolved.campaign.entity}_id"
    with duck() as con:
        _source(con, frame)
        row = entity_row(con, key, entity_id)
        uses = [*resolved.cohorts, *resolved.suppressions]
        truths = clause_truths(con, uses)
        kept_all = in_cohort(con, resolved, entity_id)
        n = len(resolved.cohorts)
        cohorts = [explain_use(b, row, t) for b, t in zip(resolved.cohorts, truths[:n],
                                                          strict=True)]
        sups = [explain_use(b, row, t) for b, t in zip(resolved.suppressions, truths[n:],
                                                       strict=True)]
        for item, b, kept in zip(cohorts, resolved.cohorts, kept_all, strict=True):
            t = b.template
            if t.top_fraction is not None or t.top_n is not None:
                keep = t.top_n if t.top_n is not None else t.top_fraction
                keep = b.params[keep[1:]] if isinstance(keep, str) else keep
                item["clauses"].append({"id": f"{t.name}.top", "passed": kept, "values": {
                    t.rank_by: row.get(t.rank_by)}, "text": f"among the top {keep:g}"
                    f"{'' if t.top_n is not None else ' (fraction)'} by {t.rank_by}"})
            item["matched"] = kept
        scores = score_columns(settings, resolved)
        contrib, source = stored_contributions(con, stored, key, entity_id, scores, top_k)
        if contrib is None:
            contrib = contributions(settings, resolved, con, top_k, model_versions, scores)
            source = "models"
    for rows in contrib.values():
        for r in rows:
            r.setdefault("value", row.get(r["feature"]))
    return {"campaign": resolved.campaign.name, "entity": resolved.campaign.entity,
            "entity_id": entity_id, "cohorts": cohorts, "suppressions": sups,
            "memberships": membership_rows,
            "why": reasons(resolved, cohorts, sups, membership_rows),
            "contributions": contrib, "contributions_from": source,
            "model_versions": dict(model_versions or {}),
            "score_models": dict(scores), "scores": {col: row.get(col) for col in scores}}


def score_columns(settings: Settings, resolved: Resolved) -> dict[str, str]:
    """Score column -> its model, for the scores a cohort thresholds or ranks on."""
    owners = model_of_column(settings)
    return {col: owners[col] for b in resolved.cohorts for col in
            sorted({*(c for cl in clauses(b.template, b.params) for c in cl.columns),
                    b.template.rank_by} - {None}) if col in owners}


def stored_contributions(con, path, key: str, entity_id: str, scores: dict[str, str],
                         top_k: int) -> tuple[dict[str, list] | None, str | None]:
    """The entity's top contributions from the run's contributions (written at scoring: a
    file on DuckDB, a folder of part files on Spark), or (None, None) when they lack a
    model or ``top_k`` is more than they keep: then the models are loaded, so a
    contribution is never left out."""
    from segflow.scoring.runfiles import parquet_sql

    if top_k <= 0 or not scores:
        return {}, None
    if path is None or not Path(path).exists():
        return None, None
    source = parquet_sql(Path(path))
    have = {d[0] for d in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    models = set(scores.values())
    if any(f"{m}:reason_{top_k}_feature" not in have for m in models):
        return None, None
    found = _rows(con, f"SELECT * FROM {source} "
                       f"WHERE CAST({quote(key)} AS VARCHAR) = $id", {"id": entity_id})
    if not found:
        return None, None
    stored = found[0]
    out = {}
    for col, model in sorted(scores.items()):
        out[col] = [{"feature": stored[f"{model}:reason_{i}_feature"],
                     "contribution": float(stored[f"{model}:reason_{i}_contribution"])}
                    for i in range(1, top_k + 1) if stored.get(f"{model}:reason_{i}_feature")]
    return out, "run"


def reasons(resolved: Resolved, cohorts: list[dict], sups: list[dict],
            rows: list[dict]) -> list[str]:
    """Plain sentences: which rule decided the status, and what else held."""
    c = resolved.campaign
    matched = [x["name"] for x in cohorts if x["matched"]]
    out = []
    for r in rows:
        status, cohort = r["status"], r["cohort"]
        if status == "suppressed":
            out.append(f"suppressed by '{r['suppressed_by']}'"
                       + (f" (would have been in '{cohort}')" if cohort else ""))
        elif status == "unassigned":
            out.append("unassigned: no cohort's rule holds" if not matched else
                       "unassigned: its matching cohorts kept only their top-ranked members")
        elif r.get("curated_id"):  # a hand-made list, not a rule, put it here
            out.append(f"{status} in '{cohort}' (priority {r['priority']}): on the hand-curated "
                       f"list {r['curated_id']}, not by a rule")
        else:
            why = (f"in '{cohort}' (priority {r['priority']}, the first matching cohort of an "
                   "exclusive campaign)" if c.exclusive else f"in '{cohort}'")
            base = next((b for b in resolved.cohorts
                         if cohort == b.key or cohort.startswith(f"{b.key}__")), None)
            arm = ("held out: stable hash of id and salt below the holdout fraction "
                   f"{c.holdout_fraction:g}" if status == "holdout" else offer_reason(
                       c, resolved.offers_of(base) if base else (), r["entity_id"], r["arm"]))
            out.append(f"{status} {why}; {arm}; rank {r['rank']} by score")
    others = [m for m in matched if not any(r["cohort"] and r["cohort"].split("__")[0] == m
                                            for r in rows)]
    if others:
        out.append(f"also matched (lower priority or suppressed): {', '.join(others)}")
    return out


def contributions(settings: Settings, resolved: Resolved, con, top_k: int,
                  versions: dict[str, str] | None = None,
                  scores: dict[str, str] | None = None) -> dict[str, list]:
    """Top model contributions for each score a cohort thresholds or ranks on, computed
    by loading the run's models (MLflow, LightGBM: seconds): for runs scored before their
    contributions were stored, or a ``--top`` beyond what was stored."""
    if top_k <= 0:
        return {}
    scores = score_columns(settings, resolved) if scores is None else scores
    if not scores:
        return {}
    try:
        from segflow.training.champion import load_champions
        models = {m.name: m for m in load_champions(settings, resolved.campaign.entity,
                                                    versions, set(scores.values()))}
    except ImportError:
        return {col: [] for col in scores}
    one = con.execute("SELECT * FROM one").df()
    out = {}
    for col in sorted(scores):
        model = models.get(scores[col])
        if model is None:
            out[col] = []
            continue
        table = model.contributions(one, top_k)
        out[col] = reasons_of(table.to_dict("records")[0], top_k) if len(table) else []
    return out


def reasons_of(row: dict, top_k: int) -> list[dict]:
    """The models' wide ``reason_<i>_feature/_value/_contribution`` columns as a list."""
    return [{"feature": row[f"reason_{i}_feature"], "value": row[f"reason_{i}_value"],
             "contribution": row[f"reason_{i}_contribution"]}
            for i in range(1, top_k + 1) if row.get(f"reason_{i}_feature")]


def load_run_frames(settings: Settings, record) -> tuple[Any, Any]:
    """The run's features and memberships, whole (``ParquetFile``: the dataset reader
    ``read_table`` uses would import pandas). For callers that need every row (compare);
    explain reads one row of each with DuckDB (``run_files``)."""
    from segflow.scoring.runfiles import read_arrow

    folder = run_dir(settings, record.run_id)
    return (read_arrow(folder / "features.parquet"),
            read_arrow(folder / "memberships.parquet"))


def run_files(settings: Settings, record) -> dict[str, Path]:
    """The run's files explain reads: features, memberships, stored contributions."""
    folder = run_dir(settings, record.run_id)
    return {"features": folder / "features.parquet",
            "memberships": folder / "memberships.parquet",
            "contributions": folder / CONTRIBUTIONS}


def membership_rows(path, entity_id: str) -> list[dict]:
    """The entity's rows of a run's Parquet file keyed by ``entity_id`` (memberships.parquet:
    one per cohort it is in; curated.parquet: one per curated list), read by DuckDB."""
    import duckdb

    con = duckdb.connect()
    try:
        from segflow.scoring.runfiles import parquet_sql

        return _rows(con, f"SELECT * FROM {parquet_sql(Path(path))} WHERE entity_id = $id",
                     {"id": entity_id})
    finally:
        con.close()
