"""Fixtures of the feature store tests: workspaces holding the tiny world of features_world."""

from __future__ import annotations

from datetime import timedelta

import pytest
from features_world import AS_OF, write_world


@pytest.fixture
def world(home):
    """A workspace holding the tiny canonical world (no features built yet)."""
    write_world(home)
    return home


@pytest.fixture
def built(world):
    """The tiny world with every view built as of AS_OF and 30 days before it."""
    from segflow.featurestore.build import build_features

    build_features(world, [AS_OF - timedelta(days=30), AS_OF])
    return world
