"""Explain one entity: every cohort's and suppression's clauses with the entity's values,
pass or fail, its final status and why, and model contributions behind score thresholds.

Reads a run's features.parquet and memberships.parquet (the latest run of the campaign by
default), so the explanation is of what was actually decided, not a re-computation.
"""

from __future__ import annotations

from typing import Any

from segflow.errors import SegflowError
from segflow.runstore import list_runs, load_run, run_dir
from segflow.scoring.arms import offer_reason
from segflow.scoring.clauses import clauses, evaluate_clauses
from segflow.scoring.columns import model_of_column
from segflow.scoring.evaluate import matches_sql
from segflow.scoring.resolve import Bound, Resolved
from segflow.scoring.sqlparts import duck, quote
from segflow.settings import Settings


def entity_row(frame, key: str, entity_id: str) -> dict[str, Any]:
    with duck() as con:
        con.register("frame", frame)
        rows = con.sql(f"SELECT * FROM frame WHERE CAST({quote(key)} AS VARCHAR) = $id",
                       params={"id": entity_id}).to_arrow_table()
    if rows.num_rows == 0:
        raise SegflowError(f"no {key} '{entity_id}' in the feature frame")
    return rows.to_pylist()[0]


def in_cohort(frame, resolved: Resolved, entity_id: str) -> list[bool]:
    """Whether the entity meets each cohort's rule, top fraction included (whole frame)."""
    return cohort_matches(frame, resolved, [entity_id])[entity_id]


def cohort_matches(frame, resolved: Resolved, ids: list[str]) -> dict[str, list[bool]]:
    """For each of ``ids``: whether it meets each cohort's rule, top fraction included
    (ranked over the whole frame, so one pass serves any number of ids)."""
    params: dict[str, Any] = {}
    sql = matches_sql(resolved, params)
    cols = ", ".join(f"_c{i}" for i in range(len(resolved.cohorts)))
    params["ids"] = list(ids)
    with duck() as con:
        con.register("frame", frame)
        return {r[0]: list(r[1:]) for r in con.sql(
            f"SELECT entity_id, {cols} FROM ({sql}) WHERE list_contains($ids, entity_id)",
            params=params).fetchall()}


def explain_use(bound: Bound, row: dict[str, Any], one_row_frame) -> dict:
    """One cohort or suppression: each clause with the values it reads and its truth."""
    truth = evaluate_clauses(one_row_frame, bound.template, bound.params).to_pylist()[0]
    items = [{"id": c.id, "text": c.text, "passed": bool(truth[c.column]),
              "values": {col: row.get(col) for col in c.columns}}
             for c in clauses(bound.template, bound.params)]
    return {"name": bound.key, "template": bound.template.name,
            "priority": getattr(bound.spec, "priority", None),
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
        raise SegflowError(f"no run of '{campaign}' yet: run `segflow refresh --campaign "
                           f"{campaign}` first, or pass --run")
    return runs[-1]


def explain_entity(settings: Settings, resolved: Resolved, entity_id: str, frame,
                   membership_rows: list[dict], top_k: int = 3,
                   model_versions: dict[str, str] | None = None) -> dict:
    """Everything ``segflow explain`` prints, as data (frame = the run's scored frame;
    ``model_versions`` = the run's, so contributions come from the models that scored it)."""
    import pyarrow as pa

    key = f"{resolved.campaign.entity}_id"
    row = entity_row(frame, key, entity_id)
    one = pa.Table.from_pylist([row], schema=frame.schema)
    cohorts = [explain_use(b, row, one) for b in resolved.cohorts]
    for item, b, kept in zip(cohorts, resolved.cohorts, in_cohort(frame, resolved, entity_id),
                             strict=True):
        t = b.template
        if t.top_fraction is not None or t.top_n is not None:
            keep = t.top_n if t.top_n is not None else t.top_fraction
            keep = b.params[keep[1:]] if isinstance(keep, str) else keep
            item["clauses"].append({"id": f"{t.name}.top", "passed": kept, "values": {
                t.rank_by: row.get(t.rank_by)}, "text": f"among the top {keep:g}"
                f"{'' if t.top_n is not None else ' (fraction)'} by {t.rank_by}"})
        item["matched"] = kept
    sups = [explain_use(b, row, one) for b in resolved.suppressions]
    return {"campaign": resolved.campaign.name, "entity_id": entity_id,
            "cohorts": cohorts, "suppressions": sups, "memberships": membership_rows,
            "why": reasons(resolved, cohorts, sups, membership_rows),
            "contributions": contributions(settings, resolved, one, top_k, model_versions)}


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


def contributions(settings: Settings, resolved: Resolved, one_row,
                  top_k: int, versions: dict[str, str] | None = None) -> dict[str, list]:
    """Top model contributions for each score a matched or tested cohort thresholds on;
    only the models of those scores are loaded, and none when ``top_k`` is 0."""
    if top_k <= 0:
        return {}
    owners = model_of_column(settings)
    scores = {col for b in resolved.cohorts for col in
              {*(c for cl in clauses(b.template, b.params) for c in cl.columns),
               b.template.rank_by} if col in owners}
    if not scores:
        return {}
    try:
        from segflow.training.champion import load_champions
        models = {m.name: m for m in load_champions(settings, resolved.campaign.entity,
                                                    versions, {owners[c] for c in scores})}
    except ImportError:
        return {col: [] for col in scores}
    out = {}
    for col in sorted(scores):
        model = models.get(owners[col])
        if model is None:
            out[col] = []
            continue
        table = model.contributions(one_row.to_pandas(), top_k)
        out[col] = reasons_of(table.to_dict("records")[0], top_k) if len(table) else []
    return out


def reasons_of(row: dict, top_k: int) -> list[dict]:
    """The models' wide ``reason_<i>_feature/_value/_contribution`` columns as a list."""
    return [{"feature": row[f"reason_{i}_feature"], "value": row[f"reason_{i}_value"],
             "contribution": row[f"reason_{i}_contribution"]}
            for i in range(1, top_k + 1) if row.get(f"reason_{i}_feature")]


def load_run_frames(settings: Settings, record) -> tuple[Any, Any]:
    """The run's features and memberships. Read as whole files (``ParquetFile``): the
    dataset reader ``read_table`` uses would import pandas, seconds of a one-customer
    explain."""
    import pyarrow.parquet as pq

    folder = run_dir(settings, record.run_id)
    return (pq.ParquetFile(folder / "features.parquet").read(),
            pq.ParquetFile(folder / "memberships.parquet").read())
