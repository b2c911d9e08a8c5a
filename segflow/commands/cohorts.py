"""Hand-curated cohorts: ``segflow cohorts curate | list | show | retire``.

The lists live in the workspace (versioned; each upload and retirement is an audit entry)
and take effect at the campaign's next refresh (docs/governance.md, "Curated cohorts").
Heavy imports stay inside the command bodies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from segflow.output import JSON_HELP
from segflow.settings import get_settings

cohorts_app = typer.Typer(help="Hand-curated cohorts: lists of ids with an owner, a reason "
                          "and an expiry, applied at each refresh.", no_args_is_help=True)
CAMPAIGN = typer.Option(..., "--campaign", "-c", help="Campaign that declares the cohort "
                        "under curated:.")
NAME = typer.Option(..., "--name", "-n", help="Curated cohort name (as the campaign "
                    "declares it).")
JSON = typer.Option(False, "--json", help=JSON_HELP)


@cohorts_app.command("curate")
def curate(campaign: str = CAMPAIGN, name: str = NAME,
           file: Path = typer.Option(..., "--file", "-f", help="CSV of ids: a column "
                                     "<entity>_id (or id), or a single column."),
           owner: str = typer.Option(..., help="Who answers for the list (owners.yaml: a "
                                     "reviewer or approver of the campaign)."),
           reason: str = typer.Option(..., help="Why these ids, in a few words."),
           expires: str = typer.Option(..., help="YYYY-MM-DD: runs as of this date or later "
                                       "no longer assign the list."),
           as_json: bool = JSON) -> None:
    """Upload a new version of a curated cohort's ids (recorded in the audit log)."""
    from segflow.governance.curated import curate as do
    from segflow.output import emit_json

    up = do(get_settings(), campaign, name, file, owner, reason, expires)
    if as_json:
        emit_json(up.__dict__)
        return
    typer.echo(f"curated cohort {name} of {campaign}: version {up.version}, {up.ids:,} ids"
               + (f" ({up.duplicates:,} duplicate rows collapsed)" if up.duplicates else "")
               + f", owner {owner}, expires {expires}; applied at the next refresh")
    if up.checked_against is None:
        typer.echo("  ids not checked against the population yet: the campaign has no run "
                   "(the next refresh reports any id it does not hold)")
    elif up.not_in_population:
        shown = ", ".join(up.not_in_population[:10])
        typer.echo(f"  {len(up.not_in_population):,} id(s) not in the population of "
                   f"{up.checked_against}: {shown}"
                   + (" ..." if len(up.not_in_population) > 10 else "")
                   + " (kept on the list; each refresh reports them)")


@cohorts_app.command("list")
def list_(campaign: Optional[str] = typer.Option(None, "--campaign", "-c",  # noqa: UP045
                                                 help="Only this campaign."),
          every_version: bool = typer.Option(False, "--all", help="Every version, not only "
                                             "the latest."),
          as_json: bool = JSON) -> None:
    """Curated cohorts: latest version of each, its owner, expiry and state today."""
    from datetime import UTC, datetime

    from segflow.governance.curated import list_lists, state_at
    from segflow.output import emit_json, table

    now = datetime.now(UTC)
    rows = list_lists(get_settings(), campaign, every_version)
    for r in rows:
        r["state_today"] = state_at(r, now)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        typer.echo("no curated cohorts" + (f" for {campaign}" if campaign else "")
                   + " (segflow cohorts curate uploads one)")
        return
    table(["campaign", "name", "version", "ids", "owner", "expires", "state today",
           "reason"],
          [(r["campaign"], r["name"], r["version"], r["ids"], r["owner"],
            r["expires"].isoformat(), r["state_today"], r["reason"]) for r in rows],
          numeric=("version", "ids"))


@cohorts_app.command("show")
def show(campaign: str = CAMPAIGN, name: str = NAME,
         version: Optional[int] = typer.Option(None, help="Version (default: the "  # noqa: UP045
                                               "latest)."),
         as_json: bool = JSON) -> None:
    """One curated cohort: its versions, and the ids of one."""
    from segflow.errors import SegflowError
    from segflow.governance.curated import list_lists, members
    from segflow.output import emit_json

    settings = get_settings()
    versions = [r for r in list_lists(settings, campaign, every_version=True)
                if r["name"] == name]
    if not versions:
        raise SegflowError(f"no curated cohort '{name}' of '{campaign}' (segflow cohorts "
                           "list shows those uploaded)")
    row = versions[-1] if version is None else next(
        (r for r in versions if r["version"] == version), None)
    if row is None:
        raise SegflowError(f"curated cohort '{name}' has versions "
                           f"{', '.join(str(r['version']) for r in versions)}, not {version}")
    ids = members(settings, campaign, name, row["version"])
    if as_json:
        emit_json({**row, "members": ids, "versions": [r["version"] for r in versions]})
        return
    typer.echo(f"{campaign} / {name} version {row['version']} of {len(versions)}: "
               f"{row['ids']:,} ids, owner {row['owner']}, expires {row['expires']}")
    typer.echo(f"  reason: {row['reason']}")
    typer.echo(f"  uploaded by {row['uploaded_by']} at {row['uploaded_at']:%Y-%m-%d %H:%M} UTC")
    if row["retired_at"] is not None:
        typer.echo(f"  retired by {row['retired_by']} at {row['retired_at']:%Y-%m-%d %H:%M} "
                   f"UTC: {row['retire_reason']}")
    typer.echo("  ids: " + ", ".join(ids[:50]) + (f" ... ({len(ids):,} in all; --json for "
                                                   "every one)" if len(ids) > 50 else ""))


@cohorts_app.command("retire")
def retire(campaign: str = CAMPAIGN, name: str = NAME,
           by: str = typer.Option(..., help="Who retires it (owners.yaml: a reviewer or "
                                  "approver of the campaign)."),
           reason: str = typer.Option(..., help="Why, in a few words.")) -> None:
    """Retire a curated cohort: from the next refresh it assigns nobody."""
    from segflow.governance.curated import retire as do

    version = do(get_settings(), campaign, name, by, reason)
    typer.echo(f"retired {name} of {campaign} (version {version}) by {by}; the next refresh "
               "assigns nobody from it")


def register(app: typer.Typer) -> None:
    app.add_typer(cohorts_app, name="cohorts")
