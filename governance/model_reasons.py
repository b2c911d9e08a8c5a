"""Model reasons for movers whose move involved a score: the top contributions behind the
score each mover has now, so "fell below holi_propensity 0.5" also says what drove it.

One batched ``pred_contrib`` call per model over the movers that need it (never a loop over
customers); text is assembled in DuckDB.
"""

from __future__ import annotations

from segflow.settings import Settings

TOP_K = 3


def _score_movers(con, outputs: list[str]) -> list[str]:
    """Movers whose changed clauses mention one of the model's score columns."""
    pattern = "|".join(outputs)
    return [r[0] for r in con.execute(
        "SELECT DISTINCT entity_id FROM clause_changes WHERE regexp_matches(clause_text, ?)",
        [rf"\b({pattern})\b"]).fetchall()]


def add_model_reasons(settings: Settings, con, entity: str) -> None:
    """Add column ``model_reasons`` to temp table ``movement`` (null where no score moved)."""
    con.execute("ALTER TABLE movement ADD COLUMN IF NOT EXISTS model_reasons VARCHAR")
    try:
        from training.champion import load_champions
    except ImportError:
        return
    key = "account_id" if entity == "account" else "customer_id"  # the models' join key
    parts = []
    for model in load_champions(settings, entity):
        if model.kind not in ("propensity", "uplift"):
            continue
        ids = _score_movers(con, model.outputs)
        if not ids:
            continue
        frame = con.execute(f"SELECT entity_id AS {key}, * EXCLUDE (entity_id) FROM f_cur "
                            "WHERE entity_id IN (SELECT unnest(?))", [ids]).df()
        if frame.empty:
            continue
        wide = model.contributions(frame, TOP_K)
        wide.insert(0, "entity_id", frame[key].to_numpy())
        con.register("contrib", wide)
        terms = " || ', ' || ".join(
            f"reason_{i}_feature || '=' || reason_{i}_value || ' (' || "
            f"printf('%+.3f', reason_{i}_contribution) || ')'" for i in range(1, TOP_K + 1)
            if f"reason_{i}_feature" in wide.columns)
        parts.append(f"SELECT entity_id, '{model.outputs[0]}: ' || {terms} AS text "
                     "FROM contrib")
        con.execute(f"CREATE OR REPLACE TEMP TABLE contrib_{len(parts)} AS {parts[-1]}")
        con.unregister("contrib")
    if not parts:
        return
    union = " UNION ALL ".join(f"SELECT * FROM contrib_{i}" for i in range(1, len(parts) + 1))
    con.execute(f"""UPDATE movement SET model_reasons = r.text FROM (
        SELECT entity_id, string_agg(text, '; ' ORDER BY text) AS text FROM ({union})
        GROUP BY entity_id) r WHERE movement.entity_id = r.entity_id""")
