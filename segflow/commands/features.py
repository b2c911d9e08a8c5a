"""`segflow features ...`: build, inspect, serve and look up features."""

from __future__ import annotations

import time
from typing import Optional

import typer

features_app = typer.Typer(help="Feature store: build as-of snapshots, list, show, serve.",
                           no_args_is_help=True)


def _settings():
    from segflow.settings import get_settings

    return get_settings().ensure()


@features_app.command("build")
def build(
    as_of: Optional[list[str]] = typer.Option(  # noqa: UP045
        None, "--as-of", help="As-of time (ISO date/datetime, UTC); repeat for several. "
        "Default: now."),
    view: Optional[list[str]] = typer.Option(  # noqa: UP045
        None, "--view", help="Build only this view; repeat for several."),
) -> None:
    """Compute every feature view as of the given times and register the repo with Feast."""
    from segflow.featurestore.build import build_features
    from segflow.timeutil import parse_as_of

    started = time.perf_counter()
    times = [parse_as_of(t) for t in as_of] if as_of else [parse_as_of(None)]
    settings = _settings()
    report = build_features(settings, times, views=view or None)
    for name, info in report.items():
        if "skipped" in info:
            typer.echo(f"{name:28} skipped: {info['skipped']}")
        else:
            typer.echo(f"{name:28} {info['rows']:>10,} rows  {info['seconds']:7.2f}s")
    typer.echo(f"built {len(times)} as-of snapshot(s) on {settings.engine} in "
               f"{time.perf_counter() - started:.2f}s")


@features_app.command("list")
def list_features(entity: Optional[str] = typer.Option(  # noqa: UP045
        None, "--entity", help="Only features of this entity (customer, account).")) -> None:
    """The feature catalogue: view, feature, type, owner and description."""
    from segflow.featurestore.catalogue import catalogue
    from segflow.featurestore.repo import load_repo

    for row in catalogue(load_repo(_settings())).to_pylist():
        if entity is None or row["entity"] == entity:
            typer.echo(f"{row['view']:26} {row['feature']:26} {row['type']:14} "
                       f"{row['owner']:30} {row['description']}")


@features_app.command("show")
def show(view: str = typer.Argument(..., help="Feature view name, e.g. customer_rfm.")) -> None:
    """One view: description, owner, ttl, fields with types and descriptions, and its SQL."""
    from segflow.errors import SegflowError
    from segflow.featurestore.catalogue import describe_view
    from segflow.featurestore.repo import load_repo

    repo = load_repo(_settings())
    if view not in repo.views:
        raise SegflowError(f"unknown feature view '{view}'; known: {sorted(repo.views)}")
    info = describe_view(repo.views[view])
    for key in ("name", "entity", "join_key", "description", "owner", "tags", "ttl_days",
                "file", "source", "sources", "params", "config_tables"):
        typer.echo(f"{key:14} {info[key]}")
    typer.echo("fields:")
    for f in info["features"]:
        typer.echo(f"  {f['feature']:28} {f['type']:14} {f['description']}")
    typer.echo("sql:")
    typer.echo(info["sql"])


@features_app.command("online-load")
def online_load(as_of: Optional[str] = typer.Option(  # noqa: UP045
        None, "--as-of", help="As-of time (default: the latest snapshot built).")) -> None:
    """Load the latest feature values into the online store (one row per entity)."""
    from segflow.featurestore.online import load_online

    started = time.perf_counter()
    for entity, info in load_online(_settings(), as_of).items():
        typer.echo(f"{entity:10} {info['rows']:>10,} rows as of {info['as_of']}  "
                   f"{info['seconds']:.2f}s")
    typer.echo(f"online store loaded in {time.perf_counter() - started:.2f}s")


@features_app.command("lookup")
def lookup_cmd(
    ids: list[str] = typer.Argument(..., help="Entity ids to look up."),
    entity: str = typer.Option("customer", "--entity", help="customer or account."),
    feature: Optional[list[str]] = typer.Option(  # noqa: UP045
        None, "--feature", help="Only this feature; repeat for several."),
) -> None:
    """Online lookup of one or more entities (unknown ids print null features)."""
    import json

    from segflow.featurestore.online import lookup

    started = time.perf_counter()
    rows = lookup(_settings(), entity, ids, feature or None).to_pylist()
    for row in rows:
        typer.echo(json.dumps(row, default=str))
    typer.echo(f"{len(rows)} lookup(s) in {(time.perf_counter() - started) * 1000:.1f} ms",
               err=True)


def register(app: typer.Typer) -> None:
    app.add_typer(features_app, name="features")
