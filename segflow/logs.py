"""Quiet the stack's chatter on the command line, so a person sees segflow's own output.

MLflow, Prefect, Evidently and SQLAlchemy announce deprecations and progress that a campaign
analyst cannot act on; their warnings still reach the Python log at ERROR, and every one of
them is visible again with ``segflow --verbose``. Errors are said once, by segflow, in one
line (``segflow.failures``); the libraries' own tracebacks are for ``--verbose``.
"""

from __future__ import annotations

import logging
import os
import warnings

NOISY_LOGGERS = ("mlflow", "alembic", "prefect", "httpx", "feast", "evidently", "urllib3",
                 "litestar")


_QUIET = False


def quieted() -> bool:
    """Whether this process asked for the libraries' chatter to be kept off the terminal
    (a command run without ``--verbose``): ``segflow.spark`` starts its JVM accordingly."""
    return _QUIET


def quiet_third_party() -> None:
    global _QUIET
    _QUIET = True
    # libraries re-add their own warning filters on import, so filter at display time:
    # a warning raised from installed packages' files is not shown, segflow's own are; nor
    # one attributed to the standard library's files (SQLAlchemy's deprecations under
    # Prefect's in-process server surface from weakref.py), which segflow never warns from
    import sysconfig

    shown = warnings.showwarning
    stdlib = sysconfig.get_paths()["stdlib"]

    def show(message, category, filename, lineno, file=None, line=None):
        where = str(filename)
        if "site-packages" not in where and not where.startswith(stdlib):
            shown(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    # MLflow sets its own logger level when imported; this is the knob it reads then
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")
    # Prefect's console handler prints a failed flow's traceback before segflow can say the
    # error in one line; its API handler (the UI's flow-run logs) keeps every level
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


def silence_teardown() -> None:
    """Send what the interpreter prints while shutting down to /dev/null.

    After an in-process Prefect flow, DuckDB's bindings (nanobind) list hundreds of objects
    still alive at exit: harmless (the process is ending) but it buries the demo's guide.
    Called after a command has printed everything it has to say.
    """
    import os
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
