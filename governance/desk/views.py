"""What each desk page shows, gathered from the governance library (the gate, the queue,
explain, movement, the audit log): plain data for the templates, no HTTP here."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from segflow.errors import SegflowError
from segflow.settings import Settings

TEMPLATES = Path(__file__).parent / "templates"
RUN_PAGES = {"report": ("report.html", "Report"), "movement": ("movement.html", "Movement"),
             "drift": ("drift/report.html", "Drift")}  # served behind the sign-in


_FROZEN: dict[tuple[str, str], tuple] = {}  # (workspace, run) -> (config, rules)


def run_context(settings: Settings, run_id: str):
    """The run's context with its campaign config and rules read once per process: they
    come from the run's frozen copy, which never changes (the run record is read fresh)."""
    from segflow.governance.context import RunContext

    ctx = RunContext.of(settings, run_id)
    key = (str(settings.home), run_id)
    if key not in _FROZEN:
        _FROZEN[key] = (ctx.config, ctx.rules)
    ctx.__dict__["config"], ctx.__dict__["rules"] = _FROZEN[key]
    return ctx


def render(settings: Settings, template: str, **values) -> str:
    from segflow.pages import env
    from segflow.pages import render as draw

    return draw(env(settings, extra=TEMPLATES), template, **values)


def runs_overview(settings: Settings) -> list[dict]:
    """Every governed run, newest first, with the gate's state and its open items."""
    from segflow.db import connect
    from segflow.governance.gate import verdict
    from segflow.governance.store import ensure_schema
    from segflow.runstore import list_runs, run_dir

    out = []
    with connect(settings) as con:
        ensure_schema(con)
        for r in reversed(list_runs(settings)):
            if not (run_dir(settings, r.run_id) / "memberships.parquet").exists():
                continue
            v = verdict(settings, r.run_id, con=con)
            link = f'<a href="/runs/{r.run_id}">{r.run_id}</a>'
            out.append({"run_id": r.run_id, "state": v.state, "open": v.open_exceptions,
                        "cells": [_safe(link), r.campaign, r.as_of[:10], v.state,
                                  f"{v.open_exceptions:,}"]})
    return out


def _safe(html: str):
    from markupsafe import Markup

    return Markup(html)


_COUNTS: dict[tuple, list[tuple[str, int]]] = {}  # (file, mtime, size) -> members per cohort


def cohort_counts(con, settings: Settings, run_id: str, ctx) -> list[dict]:
    """Members per cohort (assigned and holdout) and the unassigned, from the run's file;
    counted once per version of the file (a decision rewrites it), since at 10M customers
    a count took 1.7 s on the loaded test machine."""
    from segflow.governance.store import memberships_view, run_file

    stat = run_file(settings, run_id, "memberships.parquet").stat()
    key = (str(settings.home), run_id, stat.st_mtime_ns, stat.st_size)
    if key not in _COUNTS:
        memberships_view(con, settings, run_id, "m_desk")
        _COUNTS[key] = con.execute("""SELECT coalesce(cohort, '(' || status || ')') AS c,
            count(*) FROM m_desk GROUP BY 1 ORDER BY 1""").fetchall()
    return [{"cohort": c, "title": ctx.title(c) if not c.startswith("(") else c.strip("()"),
             "n": n} for c, n in _COUNTS[key]]


def run_view(settings: Settings, run_id: str) -> dict:
    from segflow.db import connect
    from segflow.governance.gate import verdict
    from segflow.governance.report import banner
    from segflow.governance.store import ensure_schema
    from segflow.runstore import run_dir

    ctx = run_context(settings, run_id)
    with connect(settings) as con:
        ensure_schema(con)
        v = verdict(settings, run_id, con=con)
        counts = cohort_counts(con, settings, run_id, ctx)
        approvals = [(b, str(a)[:16], r, "current" if h == (v.seal or {}).get("seal_hash")
                      else "earlier content") for b, r, a, h in con.execute(
            "SELECT approved_by, reason, approved_at, seal_hash FROM approvals WHERE "
            "run_id = ? ORDER BY approved_at", [run_id]).fetchall()]
    pages = [(k, label) for k, (f, label) in RUN_PAGES.items()
             if (run_dir(settings, run_id) / f).exists()]
    return {"run": ctx.run, "verdict": v, "banner": banner(v, None), "counts": counts,
            "approvals": approvals, "pages": pages, "page_title": f"Run {run_id}"}


def queue_view(settings: Settings, run_id: str, filters, rows_only: bool = False) -> dict:
    """The queue page's values; ``rows_only`` (an HTMX swap of the table and pager) leaves
    out the filter menus and cohort counts, which the swap does not redraw."""
    from segflow.db import connect
    from segflow.governance.desk import queue
    from segflow.governance.owners import load_owners
    from segflow.governance.store import ensure_schema

    ctx = run_context(settings, run_id)
    owners = load_owners(settings.owners_path)
    with connect(settings) as con:
        ensure_schema(con)
        found = queue.page(con, ctx, filters, owners)
        facets = {} if rows_only else queue.facets(con, ctx)
        counts = [] if rows_only else cohort_counts(con, settings, run_id, ctx)
    targets = sorted({c["cohort"] for c in counts if not c["cohort"].startswith("(")}
                     | {name for name, r in ctx.rules.items() if not r.spec.split_by}) \
        + ["unassigned"]
    pages = max(1, math.ceil(found.total / filters.size))
    number = min(filters.page, pages) if found.has_previous else 1  # decisions shrink it
    first, last = found.keys(filters)
    return {"run_id": run_id, "rows": found.rows, "total": found.total,
            "filters": replace(filters, page=number), "pages": pages, "facets": facets,
            "counts": counts, "people": sorted(owners.people), "targets": targets,
            "next_key": last if found.has_next else None,
            "previous_key": first if found.has_previous else None}


