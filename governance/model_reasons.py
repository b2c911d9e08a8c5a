"""Model reasons for movers whose move involved a score: the top contributions behind the
score each mover has now, so "fell below holi_propensity 0.5" also says what drove it.

Contributions come from the model versions that scored the run (its ``model_versions``),
LightGBM ``pred_contrib`` in batches (never a loop over customers). TreeSHAP costs about
ten predictions per row: at 1M customers, 340k score movers took 45 s. So reasons are
computed for the ``limit`` movers whose score changed most (``review.model_reasons_limit``);
the others say how to get theirs (``segflow explain``), which runs the same computation for
one entity.

One decision, both engines: which movers are explained and the final merge are SQL run on
the connection's engine (``segflow.sqlengine``), and ``reason_texts`` turns a batch of
movers' features into their reason text in Python (``segflow.governance.reason_text``).
DuckDB runs it here, on the at most ``limit`` rows; on Spark the executors run it
(``segflow.governance.model_reasons_spark``),
each task loading the model once, and only counts reach the driver.
"""

from __future__ import annotations

import pandas as pd

from segflow.governance.config import MODEL_REASONS_LIMIT
from segflow.governance.reason_text import as_pandas, reason_texts
from segflow.governance.reasons import lit
from segflow.governance.store import has_column
from segflow.settings import Settings

DEFAULT_LIMIT = MODEL_REASONS_LIMIT


def _mentions(outputs: list[str]) -> str:
    """Regex matching a clause that reads one of the model's score columns."""
    return rf"\b({'|'.join(outputs)})\b"


def _score_movers(con, outputs: list[str], limit: int) -> tuple[int, int]:
    """Temp table ``score_movers``: movers with a current score whose changed clauses
    mention one of the model's score columns (movers who left the population have no score
    to explain); temp table ``explained``: the first ``limit`` of them, largest change of
    the first output first. Returns (how many explained, how many in all): only counts are
    read back, so on Spark no id reaches the driver."""
    out = outputs[0]
    con.execute("""CREATE OR REPLACE TEMP TABLE score_movers AS
        SELECT DISTINCT entity_id FROM clause_changes
        WHERE regexp_matches(clause_text, $pattern)
          AND entity_id IN (SELECT entity_id FROM f_cur)""", {"pattern": _mentions(outputs)})
    before = f'p."{out}"' if has_column(con, "f_prev", out) else "NULL"
    con.execute(f"""CREATE OR REPLACE TEMP TABLE explained AS SELECT s.entity_id
        FROM score_movers s LEFT JOIN f_cur c ON c.entity_id = s.entity_id
        LEFT JOIN f_prev p ON p.entity_id = s.entity_id
        ORDER BY abs(coalesce(c."{out}", 0) - coalesce({before}, 0)) DESC, s.entity_id
        LIMIT {int(limit)}""")
    ((explained, total),) = con.execute("SELECT (SELECT count(*) FROM explained), "
                                        "(SELECT count(*) FROM score_movers)").fetchall()
    return explained, total


def features_sql(model) -> str:
    """The explained movers' ids and the model's features (from the run's features)."""
    cols = ", ".join(f'c."{f}"' for f in model.features)
    return (f"SELECT c.entity_id, {cols} FROM f_cur c "
            "WHERE c.entity_id IN (SELECT entity_id FROM explained)")


def _texts_here(con, model) -> None:
    """View ``contrib`` (entity_id, text) of the explained movers, computed here (DuckDB)."""
    frame = as_pandas(con.sql(features_sql(model)).to_arrow_table())
    con.register("contrib", reason_texts(model, frame) if len(frame) else
                 pd.DataFrame({"entity_id": pd.Series(dtype=object),
                               "text": pd.Series(dtype=object)}))


def _merge_texts(con, order: tuple[str, ...]) -> None:
    """Column ``model_reasons`` of temp table ``movement`` set from ``model_texts`` (each
    entity's texts in text order; kept as it was where there is none), the table rebuilt
    in the given order of its rows: the same statement on both engines (Spark has no
    UPDATE, and a rebuilt table has no order but the one asked for)."""
    cols = [r[0] for r in con.execute("DESCRIBE movement").fetchall()]
    select = ", ".join("coalesce(r.text, m.model_reasons) AS model_reasons"
                       if c == "model_reasons" else f'm."{c}"' for c in cols)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE movement AS SELECT {select}
        FROM movement m LEFT JOIN (
          SELECT entity_id, string_agg(text, '; ' ORDER BY text) AS text FROM model_texts
          GROUP BY entity_id) r ON m.entity_id = r.entity_id
        ORDER BY {', '.join(f'm."{c}"' for c in order)}""")


def add_model_reasons(settings: Settings, con, entity: str, versions: dict[str, str],
                      limit: int = DEFAULT_LIMIT,
                      order: tuple[str, ...] = ("entity_id",)) -> dict[str, dict]:
    """Fill column ``model_reasons`` of temp table ``movement`` (null where no score
    moved), on the connection's engine, keeping its rows in ``order`` (columns); returns
    per model how many score movers there were and how many got reasons."""
    if not versions:  # no model scored the run: no score to explain (and no MLflow needed)
        return {}
    try:
        from segflow.training.champion import load_champions
    except ImportError:
        return {}
    from segflow.sqlengine import is_spark

    con.execute("CREATE OR REPLACE TEMP TABLE model_texts AS SELECT "
                "CAST(NULL AS VARCHAR) AS entity_id, CAST(NULL AS VARCHAR) AS text LIMIT 0")
    counts = {}
    for model in load_champions(settings, entity, versions):
        if model.kind not in ("propensity", "uplift"):
            continue
        explained, total = _score_movers(con, model.outputs, limit)
        counts[model.name] = {"score_movers": total, "explained": explained}
        if total > explained:
            note = (f"{model.outputs[0]}: not computed (beyond the {limit} largest score "
                    "changes), see segflow explain")
            con.execute(f"""INSERT INTO model_texts SELECT s.entity_id, {lit(note)}
                FROM score_movers s LEFT JOIN explained e ON e.entity_id = s.entity_id
                WHERE e.entity_id IS NULL""")
        if not explained:
            continue
        if is_spark(con):
            from segflow.governance.model_reasons_spark import texts_on_executors

            texts_on_executors(settings, con, model, features_sql(model))
        else:
            _texts_here(con, model)
        con.execute("INSERT INTO model_texts SELECT entity_id, text FROM contrib")
        con.unregister("contrib")
    if counts:
        _merge_texts(con, order)
    return counts
