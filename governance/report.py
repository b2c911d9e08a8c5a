"""The refresh report: one self-contained page per run (``runs/<id>/report.html``) that a
finance lead reads in a minute, and the movement page beside it.

The page is rendered from what the run's record holds (memberships, controls, review queue,
approvals, publications, exports, the drift gate's verdict), never from one step's memory,
so ``refresh_report`` can render it again after every change of the run's state (governed,
drift checked, reviewed, approved, published, exported) and it never shows a stale figure.
The verdict banner comes from the one gate (``segflow.governance.gate.verdict``).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

from segflow.governance.review_sets import require_items
from segflow.runstore import run_dir

TEMPLATES = Path(__file__).with_name("templates")
FIGURES_FILE = "report_figures.json"  # the figures' rows, kept beside the run's files
log = logging.getLogger("segflow.report")
IN_COHORT = "status IN ('assigned', 'holdout') AND cohort IS NOT NULL"
# what each of the gate's reasons waits for, in a few words (the banner's headline)
WAITS_FOR = {"drift_breached": "a drift acknowledgement", "approval_missing": "an approval",
             "approval_stale": "a new approval (the content changed)",
             "approval_by_author": "an approval by someone who made none of its decisions",
             "open_exceptions": "a decision on the open review items"}
CONTROL_LABELS = {"contracts_hold": "Source data meets its contracts",
                  "accounted_once": "Every customer counted once",
                  "revenue_reconciles": "Revenue reconciles to the finance table",
                  "sizes_within_bounds": "Cohort sizes within their expected bounds",
                  "no_sudden_change": "No sudden change against the last publication",
                  "curated_accounted": "Every curated id accounted for"}
BLOCKS = {"not_governed": "not governed yet", "seal_mismatch": "memberships changed after "
          "governance", "control_failed": "a control failed",
          "drift_not_checked": "drift not checked", "drift_crashed": "the drift check crashed",
          "drift_unrecorded": "a drift verdict the audit log does not record",
          "duplicate": "a repeat of an earlier run, kept for the record"}


def report_env(settings):
    """The shared look with governance's page templates (report, movement, home, catalogue)."""
    from segflow.pages import env

    return env(settings, extra=TEMPLATES)


def banner(v, exports: dict | None) -> dict:
    """The verdict in a reader's words: css class, headline, sentence."""
    if v.state == "published":
        if exports:
            return {"css": "exported", "state": "Published and exported",
                    "text": f"Version {v.published_version} of {v.campaign} is live and its "
                            f"{len(exports['files'])} channel file(s) are written."}
        return {"css": "published", "state": "Published, not exported yet",
                "text": f"Version {v.published_version} of {v.campaign} is live. Export it "
                        f"with `segflow export {v.run_id}`."}
    if v.state == "ready":
        who = f"Approved by {', '.join(v.approved_by)}; " if v.approved_by else ""
        return {"css": "ready", "state": "Approved, ready to publish" if v.approved_by else
                "Ready to publish", "text": who + "every check passed."}
    codes = [r.code for r in v.reasons]
    if v.state == "waiting":
        parts = list(dict.fromkeys(WAITS_FOR.get(c, c) for c in codes))
        head = "Blocked by drift" if "drift_breached" in codes else "Waiting for a decision"
        return {"css": "waiting", "state": head,
                "text": "Publication waits for " + _and(parts) + "."}
    parts = list(dict.fromkeys(BLOCKS.get(c, c) for c in codes if c in BLOCKS))
    return {"css": "blocked", "state": "Blocked: " + _and(parts),
            "text": "Nothing can be published or exported until this is fixed."}


