"""Model configs: shipped files load; mistakes name the file and the line."""

from __future__ import annotations

import pytest
from holi_project import ROOT as PROJECT_ROOT

from segflow.errors import ConfigError
from segflow.training.config import load_model_config, load_model_configs

MODELS_DIR = PROJECT_ROOT / "training" / "models"


@pytest.mark.parametrize("path", sorted(MODELS_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_config_loads(path):
    cfg = load_model_config(path)
    assert cfg.name == path.stem and cfg.outputs


def test_contract_score_columns():
    outputs = {c.name: c.outputs for c in load_model_configs(MODELS_DIR)}
    assert outputs["holi_propensity"] == ["holi_propensity"]
    assert outputs["flash_sale_uplift"] == ["flash_sale_uplift"]
    assert outputs["behaviour_clusters"] == ["behaviour_cluster", "behaviour_cluster_label"]
    assert outputs["customer_anomaly"][:2] == ["anomaly_score", "is_anomaly"]
    assert outputs["account_notes_topics"] == ["notes_topic", "notes_topic_guess",
                                               "notes_topic_margin"]
    assert outputs["account_anomaly"][1] == "account_is_anomaly"


def _write(tmp_path, text, name="m"):
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


GOOD = """name: m
kind: propensity
entity: customer
description: d
owner: o
features: [a, b]
label: {table: outcomes, campaign: c, outcome: converted}
params:
  lightgbm: {num_leaves: 7}
promotion: {metric: auc, higher_is_better: true, min_improvement: 0.01}
outputs: [m]
"""


def test_minimal_config_parses(tmp_path):
    cfg = load_model_config(_write(tmp_path, GOOD))
    assert cfg.features == ["a", "b"] and cfg.promotion["min_improvement"] == 0.01
    assert "max_rows" not in cfg.split  # no cap unless one is set
    capped = load_model_config(_write(tmp_path, GOOD + "split: {max_rows: 200000}\n"))
    assert capped.split == {"test_fraction": 0.3, "seed": 42, "max_rows": 200000}


@pytest.mark.parametrize("old,new,line,words", [
    ("  lightgbm: {num_leaves: 7}", "  lightgbm: {}\n  leaves: 3", 10, "unknown key 'leaves'"),
    ("kind: propensity", "kind: magic", 2, "kind must be one of"),
    ("promotion: {metric: auc,", "promotion: {metric: auc, min_improvment: 1,", 10,
     "unknown key 'min_improvment'"),
    ("name: m", "name: other", 1, "must equal the file name"),
    ("label: {table: outcomes, campaign: c, outcome: converted}", "label: {campaign: c}", 7,
     "needs label"),
    # the outcomes table comes from the project: a model without it names no default
    ("label: {table: outcomes, campaign: c,", "label: {campaign: c,", 7, "needs label: {table"),
    ("features: [a, b]", "features: [a, b]\nnotes_table: notes", 7, "for notes models only"),
    ("outputs: [m]", "outputs: [m]\nsplit: {max_rows: 0}", 12, "split.max_rows must be"),
    ("outputs: [m]", "outputs: [m]\nsplit: {max_rows: 1.5e5}", 12, "split.max_rows must be"),
    ("outputs: [m]", "outputs: [m]\nsplit: {max_row: 9}", 12, "unknown key 'max_row'"),
])
def test_mistakes_name_file_and_line(tmp_path, old, new, line, words):
    path = _write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(ConfigError) as err:
        load_model_config(path)
    assert err.value.line == line and words in err.value.problem
    assert str(path) in str(err.value)


UPLIFT = GOOD.replace("kind: propensity", "kind: uplift").replace(
    "  lightgbm: {num_leaves: 7}",
    "  method: ensemble\n  members:\n    s: {method: s_learner, bagging: {n: 3}}\n"
    "    x: {method: x_learner}")


def test_uplift_ensembles_and_bagging_are_checked_when_the_file_loads(tmp_path):
    assert load_model_config(_write(tmp_path, UPLIFT)).params["method"] == "ensemble"
    path = _write(tmp_path, UPLIFT.replace("bagging: {n: 3}", "bagging: {n: 1}"))
    with pytest.raises(ConfigError) as err:
        load_model_config(path)
    assert err.value.line == 10 and "bagging.n must be at least 2" in err.value.problem


def test_an_uplift_ensembles_combine_is_checked_when_the_file_loads(tmp_path):
    """combine: rank loads; any other value names the file and the key's line."""
    ranked = UPLIFT.replace("  members:", "  combine: rank\n  members:")
    assert load_model_config(_write(tmp_path, ranked)).params["combine"] == "rank"
    with pytest.raises(ConfigError) as err:
        load_model_config(_write(tmp_path, ranked.replace("combine: rank", "combine: vote")))
    assert err.value.line == 10 and "combine is one of mean, rank" in err.value.problem


def test_uplift_monotone_and_early_stopping_are_checked_when_the_file_loads(tmp_path):
    """A wrong sign or an early_stopping typo names the file and the key's line."""
    base = GOOD.replace("kind: propensity", "kind: uplift").replace(
        "  lightgbm: {num_leaves: 7}",
        "  method: s_learner\n  monotone: {a: 1}\n  early_stopping: {fraction: 0.2}")
    assert load_model_config(_write(tmp_path, base)).params["monotone"] == {"a": 1}
    for old, new, line, words in (("{a: 1}", "{a: 2}", 10, "1 (rising) or -1"),
                                  ("{fraction: 0.2}", "{patience: 9}", 11,
                                   "unknown early_stopping")):
        with pytest.raises(ConfigError) as err:
            load_model_config(_write(tmp_path, base.replace(old, new)))
        assert err.value.line == line and words in err.value.problem


NOTES = """name: n
kind: notes
entity: account
description: d
owner: o
features: [text]
label: {table: reviewed, outcome: topic}
params:
  topics: [{topic: t, description: d, phrases: [p]}]
promotion: {metric: accuracy}
outputs: [n]
"""


def test_a_notes_model_names_its_notes_table(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_model_config(_write(tmp_path, NOTES, "n"))
    assert err.value.line == 1 and "needs notes_table" in err.value.problem
    cfg = load_model_config(_write(tmp_path, NOTES + "notes_table: my_notes\n", "n"))
    assert cfg.notes_table == "my_notes" and cfg.tables == ["my_notes"]
    assert load_model_config(_write(tmp_path, GOOD)).tables == ["outcomes"]


def test_unknown_model_name_is_an_error():
    with pytest.raises(ConfigError, match="no model file"):
        load_model_configs(MODELS_DIR, ["nope"])


def test_git_commit_tag_only_for_a_git_checkout(tmp_path):
    """mlflow.source.git.commit names the project's commit; a project folder that is not a
    git checkout gets none (no made-up value)."""
    import dataclasses
    import shutil

    from segflow.project import load_project
    from segflow.settings import Settings
    from segflow.training.tracking import git_commit

    inside = Settings(home=tmp_path / "ws")
    assert len(git_commit(inside)) == 40  # the repository's own project
    shutil.copy(PROJECT_ROOT / "segflow.yaml", tmp_path / "segflow.yaml")
    outside = dataclasses.replace(inside, project=load_project(tmp_path))
    assert outside.project_root == tmp_path and git_commit(outside) is None
