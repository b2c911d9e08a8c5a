"""Model reasons for movers whose move involved a score: the top contributions behind the
score each mover has now, so "fell below holi_propensity 0.5" also says what drove it.

Contributions come from the model versions that scored the run (its ``model_versions``),
one batched ``pred_contrib`` call per model (never a loop over customers), text assembled in
DuckDB. TreeSHAP costs about ten predictions per row: at 1M customers, 340k score movers
took 45 s. So reasons are computed for the ``limit`` movers whose score changed most
(``review.model_reasons_limit``); the others say how to get theirs (``segflow explain``),
which runs the same computation for one entity.
"""

from __future__ import annotations

from segflow.governance.config import MODEL_REASONS_LIMIT
from segflow.governance.reasons import lit
from segflow.governance.store import has_column
from segflow.settings import Settings

TOP_K = 3
DEFAULT_LIMIT = MODEL_REASONS_LIMIT


def _mentions(outputs: list[str]) -> str:
    """Regex matching a clause that reads one of the model's score columns."""
    return rf"\b({'|'.join(outputs)})\b"


def _score_movers(con, outputs: list[str], limit: int) -> tuple[list[str], int]:
    """Movers with a current score whose changed clauses mention one of the model's score
    columns, largest change of its first output first; returns (the first ``limit`` ids,
    how many in all). Movers who left the population have no score to explain."""
    out = outputs[0]
    movers = """SELECT DISTINCT entity_id FROM clause_changes
        WHERE regexp_matches(clause_text, $pattern)
          AND entity_id IN (SELECT entity_id FROM f_cur)"""  # no current row, no score
    total = con.execute(f"SELECT count(*) FROM ({movers})",
                        {"pattern": _mentions(outputs)}).fetchone()[0]
    before = f'p."{out}"' if has_column(con, "f_prev", out) else "NULL"
    ids = con.execute(f"""SELECT s.entity_id FROM ({movers}) s
        LEFT JOIN f_cur c USING (entity_id) LEFT JOIN f_prev p USING (entity_id)
        ORDER BY abs(coalesce(c."{out}", 0) - coalesce({before}, 0)) DESC, s.entity_id
        LIMIT $limit""", {"pattern": _mentions(outputs), "limit": limit}).fetchall()
    return [r[0] for r in ids], total


def _contribution_sql(model, wide) -> str:
    terms = " || ', ' || ".join(
        f"reason_{i}_feature || '=' || reason_{i}_value || ' (' || "
        f"printf('%+.3f', reason_{i}_contribution) || ')'" for i in range(1, TOP_K + 1)
        if f"reason_{i}_feature" in wide.columns)
    return f"SELECT entity_id, {lit(model.outputs[0] + ': ')} || {terms} AS text FROM contrib"


def add_model_reasons(settings: Settings, con, entity: str, versions: dict[str, str],
                      limit: int = DEFAULT_LIMIT) -> dict[str, dict]:
    """Fill column ``model_reasons`` of temp table ``movement`` (null where no score
    moved); returns per model how many score movers there were and how many got reasons."""
    if not versions:  # no model scored the run: no score to explain (and no MLflow needed)
        return {}
    try:
        from segflow.training.champion import load_champions
    except ImportError:
        return {}
    key = "account_id" if entity == "account" else "customer_id"  # the models' join key
    con.execute("CREATE OR REPLACE TEMP TABLE model_texts (entity_id VARCHAR, text VARCHAR)")
    counts = {}
    for model in load_champions(settings, entity, versions):
        if model.kind not in ("propensity", "uplift"):
            continue
        ids, total = _score_movers(con, model.outputs, limit)
        counts[model.name] = {"score_movers": total, "explained": len(ids)}
        if total > len(ids):
            con.execute(f"""INSERT INTO model_texts SELECT DISTINCT entity_id,
                {lit(model.outputs[0] + ': not computed (beyond the ')} || {limit}
                || ' largest score changes), see segflow explain' FROM clause_changes
                WHERE regexp_matches(clause_text, ?) AND entity_id NOT IN (SELECT unnest(?))
                  AND entity_id IN (SELECT entity_id FROM f_cur)""",
                        [_mentions(model.outputs), ids])
        if not ids:
            continue
        frame = con.execute(f"SELECT entity_id AS {key}, * EXCLUDE (entity_id) FROM f_cur "
                            "WHERE entity_id IN (SELECT unnest(?))", [ids]).df()
        if frame.empty:
            continue
        wide = model.contributions(frame, TOP_K)
        wide.insert(0, "entity_id", frame[key].to_numpy())
        con.register("contrib", wide)
        con.execute(f"INSERT INTO model_texts {_contribution_sql(model, wide)}")
        con.unregister("contrib")
    con.execute("""UPDATE movement SET model_reasons = r.text FROM (
        SELECT entity_id, string_agg(text, '; ' ORDER BY text) AS text FROM model_texts
        GROUP BY entity_id) r WHERE movement.entity_id = r.entity_id""")
    return counts
