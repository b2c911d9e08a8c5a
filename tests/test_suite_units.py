"""The suite's work units (tests/work_units.py): the Spark engine's test files are one
unit, every other file its own, so ``make test`` runs the Spark files in one worker."""

from __future__ import annotations

from pathlib import Path

from work_units import SPARK, unit_of

TESTS = Path(__file__).parent


def test_a_spark_file_s_tests_share_one_unit_and_other_files_keep_their_own():
    assert unit_of("tests/scoring/test_scoring_spark.py::test_x") == SPARK
    assert unit_of("tests/features/test_features_spark_retrieval.py::test_y[a-b]") == SPARK
    assert unit_of("tests/governance/test_governance_crash.py::test_z[spark]") == \
        "tests/governance/test_governance_crash.py"
    assert unit_of("tests/spark/test_other.py::test_w") == "tests/spark/test_other.py"


def test_every_test_file_using_the_session_s_spark_is_in_the_spark_unit():
    """A test file that asks for ``spark_project`` (the session's Spark) outside the unit
    would start a second JVM in the other worker."""
    users = [p for p in TESTS.rglob("test_*.py")
             if p != Path(__file__) and "spark_project" in p.read_text()]
    assert len(users) >= 8
    assert [p.name for p in users if unit_of(p.relative_to(TESTS).as_posix()) != SPARK] == []


def test_the_suite_starts_without_pytest_xdist():
    """The grouping is xdist's hook, optional: ``-p no:xdist`` (one process, no workers)
    still collects, where an unknown hook would stop pytest before any test."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:xdist", "-q",
                           "--collect-only", str(Path(__file__))],
                          capture_output=True, text=True, cwd=TESTS.parent, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "3 tests collected" in done.stdout