def decide_selection(settings: Settings, run_id: str, filters, who, action: str, to: str,
                     reason: str, expires: str, count: int | None) -> dict:
    """Confirm or override the open items of a filtered selection (the first ``count`` in
    the page's order) under the signed-in name (``review_cli.decide_many``)."""
    from segflow.db import connect
    from segflow.governance.desk import queue
    from segflow.governance.owners import load_owners
    from segflow.governance.review_cli import decide_many
    from segflow.governance.store import ensure_schema

    if action not in ("confirm", "override"):
        raise SegflowError(f"unknown action {action!r}: confirm or override")
    if action == "override" and not to:
        raise SegflowError("choose the cohort to override to (or 'unassigned')")
    when = None
    if action == "override" and expires:
        from segflow.timeutil import parse_as_of

        when = parse_as_of(expires)
    ctx = run_context(settings, run_id)
    with connect(settings) as con:
        ensure_schema(con)
        ids = queue.selected_ids(con, ctx, filters, load_owners(settings.owners_path), count)
    return decide_many(settings, run_id, ids, who.name, reason,
                       to if action == "override" else None, when)


def item_view(settings: Settings, run_id: str, review_id: str) -> dict:
    """One item: the queue row; movement's reasons, clause values before and after and
    model contributions (what governance computed for the run); each cohort rule's clauses
    with the customer's values in this run and the run before; the customer's data."""
    from segflow.db import connect
    from segflow.governance.clauses import truth_sql
    from segflow.governance.publications import last_published_run
    from segflow.governance.review import get_item
    from segflow.governance.store import ensure_schema, features_view
    from segflow.runstore import run_dir

    ctx = run_context(settings, run_id)
    previous = last_published_run(settings, ctx.run.campaign, before=run_id)
    with connect(settings) as con:
        ensure_schema(con)
        item = get_item(con, review_id, run_id)
        entity = item["entity_id"]
        features_view(con, settings, run_id, "f_item")
        now = _row(con, "SELECT * FROM f_item WHERE entity_id = ?", [entity])
        before = {}
        if previous:
            features_view(con, settings, previous, "f_before")
            before = _row(con, "SELECT * FROM f_before WHERE entity_id = ?", [entity])
        clauses = []
        for name, rule in ctx.rules.items():
            truth = _row_bound(con, f"SELECT * FROM ({truth_sql(rule, 'f_item')}) "
                               "WHERE entity_id = $eid", {**rule.params, "eid": entity})
            clauses += [(ctx.title(name), c.text, _values({k: now.get(k) for k in c.columns}),
                         _values({k: before.get(k) for k in c.columns}) if before else
                         "(not in a run before)", "yes" if truth.get(c.id) else "no")
                        for c in rule.clauses]
        path = run_dir(settings, run_id) / "movement.parquet"
        movement = _row(con, "SELECT * FROM read_parquet(?) WHERE entity_id = ?",
                        [str(path), entity]) if path.exists() else {}
    return {"item": item, "movement": movement, "clauses": clauses, "previous": previous,
            "features": [(k, _show(v)) for k, v in now.items()],
            "page_title": f"Review item {review_id}"}


def _row(con, sql: str, params: list) -> dict:
    cur = con.execute(sql, params)
    row = cur.fetchone()
    return dict(zip([d[0] for d in cur.description], row, strict=True)) if row else {}


def _row_bound(con, sql: str, params: dict) -> dict:
    from segflow.governance.clauses import bind

    cur = bind(con, sql, params)
    row = cur.fetchone()
    return dict(zip([d[0] for d in cur.description], row, strict=True)) if row else {}


def _values(values: dict | None) -> str:
    if values is None:
        return "-"
    return ", ".join(f"{k} = {_show(v)}" for k, v in values.items())


def _show(value) -> str:
    if isinstance(value, float):
        from segflow.governance.reasons import fmt

        return fmt(value)  # as movement writes numbers: 30,000 and 0.084
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="minutes")
    return "" if value is None else str(value)


def audit_view(settings: Settings, limit: int = 200) -> dict:
    import json

    from segflow.governance import audit

    entries = audit.read(settings)
    rows = [(e["seq"], str(e["ts"])[:19].replace("T", " "), e["actor"], e["action"],
             e.get("run_id") or "", json.dumps(e["payload"], default=str)[:160])
            for e in reversed(entries[-limit:])]
    return {"rows": rows, "total": len(entries)}


def cohorts_view(settings: Settings) -> dict:
    """Every curated cohort's latest version, as table rows, newest campaign first."""
    from segflow.governance.curated import list_lists

    rows = []
    for r in list_lists(settings):
        state = "retired" if r.get("retired_at") else "live"
        rows.append((r["campaign"], r["name"], r["version"], r["owner"], r["ids"],
                     str(r["expires"])[:10], state, r["reason"]))
    return {"rows": rows}
