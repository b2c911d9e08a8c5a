"""``segflow demo-data``: write synthetic worlds as source files into the workspace."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Generate demo source data (synthetic worlds with known truth).",
                        no_args_is_help=True)
    group.command("holi")(holi)
    group.command("accounts")(accounts)
    app.add_typer(group, name="demo-data")


def _summary(paths: dict[str, Path], seconds: float) -> None:
    from segflow.ingest.synthetic.writer import count_rows

    for name, path in paths.items():
        typer.echo(f"  {name:<22} {count_rows(path):>12,d} rows  {path}")
    typer.echo(f"done in {seconds:.1f}s")


def holi(
    customers: int = typer.Option(100_000, "--customers", min=1, help="Number of customers."),
    seed: int = typer.Option(7, "--seed", min=0, help="Random seed; same seed, same files."),
    end: Optional[str] = typer.Option(  # noqa: UP045 (typer needs Optional)
        None, "--end", help="End of the world (ISO date/time, UTC); default 2027-03-01."),
) -> None:
    """Write the Holi B2C world as messy source files, with its truth.

    Sources (orders.csv, the rest Parquet, and sources.yaml) go to <home>/sources, ground
    truth to <home>/truth. Then run `segflow ingest` to build the canonical tables.
    """
    from segflow.ingest.synthetic.writer import write_holi_sources
    from segflow.settings import get_settings
    from segflow.timeutil import parse_as_of

    settings = get_settings()
    started = time.perf_counter()
    sources, paths = write_holi_sources(settings.sources_dir, settings.truth_dir, customers,
                                        seed, parse_as_of(end) if end else None)
    typer.echo(f"Holi world: {customers:,d} customers, seed {seed} -> {sources}")
    _summary(paths, time.perf_counter() - started)


def accounts(
    n_accounts: int = typer.Option(2_000, "--accounts", min=1, help="Number of accounts."),
    seed: int = typer.Option(7, "--seed", min=0, help="Random seed; same seed, same files."),
) -> None:
    """Write the B2B accounts world as source files, with its truth.

    Sources (and sources.yaml) go to <home>/sources, ground truth to <home>/truth.
    """
    from segflow.ingest.synthetic.accounts import write_accounts_world
    from segflow.settings import get_settings

    settings = get_settings()
    folder = settings.sources_dir
    started = time.perf_counter()
    paths = write_accounts_world(folder, n_accounts, seed, truth_dir=settings.truth_dir)
    typer.echo(f"Accounts world: {n_accounts:,d} accounts, seed {seed} -> {folder}")
    _summary({t: Path(p) for t, p in paths.items()}, time.perf_counter() - started)
