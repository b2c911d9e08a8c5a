"""Fault injection on a real `segflow refresh`: killed (SIGKILL) while it builds the features
of its as-of, while it scores, and after its memberships are stored but before the run is
marked scored; and a full disk. Each leaves the last good run readable, the killed run never
counted as scored, and a clear message; `segflow doctor` marks and cleans what a kill left."""

from __future__ import annotations

import shutil
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from segflow.staging import PREFIX

AS_OF_1, AS_OF_2 = datetime(2027, 2, 1, tzinfo=UTC), datetime(2027, 3, 1, tzinfo=UTC)
TEMPLATES = {
    "spenders": "lifetime_spend >= $min_spend",
    "newcomers": "tenure_days <= $days",
}
PARAMS = {"spenders": "min_spend: {type: float, default: 5000, description: INR}",
          "newcomers": "days: {type: int, default: 60, description: days since sign-up}"}
CAMPAIGN = """\
name: fault_test
title: Fault test
owner: lead.analyst
entity: customer
salt: s1
exclusive: true
approval_required: false
cohorts:
  - {template: spenders, name: spenders, priority: 1}
  - {template: newcomers, name: newcomers, priority: 2}
review: {band: 0.0}
controls:
  revenue: {finance: {table: billing, id: account_id, amount: revenue, date: invoice_date}}
"""


def _template(name: str) -> str:
    return textwrap.dedent(f"""\
        name: {name}
        title: {name}
        description: A cohort of the fault tests.
        owner: lead.analyst
        kind: cohort
        entity: customer
        params:
          {PARAMS[name]}
        where: {TEMPLATES[name]}
        """)


def _runs(home: Path) -> dict[str, str]:
    from segflow.runstore import list_runs
    from segflow.settings import Settings

    return {r.run_id: r.status for r in list_runs(Settings(home=home))}


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A small Holi workspace with one good run as of AS_OF_1 (features built by it)."""
    from segflow.ingest.synthetic.holi import TABLES, generate_holi

    root = tmp_path_factory.mktemp("faults")
    home, templates = root / "ws", root / "segment_templates"
    (home / "canonical").mkdir(parents=True)
    world = generate_holi(200, seed=5)
    for name in TABLES:
        pq.write_table(world[name], home / "canonical" / f"{name}.parquet")
    (templates / "campaigns").mkdir(parents=True)
    for name in TEMPLATES:
        (templates / f"{name}.yaml").write_text(_template(name))
    (templates / "campaigns" / "fault_test.yaml").write_text(CAMPAIGN)
    return home, templates


@pytest.fixture
def workspace(base, tmp_path, cli):
    """A copy of the base workspace with its first good run: (home, env, first run id, a
    copy of it to compare with).

    The first run is governed: its status is whatever its controls said (scored, blocked,
    ...), never created or failed; that status must survive every fault."""
    source, templates = base
    env = {"SEGFLOW_TEMPLATES": str(templates)}
    marker = source / "first_run.txt"
    if not marker.exists():   # the module's first user makes the good run, once
        first = cli(source, "refresh", "--campaign", "fault_test", "--as-of",
                    AS_OF_1.isoformat(), "--no-drift", env=env)
        assert first.code == 0, first.err
        marker.write_text(next(iter(_runs(source))))
    home = tmp_path / "ws"
    shutil.copytree(source, home, ignore=shutil.ignore_patterns("first_run.txt"))
    shutil.copytree(source / "runs", tmp_path / "before" / "runs")
    return home, env, marker.read_text(), tmp_path / "before"


def _files(home: Path, run: str) -> dict[str, str]:
    import hashlib

    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((home / "runs" / run).glob("*.parquet"))}


def _assert_last_good_run_stands(cli, home: Path, env: dict, first: str,
                                 before: Path) -> None:
    shown = cli(home, "runs", "show", first, env=env)
    assert shown.code == 0 and first in shown.out
    assert _files(home, first) == _files(before, first)                # byte for byte
    assert pq.read_table(home / "runs" / first / "memberships.parquet").num_rows > 0
    for path in sorted((home / "features").glob("*.parquet")):
        assert pq.read_metadata(path).num_rows > 0          # every view file readable


@pytest.mark.integration
@pytest.mark.parametrize("point", ["features.written", "refresh.scoring", "refresh.recorded"])
def test_a_killed_refresh_leaves_the_last_good_run_and_no_good_looking_run(cli, workspace,
                                                                          point):
    home, env, first, before = workspace
    proc = cli.paused(home, point, "refresh", "--campaign", "fault_test", "--as-of",
                      AS_OF_2.isoformat(), "--no-drift", env=env)
    proc.kill()
    proc.wait()

    doctor = cli(home, "doctor", env=env)
    assert doctor.code == 0, doctor.out + doctor.err
    runs = _runs(home)
    assert runs.pop(first) not in ("created", "failed")
    assert set(runs.values()) <= {"failed"}        # a killed run is never counted as good
    assert not list((home / "runs").glob(f"{PREFIX}*")) and \
        not list((home / "features").glob("*.tmp"))
    _assert_last_good_run_stands(cli, home, env, first, before)


@pytest.mark.integration
def test_a_refresh_after_a_killed_one_succeeds(cli, workspace):
    home, env, first, before = workspace
    proc = cli.paused(home, "refresh.recorded", "refresh", "--campaign", "fault_test",
                      "--as-of", AS_OF_2.isoformat(), "--no-drift", env=env)
    proc.kill()
    proc.wait()
    again = cli(home, "refresh", "--campaign", "fault_test", "--as-of", AS_OF_2.isoformat(),
                "--no-drift", env=env)
    assert again.code == 0, again.err
    runs = _runs(home)
    assert runs.pop(first) not in ("created", "failed")
    unfinished = ("created", "failed")              # the killed run: never counted as good
    assert sorted(s in unfinished for s in runs.values()) == [False, True]


@pytest.mark.integration
def test_a_full_disk_during_refresh_is_one_line_and_keeps_the_last_good_run(cli, workspace,
                                                                           small_disk):
    home, env, first, before = workspace
    used = sum(p.stat().st_size for p in home.rglob("*") if p.is_file())
    disk = small_disk(used + (96 << 10))          # room for the copy, not for a new run
    if disk is not None:
        shutil.copytree(home, disk / "ws")
        home = disk / "ws"
    injected = {} if disk else {"SEGFLOW_FAULTS": "refresh.scoring=ENOSPC"}
    result = cli(home, "refresh", "--campaign", "fault_test", "--as-of", AS_OF_2.isoformat(),
                 "--no-drift", env={**env, **injected})

    assert result.code == 3, result.out + result.err
    assert result.line.startswith("error: disk full: ") and "Traceback" not in result.err
    assert "free" in result.line
    runs = _runs(home)
    assert runs.pop(first) not in ("created", "failed")
    assert set(runs.values()) <= {"created", "failed"}     # nothing new counted as good
    _assert_last_good_run_stands(cli, home, env, first, before)
