"""Segment templates and campaigns: templates check, preview, refresh, explain."""

from __future__ import annotations

from pathlib import Path

import typer

templates_app = typer.Typer(help="Segment templates: validate template and campaign files; "
                            "the catalogue page.",
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
    from segflow.scoring.validate import TemplateErrors, load_bundle, spark_problems
    from segflow.settings import get_settings

    if dialect is not None and dialect not in ENGINES:
        raise SegflowError(f"--dialect {dialect!r}: choose one of {', '.join(ENGINES)}")
    settings = get_settings()
    bundle = load_bundle(settings, paths or None)
    try:
        found, notes = _section_problems(settings, bundle)
        notes = _empty_column_warnings(settings, bundle) + notes
    except TemplateErrors:
        if not bundle.problems:
            raise
        # a campaign's sections cannot be read past its broken files; the bundle's problems
        # list them, and they are printed below like any other (exit 1, not 2)
        found, notes = [], []
    people, unchecked = _people_problems(settings, bundle)
    notes += unchecked
    problems = [str(p) for p in bundle.problems] + found + people
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


def _people_problems(settings, bundle) -> tuple[list[str], list[str]]:
    """Every owner and reviewer the checked files name, looked up in the owners file
    (problems, notes): without an owners file there is nobody to look them up in, which
    approvals and reviews will refuse in their turn, so it is a note here."""
    from segflow.governance.owners import load_owners, unknown_people

    if not settings.owners_path.exists():
        return [], [f"note: no owners file at {settings.owners_path}: owners and reviewers "
                    "were not checked (docs/governance.md, 'Owners file')"]
    owners = load_owners(settings.owners_path)
    files = [t.path for t in bundle.templates.values()] + \
        [c.path for c in bundle.campaigns.values()]
    return [p for path in dict.fromkeys(f for f in files if f is not None)
            for p in unknown_people(owners, path)], []


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


def _empty_column_warnings(settings, bundle) -> list[str]:
    """One line per template that reads a feature null for every entity in the built
    snapshots: its rule cannot tell anyone apart, so it silently selects nobody (or, under
    NOT or COALESCE, everybody); almost always a missing source or feature, not a fact."""
    from segflow.featurestore.columns import empty_features
    from segflow.scoring.predicate import columns_used

    empty = empty_features(settings)
    lines = []
    for name, tree in bundle.trees.items() if empty else ():
        template = bundle.templates[name]
        where = f"{template.path}:{template.where_line}" if template.where_line else \
            str(template.path)
        for column in dict.fromkeys(c for c in columns_used(tree) if c in empty):
            lines.append(f"warning: {where}: template {name} reads {column}, which is null "
                         f"for every {template.entity} in the built features "
                         f"({Path(empty[column]).name}): its rule cannot tell them apart "
                         "(is a source missing, or a feature never computed?)")
    return lines


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
    from segflow.scoring.preview import preview_campaign
    from segflow.scoring.refresh import run_as_of
    from segflow.scoring.render import preview_text
    from segflow.scoring.resolve import resolve_campaign
    from segflow.settings import get_settings

    settings = get_settings()
    overrides = _overrides(set_)
    resolved = resolve_campaign(settings, campaign, overrides)
    baseline = resolve_campaign(settings, campaign) if overrides else None
    typer.echo(preview_text(preview_campaign(settings, resolved,
                                             run_as_of(resolved, as_of), baseline)))


def explain(
    campaign: str = typer.Option(..., "--campaign", "-c", help="Campaign name."),
    customer: str = typer.Option(..., "--customer", "--account", help="Entity id."),
    run: str = typer.Option(None, "--run", help="Run id (default: the campaign's latest)."),
    top_k: int = typer.Option(3, "--top", min=0, help="Model contributions to show per score "
                              "(0: none; up to 5 are read from the run, more load the model)."),
    full: bool = typer.Option(False, "--full", help="Every cohort and suppression, every "
                              "clause with its values, and what each feature means."),
    as_json: bool = typer.Option(False, "--json", help="Print everything as JSON."),
) -> None:
    """Why one customer is (not) in each cohort: the deciding clauses, each other cohort's
    nearest miss, model contributions; --full for every clause."""
    import dataclasses

    from segflow.featurestore.catalogue import descriptions
    from segflow.output import emit_json
    from segflow.pages.fmt import Formatter, currency_of
    from segflow.runstore import frozen_settings
    from segflow.scoring.arms import run_offers
    from segflow.scoring.explain import explain_entity, membership_rows, pick_run, run_files
    from segflow.scoring.render import explain_text
    from segflow.scoring.resolve import resolve_campaign
    from segflow.settings import get_settings

    settings = get_settings()
    record = pick_run(settings, campaign, run)
    resolved = resolve_campaign(frozen_settings(settings, record.run_id), campaign,
                                record.inputs.get("overrides") or None)  # the run's rules
    resolved = dataclasses.replace(resolved, offers=run_offers(record.inputs))  # its shares
    from segflow.governance.curated import explain_lines

    curated = list(explain_lines(settings, record, customer))  # hand-curated lists
    files = run_files(settings, record)
    result = explain_entity(settings, resolved, customer, files["features"],
                            membership_rows(files["memberships"], customer), top_k,
                            record.inputs.get("model_versions"), stored=files["contributions"])
    result = {"run_id": record.run_id, **result, "curated": curated}
    if as_json:
        emit_json(result)
        return
    typer.echo(explain_text(result, full=full, fmt=Formatter(currency_of(settings)),
                            meaning=descriptions(settings.feature_repo_dir)))
    for line in curated:
        typer.echo(f"curated: {line}")


@templates_app.command("catalogue")
def catalogue() -> None:
    """Write the template catalogue page (each template's description, when to use it, its
    caveats, owners, parameters, the campaigns using it, its recent sizes); print its path."""
    from segflow.governance.catalogue import write_catalogue
    from segflow.settings import get_settings

    typer.echo(f"catalogue: {write_catalogue(get_settings().ensure())}")


def register(app: typer.Typer) -> None:
    app.add_typer(templates_app, name="templates")
    app.command("preview")(preview)
    app.command("explain")(explain)
