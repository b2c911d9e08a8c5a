"""The ``segflow`` command line.

Each module in ``segflow.commands`` adds its commands through ``register(app)``; this file
only discovers them, so a new stage adds a command without editing a central list. Command
modules import heavy libraries (pandas, feast, mlflow, ...) inside the command bodies so that
``segflow --help`` stays fast.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path
from typing import Optional

import typer

from segflow import commands
from segflow.project import set_engine, set_project
from segflow.settings import set_home

_verbose = False  # --verbose: tracebacks and library warnings are shown

def _flags_without_a_type() -> None:
    """typer 0.29 prints a type beside every option in --help, ``<bool>`` for a flag too,
    where a flag takes no value: show types only for options that take one."""
    from typer.core import TyperOption

    shown = TyperOption.display_type_rich

    def display_type_rich(self, ctx):
        return None if self.is_flag else shown(self, ctx)

    TyperOption.display_type_rich = display_type_rich


_flags_without_a_type()

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
        None, "--home", help="Workspace directory (default: $SEGFLOW_HOME, else the "
        "project's workspace setting)."
    ),
    project: Optional[Path] = typer.Option(  # noqa: UP045
        None, "--project", help="Project folder, the one with segflow.yaml (default: "
        "$SEGFLOW_PROJECT, else the working directory or the nearest folder above it)."
    ),
    engine: Optional[str] = typer.Option(  # noqa: UP045
        None, "--engine", metavar="duckdb|spark",
        help="Compute this command with this engine, whatever segflow.yaml's engine: says "
        "(default: $SEGFLOW_ENGINE, else the project's; e.g. `--engine duckdb ingest` on a "
        "Spark project). Runs record the engine that ran."),
    verbose: bool = typer.Option(False, "--verbose", "-v",
                                 help="Show the libraries' own warnings and logs, and the "
                                 "full traceback of an error."),
    quiet: bool = typer.Option(False, "--quiet", "-q",
                               help="No progress lines for long steps on stderr (commands "
                               "given --json print none either)."),
) -> None:
    """segflow command line. Every command works on one project (see --project) and one
    workspace (see --home)."""
    global _verbose
    set_project(project)
    set_engine(engine)
    set_home(home)
    _verbose = verbose
    from segflow import progress

    progress.enable(not quiet)
    if not verbose:
        from segflow.logs import quiet_third_party

        quiet_third_party()


def _register_all() -> None:
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(app)


def _one_line_summaries(typer_app: typer.Typer) -> None:
    """Each command's line in a command list is its docstring's first paragraph on one line.

    typer 0.29 keeps a docstring's single line breaks there in its rich help
    (``rich_utils._make_command_help``), so a summary wrapped at the source's 100 columns
    printed as ragged half-lines ("... and, for each" / "disagreement, ..."). A command
    given its own ``short_help`` keeps it."""
    import inspect

    for info in typer_app.registered_commands:
        if info.short_help is None:
            doc = info.help or inspect.getdoc(info.callback) or ""
            info.short_help = " ".join(doc.split("\n\n")[0].split())
    for group in typer_app.registered_groups:
        _one_line_summaries(group.typer_instance)


_register_all()
_one_line_summaries(app)


def main() -> None:
    """Entry point: exit with the command's code (see ``segflow.errors`` and docs/cli.md).

    Usage errors print the usage line and exit 2; errors a user can act on, and the library
    errors ``segflow.failures`` recognises, print one line; anything else is a bug and says
    so. ``--verbose`` adds the traceback to every one of them.
    """
    raise SystemExit(run(sys.argv[1:]))


def run(argv: list[str]) -> int:
    """Run the CLI on ``argv`` and return the exit code, printing errors as main does."""
    from segflow.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK

    try:
        code = app(args=global_options_first(argv), prog_name="segflow",
                   standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        typer.secho("aborted", err=True)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _quiet_stdout()  # the reader of our output went away (`| head`): nothing to say
        return EXIT_OK
    except Exception as exc:
        usage = _usage_error(exc)
        if usage is not None:
            return usage
        return _report(exc, EXIT_INTERNAL)
    # without standalone mode click returns typer.Exit's code instead of raising it, and
    # typer turns Ctrl-C into that code (130) without a word
    if code == EXIT_INTERRUPTED:
        typer.secho("aborted", err=True)
    return code if isinstance(code, int) else EXIT_OK


# the root's options (``_root``): those that take a value, and flags; no command has its own
GLOBAL_VALUED = ("--home", "--project", "--engine")
GLOBAL_FLAGS = ("--verbose", "-v", "--quiet", "-q")


def global_options_first(argv: list[str]) -> list[str]:
    """``segflow ingest --project shop`` as ``segflow --project shop ingest``: click takes
    the root's options only before the command, and people (and dbt, whose users these
    are) put them after it. Options after a ``--`` stay where they are."""
    moved, rest, i, command_seen = [], [], 0, False
    while i < len(argv):
        token = argv[i]
        if token == "--":
            rest += argv[i:]
            break
        name = token.split("=", 1)[0]
        valued = name in GLOBAL_VALUED
        if command_seen and (valued or token in GLOBAL_FLAGS):
            take = 2 if valued and "=" not in token else 1
            moved += argv[i:i + take]
            i += take
            continue
        if not token.startswith("-") and not (rest and rest[-1] in GLOBAL_VALUED):
            command_seen = True
        rest.append(token)
        i += 1
    return moved + rest


def _usage_error(exc: Exception) -> int | None:
    """Click's own errors (a missing option, an unknown command, a bad value): the usage line
    and the error, exit 2. Typer vendors click (``typer._click``), so its exceptions are not
    ``click.ClickException``: both families are recognised."""
    families = [typer.exceptions.TyperException]
    click = sys.modules.get("click")
    if click is not None:
        families.append(click.ClickException)
    if not isinstance(exc, tuple(families)):
        return None
    exc.show()
    return exc.exit_code


def _report(exc: Exception, internal: int) -> int:
    """One line for an error: the user's own, a library's the user can act on, or a bug."""
    import traceback

    from segflow.failures import describe

    if _verbose:
        traceback.print_exception(exc)
    known = describe(exc)
    if known is not None:
        typer.secho(f"error: {known}", fg=typer.colors.RED, err=True)
        return known.exit_code
    hint = "" if _verbose else "; run again with --verbose for the traceback"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    typer.secho(f"internal error: {type(exc).__name__}: {first} (a bug in segflow, please "
                f"report it{hint})", fg=typer.colors.RED, err=True)
    return internal


def _quiet_stdout() -> None:
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


if __name__ == "__main__":
    main()
