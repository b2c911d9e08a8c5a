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
        None, help="Template/campaign files or folders (default: all shipped files)."),
        dialect: str = typer.Option(
            None, "--dialect", help="Also check that every where clause translates to this "
            "engine's SQL: spark (default: the project's engine; DuckDB is always checked)."),
) -> None:
    """Validate templates and campaigns: schema, predicate, columns, functions, params; and
    the Spark SQL translation when the project runs on Spark (or with --dialect spark)."""
    from segflow.engines import ENGINES
    from segflow.errors import SegflowError
    from segflow.scoring.validate import load_bundle, spark_problems
    from segflow.settings import get_settings

    if dialect is not None and dialect not in ENGINES:
        raise SegflowError(f"--dialect {dialect!r}: choose one of {', '.join(ENGINES)}")
    settings = get_settings()
    bundle = load_bundle(settings, paths or None)
    found, notes = _section_problems(settings, bundle)
    problems = [str(p) for p in bundle.problems] + found
    spark = (dialect or settings.engine) == "spark"
    if spark:
        problems += spark_problems(bundle)
    for note in notes:
        typer.secho(note, fg=typer.colors.YELLOW)
    for problem in problems:
        typer.secho(problem, fg=typer.colors.RED, err=True)
    if problems:
        typer.secho(f"{len(problems)} problem(s)", err=True)
        raise typer.Exit(1)
    both = " (where clauses checked for DuckDB and Spark SQL)" if spark else ""
    typer.echo(f"ok: {len(bundle.templates)} templates, {len(bundle.campaigns)} campaigns{both}")


def _section_problems(settings, bundle) -> tuple[list[str], list[str]]:
    """The campaign sections later stages own (review, controls, exports; drift, bias,
    feedback), checked by their owners' parsers, so one command validates a whole file;
    and notes on cohort clauses boundary review cannot band (problems, notes)."""
    from segflow.errors import ConfigError
    from segflow.governance.config import load_config
    from segflow.monitoring.config import load_monitoring_config

    found, notes = [], []
    for name, campaign in bundle.campaigns.items():
        if campaign.path is None or campaign.path.parent.resolve() != \
                settings.campaigns_dir.resolve():
            continue  # the owners' parsers read campaigns from the campaigns folder
        try:
            config = load_config(settings, name)
            notes += _band_notes(campaign, config.band, bundle)
        except ConfigError as err:
            found.append(str(err))
        try:
            load_monitoring_config(settings, name)
        except ConfigError as err:
            found.append(str(err))
    return found, list(dict.fromkeys(notes))


def _band_notes(campaign, band: float, bundle) -> list[str]:
    """One line per cohort clause whose threshold boundary review cannot band (two columns
    compared, a function of a column, a text or date threshold), so nobody assumes the
    entities near it are reviewed. A band of 0 switches boundary review off: no notes."""
    from segflow.governance.clauses import unbandable

    if band <= 0:
        return []
    notes = []
    for spec in campaign.cohorts:
        template, tree = bundle.templates.get(spec.template), bundle.trees.get(spec.template)
        if template is None or tree is None:
            continue  # reported as a problem already
        where = f"{template.path}:{template.where_line}" if template.where_line else \
            str(template.path)
        for clause, why in unbandable(tree, {**template.defaults(), **spec.params}):
            notes.append(f"note: {where}: `{clause}` (campaign {campaign.name}, cohort "
                         f"{spec.name}) cannot be banded for boundary review: {why}")
    return notes


def preview(
    campaign: str = typer.Option(..., "--campaign", "-c", help="Campaign name."),
    as_of: str = typer.Option(None, "--as-of", help="Feature time (default: campaign as_of)."),
    set_: list[str] = typer.Option(None, "--set", help=SET_HELP),
) -> None:
    """Sizes, clause funnels, overlaps, holdout and suppressions; nothing is written."""
    from segflow.scoring.preview import preview as run_preview
    from segflow.scoring.refresh import run_as_of
    from segflow.scoring.render import preview_text
    from segflow.scoring.resolve import resolve_campaign
    from segflow.scoring.score import score
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
    top_k: int = typer.Option(3, "--top", min=0, help="Model contributions to show per score "
                              "(0: none, and no model is loaded)."),
) -> None:
    """Why one customer is (not) in each cohort: clauses, values, status, contributions."""
    import dataclasses

    import duckdb

    from segflow.runstore import frozen_settings
    from segflow.scoring.arms import run_offers
    from segflow.scoring.explain import explain_entity, load_run_frames, pick_run
    from segflow.scoring.render import explain_text
    from segflow.scoring.resolve import resolve_campaign
    from segflow.settings import get_settings

    settings = get_settings()
    record = pick_run(settings, campaign, run)
    resolved = resolve_campaign(frozen_settings(settings, record.run_id), campaign,
                                record.inputs.get("overrides") or None)  # the run's rules
    resolved = dataclasses.replace(resolved, offers=run_offers(record.inputs))  # its shares
    frame, memberships = load_run_frames(settings, record)
    rows = duckdb.sql("SELECT * FROM memberships WHERE entity_id = $id",
                      params={"id": customer}).to_arrow_table().to_pylist()
    typer.echo(f"run {record.run_id}")
    typer.echo(explain_text(explain_entity(settings, resolved, customer, frame, rows, top_k,
                                           record.inputs.get("model_versions"))))


def register(app: typer.Typer) -> None:
    app.add_typer(templates_app, name="templates")
    app.command("preview")(preview)
    app.command("explain")(explain)
