"""Fixtures of the scoring tests; the frames themselves live in scoring_frames.py."""

from __future__ import annotations

import pytest
from scoring_frames import frame_columns


@pytest.fixture
def columns():
    return frame_columns
