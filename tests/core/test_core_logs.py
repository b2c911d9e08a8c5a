"""Without --verbose a command shows segflow's own warnings and none of its libraries'."""

from __future__ import annotations

import sysconfig
import warnings
from pathlib import Path

import segflow
from segflow import logs


def test_only_segflow_s_own_warnings_are_shown(monkeypatch):
    """Libraries warn from their own files (site-packages) and, through helpers such as
    weakref, from the standard library's (SQLAlchemy's deprecations under Prefect's
    in-process server); segflow's own code warns from its source."""
    seen = []
    monkeypatch.setattr(warnings, "showwarning", lambda message, *a, **k: seen.append(message))
    monkeypatch.setattr(logs, "_QUIET", False)
    logs.quiet_third_party()
    assert logs.quieted()
    here = Path(segflow.__file__).parent / "spark.py"
    for name, filename in (
            ("library", "/venv/lib/python3.11/site-packages/sqlalchemy/orm/base.py"),
            ("stdlib", str(Path(sysconfig.get_paths()["stdlib"]) / "weakref.py")),
            ("segflow", str(here))):
        warnings.showwarning(name, UserWarning, filename, 1)
    assert seen == ["segflow"]
