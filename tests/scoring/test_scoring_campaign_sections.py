"""Every shipped campaign's later-stage sections parse, and `templates check` reports a bad
key in them with file and line, so one command validates a whole campaign file."""

from __future__ import annotations

import shutil

import pytest
from holi_project import ROOT as PROJECT_ROOT
from typer.testing import CliRunner

from segflow.cli import app
from segflow.settings import get_settings

CAMPAIGNS = sorted((PROJECT_ROOT / "segment_templates" / "campaigns").glob("*.yaml"))


@pytest.mark.parametrize("path", CAMPAIGNS, ids=lambda p: p.stem)
def test_shipped_campaign_sections_parse(path, home):
    from segflow.governance.config import load_config
    from segflow.monitoring.config import load_monitoring_config

    assert load_config(get_settings(), path.stem).campaign == path.stem
    assert load_monitoring_config(get_settings(), path.stem).path == path


def test_bad_section_key_is_reported_with_file_and_line(tmp_path, home, monkeypatch):
    root = tmp_path / "segment_templates"
    shutil.copytree(PROJECT_ROOT / "segment_templates", root)
    path = root / "campaigns" / "holi_2027.yaml"
    lines = path.read_text().splitlines()
    number = next(i for i, t in enumerate(lines, 1) if t.startswith("drift:")) + 1
    lines[number - 1] = "  max_drifted_shar: 0.3"
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("SEGFLOW_TEMPLATES", str(root))
    result = CliRunner().invoke(app, ["templates", "check"])
    assert result.exit_code == 1
    assert f"{path}:{number}: unknown key 'drift.max_drifted_shar'" in result.output