def _and(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


# the rows of the cohort sizes, each a query over view ``m_cur`` (the run's memberships)
SIZE_QUERIES = {
    "base": "SELECT count(DISTINCT entity_id) FROM m_cur",
    "by_status": "SELECT status, count(DISTINCT entity_id) FROM m_cur GROUP BY 1 ORDER BY 1",
    "cohorts": f"""SELECT cohort, count(*) FILTER (WHERE status = 'assigned'),
          count(*) FILTER (WHERE status = 'holdout'), min(priority),
          string_agg(DISTINCT channels, ',') FROM m_cur WHERE {IN_COHORT}
        GROUP BY 1 ORDER BY 4 NULLS LAST, 1""",
    "suppressed": """SELECT coalesce(suppressed_by, '(unknown)'), count(*)
        FROM m_cur WHERE status = 'suppressed' GROUP BY 1 ORDER BY 2 DESC, 1""",
    "reach": """SELECT ch, count(DISTINCT entity_id) FROM (SELECT entity_id,
          unnest(string_split(channels, ',')) AS ch FROM m_cur WHERE status = 'assigned')
        WHERE ch <> '' GROUP BY 1 ORDER BY 2 DESC, 1""",
}
# the rows of the movement's counts, over view ``movement`` (the run's movement file)
MOVEMENT_QUERIES = {
    "movement_counts": "SELECT movement, count(*) FROM movement GROUP BY 1 ORDER BY 1",
    "previous_run": "SELECT any_value(previous_run_id) FROM movement",
}


def _sizes(rows: dict[str, list[tuple]], ctx) -> dict:
    """Per cohort (one row each, status as columns), per suppression, per status."""
    cohorts = rows["cohorts"]
    titles = [ctx.title(c) for c, *_ in cohorts]
    repeated = {t for t in titles if titles.count(t) > 1}
    out = [{"cohort": c, "title": t, "label": c if t in repeated else t,
            "assigned": a, "holdout": h, "channels": ", ".join(sorted(set(
                (ch or "").split(",")) - {""}))}
           for (c, a, h, _, ch), t in zip(cohorts, titles, strict=True)]
    return {"base": rows["base"][0][0], "by_status": dict(rows["by_status"]),
            "cohorts": out,
            "suppressed": [{"name": s, "title": template_title(ctx, s), "n": n}
                           for s, n in rows["suppressed"]],
            "reach": rows["reach"]}


def _revenue(sizes: dict, controls: list[dict]) -> None:
    """Each cohort's revenue from the reconciliation control's figures (the same numbers
    that were reconciled to the finance table)."""
    figures = next((c["figures"] for c in controls if c["name"] == "revenue_reconciles"), {})
    per = figures.get("per_segment") or {}
    for row in sizes["cohorts"]:
        row["revenue"] = per.get(row["cohort"])
    sizes["revenue"] = sum(v for c, v in per.items() if not c.startswith("(")) if per else None
    start, end = figures.get("period_start"), figures.get("period_end")
    sizes["revenue_days"] = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).days \
        if start and end else None


def template_title(ctx, name: str) -> str:
    """A suppression's title from the run's frozen template file (its name if none)."""
    from segflow.yamlio import load_yaml

    path = ctx.settings.templates_dir / f"{name}.yaml"
    try:
        return (load_yaml(path) or {}).get("title") or name
    except Exception:  # noqa: BLE001  (a missing title is not worth a failed page)
        return name


def _controls(con, run_id: str) -> list[dict]:
    return [{"name": n, "passed": p, "severity": s, "message": m,
             "figures": json.loads(f) if isinstance(f, str) else (f or {})}
            for n, p, s, m, f in con.execute(
                "SELECT name, passed, severity, message, figures FROM control_results "
                "WHERE run_id = ? ORDER BY name", [run_id]).fetchall()]


def _review(con, run_id: str, limit: int = 20) -> dict:
    require_items(con, run_id)
    rows = con.execute("""SELECT rule, coalesce(cohort_before, proposed_cohort), count(*)
        FROM review_queue WHERE run_id = ? AND status = 'open' GROUP BY ALL
        ORDER BY 3 DESC, 1, 2""", [run_id]).fetchall()
    decided = dict(con.execute("""SELECT status, count(*) FROM review_queue WHERE run_id = ?
        AND status <> 'open' GROUP BY 1""", [run_id]).fetchall())
    items = con.execute("""SELECT review_id, entity_id, rule, detail, cohort_before,
        proposed_cohort FROM review_queue WHERE run_id = ? AND status = 'open'
        ORDER BY rule, entity_id LIMIT ?""", [run_id, limit]).fetchall()
    return {"groups": rows, "open": sum(n for *_, n in rows), "decided": decided,
            "first": items, "accepted": _accepted(con, run_id)}


def _accepted(con, run_id: str) -> list[dict]:
    """Open review items a publisher accepted explicitly, from the audit log's entries."""
    if not con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = "
                       "'audit_entries'").fetchone()[0]:
        return []
    rows = con.execute("""SELECT json_extract_string(line, '$.actor'),
          json_extract(line, '$.payload.accepted_open') FROM audit_entries
        WHERE json_extract_string(line, '$.action') = 'publish'
          AND json_extract_string(line, '$.run_id') = ?
          AND json_extract(line, '$.payload.accepted_open') IS NOT NULL
          AND json_type(json_extract(line, '$.payload.accepted_open')) <> 'NULL'
        ORDER BY seq""", [run_id]).fetchall()
    return [{"by": by, **json.loads(acc)} for by, acc in rows]


