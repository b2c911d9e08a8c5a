"""Account notes in governance: the topic of each account's latest note routes review items
to the people the owners file names for that topic, and reads as a mover's reason.

The campaign names the notes model's topic column and the topics that matter to it
(``review.note_topics``: ``column``, ``route``, ``max_age_days``); the owners file names who
reviews each topic (a person's ``topics:``, ``segflow.governance.owners``). The platform
names no topic. The topic is the one scoring gave the run (the notes model's answer: null
where it abstained, and then nothing is routed); the note's date comes from the same "latest
note before the run's as-of" that scoring classified (``latest_notes_sql``).

Temp table ``note_topics`` (entity_id, topic, note_date, text) holds the run's accounts
whose latest note has a topic; ``register_note_topics`` makes it once per governance pass,
from one join of the run's features with the notes table (no loop over accounts).
"""

from __future__ import annotations

import logging
from datetime import datetime

from segflow.errors import SegflowError
from segflow.governance.reasons import lit

TABLE = "note_topics"
log = logging.getLogger(__name__)


def topic_words(topic_sql: str) -> str:
    """SQL turning a topic name into words: churn_risk -> 'churn risk'."""
    return f"replace({topic_sql}, '_', ' ')"


def note_words_sql(alias: str = "n") -> str:
    """SQL for "latest note: churn risk, 2027-02-11" (the date left out when unknown)."""
    return (f"'latest note: ' || {topic_words(alias + '.topic')} || coalesce(', ' || "
            f"strftime({alias}.note_date, '%Y-%m-%d'), '')")


def notes_model(settings, column: str, route: list[str], config_path):
    """The notes model whose first output is ``column``; every routed topic must be one of
    its topics (a typo would route nothing, silently)."""
    from segflow.training.config import load_model_configs

    models = [m for m in load_model_configs(settings.models_config_dir)
              if m.kind == "notes" and m.outputs and m.outputs[0] == column]
    if not models:
        raise SegflowError(f"{config_path}: review.note_topics.column {column!r} is not the "
                           "first output of a notes model in "
                           f"{settings.models_config_dir}")
    topics = [str(t["topic"]) for t in models[0].params["topics"]]
    unknown = [t for t in route if t not in topics]
    if unknown:
        raise SegflowError(f"{config_path}: review.note_topics.route names {unknown[0]!r}, "
                           f"not a topic of {models[0].name}; its topics: {', '.join(topics)}")
    return models[0]


def register_note_topics(con, ctx) -> bool:
    """Temp table ``note_topics`` for the run over view ``f_cur``; False (and no table) when
    the campaign routes no note topics, or when the run was scored without the notes model
    (no champion yet: scoring recorded that in the run's warnings, and this says what it
    costs). A config naming a wrong column or topic is an error. The table of an earlier
    run on the same connection is dropped first: ``has_note_topics`` reads this run's only."""
    con.execute(f"DROP TABLE IF EXISTS temp.{TABLE}")
    spec = ctx.config.note_topics
    if not spec:
        return False
    column = spec["column"]
    model = notes_model(ctx.live or ctx.settings, column, spec["route"], ctx.config.path)
    if column not in ctx.columns:
        log.warning("run %s has no %s: no note topic routes a review item or reads as a "
                    "reason (train %s: segflow train --model %s)", ctx.run_id, column,
                    model.name, model.name)
        return False
    from segflow.training.notes import latest_notes_sql

    latest = latest_notes_sql(ctx.settings.canonical_dir, model.notes_table)
    dated = (f"LEFT JOIN ({latest}) l ON l.account_id = f.entity_id" if latest else
             "LEFT JOIN (SELECT NULL AS account_id, NULL::TIMESTAMP AS note_ts, "
             "NULL AS text) l ON false")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {TABLE} AS
        SELECT f.entity_id, CAST(f."{column}" AS VARCHAR) AS topic,
               CAST(l.note_ts AS DATE) AS note_date, l.text
        FROM f_cur f {dated} WHERE f."{column}" IS NOT NULL""",
                {"as_of": datetime.fromisoformat(ctx.run.as_of)} if latest else None)
    return True


def has_note_topics(con) -> bool:
    from segflow.sqlengine import has_table

    return has_table(con, TABLE)


def routed_sql(ctx) -> str | None:
    """The rows of ``note_topics`` a review item is raised for (a routed topic, recent
    enough), as (entity_id, topic, note_date, text, owners); None when nothing routes.
    ``owners`` names the reviewers the owners file gives the topic."""
    from segflow.governance.owners import run_owners, topic_reviewers

    spec = ctx.config.note_topics
    if not spec or not spec["route"]:
        return None
    owners = run_owners(ctx.live or ctx.settings, ctx.run_id)
    names = {t: topic_reviewers(owners, ctx.config.campaign, t) for t in spec["route"]}
    cases = " ".join(f"WHEN {lit(t)} THEN {lit(', '.join(p) or 'nobody named for it')}"
                     for t, p in names.items())
    age = spec.get("max_age_days")  # at most this many days old: the boundary day routes
    recent = "" if age is None else (
        f" AND n.note_date >= CAST({lit(ctx.run.as_of)} AS TIMESTAMP)::DATE - {int(age)}")
    topics = ", ".join(lit(t) for t in spec["route"])
    return (f"SELECT n.*, CASE n.topic {cases} END AS owners FROM {TABLE} n "
            f"WHERE n.topic IN ({topics}){recent}")


def add_note_reasons(con, movers: str) -> None:
    """The topic of a mover's latest note ("latest note: churn risk, 2027-02-11") added to
    temp table ``clause_changes`` (``segflow.governance.reasons``), where the campaign reads
    note topics. Context, not a cause: its side ``context`` keeps it out of the leave/join
    reason and after them in the list, and it is added after the fallback reason, so a
    mover whose clauses did not change still says so."""
    if not has_note_topics(con):
        return
    # one row per mover: an overlapping campaign has a mover row per cohort, and the
    # movement table gathers reasons per customer (the note would be said once a cohort)
    con.execute(f"""INSERT INTO clause_changes
        SELECT m.entity_id, 'context', m.cohort, NULL, 0, 'note', NULL,
          {note_words_sql('n')}, NULL, NULL
        FROM (SELECT entity_id, min(coalesce(cohort_after, cohort_before)) AS cohort
              FROM {movers} WHERE movement <> 'stayed' GROUP BY entity_id) m
        JOIN {TABLE} n USING (entity_id)""")
