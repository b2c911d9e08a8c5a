"""The ``segflow`` command line.

Each module in ``segflow.commands`` adds its commands through ``register(app)``; this file
only discovers them, so a new stage adds a command without editing a central list. Command
modules import heavy libraries (pandas, feast, mlflow, ...) inside the command bodies so that
``segflow --help`` stays fast.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Optional

import typer

from segflow import commands
from segflow.settings import set_home

app = typer.Typer(
    name="segflow",
    help="Governed, explainable customer segmentation: sources -> features -> models -> "
    "segments -> controls -> publication.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    home: Optional[Path] = typer.Option(  # noqa: UP045 (typer needs Optional here)
        None, "--home", help="Workspace directory (default: $SEGFLOW_HOME or ./workspace)."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v",
                                 help="Show the libraries' own warnings and logs."),
) -> None:
    """segflow command line. Every command works on one workspace (see --home)."""
    set_home(home)
    if not verbose:
        from segflow.logs import quiet_third_party

        quiet_third_party()


def _register_all() -> None:
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(app)


_register_all()


def main() -> None:
    """Entry point: exit with the command's code (see ``segflow.errors``); user errors print
    as one clear line, not a traceback."""
    from segflow.errors import EXIT_INTERRUPTED, SegflowError

    try:
        code = app(standalone_mode=False)
    except SegflowError as err:
        typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
        raise SystemExit(err.exit_code) from None
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except (typer.Abort, KeyboardInterrupt):
        typer.secho("aborted", err=True)
        raise SystemExit(EXIT_INTERRUPTED) from None
    except Exception as exc:  # click usage errors carry their own exit code
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            raise SystemExit(exc.exit_code) from None
        raise
    # without standalone mode click returns typer.Exit's code instead of raising it
    raise SystemExit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
