"""Fixtures of the governance tests (helpers live in govworld.py)."""

from __future__ import annotations

import dataclasses

import pytest
from govworld import CAMPAIGN, TEMPLATES


@pytest.fixture
def world(home, tmp_path, monkeypatch):
    """Settings of a workspace whose templates folder holds the test templates."""
    root = tmp_path / "segment_templates"
    (root / "campaigns").mkdir(parents=True)
    for name, text in TEMPLATES.items():
        (root / f"{name}.yaml").write_text(text)
    (root / "campaigns" / "holi_test.yaml").write_text(CAMPAIGN)
    monkeypatch.setenv("SEGFLOW_TEMPLATES", str(root))
    return dataclasses.replace(home, templates_root=root)