def _movement(rows: dict[str, list[tuple]], ctx, fmt) -> dict | None:
    """Counts and per-cohort sentences from the movement's rows (None: the run has no
    ``movement.parquet``, written by governance)."""
    from segflow.governance.story import story

    if "movement_counts" not in rows:
        return None
    counts = dict(rows["movement_counts"])
    previous = rows["previous_run"][0][0]
    counts = {k: counts.get(k, 0) for k in ("entered", "exited", "moved", "stayed")}
    return {"previous_run_id": previous, "counts": counts,
            **story(rows, ctx, fmt, counts, previous)}


def exports_of(settings, run_id: str) -> dict | None:
    path = settings.exports_dir / run_id / "manifest.json"
    if not path.exists():
        return None
    index = json.loads(path.read_text(encoding="utf-8"))
    index["folder"] = str(path.parent)
    index["written_at"] = datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime(
        "%Y-%m-%d %H:%M UTC")
    return index


def _drift(settings, run_id: str) -> dict | None:
    """The verdict file for the page, every field the page reads present (a file missing
    some, e.g. written by hand, still renders; the banner says what the gate makes of it)."""
    path = run_dir(settings, run_id) / "drift" / "gate.json"
    try:
        gate = json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
    except ValueError:
        return None
    if not isinstance(gate, dict):
        return None
    return {"error": None, "passed": False, "acknowledged": None, "reasons": [], **gate}


def _freshness(settings, campaign: str) -> dict | None:
    """The campaign's live freshness (None: no event received); a problem reading it is
    shown on the page rather than stopping it."""
    from segflow.errors import SegflowError
    from segflow.governance.freshness import report_freshness

    try:
        return report_freshness(settings, campaign)
    except SegflowError as err:
        return {"error": str(err)}


def _freshness_verdict(row: dict | None) -> tuple:
    from segflow.governance.freshness import verdict

    return verdict(row)


def _curated(ctx) -> list[dict]:
    """The run's curated cohorts, each with its sentence (state, outcomes, who and why)."""
    from segflow.governance.curated import run_lists, state_sentence

    blank = dict.fromkeys(("version", "owner", "owner_name", "reason", "expires"))
    return [{**blank, **e, "sentence": state_sentence(e)} for e in run_lists(ctx.run)]


def _process(settings, con, run_id: str, campaign: str) -> dict:
    """This cycle's process figures and the campaign's summary sentence."""
    from segflow.governance.process import duration, process_tables, summary_lines

    tables = process_tables(settings, campaign, con)
    cycle = next((r for r in tables["cycles"].to_pylist() if r["run_id"] == run_id), None)
    if cycle is not None:
        cycle.update(to_approval=duration(cycle["hours_to_approval"]),
                     to_publication=duration(cycle["hours_to_publication"]))
    reviewers = [r for r in tables["reviewers"].to_pylist() if r["run_id"] == run_id]
    return {"cycle": cycle, "reviewers": reviewers, "summary": summary_lines(tables)}


