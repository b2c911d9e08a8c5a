"""What drift, bias and feedback watch when a campaign names nothing: its own columns (its
split_by columns, the columns its rules read), never a column of the demo worlds."""

from __future__ import annotations

import dataclasses
import re
import shutil

from holi_project import ROOT

from segflow.monitoring.config import load_monitoring_config


def _without_sections(home, tmp_path, campaign: str):
    root = tmp_path / "segment_templates"
    shutil.copytree(ROOT / "segment_templates", root)
    path = root / "campaigns" / f"{campaign}.yaml"
    text = re.sub(r"^(drift|bias|feedback):.*\n(  .*\n)*", "", path.read_text(), flags=re.M)
    path.write_text(text)
    return dataclasses.replace(home, templates_root=root)


def test_a_campaign_naming_nothing_watches_its_own_columns(home, tmp_path):
    settings = _without_sections(home, tmp_path, "account_tiers")
    config = load_monitoring_config(settings, "account_tiers")
    rules = {"revenue_4q", "margin_pct", "revenue_growth_yoy", "tenure_years", "product_lines"}
    assert rules <= set(config.drift.key_features)
    assert config.drift.mix_attributes == [] and config.bias.attributes == []
    assert config.feedback.splits == []


def test_split_columns_are_the_mix_bias_and_feedback_default(home, tmp_path):
    settings = _without_sections(home, tmp_path, "holi_2027")
    config = load_monitoring_config(settings, "holi_2027")
    assert config.drift.mix_attributes == ["region_language_cluster"]
    assert config.bias.attributes == ["region_language_cluster"]
    assert config.feedback.splits == ["region_language_cluster"]
    assert "holi_propensity" in config.drift.key_features


def test_a_campaign_without_a_file_watches_nothing_by_default(home):
    config = load_monitoring_config(home, "holi_2026")
    assert (config.drift.mix_attributes, config.drift.key_features, config.bias.attributes,
            config.feedback.splits) == ([], [], [], [])
