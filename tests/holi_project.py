"""The project the tests run against: this repository, which is the Holi project (its
segflow.yaml is at the top). tests/conftest.py points SEGFLOW_PROJECT at it, so a test run
from any folder, and every `segflow` process a test starts, reads the same project."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