def gather(settings, con, run_id: str) -> dict:
    """Everything the page shows, read from the run's record."""
    from segflow.governance.context import RunContext
    from segflow.governance.gate import verdict
    from segflow.governance.publications import publications_of_run
    from segflow.governance.store import ensure_schema

    ctx = RunContext.of(settings, run_id)
    ensure_schema(con)
    v = verdict(settings, run_id, con=con)
    exports = exports_of(settings, run_id)
    approvals = con.execute("""SELECT approved_by, reason, approved_at FROM approvals
        WHERE run_id = ? ORDER BY approved_at""", [run_id]).fetchall()
    sizes, movement = run_figures(settings, ctx, con)
    controls = _controls(con, run_id)
    _revenue(sizes, controls)
    drift_page = run_dir(settings, run_id) / "drift" / "report.html"
    return {"run": ctx.run, "title": ctx.title, "campaign_title": _campaign_title(ctx),
            "verdict": v, "banner": banner(v, exports), "sizes": sizes,
            "controls": controls, "control_labels": CONTROL_LABELS,
            "drift_page": drift_page.exists(), "review": _review(con, run_id),
            "movement": movement, "exports": exports, "curated": _curated(ctx),
            "process": _process(settings, con, run_id, ctx.run.campaign),
            "drift": _drift(settings, run_id), "approvals": approvals,
            "freshness": (fresh := _freshness(settings, ctx.run.campaign)),
            "freshness_verdict": _freshness_verdict(fresh),
            "publications": publications_of_run(settings, run_id, con),
            "written_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}


def run_figures(settings, ctx, con) -> tuple[dict, dict | None]:
    """The cohort sizes and the movement story: aggregates and a bounded sample of
    movers over the run's files, computed on the project's engine (the same SQL:
    ``segflow.sqlengine``; on Spark by the executors, only the figures come back). ``con``
    is the workspace's DuckDB, used when the project runs on DuckDB.

    The rows are read once per content of the run's memberships and movement files and
    kept beside them (``FIGURES_FILE``): every later rendering (after a drift check, a
    review, an approval, a publication, an export) tells them again without a query, so
    re-rendering costs the same at 10M customers as at 10, and on Spark runs no job.
    Titles, wording and number formats are applied at each rendering."""
    from segflow.pages.fmt import Formatter, currency_of

    rows = figure_rows(settings, ctx.run_id, con)
    return _sizes(rows, ctx), _movement(rows, ctx, Formatter(currency_of(settings)))


def figure_rows(settings, run_id: str, con) -> dict[str, list[tuple]]:
    """The rows of ``SIZE_QUERIES``, ``MOVEMENT_QUERIES`` and the story's queries (those
    two only where the run has a movement file), kept in ``FIGURES_FILE`` for as long as
    the files they were read from and the queries are the same."""
    from segflow.governance.runcache import fingerprint, keep, kept

    folder = run_dir(settings, run_id)
    key = {"memberships": fingerprint(folder / "memberships.parquet"),
           "movement": fingerprint(folder / "movement.parquet"),
           "queries": _queries_digest()}
    rows = kept(folder / FIGURES_FILE, key)
    if rows is None:
        rows = _read_rows(settings, run_id, con)
        keep(folder / FIGURES_FILE, key, rows)
    return {name: [tuple(r) for r in value] for name, value in rows.items()}


def _queries_digest() -> str:
    """What the kept rows were read with: a change of any query reads them again."""
    import hashlib

    from segflow.governance.story import QUERIES

    text = json.dumps([SIZE_QUERIES, MOVEMENT_QUERIES, QUERIES], sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _read_rows(settings, run_id: str, con) -> dict[str, list[tuple]]:
    """Every figure query over the run's files, on the project's engine."""
    from segflow.engines import SPARK

    if settings.engine == SPARK:
        from segflow.sqlengine import connection

        with connection(settings) as engine:
            return _queries(settings, run_id, engine)
    return _queries(settings, run_id, con)


def _queries(settings, run_id: str, con) -> dict[str, list[tuple]]:
    from segflow.governance.reasons import lit
    from segflow.governance.store import memberships_view
    from segflow.governance.story import QUERIES

    memberships_view(con, settings, run_id, "m_cur")
    rows = {name: con.execute(sql).fetchall() for name, sql in SIZE_QUERIES.items()}
    path = run_dir(settings, run_id) / "movement.parquet"
    if path.exists():
        con.execute(f"CREATE OR REPLACE TEMP VIEW movement AS SELECT * FROM read_parquet("
                    f"{lit(str(path))})")
        rows |= {name: con.execute(sql).fetchall()
                 for name, sql in {**MOVEMENT_QUERIES, **QUERIES}.items()}
    return rows


def _campaign_title(ctx) -> str:
    """The campaign's title from the run's frozen campaign file."""
    from segflow.yamlio import load_yaml

    raw = load_yaml(ctx.config.path) if ctx.config.path else {}
    return (raw or {}).get("title") or ctx.run.campaign


def write_report(settings, run_id: str, con=None) -> Path:
    """Render ``runs/<id>/report.html`` and ``movement.html`` from the run's record."""
    from segflow.pages import write

    if con is None:
        from segflow.db import connect

        with connect(settings) as own:
            return write_report(settings, run_id, own)
    data = gather(settings, con, run_id)
    folder = run_dir(settings, run_id)
    e = report_env(settings)
    write(folder / "movement.html", e, "movement.html.j2", **data)
    return write(folder / "report.html", e, "report.html.j2", **data)


def refresh_report(settings, run_id: str) -> None:
    """Render the report again after the run's state changed (a drift check, a review
    decision, an approval, a publication, an export). Never raises: the action it follows is
    done; a page that could not be rendered is logged, not an error."""
    if not (run_dir(settings, run_id) / "report.html").exists():
        return
    try:
        write_report(settings, run_id)
    except Exception as err:  # noqa: BLE001
        log.warning("could not render the report of %s again: %s", run_id, err)
