"""How ``make test`` hands test files to its two pytest-xdist workers (``--dist loadfile``):
one file per work unit, except the Spark engine's files, which are one unit together, so one
worker runs them all, one after another, in one JVM, while the other runs the DuckDB files.

Why: Spark's tests on tiny data mostly wait (JVM starts, job scheduling, Python workers
importing the models); two workers running Spark files at once left the cores half idle, and
each paid Spark's start (the JVM, its first queries, the models' first load: about 20 s)
again. The unit is handed out first, as the slow files are (``pytest_collection_modifyitems``
in conftest.py). Imported by name (tests/ is on sys.path under pytest's default import
mode); the scheduler itself is pytest-xdist's own, only its grouping changes.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from xdist.scheduler import LoadFileScheduling

SPARK = "spark"  # every test file of the Spark engine has it in its name, and none other


def unit_of(nodeid: str) -> str:
    """The work unit of a test: ``SPARK`` for a Spark file's tests, else its file (the
    part of the node id before the first ``::``)."""
    path = nodeid.split("::", 1)[0]
    return SPARK if SPARK in PurePosixPath(path).name else path


class SparkTogether(LoadFileScheduling):
    """pytest-xdist's ``loadfile`` scheduling with the units of ``unit_of``."""

    def _split_scope(self, nodeid: str) -> str:
        return unit_of(nodeid)
