"""A moved workspace keeps its Feast registry and online store: the generated
feature_store.yaml holds paths relative to the feast folder, never the workspace's own."""

from __future__ import annotations

import dataclasses
import shutil

from segflow.featurestore.repo import feature_store, write_feature_store_yaml


def test_the_feast_configuration_survives_a_move(home, tmp_path):
    from feast import Entity

    text = write_feature_store_yaml(home).read_text()
    assert str(home.home) not in text and "${" not in text
    feature_store(home).apply([Entity(name="shopper", join_keys=["shopper_id"])])
    assert (home.feast_dir / "registry.db").is_file()

    moved = dataclasses.replace(home, home=tmp_path / "moved")
    shutil.move(home.home, moved.home)
    assert [e.name for e in feature_store(moved).list_entities()] == ["shopper"]
    assert str(home.home) not in (moved.feast_dir / "feature_store.yaml").read_text()
