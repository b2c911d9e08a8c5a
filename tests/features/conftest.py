"""Fixtures of the feature store tests: workspaces holding the tiny world of features_world."""

from __future__ import annotations

import pytest
from features_world import AS_OF, EARLIER, write_world

from segflow.settings import Settings


@pytest.fixture
def world(home):
    """A workspace holding the tiny canonical world (no features built yet)."""
    write_world(home)
    return home


@pytest.fixture
def built(world):
    """The tiny world with every view built as of AS_OF and 30 days before it."""
    from segflow.featurestore.build import build_features

    build_features(world, [EARLIER, AS_OF])
    return world


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory):
    """The tiny world with every view built as of EARLIER and AS_OF, once per module, for
    the retrieval tests that only read it."""
    from segflow.featurestore.build import build_features

    settings = Settings(home=tmp_path_factory.mktemp("snapshots") / "ws").ensure()
    write_world(settings)
    build_features(settings, [EARLIER, AS_OF])
    return settings
