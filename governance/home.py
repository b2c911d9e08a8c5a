"""The workspace home page (``<home>/index.html``): every campaign with its latest run, that
run's state in the gate's words, its size, how fresh its data is and the last lift measured
against its holdout, each linked to its run's report. The seed's cross-campaign dashboard:
the first page a campaign manager opens on a Monday.

The page is rendered from the workspace's records (run manifests, the gate's verdict, the
seal, publications, ``feedback/<campaign>/feedback.json``), never from one step's memory, so
``refresh_pages`` renders it again (with the run's report) whenever any run's state changes
(governed, drift checked, reviewed, approved, published, exported) and it never shows a
stale state. Lift is read from the
feedback summary file that monitoring writes (a file contract: governance imports no
monitoring module).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

from segflow.runstore import FAILED, RunRecord, list_runs, run_dir

log = logging.getLogger("segflow.home")
HOME_PAGE = "index.html"
# a campaign whose latest refresh is older than this many days is flagged stale
STALE_DAYS = 30
# the gate's states, worst first: the home page's banner names the worst one present
ATTENTION = ("blocked", "failed", "waiting")


def home_path(settings) -> Path:
    return settings.home / HOME_PAGE


def campaign_names(settings) -> list[str]:
    """Every campaign the workspace knows: a campaign file of the project, a run in the
    workspace, or measured feedback (last year's campaign has outcomes but no file)."""
    names = {p.stem for p in settings.campaigns_dir.glob("*.yaml")} \
        if settings.campaigns_dir.exists() else set()
    names |= {r.campaign for r in list_runs(settings)}
    feedback = settings.home / "feedback"
    if feedback.exists():
        names |= {p.name for p in feedback.iterdir() if (p / "feedback.json").exists()}
    return sorted(names)


def latest_runs(settings) -> dict[str, RunRecord]:
    """The newest run of each campaign (by creation time), failed ones included: a
    refresh that died this morning is the state a reader must see."""
    latest: dict[str, RunRecord] = {}
    for record in list_runs(settings):
        latest[record.campaign] = record
    return latest


def _lift(settings, campaign: str) -> dict | None:
    """The campaign's last measured lift (conversion, treatment against holdout, with its
    interval) from monitoring's summary file; None when never measured."""
    path = settings.home / "feedback" / campaign / "feedback.json"
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    overall = summary.get("overall") or {}
    if overall.get("lift") is None:
        return None
    return {"lift": overall["lift"], "low": overall.get("lift_low"),
            "high": overall.get("lift_high"),
            "customers": (overall.get("n_treatment") or 0) + (overall.get("n_holdout") or 0),
            "measured_at": _mtime(path), "page": f"feedback/{campaign}/feedback.html"
            if (path.parent / "feedback.html").exists() else None}


def _mtime(path: Path) -> str:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%d")


def _age_days(iso: str | None, now: datetime) -> int | None:
    if not iso:
        return None
    when = datetime.fromisoformat(str(iso))
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return (now - when).days


def _state(settings, con, record: RunRecord) -> dict:
    """The run's state in the report's words (the one gate's verdict), its size and the
    report's link."""
    from segflow.governance.gate import verdict
    from segflow.governance.report import banner, exports_of

    report = run_dir(settings, record.run_id) / "report.html"
    base = {"run_id": record.run_id, "as_of": record.as_of[:10],
            "report": f"runs/{record.run_id}/report.html" if report.exists() else None}
    if record.status == FAILED:
        return {**base, "css": "failed", "state": "Failed",
                "text": record.inputs.get("failure") or "the refresh did not finish",
                "size": None}
    try:
        v = verdict(settings, record.run_id, con=con)
    except Exception as err:  # noqa: BLE001  (one unreadable run must not hide the others)
        return {**base, "css": "blocked", "state": "Unreadable", "text": str(err),
                "size": None}
    b = banner(v, exports_of(settings, record.run_id))
    size = (v.seal or {}).get("by_status", {}).get("assigned")
    return {**base, "css": b["css"], "state": b["state"], "text": b["text"], "size": size}


def overview(settings, con) -> list[dict]:
    """One row per campaign: its latest run's state, size and freshness, the live
    version, the last measured lift."""
    from segflow.governance.publications import current_publication

    now = datetime.now(UTC)
    runs = latest_runs(settings)
    rows = []
    for name in campaign_names(settings):
        record = runs.get(name)
        row = {"campaign": name, "title": _title(settings, name), "run": None,
               "live": current_publication(settings, name, con), "lift": _lift(settings, name)}
        if record is not None:
            row["run"] = _state(settings, con, record)
            row["age_days"] = _age_days(record.created_at, now)
            row["stale"] = row["age_days"] is not None and row["age_days"] > STALE_DAYS
        rows.append(row)
    return rows


def _title(settings, name: str) -> str:
    """The campaign file's title (its name when it has no file or no title)."""
    from segflow.yamlio import load_yaml

    path = settings.campaigns_dir / f"{name}.yaml"
    try:
        return (load_yaml(path) or {}).get("title") or name if path.exists() else name
    except Exception:  # noqa: BLE001  (templates check reports a broken file; not this page)
        return name


def headline(rows: list[dict]) -> dict:
    """The page's verdict: how many campaigns need a person, and which."""
    with_runs = [r for r in rows if r["run"]]
    attention = [r for r in with_runs if r["run"]["css"] in ATTENTION]
    if not with_runs:
        return {"css": "waiting", "state": "No campaign has run yet",
                "text": "Make the first run with: segflow refresh --campaign NAME."}
    if attention:
        names = ", ".join(f"{r['title']} ({r['run']['state'].lower()})" for r in attention)
        worst = next(s for s in ATTENTION if any(r["run"]["css"] == s for r in attention))
        return {"css": worst, "state": f"{len(attention)} of {len(with_runs)} campaign(s) "
                f"need attention", "text": f"{names}."}
    return {"css": "passed", "state": f"All {len(with_runs)} campaign(s) are in order",
            "text": "Every latest run is published or ready to publish."}


def write_home(settings, con=None) -> Path:
    """Render ``<home>/index.html`` from the workspace's records."""
    from segflow.pages import write

    if con is None:
        from segflow.db import connect

        with connect(settings) as own:
            return write_home(settings, own)
    from segflow.governance.process import process_tables, summary_lines
    from segflow.governance.report import report_env

    rows = overview(settings, con)
    process = summary_lines(process_tables(settings, None, con))
    return write(home_path(settings), report_env(settings), "home.html.j2", rows=rows,
                 process=process,
                 banner=headline(rows), stale_days=STALE_DAYS,
                 catalogue=(settings.home / "catalogue.html").exists(),
                 written_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))


def refresh_workspace_pages(settings, con=None) -> None:
    """Render the home page and the template catalogue again after a run's state changed.
    Never raises: the action it follows is done; a page that could not be rendered is
    logged, not an error."""
    from segflow.governance.catalogue import write_catalogue

    for write_page in (write_catalogue, write_home):  # home links the catalogue
        try:
            write_page(settings, con)
        except Exception as err:  # noqa: BLE001
            log.warning("could not render %s: %s", write_page.__name__, err)


def refresh_pages(settings, run_id: str) -> None:
    """Every page a change of one run's state touches: its report (and movement page), the
    home page and the template catalogue. Never raises (see ``refresh_report``)."""
    from segflow.governance.report import refresh_report

    refresh_report(settings, run_id)
    refresh_workspace_pages(settings)
