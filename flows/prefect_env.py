"""Point Prefect at the workspace before it is imported.

Without a configured server Prefect starts a temporary one per process; keeping its home
(and so its SQLite database) inside the workspace makes local runs inspectable afterwards
(`prefect server start` with the same PREFECT_HOME shows them) and keeps tests isolated.
"""

from __future__ import annotations

import os

from segflow.settings import Settings


def configure_prefect(settings: Settings, api_url: str | None = None,
                      apply: bool = True) -> dict[str, str]:
    """Prefect's environment for this workspace; set on this process unless ``apply`` is
    false. Returned either way, for subprocesses."""
    env = {
        "PREFECT_HOME": str(settings.home / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # segflow prints its own progress; flow and task state lines go to the Prefect UI
        "PREFECT_LOGGING_LEVEL": "WARNING",
        # the temporary server of a local run can take longer than Prefect's default 20 s
        # to start on a busy 2-core machine
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    }
    url = api_url or settings.prefect_api_url
    if url:
        env["PREFECT_API_URL"] = url
    (settings.home / "prefect").mkdir(parents=True, exist_ok=True)
    if apply:
        os.environ.update(env)
    return env
