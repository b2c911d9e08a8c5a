"""The template catalogue (``<home>/catalogue.html``), as dbt's docs are for models: each
segment template's title and description, when to use it and its caveats, owners,
parameters with their defaults, the campaigns that use it (with the values they set) and its
sizes in the latest runs.

Templates and campaigns are parsed with scoring's strict parsers (no feature store needed:
a template that does not parse is listed with its first problem, not hidden). Sizes come
from each recent run's ``memberships.parquet`` (customers a cohort template placed, or a
suppression removed), counted once per run file and kept beside it in
``template_sizes.json`` until the file changes (``segflow.governance.runcache``), so
re-rendering after every state change stays cheap at 10M customers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from segflow.governance.store import memberships_view
from segflow.runstore import FAILED, list_runs, run_dir
from segflow.sqlengine import scratch_connection

CATALOGUE_PAGE = "catalogue.html"
RECENT_RUNS = 5  # runs whose sizes the catalogue shows, newest first
SIZES_FILE = "template_sizes.json"


def catalogue_path(settings) -> Path:
    return settings.home / CATALOGUE_PAGE


def templates(settings) -> tuple[list, dict[str, str]]:
    """Parsed templates (by name) and, for files that do not parse, their first problem."""
    from segflow.scoring.schema import Problems
    from segflow.scoring.templates import load_template
    from segflow.scoring.validate import template_files

    parsed, broken = [], {}
    for path in template_files(settings):
        problems = Problems()
        t = load_template(path, problems)
        if t is None or problems:
            broken[path.stem] = str(next(iter(problems), "does not parse"))
        if t is not None:
            parsed.append(t)
    return parsed, broken


def uses(settings) -> dict[str, list[dict]]:
    """Template name -> the campaigns that use it: campaign, cohort (or suppression) and
    the parameters it sets."""
    from segflow.scoring.campaigns import load_campaign
    from segflow.scoring.schema import Problems
    from segflow.scoring.validate import campaign_files

    out: dict[str, list[dict]] = {}
    for path in campaign_files(settings):
        c = load_campaign(path, Problems())
        if c is None:
            continue
        for spec in c.cohorts:
            out.setdefault(spec.template, []).append(
                {"campaign": c.name, "as": spec.name, "params": dict(spec.params or {})})
        for spec in c.suppressions:
            out.setdefault(spec.template, []).append(
                {"campaign": c.name, "as": "suppression",
                 "params": dict(spec.params or {})})
    return out


SIZES_SQL = """SELECT coalesce(suppressed_by, template), count(DISTINCT entity_id)
    FROM m_sizes
    WHERE (status IN ('assigned', 'holdout') AND template IS NOT NULL)
       OR (status = 'suppressed' AND suppressed_by IS NOT NULL)
    GROUP BY 1 ORDER BY 1"""


def run_sizes(settings, run_id: str) -> dict[str, int]:
    """Template name -> customers it placed in a cohort (assigned or holdout) or, for a
    suppression, removed; cached beside the run's memberships until the file changes."""
    from segflow.governance.runcache import fingerprint, keep, kept

    path = run_dir(settings, run_id) / "memberships.parquet"
    if not path.exists():
        return {}
    key = fingerprint(path)
    cache = path.with_name(SIZES_FILE)
    sizes = kept(cache, key)
    if sizes is not None:
        return sizes
    # on Spark the executors count (a distinct count over every membership would
    # otherwise run in the driver: 1 GB of its memory at 10M customers)
    with scratch_connection(settings) as con:
        memberships_view(con, settings, run_id, "m_sizes")
        sizes = {name: int(n) for name, n in con.execute(SIZES_SQL).fetchall()}
    keep(cache, key, sizes)
    return sizes


def recent_sizes(settings) -> tuple[list, dict[str, list]]:
    """The newest runs (up to RECENT_RUNS) and, per template, its size in each."""
    runs = [r for r in reversed(list_runs(settings)) if r.status != FAILED][:RECENT_RUNS]
    per_run = {r.run_id: run_sizes(settings, r.run_id) for r in runs}
    names = {n for sizes in per_run.values() for n in sizes}
    return runs, {n: [per_run[r.run_id].get(n) for r in runs] for n in names}


def write_catalogue(settings, con=None) -> Path:
    """Render ``<home>/catalogue.html`` (``con`` is unused: the catalogue reads files)."""
    from segflow.governance.report import report_env
    from segflow.pages import write

    parsed, broken = templates(settings)
    runs, sizes = recent_sizes(settings)
    return write(catalogue_path(settings), report_env(settings), "catalogue.html.j2",
                 templates=sorted(parsed, key=lambda t: (t.kind, t.name)), broken=broken,
                 uses=uses(settings), runs=runs, sizes=sizes,
                 written_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
