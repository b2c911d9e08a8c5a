"""Shared fixtures: every test gets its own workspace; nothing touches ./workspace."""

from __future__ import annotations

import pytest

from segflow.settings import get_settings, set_home


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh, empty workspace for one test; returns its Settings."""
    monkeypatch.setenv("SEGFLOW_HOME", str(tmp_path / "ws"))
    set_home(None)
    settings = get_settings().ensure()
    yield settings
    set_home(None)
