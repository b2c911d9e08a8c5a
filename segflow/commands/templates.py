"""Segment templates and campaigns: templates check, preview, refresh, explain."""

from __future__ import annotations

from pathlib import Path

import typer

templates_app = typer.Typer(help="Segment templates: validate template and campaign files.",
                            no_args_is_help=True)

SET_HELP = ("Override a param: <cohort or template>.<param>=<value>, e.g. "
            "lapsed_high_value.lapsed_days=60 (repeatable).")


def _overrides(pairs: list[str] | None) -> dict[str, str]:
    from segflow.errors import SegflowError

    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or "." not in key:
            raise SegflowError(f"--set {pair!r}: expected <cohort or template>.<param>=<value>")
        out[key.strip()] = value.strip()
    return out


@templates_app.command("check")
def check(paths: list[Path] = typer.Argument(
        None, help="Template/campaign files or folders (default: all shipped files).")) -> None:
    """Validate templates and campaigns: schema, predicate, columns, functions, params."""
    from scoring.validate import load_bundle
    from segflow.settings import get_settings

    bundle = load_bundle(get_settings(), paths or None)
    for problem in bundle.problems:
        typer.secho(str(problem), fg=typer.colors.RED, err=True)
    if bundle.problems:
        typer.secho(f"{len(bundle.problems)} problem(s)", err=True)
        raise typer.Exit(1)
    typer.echo(f"ok: {len(bundle.templates)} templates, {len(bundle.campaigns)} campaigns")


def preview(
    campaign: str = typer.Option(..., "--campaign", "-c", help="Campaign name."),
    as_of: str = typer.Option(None, "--as-of", help="Feature time (default: campaign as_of)."),
    set_: list[str] = typer.Option(None, "--set", help=SET_HELP),
) -> None:
    """Sizes, clause funnels, overlaps, holdout and suppressions; nothing is written."""
    from scoring.preview import preview as run_preview
    from scoring.refresh import run_as_of
    from scoring.render import preview_text
    from scoring.resolve import resolve_campaign
    from scoring.score import score
    from segflow.settings import get_settings

    settings = get_settings()
    overrides = _overrides(set_)
    resolved = resolve_campaign(settings, campaign, overrides)
    baseline = resolve_campaign(settings, campaign) if overrides else None
    scored = score(settings, resolved, run_as_of(resolved, as_of))
    typer.echo(preview_text(run_preview(scored.frame, resolved, baseline)))


def explain(
    campaign: str = typer.Option(..., "--campaign", "-c", help="Campaign name."),
    customer: str = typer.Option(..., "--customer", "--account", help="Entity id."),
    run: str = typer.Option(None, "--run", help="Run id (default: the campaign's latest)."),
    top_k: int = typer.Option(3, "--top", help="Model contributions to show per score."),
) -> None:
    """Why one customer is (not) in each cohort: clauses, values, status, contributions."""
    import duckdb

    from scoring.explain import explain_entity, load_run_frames, pick_run
    from scoring.render import explain_text
    from scoring.resolve import resolve_campaign
    from segflow.settings import get_settings

    settings = get_settings()
    record = pick_run(settings, campaign, run)
    resolved = resolve_campaign(settings, campaign, record.inputs.get("overrides") or None)
    frame, memberships = load_run_frames(settings, record)
    rows = duckdb.sql("SELECT * FROM memberships WHERE entity_id = $id",
                      params={"id": customer}).to_arrow_table().to_pylist()
    typer.echo(f"run {record.run_id}")
    typer.echo(explain_text(explain_entity(settings, resolved, customer, frame, rows, top_k)))


def register(app: typer.Typer) -> None:
    app.add_typer(templates_app, name="templates")
    app.command("preview")(preview)
    app.command("explain")(explain)
