"""``segflow process``: the review and approval process, measured from the audit log and
the run store (``segflow.governance.process``)."""

from __future__ import annotations

from typing import Optional

import typer

from segflow.output import JSON_HELP


def register(app: typer.Typer) -> None:
    app.command("process")(process)


def process(campaign: Optional[str] = typer.Option(None, "--campaign", "-c",  # noqa: UP045
                                                   help="Only this campaign."),
            as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Time from refresh to approval and publication, decisions per reviewer, time per
    decision and the share of overrides, per campaign and per cycle."""
    from segflow.errors import SegflowError
    from segflow.governance.process import duration, process_tables, summary_lines
    from segflow.output import emit_json, table
    from segflow.settings import get_settings

    settings = get_settings()
    tables = process_tables(settings, campaign)
    if campaign and tables["cycles"].num_rows == 0 and not (
            settings.campaigns_dir / f"{campaign}.yaml").exists():
        raise SegflowError(f"no campaign '{campaign}' (no runs, and no file "
                           f"{settings.campaigns_dir / (campaign + '.yaml')})")
    if as_json:
        emit_json({k: t.to_pylist() for k, t in tables.items()})
        return
    if tables["cycles"].num_rows == 0:
        typer.echo("no runs yet" + (f" of {campaign}" if campaign else "")
                   + ": the process is measured from the first refresh on")
        return
    for line in summary_lines(tables):
        typer.echo(line)
    rows = [(r["campaign"], r["run_id"], f"{r['refreshed_at']:%Y-%m-%d %H:%M}",
             duration(r["hours_to_approval"]), duration(r["hours_to_publication"]),
             r["decisions"], "" if r["override_share"] is None else f"{r['override_share']:.0%}",
             r["reviewers"], "" if r["seconds_per_decision"] is None
             else f"{r['seconds_per_decision']:.0f}")
            for r in tables["cycles"].to_pylist()]
    table(["campaign", "run", "refreshed (UTC)", "to approval", "to publication", "decisions",
           "overrides", "reviewers", "s per decision"], rows,
          numeric=("decisions", "reviewers"))
    reviewers = tables["reviewers"].to_pylist()
    if reviewers:
        table(["run", "reviewer", "decisions", "overrides", "s per decision"],
              [(r["run_id"], r["reviewer"], r["decisions"], r["overrides"],
                f"{r['seconds_per_decision']:.0f}") for r in reviewers],
              title="Decisions per reviewer", numeric=("decisions", "overrides"))
