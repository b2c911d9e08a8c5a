"""Quiet the stack's chatter on the command line, so a person sees segflow's own output.

MLflow, Prefect, Evidently and SQLAlchemy announce deprecations and progress that a campaign
analyst cannot act on; their warnings still reach the Python log at ERROR, and every one of
them is visible again with ``segflow --verbose``.
"""

from __future__ import annotations

import logging
import warnings

NOISY_LOGGERS = ("mlflow", "alembic", "prefect", "httpx", "feast", "evidently", "urllib3",
                 "litestar")


def quiet_third_party() -> None:
    # libraries re-add their own warning filters on import, so filter at display time:
    # a warning raised from installed packages' files is not shown, segflow's own are
    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if "site-packages" not in str(filename):
            shown(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
