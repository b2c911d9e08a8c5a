"""The refresh report: one self-contained HTML page per run (Jinja2), for readers without
the CLI: sizes, overlaps, control results, movement summary, open exceptions, exports."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from segflow.runstore import run_dir

TEMPLATES = Path(__file__).with_name("templates")
log = logging.getLogger("segflow.report")


def _env():
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape())


def gather(con, ctx) -> dict:
    """Figures the page shows, from views m_cur and the governance tables."""
    sizes = con.execute("""SELECT coalesce(cohort, '(' || status || ')'), status, count(*)
        FROM m_cur GROUP BY ALL ORDER BY 1, 2""").fetchall()
    overlaps = con.execute("""SELECT a.cohort, b.cohort, count(*) FROM m_cur a
        JOIN m_cur b ON a.entity_id = b.entity_id AND a.cohort < b.cohort
        WHERE a.cohort IS NOT NULL GROUP BY ALL ORDER BY 3 DESC LIMIT 50""").fetchall()
    exceptions = con.execute("""SELECT review_id, entity_id, rule, detail, cohort_before,
        proposed_cohort FROM review_queue WHERE run_id = ? AND status = 'open'
        ORDER BY rule, entity_id LIMIT 500""", [ctx.run_id]).fetchall()
    n_open = con.execute("SELECT count(*) FROM review_queue WHERE run_id = ? AND status = "
                         "'open'", [ctx.run_id]).fetchone()[0]
    movers = con.execute("""SELECT entity_id, movement, cohort_before, cohort_after, reasons,
        override_id FROM movement WHERE movement <> 'stayed' ORDER BY movement, entity_id
        LIMIT 500""").fetchall()
    return {"sizes": sizes, "overlaps": overlaps, "exceptions": exceptions, "n_open": n_open,
            "movers": movers, "title": ctx.title}


BANNER_START, BANNER_END = "<!--verdict-->", "<!--/verdict-->"


def banner_html(verdict) -> str:
    """The verdict first: a coloured banner with the state and every reason's command."""
    return _env().get_template("verdict.html.j2").render(v=verdict)


def refresh_banner(settings, run_id: str) -> None:
    """Re-render the verdict banner of ``report.html`` after an approval, a drift check, a
    publication: the rest of the page is what governance found and does not change. Never
    raises: the action it follows is done; a stale banner is logged, not an error."""
    from segflow.durable import write_atomic
    from segflow.governance.gate import verdict

    path = run_dir(settings, run_id) / "report.html"
    try:
        if not path.exists():
            return
        page = path.read_text(encoding="utf-8")
        start, end = page.find(BANNER_START), page.find(BANNER_END)
        if start < 0 or end < 0:
            return
        new = banner_html(verdict(settings, run_id))
        write_atomic(path, (page[:start] + BANNER_START + new + page[end:]).encode("utf-8"))
    except Exception as err:  # noqa: BLE001
        log.warning("could not refresh the verdict banner of %s: %s", path, err)


def write_report(settings, con, ctx, controls, movement) -> Path:
    """Render ``runs/<id>/report.html`` and ``movement.html``; returns the report path."""
    from segflow.governance.gate import verdict

    folder = run_dir(settings, ctx.run_id)
    exports = settings.exports_dir / ctx.run_id / "manifest.json"
    data = gather(con, ctx)
    page = _env().get_template("report.html.j2").render(
        run=ctx.run, config=ctx.config, controls=controls, movement=movement,
        exports=json.loads(exports.read_text()) if exports.exists() else None,
        exports_dir=exports.parent, banner_start=BANNER_START, banner_end=BANNER_END,
        banner=banner_html(verdict(settings, ctx.run_id, con=con)), **data)
    (folder / "movement.html").write_text(_env().get_template("movement.html.j2").render(
        run=ctx.run, movement=movement, **data), encoding="utf-8")
    path = folder / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
