"""``segflow compare``: the campaign's rules against the list a team uses today."""

from __future__ import annotations

from pathlib import Path

import typer

from segflow.commands.templates import SET_HELP, _overrides
from segflow.output import quiet_for_json


def register(app: typer.Typer) -> None:
    app.command("compare")(compare)


def compare(
    campaign: str = typer.Option(..., "--campaign", "-c", help="Campaign name."),
    legacy: Path = typer.Option(..., "--legacy", help="The list used today: a CSV export "
                                "with an id and a segment column."),
    id_column: str = typer.Option(None, "--id-column", help="Id column of the list "
                                  "(default: <entity>_id, entity_id, id or <entity>)."),
    segment_column: str = typer.Option(None, "--segment-column", help="Segment column "
                                       "(default: segment, cohort, tier, group, class, "
                                       "label, or the other column of two)."),
    run: str = typer.Option(None, "--run", help="Evaluate the rules on this run's scored "
                            "features (no feature store or models needed); default: score "
                            "the features as of --as-of, as preview does."),
    as_of: str = typer.Option(None, "--as-of", help="Feature time (default: campaign as_of)."),
    set_: list[str] = typer.Option(None, "--set", help=SET_HELP),
    limit: int = typer.Option(20, "--limit", min=0, help="Disagreements explained (0: all)."),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON.",
                                 callback=quiet_for_json),
) -> None:
    """Reproduce the existing list: agreement as a confusion table and, for each
    disagreement, the clause and values that decide it. Exit 0 whenever it ran; 2 on a bad
    list (every bad row printed with file:line)."""
    import json

    from segflow.scoring.compare import BadLegacyRows, compare_campaign, read_legacy
    from segflow.scoring.render import compare_text
    from segflow.scoring.resolve import resolve_campaign
    from segflow.settings import get_settings

    settings = get_settings()
    resolved = resolve_campaign(settings, campaign, _overrides(set_))
    try:
        listed = read_legacy(legacy, resolved.campaign.entity, id_column, segment_column)
    except BadLegacyRows as err:
        for problem in err.problems:
            typer.echo(problem, err=True)
        more = err.total - len(err.problems)
        typer.echo(f"{err.total} bad row(s) in {legacy}{f' ({more} not shown)' if more else ''}"
                   ": correct or remove them and compare again", err=True)
        raise typer.Exit(2) from None
    record, when, source = _features(settings, resolved, run, as_of)
    result = compare_campaign(settings, resolved, listed, limit, when, record)
    result["features"] = source
    if as_json:
        typer.echo(json.dumps(result, indent=2, default=str))
    else:
        typer.echo(compare_text(result))
        typer.echo(f"(rules of the project's current files, on {source})")


def _features(settings, resolved, run: str | None, as_of: str | None):
    """Which features the rules run on: (the run's record, None) for a run's scored
    features, or (None, the time) for features scored now; and those features in words."""
    if run is not None:
        from segflow.errors import SegflowError
        from segflow.scoring.explain import pick_run

        if as_of is not None:
            raise SegflowError("--run and --as-of exclude each other: a run has its as-of")
        record = pick_run(settings, resolved.campaign.name, run)
        return record, None, f"the features of run {run} (as of {record.as_of})"
    from segflow.scoring.refresh import run_as_of

    when = run_as_of(resolved, as_of)
    return None, when, f"features scored as of {when.isoformat()}"
